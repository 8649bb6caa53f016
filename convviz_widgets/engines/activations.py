"""Intermediate activations: every selected layer's output for one image, from one forward pass."""

from __future__ import annotations

import numpy as np

from ..errors import ConvVizError
from .backend import require_tensorflow
from .batch import content_key, model_batch
from .compiled import Compiled, check_outputs
from .graph import flat_graph
from .models import conv_layers, default_preprocess, load_model, resolve_layer


class Activations:
    """Outputs of conv/pool layers (default: all of them) for one image.

    ``compute`` runs ONE compiled forward pass for all layers and keeps the result for the
    last image, so switching layer or channel for the same image never runs the model again.
    """

    def __init__(self, model, layers=None, preprocess=None):
        require_tensorflow()
        import tensorflow as tf

        self.model = load_model(model)
        self.preprocess = default_preprocess(self.model, preprocess)
        names = conv_layers(self.model) if layers is None else [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ConvVizError(
                f"layers: {self.model.name!r} has no conv or pooling layers; expected a model "
                "with Conv2D/pooling layers, or a list of layer names with spatial outputs."
            )
        self.layers = [resolve_layer(self.model, name) for name in names]
        graph = flat_graph(self.model)
        submodel = graph.submodel(tuple(self.layers))
        spec = tf.TensorSpec(graph.input.shape, tf.float32)
        self._forward = Compiled(lambda x: submodel(x, training=False), [spec])
        self._cache_key = None
        self._cache = None

    def compute(self, img) -> dict[str, np.ndarray]:
        """{layer name: float32 (H, W, C)} for ``img``; cached for the last image."""
        x = model_batch(self.model, img, self.preprocess)
        key = content_key(x)
        if key != self._cache_key:
            outputs = self._forward(x)
            if not isinstance(outputs, list | tuple):
                outputs = [outputs]
            self._cache = {name: out.numpy()[0] for name, out in zip(self.layers, outputs, strict=True)}
            check_outputs(self.model, x, self._cache)
            self._cache_key = key
        return dict(self._cache)

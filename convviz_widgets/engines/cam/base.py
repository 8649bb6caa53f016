"""What every CAM method shares: the model, the layer, one image's cache, the class checks.

A method is a small subclass (one file in this package) that says what it ``needs`` and how
the map follows from it; see the package docstring for the walk-through.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConvVizError
from ..backend import require_tensorflow
from ..batch import content_key, model_batch
from ..compiled import Compiled
from ..geometry import cell_centres
from ..graph import flat_graph
from ..models import default_preprocess, last_conv_layer, load_model, num_classes, resolve_layer
from .executors import (
    ACTIVATIONS,
    GRADIENT_NEEDS,
    GRADIENT_SUMS,
    GRADIENTS,
    MASKED_PASSES,
    NEEDS,
    WEIGHTED_MAPS,
    WEIGHTED_SUMS,
    ForwardExecutor,
    GradientExecutor,
)

SCORES = ("logit", "probability")


def check_class_indices(values, n: int, name: str = "class_index") -> np.ndarray:
    """int32 array of class indices, each checked to be an integer in 0..n-1 (the one validator)."""
    out = []
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ConvVizError(
                f"{name}: expected an integer class index, got {type(k).__name__} {k!r}."
            )
        if not 0 <= int(k) < n:
            raise ConvVizError(f"{name}: expected 0..{n - 1} ({n} classes), got {int(k)}.")
        out.append(int(k))
    return np.asarray(out, dtype=np.int32)


def normalize(tf, raw):
    """(k, h, w) maps: ReLU, then each divided by its max (an all-zero map stays 0)."""
    maps = tf.nn.relu(raw)
    return tf.math.divide_no_nan(maps, tf.reduce_max(maps, axis=(1, 2), keepdims=True))


def normalize_np(raw: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`normalize` for the methods that finish their maps outside TF."""
    maps = np.maximum(np.asarray(raw, np.float32), 0)
    peak = maps.max(axis=(-2, -1), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0).astype(np.float32)


def probabilities_of(scores: np.ndarray, kind: str, binary: bool) -> np.ndarray:
    """Class probabilities from one image's scores (logits or already probabilities)."""
    s = np.asarray(scores, np.float64)
    if kind == "probability":
        return s.astype(np.float32)
    if binary:  # the logits are [-z, z]: p = sigmoid(z), class 0 its complement
        p = 1.0 / (1.0 + np.exp(-s[1]))
        return np.array([1.0 - p, p], np.float32)
    e = np.exp(s - s.max())
    return (e / e.sum()).astype(np.float32)


class BaseCAM:
    """Class activation maps of one layer (default: the last conv layer) of a classifier.

    Subclasses set ``needs`` (one of ``executors.NEEDS``) and override, inside TensorFlow,
    ``weights(tf, a, g)`` -> (k, C) channel weights (the map is then ReLU(sum_c w_c A_c)) or
    ``combine(tf, a, g)`` -> (k, h, w) raw maps; ``a`` is (1, h, w, C), ``g`` what the need
    names for the k class scores' gradients: (k, C) sums over the positions for GRADIENT_SUMS,
    (k, h, w, C) for GRADIENTS, (k, C) sums of A * g over the positions for WEIGHTED_SUMS,
    (k, h, w) sums of A * g over the channels for WEIGHTED_MAPS.
    Methods without gradients (``MASKED_PASSES``, ``ACTIVATIONS``) override ``_maps_of``.
    """

    method = ""  # the registry name (CAM_METHODS)
    needs = GRADIENT_SUMS
    class_agnostic = False
    precision = "float32"  # of the masked forward passes (engines.precision; Score-CAM's option)

    def __init__(self, model, layer=None, preprocess=None, score: str = "logit"):
        require_tensorflow()
        import tensorflow as tf

        if self.needs not in NEEDS:
            raise TypeError(f"{type(self).__name__}.needs: expected one of {NEEDS}")
        self.model = load_model(model)
        self.preprocess = default_preprocess(self.model, preprocess)
        self.num_classes = num_classes(self.model)
        if score not in SCORES:
            raise ConvVizError(f"score: expected one of {SCORES}, got {score!r}.")
        self.score = score
        self.layer = resolve_layer(self.model, last_conv_layer(self.model) if layer is None else layer)
        graph = flat_graph(self.model)
        self.channels = int(graph.tap(self.layer).shape[-1])
        self._binary = graph.output.shape[-1] == 1
        self._x_spec = tf.TensorSpec(graph.input.shape, tf.float32)
        self._check_layer()
        if self.needs in GRADIENT_NEEDS:
            self.executor = ex = GradientExecutor(graph, self.layer, score, self.needs)
            k_spec = tf.TensorSpec((None,), tf.int32)

            def maps(*args):
                return normalize(tf, self.combine(tf, *ex.gradients(*args)))

            def first(x, k):
                features, s, a, g = ex.first(x, k)
                return features, s, normalize(tf, self.combine(tf, a, g))

            self._maps = Compiled(maps, [*ex.feature_specs, k_spec])
            self._first = Compiled(first, [self._x_spec, tf.TensorSpec((), tf.int32)])
            self._weights = None  # compiled on first use of channel_weights
        else:
            self.executor = ForwardExecutor(graph, self.layer, score, self.precision)
            self._first = None
        self.split, self.fold = self.executor.split, self.executor.fold
        self._forward = Compiled(self.executor.forward, [self._x_spec])
        self._key = None
        self._x = None  # the preprocessed batch (1, H, W, 3) of the last image
        self._features = None  # what the executor needs of the last image
        self.scores = None  # class scores of the last image, numpy (classes,)
        self.probabilities = None  # its class probabilities (softmax / sigmoid), numpy (classes,)
        # Where the heatmap's cells sit in the last image (geometry.CellCentres; None: unknown,
        # stretch the map): pass it to render.overlay(..., centres=...).
        self.centres = None
        self._centres: dict = {}

    # ----------------------------------------------------------------- what a method overrides

    @classmethod
    def has_channel_weights(cls) -> bool:
        """Whether the map is a weighted sum of the channels (then ``channel_weights`` works)."""
        return cls.weights is not BaseCAM.weights

    def _check_layer(self) -> None:
        """Refuse a layer the method cannot work with (ConvVizError); called once, at creation."""

    def weights(self, tf, a, g):
        """(k, C) channel weights from the maps and gradients (see the class docstring)."""
        raise NotImplementedError

    def combine(self, tf, a, g):
        """(k, h, w) raw maps (the base ReLUs and normalizes them); by default sum_c w_c A_c."""
        return tf.einsum("bhwc,kc->khw", a[:1], self.weights(tf, a, g))

    def _maps_of(self, classes: np.ndarray, callback=None) -> np.ndarray:
        """Normalized maps (k, h, w) of the image prepared last, for checked class indices."""
        maps = self._maps(*self._features, classes).numpy().astype(np.float32)
        if callback is not None:
            callback(1, 1, maps[0])
        return maps

    def _channel_weights_of(self, classes: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if not self.has_channel_weights():
            raise ConvVizError(
                f"channel_weights: the {self.method or type(self).__name__} method has no "
                "per-channel weights (its map is not a weighted sum of the layer's channels); "
                f"expected one of the weight-based methods: {', '.join(weight_based_methods())}."
            )
        if self._weights is None:
            ex = self.executor
            k_spec = tf.TensorSpec((None,), tf.int32)
            self._weights = Compiled(
                lambda *args: self.weights(tf, *ex.gradients(*args)), [*ex.feature_specs, k_spec]
            )
        return self._weights(*self._features, classes).numpy().astype(np.float32)

    # ----------------------------------------------------------------- shared by every method

    def _batch(self, img):
        x = model_batch(self.model, img, self.preprocess)
        return x, content_key(x)

    def _prepare(self, img):
        """Run the model on ``img`` unless it is the image of the last call (cached by content)."""
        x, key = self._batch(img)
        if key != self._key:
            features, s = self._forward(x)
            self._remember(x, key, features, s)

    def _remember(self, x, key, features, scores):
        self._key, self._x, self._features = key, x, tuple(features)
        self.scores = scores.numpy()[0]
        self.probabilities = probabilities_of(self.scores, self.score, self._binary)
        self._forget_image()
        hw = tuple(x.shape[1:3])
        if hw not in self._centres:
            self._centres[hw] = cell_centres(self.model, self.layer, hw)
        self.centres = self._centres[hw]

    def _forget_image(self) -> None:
        """Drop what a method cached for the previous image (a hook; nothing by default)."""

    def _class_indices(self, class_indices) -> np.ndarray:
        return check_class_indices(class_indices, self.num_classes)

    def _top(self) -> int:
        return int(np.argmax(self.scores))

    def compute(self, img, class_index=None, callback=None) -> np.ndarray:
        """The map float32 (h, w) in 0..1 for ``class_index`` (default: the top class).

        ``callback(done, total, partial_map)`` is called as the work progresses (once for the
        one-pass methods, after every batch of masked inputs for Score-CAM); returning False
        stops the work early and the map so far is returned.
        """
        if class_index is not None:
            self._class_indices([class_index])
        x, key = self._batch(img)
        if key != self._key:
            if self._first is not None:  # a new image and one class: the fused first pass
                k = -1 if class_index is None else int(class_index)
                features, s, maps = self._first(x, np.int32(k))
                self._remember(x, key, features, s)
                out = maps.numpy()[0].astype(np.float32)
                if callback is not None:
                    callback(1, 1, out)
                return out
            features, s = self._forward(x)
            self._remember(x, key, features, s)
        k = self._top() if class_index is None else int(class_index)
        return self._maps_of(self._class_indices([k]), callback)[0]

    def compute_many(self, img, class_indices) -> np.ndarray:
        """Maps float32 (k, h, w) for several classes of one image, in one batch."""
        self._prepare(img)
        classes = self._class_indices(list(class_indices))
        if classes.size == 0:
            raise ConvVizError("class_indices: expected at least one class index, got none.")
        return self._maps_of(classes)

    def channel_weights(self, img, class_index=None) -> np.ndarray:
        """float32 (C,): the weight of each of the layer's channels in the map of ``class_index``.

        For the weight-based methods (Grad-CAM, Grad-CAM++, XGradCAM, Score-CAM); the others
        raise a ConvVizError.
        """
        if class_index is not None:
            self._class_indices([class_index])
        self._prepare(img)
        k = self._top() if class_index is None else int(class_index)
        return self._channel_weights_of(self._class_indices([k]))[0]

    def top_classes(self, img, k: int = 5) -> list[int]:
        """The ``k`` highest-scoring classes for ``img``, best first."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConvVizError(f"k: expected a positive integer, got {k!r}.")
        self._prepare(img)
        return [int(i) for i in np.argsort(-self.scores, kind="stable")[: int(k)]]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer={self.layer!r}, needs={self.needs!r})"


def weight_based_methods() -> tuple[str, ...]:
    from . import CAM_METHODS, method_class

    return tuple(m for m in CAM_METHODS if method_class(m).has_channel_weights())


__all__ = [
    "ACTIVATIONS",
    "GRADIENTS",
    "GRADIENT_SUMS",
    "MASKED_PASSES",
    "WEIGHTED_MAPS",
    "WEIGHTED_SUMS",
    "BaseCAM",
    "check_class_indices",
    "normalize",
]

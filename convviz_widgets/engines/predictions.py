"""Top-k class predictions with labels."""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import ConvVizError
from .backend import require_tensorflow
from .batch import model_batch
from .compiled import Compiled
from .graph import flat_graph
from .models import class_names, default_preprocess, load_model

_PREDICT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def probability_fn(model) -> Compiled:
    """The compiled (n, H, W, 3) batch -> (n, classes) probabilities of ``model`` (cached)."""
    require_tensorflow()
    import tensorflow as tf

    fn = _PREDICT.get(model)
    if fn is None:
        graph = flat_graph(model)
        submodel = graph.submodel(("@probability",))
        spec = tf.TensorSpec(graph.input.shape, tf.float32)
        fn = Compiled(lambda x: submodel(x, training=False), [spec])
        _PREDICT[model] = fn
    return fn


def probabilities(model, img, preprocess=None) -> np.ndarray:
    """Class probabilities (classes,) for one image; a sigmoid unit gives [1 - p, p]."""
    model = load_model(model)
    x = model_batch(model, img, default_preprocess(model, preprocess))
    return probability_fn(model)(x).numpy()[0]


def predict_top(model, img, k: int = 3, preprocess=None) -> list[tuple[int, str, float]]:
    """[(class_index, label, probability), ...] for the ``k`` most probable classes."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConvVizError(f"k: expected a positive integer, got {k!r}.")
    model = load_model(model)
    names = class_names(model)
    p = probabilities(model, img, preprocess)
    order = np.argsort(-p, kind="stable")[: int(k)]
    return [(int(i), names[i], float(p[i])) for i in order]

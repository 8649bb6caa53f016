"""EigenCAM (Muhammad & Yeasin, 2020): the first principal component of the layer's maps.

A as (h*w, C), centred per channel; the map is its projection on the first right singular
vector, the sign chosen so that it correlates positively with sum_c A_c; ReLU, / max.
Class-agnostic: no gradient, no class score; every class gets the same map. The SVD runs in
TensorFlow (numpy's threaded BLAS can be 100x slower beside a busy TensorFlow).
"""

from __future__ import annotations

import numpy as np

from ...errors import ConvVizError
from .base import ACTIVATIONS, BaseCAM, normalize_np


def eigen_map(a) -> np.ndarray:
    """(h, w) EigenCAM map of one image's maps ``a`` (h, w, C) or (1, h, w, C)."""
    import tensorflow as tf

    a = tf.cast(tf.convert_to_tensor(a), tf.float64)
    a = a[0] if a.shape.rank == 4 else a
    h, w, c = a.shape
    m = tf.reshape(a, (h * w, c))
    m = m - tf.reduce_mean(m, axis=0, keepdims=True)
    _, _, v = tf.linalg.svd(m, full_matrices=False)
    projection = tf.linalg.matvec(m, v[:, 0])
    total = tf.reshape(tf.reduce_sum(a, axis=-1), (-1,))
    if float(tf.tensordot(projection, total - tf.reduce_mean(total), 1)) < 0:
        projection = -projection
    return normalize_np(tf.reshape(projection, (h, w)).numpy())


class EigenCAM(BaseCAM):
    """EigenCAM maps of one layer; ``class_index`` is checked but does not change the map."""

    method = "eigencam"
    needs = ACTIVATIONS
    class_agnostic = True

    def __init__(self, model, layer=None, preprocess=None):
        super().__init__(model, layer, preprocess)

    def _check_layer(self):
        if self.channels < 2:
            raise ConvVizError(
                f"layer: EigenCAM needs a layer with at least 2 channels (a principal component "
                f"of one channel is the channel itself), {self.layer!r} has {self.channels}."
            )

    def _forget_image(self):
        self._map = None

    def _maps_of(self, classes, callback=None):
        if self._map is None:
            self._map = eigen_map(self._features[0])
        if callback is not None:
            callback(1, 1, self._map)
        return np.repeat(self._map[None], len(classes), axis=0)

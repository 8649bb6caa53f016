"""XGradCAM (Fu et al., 2020): gradients weighted by the normalized activations.

w_c = sum_yx A g / (sum_yx A + 1e-7); map = ReLU(sum_c w_c A_c) / max.
"""

from __future__ import annotations

from .base import GRADIENTS, BaseCAM


class XGradCAM(BaseCAM):
    """XGradCAM: each position's gradient counts as much as the channel is active there."""

    method = "xgradcam"
    needs = GRADIENTS

    def weights(self, tf, a, g):
        return tf.reduce_sum(a * g, axis=(1, 2)) / (tf.reduce_sum(a, axis=(1, 2)) + 1e-7)

"""XGradCAM (Fu et al., 2020): gradients weighted by the normalized activations.

w_c = sum_yx A g / (sum_yx A + 1e-7); map = ReLU(sum_c w_c A_c) / max. The numerator is linear
in g, so the method asks for it directly (WEIGHTED_SUMS): on a folded Flatten -> Dense head a
class switch then never reads the Dense's kernel (see ``executors``).
"""

from __future__ import annotations

from .base import WEIGHTED_SUMS, BaseCAM


class XGradCAM(BaseCAM):
    """XGradCAM: each position's gradient counts as much as the channel is active there."""

    method = "xgradcam"
    needs = WEIGHTED_SUMS

    def weights(self, tf, a, ag):
        """``ag`` (k, C): sum_yx A g of each class, per channel."""
        return ag / (tf.reduce_sum(a, axis=(1, 2)) + 1e-7)

"""HiResCAM (Draelos & Carin, 2020): gradient times activation, position by position.

map = ReLU(sum_c g A) / max: provably what the score depends on for a conv -> linear head,
where Grad-CAM's averaged weights may highlight positions the model did not use.
"""

from __future__ import annotations

from .base import GRADIENTS, BaseCAM


class HiResCAM(BaseCAM):
    """HiResCAM: element-wise gradient x activation, summed over the channels."""

    method = "hirescam"
    needs = GRADIENTS

    def combine(self, tf, a, g):
        return tf.reduce_sum(g * a, axis=-1)

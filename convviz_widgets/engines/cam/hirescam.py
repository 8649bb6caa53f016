"""HiResCAM (Draelos & Carin, 2020): gradient times activation, position by position.

map = ReLU(sum_c g A) / max: provably what the score depends on for a conv -> linear head,
where Grad-CAM's averaged weights may highlight positions the model did not use. The map is
linear in g, so the method asks for sum_c A g directly (WEIGHTED_MAPS): on a folded
Flatten -> Dense head a class switch then never reads the Dense's kernel (see ``executors``).
"""

from __future__ import annotations

from .base import WEIGHTED_MAPS, BaseCAM


class HiResCAM(BaseCAM):
    """HiResCAM: element-wise gradient x activation, summed over the channels."""

    method = "hirescam"
    needs = WEIGHTED_MAPS

    def combine(self, tf, a, ag):
        """``ag`` (k, h, w): sum_c A g of each class, per position: the raw map itself."""
        return ag

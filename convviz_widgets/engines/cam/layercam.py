"""LayerCAM (Jiang et al., 2021): positive gradients times activations, position by position.

map = ReLU(sum_c ReLU(g) A) / max: no channel average, so fine detail of early layers survives.
"""

from __future__ import annotations

from .base import GRADIENTS, BaseCAM


class LayerCAM(BaseCAM):
    """LayerCAM: element-wise ReLU(gradient) x activation, summed over the channels."""

    method = "layercam"
    needs = GRADIENTS

    def combine(self, tf, a, g):
        return tf.reduce_sum(tf.nn.relu(g) * a, axis=-1)

"""Grad-CAM++ (Chattopadhyay et al., 2018), the paper's closed form as pytorch-grad-cam has it.

alpha = g^2 / (2 g^2 + sum_yx(A) g^3) (a zero denominator counts as 1);
w_c = sum_yx alpha ReLU(g); map = ReLU(sum_c w_c A_c) / max.
"""

from __future__ import annotations

from .base import GRADIENTS, BaseCAM


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: positive gradients weighted per position, so several instances all count."""

    method = "gradcam++"
    needs = GRADIENTS

    def weights(self, tf, a, g):
        g2 = tf.square(g)
        denominator = 2.0 * g2 + tf.reduce_sum(a, axis=(1, 2), keepdims=True) * g2 * g
        alpha = g2 / tf.where(denominator == 0.0, tf.ones_like(denominator), denominator)
        return tf.reduce_sum(alpha * tf.nn.relu(g), axis=(1, 2))

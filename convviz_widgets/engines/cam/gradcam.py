"""Grad-CAM (Selvaraju et al., 2017): each channel weighted by its mean gradient.

w_c = mean over (y, x) of d score / d A[y, x, c]; map = ReLU(sum_c w_c A_c) / max. Only the
per-channel sums of the gradient are needed, so a [pooling] -> Flatten -> Dense head is folded
(see ``executors``) and a class switch never reruns the body nor reads the big Dense kernel.
The score is the class logit by default (the paper), or the probability (what the tutorial's
code differentiates; it saturates when the model is confident).
"""

from __future__ import annotations

from .base import GRADIENT_SUMS, BaseCAM


class GradCAM(BaseCAM):
    """Grad-CAM maps of one layer (default: the last conv layer) of a classifier."""

    method = "gradcam"
    needs = GRADIENT_SUMS

    def weights(self, tf, a, g):
        positions = tf.cast(tf.shape(a)[1] * tf.shape(a)[2], g.dtype)
        return g / positions  # g: (k, C) sums over the positions

"""Score-CAM (Wang et al., 2020), as the authors' code: each channel weighted by how much of the
class probability it keeps when it masks the input.

Channel c is upsampled to the input size (cv2 INTER_LINEAR) and min-max normalized to 0..1 (a
constant channel gives 0); w_c = the class probability (softmax / sigmoid) of the model's input
(after preprocess) times that mask; map = ReLU(sum_c w_c A_c) / max. The masked inputs run in
batches of ``batch_size`` through the compiled model, so memory stays bounded for any number of
channels; the probabilities of every class are kept, so a class switch costs nothing. Constant
channels (a mask of 0) share one pass.

``precision="bfloat16"`` runs the masked passes through the model's bfloat16 twin (the
convolutional body in bfloat16, the dense head and the probabilities in float32; see
``engines.precision``): about twice as fast on hardware with bfloat16 units, the weights within
about 1% of float32's. The layer's maps and the image's own scores stay float32.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import ConvVizError
from ..precision import check_precision
from .base import MASKED_PASSES, BaseCAM, normalize_np

_CV2_MAX_CHANNELS = 128  # cv2.resize takes at most this many channels at once


def upsampled_masks(a: np.ndarray, channels: np.ndarray, size: tuple) -> np.ndarray:
    """(n, H, W) masks: channels of ``a`` (h, w, C) resized to ``size`` and min-max normalized."""
    out = np.empty((len(channels), *size), np.float32)
    for i in range(0, len(channels), _CV2_MAX_CHANNELS):
        part = np.ascontiguousarray(a[:, :, channels[i : i + _CV2_MAX_CHANNELS]], np.float32)
        up = cv2.resize(part, size[::-1], interpolation=cv2.INTER_LINEAR).reshape(*size, -1)
        out[i : i + part.shape[-1]] = np.moveaxis(up, -1, 0)
    low = out.min(axis=(1, 2), keepdims=True)
    span = out.max(axis=(1, 2), keepdims=True) - low
    return np.divide(out - low, span, out=np.zeros_like(out), where=span > 0)


class ScoreCAM(BaseCAM):
    """Score-CAM maps; ``max_channels=N`` scores only the N channels of highest spatial std."""

    method = "scorecam"
    needs = MASKED_PASSES

    def __init__(self, model, layer=None, preprocess=None, max_channels=None, batch_size=32,
                 precision="float32"):
        self.max_channels, self.batch_size = max_channels, batch_size
        self.precision = check_precision(precision)
        super().__init__(model, layer, preprocess)

    def _check_layer(self):
        n, b = self.max_channels, self.batch_size
        if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer)
                              or not 1 <= n <= self.channels):
            raise ConvVizError(
                f"max_channels: expected None or an integer in 1..{self.channels} (the channels "
                f"of {self.layer!r}), got {n!r}."
            )
        if isinstance(b, bool) or not isinstance(b, int | np.integer) or b < 1:
            raise ConvVizError(f"batch_size: expected a positive integer, got {b!r}.")

    @classmethod
    def has_channel_weights(cls):
        return True

    def _forget_image(self):
        self._probabilities = None  # (C, classes): each masked input's class probabilities

    def _score_channels(self, k: int, callback=None) -> np.ndarray:
        """(C, classes) probabilities (0 for channels not scored); cached once complete."""
        a = self._features[0].numpy()[0]
        order = np.arange(self.channels)
        if self.max_channels is not None:  # highest spatial std first, ties by channel index
            order = np.argsort(-a.std(axis=(0, 1)), kind="stable")[: self.max_channels]
        probabilities = np.zeros((self.channels, self.num_classes), np.float32)
        # A constant channel's mask is 0, so every one of them masks the input to zeros: one
        # pass serves them all (exact; dead ReLU channels are common in late layers).
        constant = (a.max(axis=(0, 1)) == a.min(axis=(0, 1)))[order]
        if constant.any():
            probabilities[order[constant]] = self.executor.probabilities(np.zeros_like(self._x)).numpy()
            order = np.concatenate([order[constant], order[~constant]])
        for start in range(int(constant.sum()), len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            masks = upsampled_masks(a, chosen, self._x.shape[1:3])
            probabilities[chosen] = self.executor.probabilities(self._x * masks[..., None]).numpy()
            done = start + len(chosen)
            if callback is not None and done < len(order):
                partial = normalize_np(np.einsum("hwc,c->hw", a, probabilities[:, k]))
                if callback(done, len(order), partial) is False:
                    return probabilities  # stopped: the partial result, not cached
        self._probabilities = probabilities
        return probabilities

    def _weights_of(self, classes, callback=None) -> np.ndarray:
        p = self._probabilities
        if p is None:
            p = self._score_channels(int(classes[0]), callback)
        return p[:, classes].T

    def _maps_of(self, classes, callback=None):
        weights = self._weights_of(classes, callback)
        maps = normalize_np(np.einsum("hwc,kc->khw", self._features[0].numpy()[0], weights))
        if callback is not None and self._probabilities is not None:  # complete, not stopped
            callback(self.max_channels or self.channels, self.max_channels or self.channels, maps[0])
        return maps

    def _channel_weights_of(self, classes):
        return self._weights_of(classes)

"""Faithfulness of a saliency map: deletion, insertion, average drop, pointing game.

The protocol (DESIGN.md, so that any two implementations agree): the heatmap is resized to the
model-input-size image with cv2 INTER_LINEAR; pixels are ordered by saliency, highest first,
ties by flat index. At step i = 0..steps the first round(i * H * W / steps) pixels in that order
are changed: deletion sets them to 0 (raw 0..255 pixels), insertion copies them from the image
into ``cv2.GaussianBlur(img, (11, 11), 5)``. The probability is the model's softmax / sigmoid
output for the class, after preprocess; the AUC is the trapezoid over the fractions i / steps.
Every step's image runs through one compiled forward pass, ``batch_size`` images at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConvVizError
from .backend import require_tensorflow
from .batch import model_image, preprocessed
from .cam.base import check_class_indices
from .models import default_preprocess, load_model, num_classes
from .predictions import probability_fn


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: probability of the class against the fraction changed."""

    fractions: np.ndarray  # (steps + 1,): i / steps
    probabilities: np.ndarray  # (steps + 1,)
    auc: float  # trapezoid area under probabilities over fractions


def _check_heatmap(heatmap, name: str = "heatmap") -> np.ndarray:
    h = np.asarray(heatmap)
    if h.dtype == object or not (np.issubdtype(h.dtype, np.number) or h.dtype == bool):
        raise ConvVizError(f"{name}: expected a numeric array (h, w), got dtype {h.dtype}.")
    if h.ndim != 2:
        raise ConvVizError(f"{name}: expected a 2-D array (h, w), got shape {h.shape}.")
    if h.size == 0:
        raise ConvVizError(f"{name}: expected at least one cell, got shape {h.shape}.")
    h = h.astype(np.float32)
    if not np.all(np.isfinite(h)):
        raise ConvVizError(
            f"{name}: expected finite values, got {int(np.sum(~np.isfinite(h)))} NaN or inf."
        )
    return h


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ConvVizError(f"steps: expected an integer >= 1, got {steps!r}.")
    return int(steps)


def saliency(heatmap, size: tuple) -> np.ndarray:
    """The heatmap resized to ``size`` (H, W) with cv2 INTER_LINEAR, float32."""
    h = _check_heatmap(heatmap)
    return cv2.resize(h, (size[1], size[0]), interpolation=cv2.INTER_LINEAR).reshape(size)


class _Setup:
    """The model, the image at its input size, the class, and a batched probability."""

    def __init__(self, model, img, class_index, preprocess, batch_size=16):
        require_tensorflow()
        self.model = load_model(model)
        self.preprocess = default_preprocess(self.model, preprocess)
        self.class_index = int(check_class_indices([class_index], num_classes(self.model))[0])
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ConvVizError(f"batch_size: expected a positive integer, got {batch_size!r}.")
        self.batch_size = int(batch_size)
        self.image = model_image(self.model, img)
        self.fn = probability_fn(self.model)

    def probabilities(self, images_of, n: int) -> np.ndarray:
        """p(class) for images_of(i) for i in range(n), ``batch_size`` at a time."""
        out = np.empty(n, np.float32)
        for start in range(0, n, self.batch_size):
            stop = min(n, start + self.batch_size)
            batch = np.stack([images_of(i) for i in range(start, stop)]).astype(np.float32)
            x = preprocessed(self.preprocess, batch)
            out[start:stop] = self.fn(x).numpy()[:, self.class_index]
        return out


def _curve(model, img, heatmap, class_index, steps, preprocess, batch_size, insert: bool) -> Curve:
    steps = _check_steps(steps)
    setup = _Setup(model, img, class_index, preprocess, batch_size)
    image = setup.image
    height, width = image.shape[:2]
    s = saliency(heatmap, (height, width))
    order = np.argsort(-s.ravel(), kind="stable")
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)  # rank[p]: when pixel p is changed
    rank = rank.reshape(height, width, 1)
    counts = [round(i * height * width / steps) for i in range(steps + 1)]
    start = cv2.GaussianBlur(image, (11, 11), 5) if insert else np.zeros_like(image)
    end = image if insert else np.zeros_like(image)
    first = start if insert else image  # what the unchanged pixels are

    def image_of(i):
        return np.where(rank < counts[i], end, first)

    probabilities = setup.probabilities(image_of, steps + 1)
    fractions = np.arange(steps + 1, dtype=np.float64) / steps
    return Curve(fractions, probabilities, float(np.trapezoid(probabilities, fractions)))


def deletion(model, img, heatmap, class_index, steps=50, preprocess=None, *, batch_size=16) -> Curve:
    """The class probability as the most salient pixels are set to 0 (black); lower AUC: better."""
    return _curve(model, img, heatmap, class_index, steps, preprocess, batch_size, insert=False)


def insertion(model, img, heatmap, class_index, steps=50, preprocess=None, *, batch_size=16) -> Curve:
    """The class probability as the most salient pixels are copied into a blurred image;
    higher AUC: better."""
    return _curve(model, img, heatmap, class_index, steps, preprocess, batch_size, insert=True)


def average_drop(model, img, heatmap, class_index, preprocess=None) -> tuple[float, bool]:
    """(drop, increased): Y = p(img), O = p(img * saliency), drop = max(0, Y - O) / Y, increased
    = O > Y (Chattopadhyay et al. 2018). The saliency must lie in 0..1 (a CAM's output does)."""
    setup = _Setup(model, img, class_index, preprocess)
    image = setup.image
    s = saliency(heatmap, image.shape[:2])
    if s.min() < 0 or s.max() > 1 + 1e-6:
        raise ConvVizError(
            f"heatmap: expected values in 0..1 for average_drop (it multiplies the pixels), got "
            f"{float(np.min(heatmap)):.4g}..{float(np.max(heatmap)):.4g}."
        )
    masked = image * np.clip(s, 0, 1)[..., None]
    y, o = setup.probabilities(lambda i: (image, masked)[i], 2)
    drop = max(0.0, float(y) - float(o)) / float(y) if y > 0 else 0.0
    return drop, bool(o > y)


def pointing_game(heatmap, mask, tolerance=15) -> bool:
    """Whether the heatmap's maximum, resized to the mask, lies within ``tolerance`` pixels of a
    True pixel of the mask (Zhang et al. 2016)."""
    m = np.asarray(mask)
    if m.ndim != 2 or m.size == 0:
        raise ConvVizError(f"mask: expected a 2-D boolean array (H, W), got shape {m.shape}.")
    m = m.astype(bool)
    if not m.any():
        raise ConvVizError("mask: expected at least one True pixel (the object), got none.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.number) or not (
        np.isfinite(tolerance) and tolerance >= 0
    ):
        raise ConvVizError(f"tolerance: expected a number of pixels >= 0, got {tolerance!r}.")
    s = saliency(heatmap, m.shape)
    y, x = np.unravel_index(int(np.argmax(s)), s.shape)
    ys, xs = np.nonzero(m)
    return bool(np.min((ys - y) ** 2 + (xs - x) ** 2) <= tolerance**2)

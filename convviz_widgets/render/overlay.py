"""Grad-CAM heatmaps -> frames: the raw low-resolution map, and the map blended over the image."""

from __future__ import annotations

import numbers

import cv2
import numpy as np
from PIL import Image

from ..errors import ConvVizError
from .frames import (
    CAM_COLORMAP,
    _as_array,
    _check_numeric,
    _describe,
    _lut_for,
    apply_lut,
    colorize,
    fit_size,
    to_rgba,
)

__all__ = ["heatmap_frame", "overlay", "place_heatmap", "superimpose_additive"]


def _heatmap01(heatmap) -> np.ndarray:
    """(h, w) heatmap -> float32 in [0, 1]; NaN and -inf -> 0, +inf -> 1."""
    arr = _as_array(heatmap, "heatmap")
    _check_numeric(arr, "heatmap", "an (h, w) heatmap")
    if arr.ndim != 2:
        raise ConvVizError(f"heatmap: expected an (h, w) heatmap, got {_describe(arr)}")
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _levels(heatmap01: np.ndarray) -> np.ndarray:
    """[0, 1] -> uint8 0..255, truncated like the reference's np.uint8(255 * heatmap)."""
    return (heatmap01 * np.float32(255)).astype(np.uint8)


def _image_rgb(image) -> np.ndarray:
    """Gray, RGB or RGBA image of 0..255 numbers -> float32 (H, W, 3), clipped, NaN -> 0."""
    arr = _as_array(image, "image")
    expected = "an (H, W, 3) image of 0..255 values"
    _check_numeric(arr, "image", expected)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ConvVizError(f"image: expected {expected} (or gray, or RGBA), got {_describe(arr)}")
    if arr.dtype.kind == "b":
        arr = arr * np.float32(255)
    elif arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    rgb = np.clip(arr[:, :, :3], 0, 255).astype(np.float32)
    return np.broadcast_to(rgb, rgb.shape[:2] + (3,))


def _alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ConvVizError(f"alpha: expected a number in [0, 1] (heatmap opacity), got {alpha!r}")
    return float(alpha)


def _resize(arr: np.ndarray, shape: tuple[int, int], interpolation: int) -> np.ndarray:
    if arr.shape[:2] == shape:
        return arr
    return cv2.resize(arr, (shape[1], shape[0]), interpolation=interpolation)


def image_frame(image, shape: tuple[int, int]) -> np.ndarray:
    """The input image as an RGBA frame of ``shape`` (H, W), to show beside a map of that size:
    area-averaged when shrinking, bilinear when growing (a photo, not a map of cells)."""
    rgb = _image_rgb(image)
    h, w = int(shape[0]), int(shape[1])
    shrink = h <= rgb.shape[0] and w <= rgb.shape[1]
    resized = _resize(np.ascontiguousarray(rgb), (h, w), cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return to_rgba(resized, name="image")


def heatmap_frame(heatmap, colormap=CAM_COLORMAP, size: int | None = None) -> np.ndarray:
    """The raw low-resolution heatmap, colormapped; nearest-upscaled so its cells stay visible."""
    return fit_size(colorize(_levels(_heatmap01(heatmap)), colormap), size)


def _centres(centres) -> tuple[float, float, float, float] | None:
    if centres is None:
        return None
    try:
        values = tuple(float(v) for v in centres)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[1] <= 0 or values[3] <= 0:
        raise ConvVizError(
            "centres: expected (y0, dy, x0, dx), finite, dy and dx > 0 (GradCAM.centres), "
            f"got {centres!r}"
        )
    return values


def place_heatmap(heatmap01: np.ndarray, shape: tuple[int, int], centres=None) -> np.ndarray:
    """An (h, w) map -> (H, W), bilinear, each cell's value at its receptive-field centre.

    ``centres`` (``GradCAM.centres``: y0, dy, x0, dx as fractions of the image) puts cell
    (i, j) at ((y0 + i dy) H, (x0 + j dx) W); beyond the outermost centres the edge values
    continue. Without it (or when it is the plain stretch) this is ``cv2.resize``.
    """
    H, W = shape
    h, w = heatmap01.shape
    c = _centres(centres)
    if c is None or np.allclose(c, (0.5 / h, 1.0 / h, 0.5 / w, 1.0 / w), rtol=0, atol=1e-9):
        return _resize(heatmap01, shape, cv2.INTER_LINEAR)
    y0, dy, x0, dx = c
    # source cell index i -> destination pixel (y0 + i dy) H - 0.5 (pixel centres at integers)
    matrix = np.array([[dx * W, 0.0, x0 * W - 0.5], [0.0, dy * H, y0 * H - 0.5]])
    return cv2.warpAffine(
        heatmap01, matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def overlay(image, heatmap, alpha: float = 0.4, colormap=CAM_COLORMAP, centres=None) -> np.ndarray:
    """Heatmap placed over the image (bilinear), colormapped and alpha-blended over it:
    image * (1 - alpha) + colored * alpha. Any heatmap size and any image size.

    ``centres`` (``GradCAM.centres``) puts each heatmap cell at its receptive-field centre
    (see ``engines/geometry.py``); without it the map is stretched over the image, which is
    off by up to 14 px for a "valid"-padded convnet such as the tutorial's."""
    a = _alpha(alpha)
    rgb = _image_rgb(image)
    heat = place_heatmap(_heatmap01(heatmap), rgb.shape[:2], centres)
    colored = apply_lut(_lut_for(colormap), _levels(np.clip(heat, 0.0, 1.0)))[:, :, :3]
    blended = rgb * np.float32(1.0 - a) + colored * np.float32(a)
    return to_rgba(blended, name="overlay")


def _keras_array_to_img_bytes(x: np.ndarray) -> np.ndarray:
    """keras.utils.array_to_img(x) with scale=True, as uint8: shift to min 0, divide by the max
    (unless 0), times 255, in float32, then truncated by astype("uint8")."""
    x = np.asarray(x, dtype=np.float32)
    x = x - np.min(x)
    x_max = np.max(x)
    if x_max != 0:
        x /= x_max
    x *= 255
    return x.astype(np.uint8)


def superimpose_additive(image, heatmap, alpha: float = 0.4) -> np.ndarray:
    """The book's exact Grad-CAM figure (Deep Learning with Python, 2nd ed.): jet colors of
    uint8(255 * heatmap), bicubic-resized by PIL to the image, added at `alpha` to the image, and
    the sum min-max rescaled to 0..255 (so the image also brightens or darkens). Inputs are first
    sanitized like `overlay`'s; for clean inputs the bytes equal the book's keras code."""
    a = _alpha(alpha)
    img = _image_rgb(image)
    levels = _levels(_heatmap01(heatmap))
    import matplotlib  # deferred, as in frames.colormap_lut

    jet_colors = matplotlib.colormaps["jet"](np.arange(256))[:, :3]
    jet_heatmap = Image.fromarray(_keras_array_to_img_bytes(jet_colors[levels]), "RGB")
    # The book calls PIL's resize with its default filter, BICUBIC since Pillow 7.
    jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]), Image.Resampling.BICUBIC)
    superimposed = np.asarray(jet_heatmap, dtype=np.float32) * np.float32(a) + img
    return to_rgba(_keras_array_to_img_bytes(superimposed), name="superimposed")

"""Feature maps -> frames: per-channel normalization, one channel large, or all channels tiled."""

from __future__ import annotations

import numpy as np

from ..errors import ConvVizError
from ..validation import check_index
from .frames import (
    ACTIVATION_COLORMAP,
    GridLayout,
    _as_array,
    _check_numeric,
    _describe,
    _lut_for,
    apply_lut,
    colorize,
    draw_highlight,
    fit_shape,
    fit_size,
    nearest_indices,
    tile,
)

__all__ = [
    "grid_cell_size",
    "blank_channels",
    "channel_frame",
    "grid_frame",
    "normalize_channel",
    "normalize_channels",
]

# Relative to the channel's largest |value|: below this the spread is float64 round-off of a
# constant, so the channel shows as flat mid-gray rather than amplified noise.
_CONSTANT_RTOL = 1e-12


def _feature_map(fmap, name: str = "fmap") -> np.ndarray:
    arr = _as_array(fmap, name)
    expected = "an (H, W, C) feature map"
    _check_numeric(arr, name, expected)
    if arr.ndim != 3:
        hint = " (drop the batch axis: fmap[0])" if arr.ndim == 4 and arr.shape[0] == 1 else ""
        raise ConvVizError(f"{name}: expected {expected}, got {_describe(arr)}{hint}")
    return arr


def normalize_channels(fmap) -> np.ndarray:
    """(H, W, C) -> uint8 (H, W, C): each channel (x - mean) / std * 64 + 128, clipped to 0..255
    and truncated like the reference's astype("uint8"). A constant channel is flat 128.

    Non-finite values are left out of each channel's mean and std and shown as NaN -> 128,
    +inf -> 255, -inf -> 0. Values are divided by the channel's largest finite |x| first (the
    result is scale-free), so 1e30 or 1e-30 activations neither overflow nor vanish."""
    return _normalized(_feature_map(fmap))


def _normalized(raw: np.ndarray, rows=None, cols=None) -> np.ndarray:
    """``normalize_channels`` of a checked map; with ``rows`` and ``cols`` (index arrays), only
    those pixels are normalized (the statistics still come from every pixel). Each value goes
    through the same operations either way, so the result is the full one, indexed."""
    x = raw.astype(np.float64)
    all_finite = bool(np.isfinite(raw).all())
    if all_finite:
        count = np.full(x.shape[2], max(x.shape[0] * x.shape[1], 1))
        # max |x| per channel, read from the (narrower) input: the same numbers, exactly
        flat = raw.reshape(-1, raw.shape[2])
        scale = np.maximum(flat.max(axis=0).astype(np.float64), -flat.min(axis=0).astype(np.float64))
    else:
        finite = np.isfinite(x)
        x = np.where(finite, x, 0.0)
        count = np.maximum(finite.sum(axis=(0, 1)), 1)
        scale = np.abs(x).max(axis=(0, 1))
    x /= np.where(scale > 0, scale, 1.0)
    mean = x.sum(axis=(0, 1)) / count
    x -= mean
    if not all_finite:
        x *= finite  # left-out values must not count in the variance
    std = np.sqrt(np.einsum("hwc,hwc->c", x, x) / count)
    constant = std <= _CONSTANT_RTOL
    if rows is not None:  # a downscaled grid: the rest only for the pixels shown
        x, raw = x[rows][:, cols], raw[rows][:, cols]
    x *= 64.0 / np.where(constant, 1.0, std)
    x += 128.0
    x[:, :, constant] = 128.0
    if not all_finite:
        raw = np.asarray(raw)
        x[np.isnan(raw)] = 128.0
        x[np.isposinf(raw)] = 255.0
        x[np.isneginf(raw)] = 0.0
    np.clip(x, 0.0, 255.0, out=x)
    return x.astype(np.uint8)


def normalize_channel(channel) -> np.ndarray:
    """(H, W) -> uint8 (H, W) with the same rule as `normalize_channels`."""
    arr = _as_array(channel, "channel")
    _check_numeric(arr, "channel", "an (H, W) channel")
    if arr.ndim != 2:
        raise ConvVizError(f"channel: expected an (H, W) channel, got {_describe(arr)}")
    return normalize_channels(arr[:, :, None])[:, :, 0]


def blank_channels(fmap) -> int:
    """How many channels are zero everywhere: dead ReLU units, more of them deeper in the net."""
    arr = _feature_map(fmap)
    return int(np.count_nonzero(~np.any(arr != 0, axis=(0, 1))))


def _channel_index(index, n: int) -> int:
    return check_index("index", index, n, "a channel index")


def channel_frame(fmap, index: int, colormap=ACTIVATION_COLORMAP, size: int | None = None):
    """One channel, normalized and colormapped; `size` = longest side in px (integer nearest
    upscale when it fits, so every activation is a visible block)."""
    arr = _feature_map(fmap)
    i = _channel_index(index, arr.shape[2])
    return fit_size(colorize(normalize_channel(arr[:, :, i]), colormap), size)


def grid_cell_size(h: int, w: int, min_cell: int = 40, max_cell: int = 96) -> int:
    """The grid view's cell side for (h, w) maps: the map's own size, upscaled to at least
    ``min_cell`` so small maps stay visible, and capped at ``max_cell`` so that 64 maps of
    224 px do not make a 3600 px frame (ActivationExplorer's rule)."""
    return min(max(h, w, min_cell), max(max_cell, min_cell))


def grid_frame(
    fmap,
    cols: int | None = None,
    colormap=ACTIVATION_COLORMAP,
    highlight: int | None = None,
    pad: int = 1,
    cell_size: int | None = None,
) -> tuple[np.ndarray, GridLayout]:
    """All channels normalized, colormapped and tiled (16 columns by default), with channel
    `highlight` ringed; `cell_size` = each cell's longest side in px."""
    arr = _feature_map(fmap)
    h, w, c = arr.shape
    th, tw = fit_shape((h, w), cell_size)
    if (th, tw) == (h, w):
        levels = _normalized(arr)
    elif th <= h and tw <= w:  # downscaled: normalize only the pixels shown
        levels = _normalized(arr, nearest_indices(h, th), nearest_indices(w, tw))
    else:
        levels = _normalized(arr)[nearest_indices(h, th)][:, nearest_indices(w, tw)]
    levels = levels.transpose(2, 0, 1)  # (C, th, tw)
    cells = apply_lut(_lut_for(colormap), levels)
    mosaic, layout = tile(cells, cols=min(16, c) if cols is None else cols, pad=pad)
    if highlight is not None:
        draw_highlight(mosaic, layout, _channel_index(highlight, c))
    return mosaic, layout

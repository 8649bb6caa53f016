"""The channel inspector's frame: one channel over the image, the channel itself, its pattern,
and (with a data set) the crops where it fires most."""

from __future__ import annotations

import cv2
import numpy as np

from .activations import _feature_map, channel_frame
from .frames import (
    ACTIVATION_COLORMAP,
    GridLayout,
    _positive_int,
    fit_shape,
    tile,
    to_rgba,
    upscale,
)
from .overlay import overlay
from .patterns import caption

BACKGROUND = (24, 24, 24, 255)


def channel_heatmap(fmap, index: int) -> np.ndarray:
    """Channel ``index`` of an (H, W, C) map as a 0..1 heatmap: ReLU, divided by its max."""
    from .activations import _channel_index

    arr = _feature_map(fmap)
    values = np.maximum(arr[:, :, _channel_index(index, arr.shape[2])], 0).astype(np.float32)
    peak = float(values.max())
    return values / peak if peak > 0 else np.zeros_like(values)


def _panel(rgba, shape, interpolation) -> np.ndarray:
    img = to_rgba(rgba, name="panel")
    if img.shape[:2] == tuple(shape):
        return img
    return to_rgba(cv2.resize(img, (shape[1], shape[0]), interpolation=interpolation), name="panel")


def inspector_frame(
    image,
    fmap,
    index: int,
    pattern=None,
    crops=None,
    *,
    size: int = 160,
    centres=None,
    colormap=ACTIVATION_COLORMAP,
    alpha: float = 0.6,
    pad: int = 4,
    pattern_lines=("filter pattern", "not computed yet"),
) -> tuple[np.ndarray, GridLayout]:
    """Cells 0, 1, 2 side by side: the channel over the image, the channel (integer upscaled,
    crisp), its filter pattern (``None``: a dark cell with ``pattern_lines``); below them, the
    ``crops`` (k, s, s, 3) in one row when given. Every cell has the channel view's shape
    (``fit_shape(map, size)``). Returns the frame and the layout of the top row."""
    arr = _feature_map(fmap)
    shape = fit_shape(arr.shape[:2], _positive_int(size, "size"))
    over = overlay(image, channel_heatmap(arr, index), alpha, colormap, centres=centres)
    cells = [
        _panel(over, shape, cv2.INTER_AREA),
        channel_frame(arr, index, colormap, size=size),
    ]
    if pattern is None:
        cells.append(caption(np.full(shape + (4,), BACKGROUND, np.uint8), pattern_lines))
    else:
        cells.append(upscale(to_rgba(pattern, name="pattern"), shape))
    top, layout = tile(np.stack(cells), cols=3, pad=pad)
    if crops is None or len(crops) == 0:
        return top, layout
    side = max(1, (shape[0] - pad) // 2)
    small = np.stack([upscale(to_rgba(c, name="crops"), (side, side)) for c in crops])
    cols = max(1, min(len(small), (top.shape[1] - pad) // (side + pad)))
    row, _ = tile(small, cols=cols, pad=pad)
    width = max(top.shape[1], row.shape[1])
    frame = np.empty((top.shape[0] + row.shape[0] - pad, width, 4), np.uint8)
    frame[:] = BACKGROUND
    frame[: top.shape[0], : top.shape[1]] = top
    frame[top.shape[0] - pad :, : row.shape[1]] = row
    return frame, layout

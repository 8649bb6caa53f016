"""Filter patterns -> display pixels (``deprocess``) and one mosaic frame, filling in live."""

from __future__ import annotations

import numpy as np

from ..errors import ConvVizError
from ..pixels import deprocess  # float images -> uint8; a leaf the engines' generate uses too
from .frames import (
    GridLayout,
    _as_array,
    _as_uint8,
    _check_numeric,
    _describe,
    _expand_rgba,
    _positive_int,
    draw_highlight,
    tile,
)

__all__ = ["PLACEHOLDER_COLOR", "caption", "deprocess", "pattern_grid"]

#: A not-yet-computed filter: dark, yet distinct from the mosaic background.
PLACEHOLDER_COLOR = (64, 64, 64, 255)

_EXPECTED = "(h, w, 3) images"


def _image(value, name: str) -> np.ndarray:
    arr = _as_array(value, name)
    _check_numeric(arr, name, f"an {_EXPECTED[1:-1]} array")
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ConvVizError(f"{name}: expected an (h, w, 1|3|4) image, got {_describe(arr)}")
    return _expand_rgba(_as_uint8(arr))


def _stack(images, size: int) -> np.ndarray:
    """An (N, h, w, 3) array, or a list of images and None, -> (N, h, w, 4) uint8 cells."""
    if not isinstance(images, (list, tuple)):
        arr = _as_array(images, "images")
        _check_numeric(arr, "images", f"an (N, h, w, 3) array or a list of {_EXPECTED} or None")
        if arr.ndim != 4 or arr.shape[3] not in (1, 3, 4):
            raise ConvVizError(
                f"images: expected an (N, h, w, 3) array or a list of {_EXPECTED} or None, "
                f"got {_describe(arr)}"
            )
        return _expand_rgba(_as_uint8(arr))
    if not images:
        raise ConvVizError("images: expected at least one image or None, got an empty list")
    cells = [None if im is None else _image(im, f"images[{i}]") for i, im in enumerate(images)]
    shapes = {c.shape for c in cells if c is not None}
    if len(shapes) > 1:
        raise ConvVizError(f"images: expected images of one size, got shapes {sorted(shapes)}")
    shape = shapes.pop() if shapes else (size, size, 4)
    out = np.empty((len(cells),) + shape, dtype=np.uint8)
    for i, cell in enumerate(cells):
        out[i] = PLACEHOLDER_COLOR if cell is None else cell
    return out


def pattern_grid(
    images, cols: int = 8, pad: int = 2, highlight: int | None = None, size: int = 64
) -> tuple[np.ndarray, GridLayout]:
    """Tile filter patterns (an (N, s, s, 3) uint8 array, or a list where None marks a filter not
    computed yet, drawn as a dark placeholder) and ring `highlight`; `size` is the placeholder
    side when no image exists yet."""
    cells = _stack(images, _positive_int(size, "size"))
    mosaic, layout = tile(cells, cols=cols, pad=pad)
    if highlight is not None:
        draw_highlight(mosaic, layout, highlight)
    return mosaic, layout


def caption(frame: np.ndarray, lines, color=(235, 235, 235, 255)) -> np.ndarray:
    """``frame`` (H, W, 4) with ``lines`` of text centred on a dark band, scaled to fit the width.

    What a pattern explorer shows before anything is computed: what Run will do and how long.
    """
    import cv2

    out = np.array(_as_uint8(_as_array(frame, "frame")), copy=True)
    if out.ndim != 3 or out.shape[2] != 4:
        raise ConvVizError(f"frame: expected an (H, W, 4) RGBA frame, got {_describe(out)}")
    lines = [str(line) for line in lines]
    if not lines:
        return out
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    widest = max(cv2.getTextSize(line, font, 1.0, 1)[0][0] for line in lines)
    scale = min(0.6, 0.9 * w / max(widest, 1))
    line_h = max(int(round(30 * scale)), 8)
    top = max((h - line_h * len(lines)) // 2, 0)
    band = out[top: top + line_h * len(lines) + line_h // 2]
    band[..., :3] = (band[..., :3] * 0.25).astype(np.uint8)  # darken behind the text
    # Text on the colour channels only: cv2's anti-aliasing on a 4-channel image writes the
    # glyphs' coverage into alpha too, and a browser canvas shows such pixels in other colours.
    rgb = np.ascontiguousarray(out[..., :3])
    for i, line in enumerate(lines):
        (tw, _), _ = cv2.getTextSize(line, font, scale, 1)
        y = top + line_h * (i + 1)
        cv2.putText(rgb, line, (max((w - tw) // 2, 0), y), font, scale, color[:3], 1, cv2.LINE_AA)
    out[..., :3] = rgb
    return out

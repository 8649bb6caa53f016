"""Pixels for the canvas: the one RGBA conversion, colormap LUTs, mosaics, scaling and PNG bytes."""

from __future__ import annotations

import difflib
import functools
import math
import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConvVizError
from ..validation import check_index

__all__ = [
    "ACTIVATION_COLORMAP",
    "CAM_COLORMAP",
    "COLORMAPS",
    "GridLayout",
    "apply_lut",
    "colorize",
    "colormap_lut",
    "draw_highlight",
    "encode_png",
    "fit_size",
    "tile",
    "to_rgba",
    "upscale",
]

#: Recommended names for colormap dropdowns (all perceptually ordered except jet/turbo).
COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray", "jet", "turbo")
ACTIVATION_COLORMAP = "viridis"
CAM_COLORMAP = "jet"

#: Highlight ring: an outer white and an inner red line, visible on any colormap.
HIGHLIGHT_COLORS = ((255, 255, 255, 255), (255, 0, 0, 255))


def _describe(arr) -> str:
    return f"shape {arr.shape} dtype {arr.dtype}"


def _as_array(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ConvVizError(
            f"{name}: expected an array of numbers, got {type(values).__name__} ({exc})"
        ) from None


def _check_numeric(arr: np.ndarray, name: str, expected: str) -> None:
    if arr.dtype.kind not in "buif":
        raise ConvVizError(f"{name}: expected {expected} of real numbers, got {_describe(arr)}")
    if arr.size == 0:
        raise ConvVizError(f"{name}: expected {expected} with no empty axis, got {_describe(arr)}")


def _as_uint8(arr: np.ndarray) -> np.ndarray:
    """Any real array -> uint8: bool True is 255; numbers clipped to 0..255, floats rounded,
    NaN and -inf -> 0, +inf -> 255. Returns the input itself when it is already uint8."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.kind in "ui":
        return np.clip(arr, 0, 255).astype(np.uint8)
    # Clip in the input's own precision first: casting 1e300 to float32 would warn.
    out = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(out, 0, 255, out=out)
    np.rint(out, out=out)
    return out.astype(np.uint8)


def _expand_rgba(arr: np.ndarray) -> np.ndarray:
    """uint8 with a last axis of 1, 3 or 4 channels -> C-contiguous RGBA (alpha 255 if none)."""
    channels = arr.shape[-1]
    if channels == 4:
        return np.ascontiguousarray(arr)
    out = np.empty(arr.shape[:-1] + (4,), dtype=np.uint8)
    out[..., :3] = arr  # broadcasts a single gray channel to RGB
    out[..., 3] = 255
    return out


def to_rgba(pixels, *, name: str = "pixels") -> np.ndarray:
    """THE conversion to canvas pixels: gray, gray+1, RGB or RGBA numbers -> C-contiguous uint8
    (H, W, 4). uint8 passes as is; floats are read as 0..255 (rounded, clipped, NaN -> 0, +inf ->
    255); bool True -> 255. An input that is already C-contiguous uint8 RGBA is returned uncopied."""
    arr = _as_array(pixels, name)
    expected = "a (H, W) gray or (H, W, 1|3|4) image array"
    _check_numeric(arr, name, expected)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ConvVizError(f"{name}: expected {expected}, got {_describe(arr)}")
    arr = _as_uint8(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return _expand_rgba(arr)


# --- colormaps -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _cached_lut(name: str) -> np.ndarray:
    import matplotlib  # deferred: only the colormap registry is needed, never pyplot

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        known = sorted(matplotlib.colormaps)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConvVizError(
            f"colormap: expected a matplotlib colormap name such as "
            f"{', '.join(map(repr, COLORMAPS))} ({len(known)} in matplotlib.colormaps), "
            f"got {name!r}.{hint}"
        ) from None
    # Floats 0..1 sample any colormap at 256 levels, whatever its own N; bytes=True is
    # matplotlib's own float -> uint8 conversion.
    lut = np.ascontiguousarray(cmap(np.linspace(0.0, 1.0, 256), bytes=True), dtype=np.uint8)
    lut.flags.writeable = False  # shared by every caller through the cache
    return lut


def colormap_lut(name: str) -> np.ndarray:
    """Read-only (256, 4) uint8 RGBA lookup table of a matplotlib colormap, cached per name."""
    if not isinstance(name, str):
        raise ConvVizError(
            f"colormap: expected a colormap name (str) such as {COLORMAPS[0]!r}, "
            f"got {type(name).__name__} {name!r}"
        )
    return _cached_lut(name)


def _lut_for(colormap) -> np.ndarray:
    """A colormap name or an explicit (256, 3|4) uint8 table -> (256, 4) uint8 table."""
    if isinstance(colormap, str):
        return colormap_lut(colormap)
    lut = _as_array(colormap, "colormap")
    if lut.dtype != np.uint8 or lut.shape not in ((256, 3), (256, 4)):
        raise ConvVizError(
            "colormap: expected a colormap name or a (256, 3|4) uint8 lookup table, "
            f"got {_describe(lut)}"
        )
    return _expand_rgba(lut)


def apply_lut(lut: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """uint8 levels of any shape -> (..., 4) uint8 colors. Each RGBA entry is gathered as one
    uint32, about 10x faster than lut[levels] on a whole feature map."""
    packed = np.ascontiguousarray(lut, dtype=np.uint8).view(np.uint32).reshape(256)
    return np.take(packed, levels).view(np.uint8).reshape(levels.shape + (4,))


def colorize(values, colormap=ACTIVATION_COLORMAP) -> np.ndarray:
    """uint8 (H, W) levels -> RGBA through a colormap lookup table (one fancy-index, no maths)."""
    arr = _as_array(values, "values")
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.size == 0:
        raise ConvVizError(
            f"values: expected a non-empty (H, W) uint8 array of levels, got {_describe(arr)}"
        )
    return to_rgba(apply_lut(_lut_for(colormap), arr), name="values")


# --- mosaics ---------------------------------------------------------------------------------


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConvVizError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class GridLayout:
    """Where each cell of a tiled mosaic lies: `pad` pixels between cells and around the edge."""

    n: int
    cols: int
    cell_h: int
    cell_w: int
    pad: int

    def __post_init__(self):
        for field in ("n", "cols", "cell_h", "cell_w"):
            _positive_int(getattr(self, field), f"GridLayout.{field}")
        _positive_int(self.pad, "GridLayout.pad", minimum=0)

    @property
    def rows(self) -> int:
        return -(-self.n // self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the whole mosaic."""
        return (
            self.rows * (self.cell_h + self.pad) + self.pad,
            self.cols * (self.cell_w + self.pad) + self.pad,
        )

    def cell_origin(self, i: int) -> tuple[int, int]:
        """(y, x) of the top-left pixel of cell i."""
        row, col = divmod(check_index("index", i, self.n, "a cell index"), self.cols)
        return (
            self.pad + row * (self.cell_h + self.pad),
            self.pad + col * (self.cell_w + self.pad),
        )

    def index_at(self, x: float, y: float) -> int | None:
        """The cell under canvas point (x, y), or None in the padding or past the last cell."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        col, dx = divmod(math.floor(x) - self.pad, self.cell_w + self.pad)
        row, dy = divmod(math.floor(y) - self.pad, self.cell_h + self.pad)
        if dx >= self.cell_w or dy >= self.cell_h or not 0 <= col < self.cols or row < 0:
            return None
        i = row * self.cols + col
        return i if i < self.n else None


def _color(value, name: str) -> tuple[int, int, int, int]:
    try:
        channels = tuple(int(c) for c in value)
    except (TypeError, ValueError):
        channels = ()
    if len(channels) not in (3, 4) or not all(0 <= c <= 255 for c in channels):
        raise ConvVizError(f"{name}: expected an (r, g, b) or (r, g, b, a) of 0..255, got {value!r}")
    return channels if len(channels) == 4 else channels + (255,)


def tile(cells, cols: int, pad: int = 1, background=(24, 24, 24)) -> tuple[np.ndarray, GridLayout]:
    """(N, h, w[, C]) cells -> one RGBA mosaic, row-major, plus its GridLayout for hit-testing.
    `cols` larger than N shrinks to N. Vectorized: the cells are placed by one reshape/transpose."""
    arr = _as_array(cells, "cells")
    expected = "an (N, h, w) or (N, h, w, 1|3|4) stack of cells"
    _check_numeric(arr, "cells", expected)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[3] not in (1, 3, 4):
        raise ConvVizError(f"cells: expected {expected}, got {_describe(arr)}")
    cells = _expand_rgba(_as_uint8(arr))
    n, h, w, _ = cells.shape
    cols = min(_positive_int(cols, "cols"), n)
    layout = GridLayout(n=n, cols=cols, cell_h=h, cell_w=w, pad=_positive_int(pad, "pad", 0))
    bg = np.array(_color(background, "background"), dtype=np.uint8)

    mosaic = np.empty(layout.shape + (4,), dtype=np.uint8)
    mosaic[:] = bg
    # (rows, h+pad, cols, w+pad, 4) view of everything right of and below the outer pad.
    body = np.empty((layout.rows, h + pad, cols, w + pad, 4), dtype=np.uint8)
    body[:] = bg
    full, rest = divmod(n, cols)
    body[:full, :h, :, :w] = cells[: full * cols].reshape(full, cols, h, w, 4).transpose(0, 2, 1, 3, 4)
    if rest:
        body[full, :h, :rest, :w] = cells[full * cols :].transpose(1, 0, 2, 3)
    mosaic[pad:, pad:] = body.reshape(layout.rows * (h + pad), cols * (w + pad), 4)
    return to_rgba(mosaic, name="mosaic"), layout


def _hline(img, y, x0, x1, color):
    if 0 <= y < img.shape[0]:
        img[y, max(x0, 0) : max(x1, 0)] = color


def _vline(img, x, y0, y1, color):
    if 0 <= x < img.shape[1]:
        img[max(y0, 0) : max(y1, 0), x] = color


def draw_highlight(rgba: np.ndarray, layout: GridLayout, index: int) -> np.ndarray:
    """Draw a 2 px ring (white outside, red inside) around cell `index`, in place, and return the
    frame. The ring uses the padding first and only the cell's outermost pixels when pad < 2."""
    y, x = layout.cell_origin(index)
    out = min(layout.pad, len(HIGHLIGHT_COLORS))
    y0, x0 = y - out, x - out
    y1, x1 = y + layout.cell_h + out, x + layout.cell_w + out  # exclusive
    for k, color in enumerate(HIGHLIGHT_COLORS):
        top, left, bottom, right = y0 + k, x0 + k, y1 - k, x1 - k
        if bottom <= top or right <= left:
            break
        _hline(rgba, top, left, right, color)
        _hline(rgba, bottom - 1, left, right, color)
        _vline(rgba, left, top, bottom, color)
        _vline(rgba, right - 1, top, bottom, color)
    return rgba


# --- scaling ---------------------------------------------------------------------------------


def _target_shape(shape: tuple[int, int], factor_or_size) -> tuple[int, int]:
    if isinstance(factor_or_size, numbers.Integral) and not isinstance(factor_or_size, bool):
        factor = _positive_int(factor_or_size, "factor_or_size")
        return shape[0] * factor, shape[1] * factor
    size = tuple(factor_or_size) if isinstance(factor_or_size, (tuple, list)) else ()
    if len(size) != 2 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in size
    ):
        raise ConvVizError(
            "factor_or_size: expected an integer factor >= 1 or an (H, W) size of positive "
            f"integers, got {factor_or_size!r}"
        )
    return int(size[0]), int(size[1])


def upscale(rgba, factor_or_size) -> np.ndarray:
    """Nearest-neighbour resize by an integer factor or to an (H, W) size, so that each value of a
    small map stays a crisp visible block."""
    img = to_rgba(rgba, name="rgba")
    th, tw = _target_shape(img.shape[:2], factor_or_size)
    if (th, tw) == img.shape[:2]:
        return img.copy()
    return to_rgba(cv2.resize(img, (tw, th), interpolation=cv2.INTER_NEAREST), name="rgba")


def fit_shape(shape: tuple[int, int], size: int | None) -> tuple[int, int]:
    """(H, W) after fitting the longest side to `size`: an integer upscale factor when growing
    (crisp equal blocks, result <= size), proportional when shrinking; `size=None` keeps it."""
    h, w = shape
    if size is None:
        return h, w
    size = _positive_int(size, "size")
    longest = max(h, w)
    if size >= longest:
        factor = size // longest
        return h * factor, w * factor
    return max(1, round(h * size / longest)), max(1, round(w * size / longest))


def fit_size(rgba, size: int | None) -> np.ndarray:
    """Resize a frame so its longest side is about `size` px (see `fit_shape`): nearest when
    growing, so small maps stay crisp blocks; area-averaged when shrinking, so photos don't alias."""
    img = to_rgba(rgba, name="rgba")
    th, tw = fit_shape(img.shape[:2], size)
    if max(th, tw) < max(img.shape[:2]):
        return to_rgba(cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA), name="rgba")
    return upscale(img, (th, tw)) if size is not None else img


def nearest_indices(n_src: int, n_dst: int) -> np.ndarray:
    """Source index of each destination pixel for a nearest-neighbour resize along one axis."""
    return (np.arange(n_dst) * n_src) // n_dst


# --- encoding --------------------------------------------------------------------------------


_PNG_FILTERS = {
    "none": cv2.IMWRITE_PNG_FILTER_NONE,
    "sub": cv2.IMWRITE_PNG_FILTER_SUB,
    "up": cv2.IMWRITE_PNG_FILTER_UP,
    "avg": cv2.IMWRITE_PNG_FILTER_AVG,
    "paeth": cv2.IMWRITE_PNG_FILTER_PAETH,
    "adaptive": cv2.IMWRITE_PNG_ALL_FILTERS,
}


def encode_png(rgba, compress_level: int = 1, png_filter: str = "sub") -> bytes:
    """Lossless RGBA PNG bytes for the canvas, via OpenCV. Level 1 with the SUB filter is 4-9x
    faster than PIL's default on a 2400x300 grid, for a file ~20% bigger; "none" is faster still
    on colormapped frames, "adaptive" (PIL's choice) is smaller but slower."""
    img = to_rgba(rgba, name="rgba")
    if isinstance(compress_level, bool) or not isinstance(compress_level, numbers.Integral) or not (
        0 <= compress_level <= 9
    ):
        raise ConvVizError(f"compress_level: expected an integer in 0..9, got {compress_level!r}")
    if not isinstance(png_filter, str) or png_filter not in _PNG_FILTERS:
        raise ConvVizError(f"png_filter: expected one of {sorted(_PNG_FILTERS)}, got {png_filter!r}")
    params = [
        cv2.IMWRITE_PNG_COMPRESSION, int(compress_level),
        cv2.IMWRITE_PNG_FILTER, _PNG_FILTERS[png_filter],
    ]  # fmt: skip
    bgra = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)  # OpenCV writes BGR(A) order
    ok, buf = cv2.imencode(".png", bgra, params)
    if not ok:  # pragma: no cover - OpenCV reports failure only for unsupported input
        raise ConvVizError(f"rgba: OpenCV could not PNG-encode an image of shape {img.shape}")
    return buf.tobytes()

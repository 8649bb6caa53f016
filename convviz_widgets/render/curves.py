"""Small line plots as RGBA frames: the deletion / insertion curves of the faithfulness readout.

Drawn with OpenCV lines (no matplotlib figure: ~0.2 ms instead of ~50 ms, and the same pixels
everywhere), so the readout can redraw with every state. x is the fraction of pixels changed,
y the class probability, both 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ConvVizError
from .frames import _as_array, _color, _describe, to_rgba

__all__ = ["CURVE_COLORS", "CURVE_SIZE", "curve_plot", "plot_box", "to_pixel"]

#: Default colours, in order: deletion red, insertion blue, then matplotlib's tab10 rest.
CURVE_COLORS = (
    (214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
CURVE_SIZE = (120, 220)  # (H, W) of the readout's plot
_MARGIN = 6  # px around the plot box
_LEGEND_H = 12  # px of legend lines per curve, above the box
_AXES = (150, 150, 150, 255)
_GRID = (225, 225, 225, 255)
_TEXT_SCALE = 0.33


def plot_box(size, n_curves: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the plot area (inclusive edges) in a frame of ``size`` (H, W)."""
    h, w = size
    top = _MARGIN + _LEGEND_H * n_curves
    return top, h - 1 - _MARGIN, _MARGIN, w - 1 - _MARGIN


def to_pixel(fraction, probability, box) -> tuple[int, int]:
    """(x, y) pixel of the point (fraction, probability) in the plot ``box``."""
    y0, y1, x0, x1 = box
    x = x0 + float(fraction) * (x1 - x0)
    y = y1 - float(np.clip(probability, 0.0, 1.0)) * (y1 - y0)
    return int(round(x)), int(round(y))


def _points(label, fractions, probabilities) -> np.ndarray:
    f = _as_array(fractions, f"{label}.fractions").astype(np.float64, copy=False)
    p = _as_array(probabilities, f"{label}.probabilities").astype(np.float64, copy=False)
    if f.ndim != 1 or p.shape != f.shape or f.size < 2:
        raise ConvVizError(
            f"curves: expected for {label!r} fractions and probabilities of the same length "
            f">= 2, got {_describe(f)} and {_describe(p)}"
        )
    if not (np.isfinite(f).all() and np.isfinite(p).all()):
        raise ConvVizError(f"curves: {label!r} holds NaN or infinite values")
    return np.stack([f, p], axis=1)


def curve_plot(curves, size=CURVE_SIZE, colors=None, background=(255, 255, 255)) -> np.ndarray:
    """RGBA (H, W, 4) plot of ``curves``: a sequence of ``(label, fractions, probabilities)``.

    Each curve is a 1 px polyline in its colour (``colors``, default ``CURVE_COLORS``), with its
    label above the box in the same colour; the box spans 0..1 on both axes with a grid line
    at 0.5. Probabilities outside 0..1 are clipped to the box.
    """
    curves = list(curves)
    if not curves:
        raise ConvVizError("curves: expected at least one (label, fractions, probabilities)")
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        h = w = 0
    if h < 24 + _LEGEND_H * len(curves) or w < 40:
        raise ConvVizError(
            f"size: expected (H, W) with H >= {24 + _LEGEND_H * len(curves)} and W >= 40 "
            f"for {len(curves)} curves, got {size!r}"
        )
    colors = CURVE_COLORS if colors is None else colors
    if len(colors) < len(curves):
        raise ConvVizError(f"colors: expected at least {len(curves)} colours, got {len(colors)}")
    frame = np.empty((h, w, 4), np.uint8)
    frame[:] = _color(background, "background")
    box = y0, y1, x0, x1 = plot_box((h, w), len(curves))
    mid_x, mid_y = to_pixel(0.5, 0.5, box)
    cv2.line(frame, (mid_x, y0), (mid_x, y1), _GRID, 1, cv2.LINE_8)
    cv2.line(frame, (x0, mid_y), (x1, mid_y), _GRID, 1, cv2.LINE_8)
    cv2.rectangle(frame, (x0, y0), (x1, y1), _AXES, 1, cv2.LINE_8)
    for i, item in enumerate(curves):
        try:
            label, fractions, probabilities = item
        except (TypeError, ValueError):
            raise ConvVizError(
                f"curves: expected (label, fractions, probabilities) items, got {item!r:.80}"
            ) from None
        color = _color(colors[i], "colors")
        pts = np.array([to_pixel(f, p, box) for f, p in _points(label, fractions, probabilities)])
        cv2.polylines(frame, [pts.astype(np.int32)], False, color, 1, cv2.LINE_8)
        baseline = _MARGIN + _LEGEND_H * (i + 1) - 3
        cv2.putText(frame, str(label), (x0, baseline), cv2.FONT_HERSHEY_SIMPLEX, _TEXT_SCALE,
                    color, 1, cv2.LINE_AA)  # fmt: skip
    return to_rgba(frame, name="curve plot")

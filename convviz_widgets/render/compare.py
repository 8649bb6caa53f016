"""Several class activation maps of one image side by side: one captioned overlay per method."""

from __future__ import annotations

import numbers

import cv2
import numpy as np

from ..errors import ConvVizError
from .frames import CAM_COLORMAP, _color, draw_highlight, fit_size, tile, to_rgba
from .overlay import _image_rgb, overlay

__all__ = ["CAPTION_H", "METHOD_LABELS", "caption", "compare_frame", "method_label"]

CAPTION_H = 16  # px of the caption strip above each panel

#: How captions, dropdowns and the command line name each CAM method (engines.CAM_METHODS).
METHOD_LABELS = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "xgradcam": "XGrad-CAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "scorecam": "Score-CAM",
    "eigencam": "EigenCAM",
}
_PENDING = (60, 60, 60, 255)


def method_label(method: str) -> str:
    """The display name of a CAM method (its registry name when it has none)."""
    return METHOD_LABELS.get(method, method)


def caption(rgba, text: str, height: int = CAPTION_H, color=(235, 235, 235),
            background=(24, 24, 24)) -> np.ndarray:  # fmt: skip
    """``rgba`` with a ``height`` px strip above it holding ``text`` (OpenCV's simplex font)."""
    img = to_rgba(rgba, name="rgba")
    strip = np.empty((int(height), img.shape[1], 4), np.uint8)
    strip[:] = _color(background, "background")
    cv2.putText(strip, str(text), (3, int(height) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                _color(color, "color"), 1, cv2.LINE_AA)  # fmt: skip
    return np.ascontiguousarray(np.concatenate([strip, img], axis=0))


def compare_frame(image, heatmaps, labels, alpha: float = 0.4, colormap=CAM_COLORMAP,
                  centres=None, size: int = 200, pad: int = 4, highlight=None):  # fmt: skip
    """One row of captioned overlays (``render.overlay``, longest side fitted to ``size``).

    ``heatmaps[i]`` is drawn under ``labels[i]``; None draws a gray panel (a map not computed
    yet). ``centres``: one cell-centres tuple for every map (they share a layer) or one per map.
    ``highlight``: the index of the panel to ring. Returns (frame, GridLayout).
    """
    heatmaps, labels = list(heatmaps), [str(label) for label in labels]
    if not heatmaps or len(heatmaps) != len(labels):
        raise ConvVizError(
            f"heatmaps, labels: expected as many labels as heatmaps (at least one), got "
            f"{len(heatmaps)} heatmaps and {len(labels)} labels"
        )
    if centres is None or all(isinstance(c, numbers.Real) for c in centres):
        centres = [centres] * len(heatmaps)  # one placement for all
    if len(centres) != len(heatmaps):
        raise ConvVizError(f"centres: expected one per heatmap ({len(heatmaps)}), got {len(centres)}")
    rgb = _image_rgb(image)
    panels = []
    for heatmap, label, cell_centres in zip(heatmaps, labels, centres, strict=True):
        if heatmap is None:
            shape = fit_size(np.zeros(rgb.shape[:2] + (4,), np.uint8), size).shape
            panel = np.empty(shape, np.uint8)
            panel[:] = _PENDING
        else:
            panel = fit_size(overlay(rgb, heatmap, alpha, colormap, centres=cell_centres), size)
        panels.append(caption(panel, label))
    frame, layout = tile(panels, cols=len(panels), pad=pad)
    if highlight is not None:
        draw_highlight(frame, layout, highlight)
    return frame, layout

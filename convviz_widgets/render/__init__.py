"""Render layer: numpy arrays -> uint8 RGBA frames and PNG bytes. No TensorFlow, no widgets."""

from .activations import (
    blank_channels,
    channel_frame,
    grid_cell_size,
    grid_frame,
    normalize_channel,
    normalize_channels,
)
from .compare import METHOD_LABELS, caption, compare_frame, method_label
from .curves import curve_plot
from .frames import (
    ACTIVATION_COLORMAP,
    CAM_COLORMAP,
    COLORMAPS,
    GridLayout,
    apply_lut,
    colorize,
    colormap_lut,
    draw_highlight,
    encode_png,
    fit_size,
    tile,
    to_rgba,
    upscale,
)
from .overlay import heatmap_frame, overlay, place_heatmap, superimpose_additive
from .patterns import deprocess, pattern_grid

__all__ = [
    "ACTIVATION_COLORMAP",
    "CAM_COLORMAP",
    "COLORMAPS",
    "GridLayout",
    "METHOD_LABELS",
    "apply_lut",
    "blank_channels",
    "caption",
    "channel_frame",
    "colorize",
    "colormap_lut",
    "compare_frame",
    "curve_plot",
    "deprocess",
    "draw_highlight",
    "encode_png",
    "fit_size",
    "grid_cell_size",
    "grid_frame",
    "heatmap_frame",
    "method_label",
    "normalize_channel",
    "normalize_channels",
    "overlay",
    "place_heatmap",
    "pattern_grid",
    "superimpose_additive",
    "tile",
    "to_rgba",
    "upscale",
]

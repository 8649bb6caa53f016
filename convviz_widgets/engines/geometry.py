"""Where each cell of a layer's feature map sits in the input image.

A Grad-CAM heatmap is usually drawn by stretching the (h, w) map over the image, which puts
cell i's centre at (i + 0.5) / h of the height. That is right for "same"-padded networks
whose input size divides evenly (VGG16 at 224 px), and wrong otherwise: with "valid" padding
(the tutorial's cats-vs-dogs convnet) the 15 x 15 map of a 150 px input only covers pixels
18-131, so a stretched heatmap lands up to 14 px off, toward the borders. The true centre of
each cell's receptive field follows from the layers' kernels, strides and paddings; this
module computes it, and ``render.overlay(..., centres=...)`` places the heatmap by it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import keras

from .graph import flat_graph, producer


class CellCentres(NamedTuple):
    """Cell (i, j)'s receptive-field centre at ((y0 + i dy) H, (x0 + j dx) W) for an H x W image.

    Fractions of the input's height and width (pixel k's centre is at (k + 0.5) / H), so the
    same placement works for the image at any display size.
    """

    y0: float
    dy: float
    x0: float
    dx: float

    @classmethod
    def stretched(cls, h: int, w: int) -> CellCentres:
        """The placement of a plain resize of an (h, w) map: centres at (i + 0.5) / h."""
        return cls(0.5 / h, 1.0 / h, 0.5 / w, 1.0 / w)


_SLIDING = (
    keras.layers.Conv2D,  # SeparableConv2D and DepthwiseConv2D slide their kernels alike
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
_MERGES = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Concatenate,
)


def _window(op):
    """(kernel, stride, dilation) per axis and the padding of a sliding-window layer."""
    if isinstance(op, keras.layers.Conv2DTranspose):
        return None
    if isinstance(op, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        kernel, dilation = tuple(op.pool_size), (1, 1)
    else:
        kernel, dilation = tuple(op.kernel_size), tuple(op.dilation_rate)
    return kernel, tuple(op.strides), dilation, op.padding


def _slide(axis, k, s, d, padding):
    """An axis (origin, step, size) through a k-wide window with stride s and dilation d."""
    origin, step, n = axis
    if padding == "valid":
        out, before = (n - d * (k - 1) - 1) // s + 1, 0
    elif padding == "same":  # TensorFlow's rule: the extra padding goes after
        out = math.ceil(n / s)
        before = max((out - 1) * s + d * (k - 1) + 1 - n, 0) // 2
    else:
        return None
    if out < 1:
        return None
    return origin + step * (d * (k - 1) / 2 - before), step * s, out


def _geometry(tensor, graph_input, input_hw, memo):
    """((origin, step, size) for y, the same for x) of a 4-D tensor's cells, or None."""
    key = id(tensor)
    if key in memo:
        return memo[key]
    memo[key] = None  # guards against cycles; replaced below
    if tensor is graph_input:
        result = ((0.0, 1.0, input_hw[0]), (0.0, 1.0, input_hw[1]))
    else:
        result = _through(tensor, graph_input, input_hw, memo)
    memo[key] = result
    return result


def _through(tensor, graph_input, input_hw, memo):
    layer, inputs = producer(tensor)
    if layer is None or len(tensor.shape) != 4:
        return None
    inputs = [t for t in inputs if len(t.shape) == 4]
    if len(inputs) > 1:  # a merge: inputs broadcast over the map (squeeze-and-excite's 1 x 1
        # channel weights) carry no position; the others place the cells
        inputs = [t for t in inputs if tuple(t.shape[1:3]) == tuple(tensor.shape[1:3])]
    if not inputs:
        return None
    geometries = [_geometry(t, graph_input, input_hw, memo) for t in inputs]
    if any(g is None for g in geometries):
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    if isinstance(layer, _SLIDING) and len(inputs) == 1:
        window = _window(layer)
        if window is None:
            return None
        kernel, strides, dilation, padding = window
        axes = tuple(
            _slide(geometries[0][a], kernel[a], strides[a], dilation[a], padding) for a in (0, 1)
        )
        return None if None in axes else axes
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        (oy, sy, ny), (ox, sx, nx) = geometries[0]
        return (oy - sy * top, sy, ny + top + bottom), (ox - sx * left, sx, nx + left + right)
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        (oy, sy, ny), (ox, sx, nx) = geometries[0]
        return (oy + sy * top, sy, ny - top - bottom), (ox + sx * left, sx, nx - left - right)
    first = geometries[0]
    if isinstance(layer, _MERGES) or len(inputs) > 1:
        # Branches with the same stride and size that are a pixel or so apart (Xception's
        # strided shortcut against its 'same' max pooling) meet halfway: the merged cell sees
        # both fields. Different strides or sizes: unknown.
        if any(g[a][1:] != first[a][1:] for g in geometries for a in (0, 1)):
            return None
        return tuple(
            (sum(g[a][0] for g in geometries) / len(geometries), *first[a][1:]) for a in (0, 1)
        )
    # Any other one-input layer that keeps the spatial size (activations, normalization,
    # dropout, rescaling, ...) keeps every cell where it was.
    if tuple(tensor.shape[1:3]) == tuple(inputs[0].shape[1:3]):
        return first
    return None


def cell_centres(model, layer: str, input_hw: tuple[int, int]) -> CellCentres | None:
    """The receptive-field centres of ``layer``'s cells for an input of ``input_hw`` pixels.

    None when they cannot be worked out (a transposed convolution, a resize, a layer that
    changes the size in an unknown way, branches with different strides); callers then stretch
    the map. Branches of one stride that are offset (by asymmetric padding) are averaged.
    """
    graph = flat_graph(model)
    h, w = int(input_hw[0]), int(input_hw[1])
    try:
        geometry = _geometry(graph.tap(layer), graph.input, (h, w), {})
    except (AttributeError, IndexError, TypeError, ValueError):  # a layer of unexpected make:
        geometry = None  # the heatmap is still right, only its placement falls back
    if geometry is None:
        return None
    (oy, sy, _), (ox, sx, _) = geometry
    return CellCentres((oy + 0.5) / h, sy / h, (ox + 0.5) / w, sx / w)

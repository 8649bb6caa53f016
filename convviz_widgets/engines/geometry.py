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

from .backend import import_tensorflow

import_tensorflow()  # before Keras: TensorFlow's native startup log filtered (backend.py)
import keras  # noqa: E402

from .graph import flat_graph, producer  # noqa: E402


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
    """An axis (origin, step, size, extent) through a k-wide window, stride s, dilation d.

    ``extent`` is the width in pixels of one cell's receptive field along the axis.
    """
    origin, step, n, extent = axis
    if padding == "valid":
        out, before = (n - d * (k - 1) - 1) // s + 1, 0
    elif padding == "same":  # TensorFlow's rule: the extra padding goes after
        out = math.ceil(n / s)
        before = max((out - 1) * s + d * (k - 1) + 1 - n, 0) // 2
    else:
        return None
    if out < 1:
        return None
    return origin + step * (d * (k - 1) / 2 - before), step * s, out, extent + step * d * (k - 1)


def _geometry(tensor, graph_input, input_hw, memo):
    """((origin, step, size, extent) for y, the same for x) of a 4-D tensor's cells, or None."""
    key = id(tensor)
    if key in memo:
        return memo[key]
    memo[key] = None  # guards against cycles; replaced below
    if tensor is graph_input:
        result = ((0.0, 1.0, input_hw[0], 1.0), (0.0, 1.0, input_hw[1], 1.0))
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
        (oy, sy, ny, ey), (ox, sx, nx, ex) = geometries[0]
        return (oy - sy * top, sy, ny + top + bottom, ey), (ox - sx * left, sx, nx + left + right, ex)
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        (oy, sy, ny, ey), (ox, sx, nx, ex) = geometries[0]
        return (oy + sy * top, sy, ny - top - bottom, ey), (ox + sx * left, sx, nx - left - right, ex)
    first = geometries[0]
    if isinstance(layer, _MERGES) or len(inputs) > 1:
        # Branches with the same stride and size that are a pixel or so apart (Xception's
        # strided shortcut against its 'same' max pooling) meet halfway: the merged cell sees
        # both fields. Different strides or sizes: unknown.
        # The merged field spans every branch's field.
        if any(g[a][1:3] != first[a][1:3] for g in geometries for a in (0, 1)):
            return None
        return tuple(_meet([g[a] for g in geometries]) for a in (0, 1))
    # Any other one-input layer that keeps the spatial size (activations, normalization,
    # dropout, rescaling, ...) keeps every cell where it was.
    if tuple(tensor.shape[1:3]) == tuple(inputs[0].shape[1:3]):
        return first
    return None


def _meet(axes):
    """Branches (origin, step, size, extent) of one stride and size: the averaged origin and the
    extent of the union of their fields."""
    origin = sum(a[0] for a in axes) / len(axes)
    low = min(a[0] - a[3] / 2 for a in axes)
    high = max(a[0] + a[3] / 2 for a in axes)
    return origin, axes[0][1], axes[0][2], high - low


def _layer_geometry(model, layer: str, input_hw: tuple[int, int]):
    graph = flat_graph(model)
    h, w = int(input_hw[0]), int(input_hw[1])
    try:
        return _geometry(graph.tap(layer), graph.input, (h, w), {})
    except (AttributeError, IndexError, TypeError, ValueError):  # a layer of unexpected make:
        return None  # the heatmap is still right, only its placement falls back


def receptive_field(model, layer: str, input_hw: tuple[int, int]):
    """(CellCentres, (height, width) in pixels of one cell's receptive field), or None.

    None where :func:`cell_centres` is None. The field may reach past the image's border.
    """
    geometry = _layer_geometry(model, layer, input_hw)
    if geometry is None:
        return None
    return _centres(geometry, input_hw), (geometry[0][3], geometry[1][3])


def _centres(geometry, input_hw) -> CellCentres:
    (oy, sy, *_), (ox, sx, *_) = geometry
    h, w = int(input_hw[0]), int(input_hw[1])
    return CellCentres((oy + 0.5) / h, sy / h, (ox + 0.5) / w, sx / w)


def cell_centres(model, layer: str, input_hw: tuple[int, int]) -> CellCentres | None:
    """The receptive-field centres of ``layer``'s cells for an input of ``input_hw`` pixels.

    None when they cannot be worked out (a transposed convolution, a resize, a layer that
    changes the size in an unknown way, branches with different strides); callers then stretch
    the map. Branches of one stride that are offset (by asymmetric padding) are averaged.
    """
    geometry = _layer_geometry(model, layer, input_hw)
    return None if geometry is None else _centres(geometry, input_hw)

"""One contract for every render function: any real input of a valid shape -> C-contiguous uint8
RGBA of the right shape, with no warning (constant, NaN, inf, 1e30, 1e-30, negative values)."""

import io
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from convviz_widgets.render import (
    blank_channels,
    channel_frame,
    encode_png,
    fit_size,
    grid_frame,
    heatmap_frame,
    normalize_channels,
    overlay,
    pattern_grid,
    superimpose_additive,
    tile,
    to_rgba,
    upscale,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e30, -1e30, 1e-30, -1e-30, np.nan, np.inf, -np.inf, 3.4e38, 1e-45]


def float_arrays(shape):
    """float32 or float64 arrays mixing arbitrary floats with the special values, often constant."""

    def build(dtype):
        width = 32 if dtype == np.float32 else 64
        elements = st.one_of(st.floats(width=width), st.sampled_from(SPECIAL).map(dtype))
        return hnp.arrays(dtype, shape, elements=elements, fill=elements)

    return st.sampled_from([np.float32, np.float64]).flatmap(build)


side = st.integers(1, 40)
fmaps = st.tuples(side, side, st.integers(1, 20)).flatmap(float_arrays)
images2d = st.tuples(side, side).flatmap(float_arrays)


def check_frame(frame, shape):
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8 and frame.flags.c_contiguous
    assert frame.shape == tuple(shape) + (4,)


class strict:
    def __enter__(self):
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


@SETTINGS
@given(fmaps)
def test_activation_functions(fmap):
    h, w, c = fmap.shape
    with strict():
        levels = normalize_channels(fmap)
        assert levels.shape == fmap.shape and levels.dtype == np.uint8
        assert 0 <= blank_channels(fmap) <= c
        check_frame(channel_frame(fmap, c - 1), (h, w))
        check_frame(channel_frame(fmap, 0, colormap="gray", size=64), (h * (64 // max(h, w)), w * (64 // max(h, w))))
        mosaic, layout = grid_frame(fmap, highlight=c // 2)
        check_frame(mosaic, layout.shape)
        assert layout.n == c and layout.cols == min(16, c)
        mosaic, layout = grid_frame(fmap, cols=3, pad=0, cell_size=12)
        check_frame(mosaic, layout.shape)


@SETTINGS
@given(images2d, st.integers(1, 5))
def test_frame_functions(gray, factor):
    h, w = gray.shape
    with strict():
        rgba = to_rgba(gray)
        check_frame(rgba, (h, w))
        check_frame(to_rgba(np.stack([gray, gray, gray], axis=2)), (h, w))
        check_frame(upscale(gray, factor), (h * factor, w * factor))
        check_frame(fit_size(gray, 20), fit_size(np.zeros((h, w)), 20).shape[:2])
        mosaic, layout = tile(np.stack([gray, gray[::-1]]), cols=2)
        check_frame(mosaic, layout.shape)
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(rgba))))
        np.testing.assert_array_equal(decoded, rgba)


@SETTINGS
@given(images2d, st.tuples(side, side, st.sampled_from([1, 3, 4])).flatmap(float_arrays), st.floats(0, 1))
def test_overlay_functions(heatmap, image, alpha):
    h, w = image.shape[:2]
    with strict():
        check_frame(heatmap_frame(heatmap), heatmap.shape)
        check_frame(heatmap_frame(heatmap, size=50), fit_size(np.zeros(heatmap.shape), 50).shape[:2])
        check_frame(overlay(image, heatmap, alpha=alpha), (h, w))
        check_frame(overlay(image[:, :, 0], heatmap, alpha=alpha, colormap="viridis"), (h, w))
        check_frame(superimpose_additive(image, heatmap, alpha=alpha), (h, w))


@SETTINGS
@given(st.tuples(st.integers(1, 12), side, side).flatmap(float_arrays), st.integers(1, 9), st.data())
def test_pattern_grid(stack, cols, data):
    rgb = np.repeat(stack[..., None], 3, axis=3)
    holes = data.draw(st.lists(st.booleans(), min_size=len(rgb), max_size=len(rgb)))
    highlight = data.draw(st.integers(0, len(rgb) - 1))
    with strict():
        mosaic, layout = pattern_grid(rgb, cols=cols, highlight=highlight)
        check_frame(mosaic, layout.shape)
        partial = [None if hole else im for hole, im in zip(holes, rgb)]
        mosaic, layout = pattern_grid(partial, cols=cols, highlight=highlight)
        check_frame(mosaic, layout.shape)
        assert (layout.cell_h, layout.cell_w) == (stack.shape[1:3] if not all(holes) else (64, 64))

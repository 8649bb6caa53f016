"""Property tests the render contract in tests/render/test_properties.py leaves out: extreme
aspect ratios (1 x 5000, what a very wide photo or a 1-D feature map gives), heatmaps and images
of unrelated extreme shapes in one overlay, the widgets' own resize chains, and the per-channel
and colormap helpers. Same contract: C-contiguous uint8 RGBA of the right shape, no warnings."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convviz_widgets.render import (
    channel_frame,
    colorize,
    fit_size,
    grid_frame,
    heatmap_frame,
    normalize_channel,
    overlay,
    upscale,
)
from convviz_widgets.render.frames import COLORMAPS, fit_shape
from tests.render.test_properties import check_frame, float_arrays, strict

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

thin = st.integers(1, 3)
long = st.integers(300, 5000)
extreme = st.one_of(st.tuples(thin, long), st.tuples(long, thin), st.just((1, 1)))


@SETTINGS
@given(extreme.flatmap(lambda hw: float_arrays(hw + (2,))), st.integers(16, 400), st.sampled_from(COLORMAPS))
def test_activation_frames_of_extreme_maps(fmap, size, colormap):
    h, w, _ = fmap.shape
    with strict():
        check_frame(channel_frame(fmap, 1, colormap, size=size), fit_shape((h, w), size))
        mosaic, layout = grid_frame(fmap, colormap=colormap, highlight=0)
        check_frame(mosaic, layout.shape)
        level = normalize_channel(fmap[..., 0])
        assert level.shape == (h, w) and level.dtype == np.uint8
        check_frame(colorize(level, colormap), (h, w))


@SETTINGS
@given(
    extreme.flatmap(float_arrays),
    st.one_of(extreme, st.tuples(st.integers(1, 40), st.integers(1, 40))).flatmap(lambda hw: float_arrays(hw + (3,))),
    st.floats(0, 1),
    st.sampled_from(COLORMAPS),
)
def test_overlay_of_unrelated_extreme_shapes_as_the_cam_explorer_draws_it(heatmap, image, alpha, colormap):
    h, w = image.shape[:2]
    with strict():
        blended = overlay(image, heatmap, alpha, colormap)
        check_frame(blended, (h, w))
        left = fit_size(blended, 300)  # CamExplorer: overlay fitted, raw heatmap beside it
        check_frame(left, fit_shape((h, w), 300))
        check_frame(upscale(heatmap_frame(heatmap, colormap), left.shape[:2]), left.shape[:2])
        check_frame(heatmap_frame(heatmap, colormap, size=64), fit_shape(heatmap.shape, 64))

import warnings

import matplotlib
import numpy as np
import pytest

from convviz_widgets.errors import ConvVizError
from convviz_widgets.render import (
    blank_channels,
    channel_frame,
    colorize,
    grid_frame,
    normalize_channel,
    normalize_channels,
    tile,
)


def reference_channel(ch):
    """The tutorial's display code, in float64: standardize, *64 + 128, clip, astype uint8."""
    x = ch.astype(np.float64)
    x = (x - x.mean()) / x.std()
    return np.clip(x * 64 + 128, 0, 255).astype("uint8")


def test_normalize_hand_computed_2x2():
    # mean 1.5, std sqrt(1.25): (-1.5, -0.5, 0.5, 1.5) / 1.1180 * 64 + 128, truncated
    out = normalize_channel(np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert out.dtype == np.uint8
    assert out.tolist() == [[42, 99], [156, 213]]


def test_normalize_channels_matches_reference_per_channel():
    rng = np.random.default_rng(0)
    fmap = (rng.gamma(2.0, 3.0, (9, 11, 6)) * rng.uniform(0.01, 100, 6)).astype(np.float32)
    out = normalize_channels(fmap)
    assert out.shape == fmap.shape and out.dtype == np.uint8
    for c in range(6):
        ref = reference_channel(fmap[:, :, c])
        # The reference truncates; a value within float round-off of an integer may land either way.
        assert np.abs(out[:, :, c].astype(int) - ref).max() <= 1
        assert (out[:, :, c] == ref).mean() > 0.97


def test_normalize_clips_outliers():
    ch = np.zeros((10, 10))
    ch[0, 0] = 1000.0
    out = normalize_channel(ch)
    assert out[0, 0] == 255 and (out.ravel()[1:] == 121).all()  # 128 - 64 * 0.1005 = 121.6


@pytest.mark.parametrize("value", [0.0, 0.1, -3.7, 1e30, 1e-30, 5e-324])
def test_constant_channel_is_flat_128_without_warnings(value):
    fmap = np.full((4, 5, 3), value)
    fmap[:, :, 1] = np.arange(20).reshape(4, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = normalize_channels(fmap)
    assert (out[:, :, 0] == 128).all() and (out[:, :, 2] == 128).all()
    np.testing.assert_array_equal(out[:, :, 1], reference_channel(fmap[:, :, 1]))


def test_scale_free_for_huge_and_tiny_values():
    base = np.array([[0.0, 1.0], [2.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale in (1e30, 1e-30, 1e300):
            assert normalize_channel(base * scale).tolist() == [[42, 99], [156, 213]]
        assert normalize_channel((base * 1e30).astype(np.float32)).tolist() == [[42, 99], [156, 213]]


def test_non_finite_values_are_left_out_of_the_stats():
    ch = np.array([[0.0, 1.0, np.nan], [2.0, 3.0, np.inf], [np.nan, -np.inf, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = normalize_channel(ch)
    assert out[:2, :2].tolist() == [[42, 99], [156, 213]]  # same as without the extras
    assert out[0, 2] == 128 and out[2, 0] == 128  # NaN: mid-gray
    assert out[1, 2] == 255 and out[2, 1] == 0  # +inf / -inf: saturated
    assert (normalize_channel(np.full((2, 2), np.nan)) == 128).all()


def test_normalize_rejects_wrong_rank_with_a_hint():
    with pytest.raises(ConvVizError, match=r"fmap: expected an \(H, W, C\).*\(1, 4, 4, 2\).*fmap\[0\]"):
        normalize_channels(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ConvVizError, match=r"channel: expected an \(H, W\) channel"):
        normalize_channel(np.zeros((4, 4, 1)))


def test_blank_channels_counts_all_zero_channels():
    fmap = np.zeros((3, 3, 5), np.float32)
    fmap[1, 1, 0] = 0.5
    fmap[:, :, 3] = -1.0
    fmap[0, 0, 4] = np.nan  # NaN is not a dead unit
    assert blank_channels(fmap) == 2
    assert blank_channels(np.ones((2, 2, 4))) == 0


def test_channel_frame_is_normalize_then_colorize_then_integer_upscale():
    rng = np.random.default_rng(2)
    fmap = rng.normal(size=(7, 7, 4)).astype(np.float32)
    expected = matplotlib.colormaps["viridis"](normalize_channel(fmap[:, :, 2]), bytes=True)
    np.testing.assert_array_equal(channel_frame(fmap, 2), expected)
    big = channel_frame(fmap, 2, colormap="gray", size=300)
    assert big.shape == (294, 294, 4)  # 7 * 42
    np.testing.assert_array_equal(big[::42, ::42], colorize(normalize_channel(fmap[:, :, 2]), "gray"))


@pytest.mark.parametrize("index", [-1, 4, 1.0, True])
def test_channel_frame_rejects_bad_index(index):
    with pytest.raises(ConvVizError, match=r"index: expected a channel index in 0\.\.3"):
        channel_frame(np.zeros((2, 2, 4)), index)


def test_grid_frame_is_tile_of_channel_frames():
    rng = np.random.default_rng(3)
    fmap = rng.normal(size=(5, 6, 20)).astype(np.float32)
    mosaic, layout = grid_frame(fmap, colormap="magma")
    assert (layout.cols, layout.rows, layout.cell_h, layout.cell_w, layout.pad) == (16, 2, 5, 6, 1)
    assert mosaic.shape == layout.shape + (4,)
    for c in range(20):
        y, x = layout.cell_origin(c)
        np.testing.assert_array_equal(mosaic[y : y + 5, x : x + 6], channel_frame(fmap, c, "magma"))


def test_grid_frame_few_channels_and_cell_size():
    fmap = np.random.default_rng(4).normal(size=(3, 3, 5))
    mosaic, layout = grid_frame(fmap, cell_size=32, pad=2)
    assert layout.cols == 5 and (layout.cell_h, layout.cell_w) == (30, 30)  # 3 * 10
    y, x = layout.cell_origin(4)
    np.testing.assert_array_equal(mosaic[y : y + 30, x : x + 30], channel_frame(fmap, 4, size=30))
    small, small_layout = grid_frame(np.zeros((40, 20, 2)), cell_size=10)
    assert (small_layout.cell_h, small_layout.cell_w) == (10, 5)


def test_grid_frame_highlight_changes_only_the_ring():
    fmap = np.random.default_rng(5).normal(size=(8, 8, 12))
    plain, layout = grid_frame(fmap, cols=4, pad=1)
    ringed, _ = grid_frame(fmap, cols=4, pad=1, highlight=6)
    changed = np.any(ringed != plain, axis=2)
    y, x = layout.cell_origin(6)
    outside = np.ones(changed.shape, bool)
    outside[y - 1 : y + 9, x - 1 : x + 9] = False
    assert not changed[outside].any()  # nothing outside the ring's box
    np.testing.assert_array_equal(ringed[y + 1 : y + 7, x + 1 : x + 7], plain[y + 1 : y + 7, x + 1 : x + 7])
    assert changed[y - 1, x - 1 : x + 9].all() and changed[y, x : x + 8].all()
    with pytest.raises(ConvVizError, match=r"index: expected a channel index in 0\.\.11, got 12"):
        grid_frame(fmap, highlight=12)


def test_grid_frame_equals_tile_of_colored_levels():
    fmap = np.random.default_rng(6).normal(size=(4, 4, 3))
    levels = normalize_channels(fmap).transpose(2, 0, 1)
    expected, _ = tile(matplotlib.colormaps["viridis"](levels, bytes=True), cols=3)
    np.testing.assert_array_equal(grid_frame(fmap)[0], expected)


@pytest.mark.parametrize("shape, cell", [((224, 224, 6), 96), ((50, 30, 4), 17), ((9, 9, 3), 9)])
def test_downscaled_grid_equals_the_full_normalization_sampled(shape, cell):
    """A downscaled grid normalizes only the pixels it shows, with every pixel's statistics."""
    from convviz_widgets.render.frames import fit_shape, nearest_indices

    rng = np.random.default_rng(7)
    fmap = rng.gamma(0.5, 2.0, size=shape).astype(np.float32) * 1e3
    fmap[..., 1] = 3.5  # a constant channel
    fmap[0, 0, 0], fmap[-1, 2, 0], fmap[4, -1, 2] = np.nan, np.inf, -np.inf
    th, tw = fit_shape(shape[:2], cell)
    full = normalize_channels(fmap)[nearest_indices(shape[0], th)][:, nearest_indices(shape[1], tw)]
    expected, _ = tile(matplotlib.colormaps["viridis"](full.transpose(2, 0, 1), bytes=True), cols=16)
    np.testing.assert_array_equal(grid_frame(fmap, cell_size=cell, colormap="viridis")[0], expected)

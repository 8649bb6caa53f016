import io
import warnings

import matplotlib
import numpy as np
import pytest
from PIL import Image

from convviz_widgets.errors import ConvVizError
from convviz_widgets.render import (
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

# --- to_rgba ---------------------------------------------------------------------------------


def test_to_rgba_gray_float_special_values():
    gray = np.array([[np.nan, np.inf, -np.inf], [-3.0, 254.6, 1e30]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = to_rgba(gray)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4) and out.flags.c_contiguous
    np.testing.assert_array_equal(out[..., 0], [[0, 255, 0], [0, 255, 255]])
    np.testing.assert_array_equal(out[..., 1], out[..., 0])
    np.testing.assert_array_equal(out[..., 2], out[..., 0])
    assert (out[..., 3] == 255).all()


def test_to_rgba_rgb_keeps_channel_order_and_adds_alpha():
    rgb = np.array([[[10, 20, 30]]], dtype=np.uint8)
    assert to_rgba(rgb).tolist() == [[[10, 20, 30, 255]]]


def test_to_rgba_rgba_passes_alpha_and_does_not_copy_a_ready_frame():
    rgba = np.array([[[1, 2, 3, 4]]], dtype=np.uint8)
    assert to_rgba(rgba) is rgba
    strided = np.zeros((4, 4, 4), np.uint8)[::2]
    out = to_rgba(strided)
    assert out.flags.c_contiguous and out.shape == (2, 4, 4)


def test_to_rgba_single_channel_bool_and_ints():
    np.testing.assert_array_equal(to_rgba(np.array([[[7]]], np.float32))[0, 0], [7, 7, 7, 255])
    np.testing.assert_array_equal(to_rgba(np.array([[True, False]]))[0, :, 0], [255, 0])
    np.testing.assert_array_equal(to_rgba(np.array([[-5, 300, 128]]))[0, :, 0], [0, 255, 128])


def test_to_rgba_float_rounds_to_nearest():
    np.testing.assert_array_equal(to_rgba(np.array([[0.49, 0.51, 127.6, 254.4]]))[0, :, 0], [0, 1, 128, 254])


def test_to_rgba_huge_float64_does_not_warn_on_cast():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_rgba(np.array([[1e300, -1e300]]))[0, :, 0].tolist() == [255, 0]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (np.zeros((2, 2, 2)), "(2, 2, 2)"),
        (np.zeros(5), "(5,)"),
        (np.zeros((1, 2, 2, 3)), "(1, 2, 2, 3)"),
        (np.zeros((0, 3)), "(0, 3)"),
        (np.zeros((2, 2), complex), "complex"),
        (np.array([[None]]), "object"),
        ([[1, 2], [3]], "list"),
    ],
)
def test_to_rgba_rejects_with_argument_expectation_and_input(bad, fragment):
    with pytest.raises(ConvVizError) as info:
        to_rgba(bad, name="frame")
    message = str(info.value)
    assert message.startswith("frame:") and "expected" in message and fragment in message


# --- colormaps -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["viridis", "jet", "magma", "gray", "inferno", "turbo"])
def test_colormap_lut_matches_matplotlib(name):
    lut = colormap_lut(name)
    expected = matplotlib.colormaps[name](np.arange(256), bytes=True)
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    np.testing.assert_array_equal(lut, expected)


def test_colormap_lut_is_cached_and_read_only():
    assert colormap_lut("viridis") is colormap_lut("viridis")
    with pytest.raises(ValueError):
        colormap_lut("viridis")[0, 0] = 1


def test_colormap_lut_of_a_short_colormap_spans_all_its_colors():
    lut = colormap_lut("tab10")
    tab10 = matplotlib.colormaps["tab10"](np.arange(10), bytes=True)
    np.testing.assert_array_equal(lut[0], tab10[0])
    np.testing.assert_array_equal(lut[255], tab10[9])
    assert len(np.unique(lut, axis=0)) == 10


def test_colormaps_recommendations_are_valid_and_viridis_first():
    assert COLORMAPS[0] == "viridis" and "jet" in COLORMAPS
    for name in COLORMAPS:
        assert colormap_lut(name).shape == (256, 4)


def test_unknown_colormap_lists_valid_names_and_suggests():
    with pytest.raises(ConvVizError, match=r"colormap: .*'viridis'.*got 'viridus'.*Did you mean"):
        colormap_lut("viridus")
    with pytest.raises(ConvVizError, match="got list"):
        colormap_lut(["viridis"])


def test_colorize_is_lut_indexing_of_matplotlib():
    values = np.array([[0, 1, 2], [127, 128, 255]], dtype=np.uint8)
    out = colorize(values, "magma")
    np.testing.assert_array_equal(out, matplotlib.colormaps["magma"](values, bytes=True))
    assert out.flags.c_contiguous


def test_apply_lut_equals_fancy_indexing_for_any_shape():
    levels = np.random.default_rng(0).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    lut = colormap_lut("inferno")
    np.testing.assert_array_equal(apply_lut(lut, levels), lut[levels])


def test_colorize_accepts_an_explicit_lut_and_rejects_floats():
    lut = np.zeros((256, 3), np.uint8)
    lut[:, 0] = np.arange(256)
    np.testing.assert_array_equal(colorize(np.array([[5]], np.uint8), lut)[0, 0], [5, 0, 0, 255])
    with pytest.raises(ConvVizError, match=r"values: expected .*uint8.*float64"):
        colorize(np.zeros((2, 2)))


# --- GridLayout and tile ---------------------------------------------------------------------


def test_grid_layout_geometry():
    layout = GridLayout(n=5, cols=3, cell_h=4, cell_w=6, pad=2)
    assert layout.rows == 2
    assert layout.shape == (2 + 2 * (4 + 2), 2 + 3 * (6 + 2))  # (14, 26)
    assert layout.cell_origin(0) == (2, 2)
    assert layout.cell_origin(4) == (8, 10)


def test_grid_layout_index_at_round_trip_and_misses():
    layout = GridLayout(n=5, cols=3, cell_h=4, cell_w=6, pad=2)
    for i in range(layout.n):
        y, x = layout.cell_origin(i)
        assert layout.index_at(x, y) == i
        assert layout.index_at(x + 5.9, y + 3.9) == i  # last pixel, fractional mouse coordinates
        assert layout.index_at(x + 6, y) is None  # padding right of the cell
        assert layout.index_at(x, y - 1) is None  # padding above
    assert layout.index_at(0, 0) is None
    y, x = layout.cell_origin(4)
    assert layout.index_at(x + 8, y) is None  # where a 6th cell would be
    assert layout.index_at(-1, 3) is None and layout.index_at(1000, 3) is None
    assert layout.index_at(3, 1000) is None and layout.index_at(float("nan"), 3) is None


def test_grid_layout_validates_and_cell_origin_range():
    with pytest.raises(ConvVizError, match="GridLayout.cols"):
        GridLayout(n=1, cols=0, cell_h=1, cell_w=1, pad=0)
    with pytest.raises(ConvVizError, match=r"index: expected a cell index in 0\.\.4, got 5"):
        GridLayout(n=5, cols=3, cell_h=1, cell_w=1, pad=0).cell_origin(5)


def test_tile_places_every_cell_at_its_origin_and_fills_the_rest():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 256, (5, 3, 4, 3), dtype=np.uint8)
    bg = (9, 8, 7)
    mosaic, layout = tile(cells, cols=2, pad=1, background=bg)
    assert layout == GridLayout(n=5, cols=2, cell_h=3, cell_w=4, pad=1)
    assert mosaic.shape == layout.shape + (4,) == (13, 11, 4) and mosaic.flags.c_contiguous
    covered = np.zeros(layout.shape, bool)
    for i in range(5):
        y, x = layout.cell_origin(i)
        np.testing.assert_array_equal(mosaic[y : y + 3, x : x + 4, :3], cells[i])
        covered[y : y + 3, x : x + 4] = True
    np.testing.assert_array_equal(mosaic[~covered], np.tile([9, 8, 7, 255], ((~covered).sum(), 1)))
    assert (mosaic[..., 3] == 255).all()


def test_tile_clamps_cols_to_n_and_handles_gray_cells_and_zero_pad():
    mosaic, layout = tile(np.arange(6, dtype=np.uint8).reshape(3, 1, 2), cols=16, pad=0)
    assert layout.cols == 3 and layout.rows == 1
    np.testing.assert_array_equal(mosaic[0, :, 0], [0, 1, 2, 3, 4, 5])


def test_tile_rejects_bad_input():
    with pytest.raises(ConvVizError, match=r"cells: expected .*\(N, h, w"):
        tile(np.zeros((2, 2, 2, 2), np.uint8), cols=2)
    with pytest.raises(ConvVizError, match="background"):
        tile(np.zeros((2, 2, 2), np.uint8), cols=2, background=(0, 0, 300))
    with pytest.raises(ConvVizError, match="cols"):
        tile(np.zeros((2, 2, 2), np.uint8), cols=0)


def test_draw_highlight_uses_padding_first_and_is_white_then_red():
    cells = np.full((4, 5, 5, 3), 100, np.uint8)
    plain, layout = tile(cells, cols=2, pad=2, background=(0, 0, 0))
    ringed = draw_highlight(plain.copy(), layout, 3)
    changed = np.any(ringed != plain, axis=2)
    y, x = layout.cell_origin(3)
    ring = np.zeros(changed.shape, bool)
    ring[y - 2 : y + 7, x - 2 : x + 7] = True
    ring[y : y + 5, x : x + 5] = False  # pad=2: the ring lies entirely in the padding
    np.testing.assert_array_equal(changed, ring)
    assert ringed[y - 2, x].tolist() == [255, 255, 255, 255]
    assert ringed[y - 1, x].tolist() == [255, 0, 0, 255]


def test_draw_highlight_with_pad_one_eats_one_pixel_of_the_cell_edge():
    cells = np.full((2, 4, 4, 3), 100, np.uint8)
    plain, layout = tile(cells, cols=2, pad=1)
    ringed = draw_highlight(plain.copy(), layout, 0)
    y, x = layout.cell_origin(0)
    np.testing.assert_array_equal(ringed[y + 1 : y + 3, x + 1 : x + 3], plain[y + 1 : y + 3, x + 1 : x + 3])
    assert ringed[y, x].tolist() == [255, 0, 0, 255]  # cell edge: inner red line
    assert ringed[y - 1, x].tolist() == [255, 255, 255, 255]  # padding: outer white line
    y1, x1 = layout.cell_origin(1)
    np.testing.assert_array_equal(ringed[y1:, x1:], plain[y1:, x1:])  # neighbour untouched


# --- scaling ---------------------------------------------------------------------------------


def test_upscale_integer_factor_is_block_repeat():
    img = np.arange(6 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = upscale(img, 3)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(img, 3, axis=0), 3, axis=1))
    assert upscale(img, (4, 9)).shape == (4, 9, 4)
    assert upscale(img, 1) is not img


def test_upscale_rejects_bad_factor():
    for bad in (0, 1.5, (2,), (0, 3), "2", True):
        with pytest.raises(ConvVizError, match="factor_or_size"):
            upscale(np.zeros((2, 2), np.uint8), bad)


def test_fit_size_prefers_an_integer_factor_and_shrinks_proportionally():
    assert fit_size(np.zeros((7, 7)), 300).shape == (294, 294, 4)  # 42x, not 300/7
    assert fit_size(np.zeros((7, 14)), 100).shape == (7 * 7, 14 * 7, 4)
    assert fit_size(np.zeros((200, 100)), 50).shape == (50, 25, 4)
    assert fit_size(np.zeros((3, 5)), None).shape == (3, 5, 4)


def test_fit_size_averages_when_shrinking():
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 255.0  # 1 px checkerboard
    np.testing.assert_array_equal(fit_size(checker, 2)[..., 0], np.full((2, 2), 128))  # 127.5 rounded


# --- PNG -------------------------------------------------------------------------------------


@pytest.mark.parametrize("png_filter", ["sub", "none", "adaptive"])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_encode_png_round_trips_exactly_with_alpha_and_channel_order(level, png_filter):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    rgba[0, 0] = [255, 0, 0, 10]  # pure red, nearly transparent: catches RGB/BGR swaps
    data = encode_png(rgba, level, png_filter)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(decoded), rgba)


def test_encode_png_of_rgb_gets_opaque_alpha_and_rejects_bad_level():
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(np.full((2, 2, 3), 7, np.uint8)))))
    assert decoded.shape == (2, 2, 4) and decoded[0, 0].tolist() == [7, 7, 7, 255]
    with pytest.raises(ConvVizError, match="compress_level: expected an integer in 0..9, got 10"):
        encode_png(np.zeros((2, 2), np.uint8), 10)
    with pytest.raises(ConvVizError, match="png_filter"):
        encode_png(np.zeros((2, 2), np.uint8), 1, "fast")

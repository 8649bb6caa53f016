import numpy as np
import pytest

from convviz_widgets.errors import ConvVizError
from convviz_widgets.render import pattern_grid
from convviz_widgets.render.patterns import PLACEHOLDER_COLOR


def test_pattern_grid_places_images_with_default_geometry():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 6, 6, 3), dtype=np.uint8)
    mosaic, layout = pattern_grid(images)
    assert (layout.cols, layout.rows, layout.pad) == (8, 2, 2)
    assert mosaic.shape == (2 + 2 * 8, 2 + 8 * 8, 4)
    for i in range(10):
        y, x = layout.cell_origin(i)
        np.testing.assert_array_equal(mosaic[y : y + 6, x : x + 6, :3], images[i])


def test_pattern_grid_list_with_none_draws_placeholders():
    image = np.full((4, 4, 3), 200, np.uint8)
    mosaic, layout = pattern_grid([None, image, None], cols=3)
    for i, expected in [(0, PLACEHOLDER_COLOR), (2, PLACEHOLDER_COLOR), (1, (200, 200, 200, 255))]:
        y, x = layout.cell_origin(i)
        assert (mosaic[y : y + 4, x : x + 4] == expected).all()


def test_pattern_grid_all_none_uses_size_for_placeholders():
    mosaic, layout = pattern_grid([None] * 4, cols=2, size=10)
    assert (layout.cell_h, layout.cell_w) == (10, 10) and mosaic.shape == (2 + 2 * 12, 2 + 2 * 12, 4)


def test_pattern_grid_highlight_lies_in_the_padding():
    images = np.full((4, 5, 5, 3), 90, np.uint8)
    plain, layout = pattern_grid(images, cols=2)
    ringed, _ = pattern_grid(images, cols=2, highlight=1)
    y, x = layout.cell_origin(1)
    changed = np.any(ringed != plain, axis=2)
    assert changed.sum() == 9 * 9 - 5 * 5
    assert not changed[y : y + 5, x : x + 5].any()


def test_pattern_grid_rejects_mixed_sizes_and_bad_shapes():
    with pytest.raises(ConvVizError, match="images: expected images of one size"):
        pattern_grid([np.zeros((4, 4, 3)), np.zeros((5, 5, 3))])
    with pytest.raises(ConvVizError, match=r"images\[1\]: expected an \(h, w, 1\|3\|4\) image"):
        pattern_grid([None, np.zeros((4, 4))])
    with pytest.raises(ConvVizError, match=r"images: expected an \(N, h, w, 3\) array"):
        pattern_grid(np.zeros((4, 4, 3)))
    with pytest.raises(ConvVizError, match="empty list"):
        pattern_grid([])


def test_caption_writes_text_and_keeps_the_frame_opaque():
    from convviz_widgets.render.patterns import caption

    frame = np.full((60, 200, 4), (128, 128, 128, 255), np.uint8)
    out = caption(frame, ["Run: 16 filters", "about 3 s"])
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out[..., 3] == 255).all()  # cv2's anti-aliasing never reaches alpha
    band = out[10:50]
    assert band[..., :3].max() >= 200 and band[..., :3].min() <= 32  # light text on a dark band
    assert (out[:5, :, :3] == 128).all()  # above the band: untouched
    np.testing.assert_array_equal(frame, np.full((60, 200, 4), (128, 128, 128, 255), np.uint8))

"""curve_plot and compare_frame: pixels where the curves and panels must be."""

import numpy as np
import pytest

from convviz_widgets import ConvVizError
from convviz_widgets.render import caption, compare_frame, curve_plot, fit_size, overlay
from convviz_widgets.render.compare import CAPTION_H
from convviz_widgets.render.curves import CURVE_COLORS, plot_box, to_pixel

RED, BLUE = CURVE_COLORS[0], CURVE_COLORS[1]


def test_curves_are_drawn_through_their_points_in_their_colours():
    f = np.linspace(0, 1, 11)
    falling, flat = 1.0 - f, np.full(11, 0.25)
    frame = curve_plot([("deletion", f, falling), ("insertion", f, flat)], size=(120, 220))
    assert frame.shape == (120, 220, 4) and frame.dtype == np.uint8
    box = plot_box((120, 220), 2)
    for fr, p in zip(f, falling):
        x, y = to_pixel(fr, p, box)
        if 0 < fr < 1 and fr != 0.5:  # not on the frame or the grid line
            assert tuple(frame[y, x, :3]) == RED, (fr, p)
    y_flat = to_pixel(0, 0.25, box)[1]
    inside = frame[y_flat, box[2] + 2 : box[3] - 1, :3]
    blue = np.all(inside == BLUE, axis=-1)
    assert blue.mean() > 0.9  # the flat curve is one horizontal line, except where red crosses it
    assert to_pixel(0, 0, box) == (box[2], box[1]) and to_pixel(1, 1, box) == (box[3], box[0])
    # the legend holds some pixels of each colour above the box
    legend = frame[: box[0], :, :3].reshape(-1, 3)
    for colour in (RED, BLUE):
        assert np.any(np.all(np.abs(legend.astype(int) - colour) < 40, axis=-1))


def test_curve_plot_bad_input():
    f = np.linspace(0, 1, 5)
    with pytest.raises(ConvVizError, match="same length"):
        curve_plot([("d", f, f[:3])])
    with pytest.raises(ConvVizError, match="NaN"):
        curve_plot([("d", f, np.full(5, np.nan))])
    with pytest.raises(ConvVizError, match="at least one"):
        curve_plot([])
    with pytest.raises(ConvVizError, match="size"):
        curve_plot([("d", f, f)], size=(10, 10))


def test_caption_adds_a_strip_above():
    img = np.full((20, 30, 4), 200, np.uint8)
    out = caption(img, "gradcam")
    assert out.shape == (20 + CAPTION_H, 30, 4)
    np.testing.assert_array_equal(out[CAPTION_H:], img)
    assert len(np.unique(out[:CAPTION_H].reshape(-1, 4), axis=0)) > 2  # text on the strip


def test_compare_frame_is_captioned_overlays_in_one_row():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (40, 40, 3)).astype(np.float32)
    maps = [rng.uniform(0, 1, (5, 5)).astype(np.float32) for _ in range(3)]
    frame, layout = compare_frame(image, maps + [None], ["a", "b", "c", "d"], size=80, pad=4)
    assert (layout.n, layout.cols, layout.cell_h, layout.cell_w) == (4, 4, 80 + CAPTION_H, 80)
    for i, heat in enumerate(maps):
        y, x = layout.cell_origin(i)
        panel = frame[y + CAPTION_H : y + layout.cell_h, x : x + layout.cell_w]
        np.testing.assert_array_equal(panel, fit_size(overlay(image, heat), 80))
    y, x = layout.cell_origin(3)
    assert np.all(frame[y + CAPTION_H : y + layout.cell_h, x : x + 80, :3] == 60)  # pending
    ringed, _ = compare_frame(image, maps, ["a", "b", "c"], size=80, pad=4, highlight=1)
    y, x = layout.cell_origin(1)
    assert tuple(ringed[y - 2, x + 10]) == (255, 255, 255, 255)  # outer white ring
    with pytest.raises(ConvVizError, match="labels"):
        compare_frame(image, maps, ["a"])

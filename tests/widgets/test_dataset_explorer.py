"""DatasetExplorer: the pattern beside the top-k crops; the audit sorted by a metric opens a CamExplorer."""

import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets.render.frames import upscale


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (12, 32, 32, 3)).astype(np.uint8)


def cell(frame, layout, i):
    y, x = layout.cell_origin(i)
    return frame[y : y + layout.cell_h, x : x + layout.cell_w]


def test_pattern_beside_the_top_crops(model, images):
    ex = cvw.DatasetExplorer(model, images, layer="c2", k=4, cell=40, steps=3)
    assert ex.layer == "c2" and ex.channel_slider.max == 11
    top = cvw.scan.top_activations(model, images, "c2", k=4, progress=False)
    pattern = cvw.FilterPatterns(model, "c2").generate([0], size=64, steps=3)[0]
    layout = ex.layout_frame
    assert layout.n == 5
    inner = cell(ex.frame, layout, 0)[2:-2, 2:-2]  # the ring covers the outer 2 px
    np.testing.assert_array_equal(inner, upscale(pattern, (40, 40))[2:-2, 2:-2])
    for j, crop in enumerate(top.crops(0)):
        np.testing.assert_array_equal(cell(ex.frame, layout, j + 1), upscale(crop, (40, 40)))
    ex.channel = 7
    np.testing.assert_array_equal(cell(ex.frame, layout, 1), upscale(top.crops(7)[0], (40, 40)))
    ex.channel = 99  # clamped to the layer's last channel
    assert ex.channel == 11
    ex.layer = "c1"
    assert ex.channel_slider.max == 7 and ex.channel == 7 and ex.top.layer == "c1"
    assert ex.last_error is None


def test_audit_sorted_by_a_metric_opens_in_the_cam_explorer(model, images):
    ex = cvw.DatasetExplorer(model, images[:5], layer="c2", k=2, cell=32, steps=1, audit_steps=4)
    ex.view = "audit"
    df = cvw.scan.cam_audit(model, images[:5], metrics=("deletion", "insertion", "average_drop"),
                            steps=4, progress=False)
    # the least faithful maps first: highest deletion AUC first, then lowest insertion AUC first
    assert list(ex.audit["image"]) == list(df.sort_values("deletion", ascending=False, kind="stable")["image"])
    ex.metric = "insertion"
    assert list(ex.audit["image"]) == list(df.sort_values("insertion", ascending=True, kind="stable")["image"])
    first = int(ex.audit["image"][0])
    np.testing.assert_array_equal(cell(ex.frame, ex.layout_frame, 0)[3:-3, 3:-3],
                                  upscale(images[first], (32, 32))[3:-3, 3:-3])
    ex.rows.index = 2
    assert ex.selected == 2
    cam = ex.open_selected()
    np.testing.assert_array_equal(cam.image, images[int(ex.audit["image"][2])].astype(np.float32))
    assert ex.cam_box.children == (cam,)
    with pytest.raises(cvw.ConvVizError, match="view: expected one of 'top', 'audit'; got 'nope'"):
        ex.view = "nope"
    assert "view: expected one of" in ex.status.value and ex.view == "audit"

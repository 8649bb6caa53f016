"""ChannelInspector: one channel from every side, against engine + render oracles and a
hand-computed Grad-CAM weight; the Dashboard's tabs share one selection."""

from __future__ import annotations

import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets.engines.geometry import cell_centres
from convviz_widgets.render.activations import channel_frame
from convviz_widgets.render.frames import upscale
from convviz_widgets.render.inspector import channel_heatmap, inspector_frame
from convviz_widgets.widgets import ChannelInspector, Dashboard

from .conftest import frontend_event


def oracle(model, image, layer, channel, pattern=None, crops=None, lines=("filter pattern", "press Pattern")):
    fmap = cvw.Activations(model).compute(image)[layer]
    frame, _ = inspector_frame(image, fmap, channel, pattern, crops, size=160,
                               centres=cell_centres(model, layer, image.shape[:2]),
                               pattern_lines=lines)  # fmt: skip
    return frame


def test_the_frame_is_the_channel_over_the_image_the_channel_and_the_pattern_cell(recorder, model, image):
    ins = ChannelInspector(model, image, auto_pattern=False)
    np.testing.assert_array_equal(recorder.last(ins.canvas), oracle(model, image, "c1", 0))
    ins.channel = 5
    frame = recorder.last(ins.canvas)
    np.testing.assert_array_equal(frame, oracle(model, image, "c1", 5))
    # the middle cell is the ActivationExplorer's channel view, pixel for pixel
    y, x = ins.layout_frame.cell_origin(1)
    fmap = cvw.Activations(model).compute(image)["c1"]
    want = channel_frame(fmap, 5, size=160)
    np.testing.assert_array_equal(frame[y:y + want.shape[0], x:x + want.shape[1]], want)


def test_channel_heatmap_is_relu_over_max():
    fmap = np.zeros((2, 3, 2), np.float32)
    fmap[..., 1] = [[-1, 0, 2], [4, 1, -3]]
    np.testing.assert_array_equal(channel_heatmap(fmap, 1), [[0, 0, 0.5], [1, 0.25, 0]])
    np.testing.assert_array_equal(channel_heatmap(fmap, 0), np.zeros((2, 3)))


def test_weight_and_rank_match_the_hand_computed_gradcam_weight(recorder, model, image):
    # c2 -> global average pooling -> Dense: d logit_k / d A[y, x, c] = W[c, k] / (h * w), so
    # Grad-CAM's weight (the spatial mean of that gradient) is W[c, k] / (h * w).
    ins = ChannelInspector(model, image, layer="c2", auto_pattern=False)
    kernel = model.get_layer("probs").kernel.numpy()
    h, w = ins.spec.layer_shape("c2")[:2]
    for k in range(4):
        ins.class_index = k
        want = kernel[:, k] / (h * w)
        np.testing.assert_allclose(ins.weights(), want, rtol=1e-4, atol=1e-7)
        for c in (0, 7, 11):
            ins.channel = c
            assert ins.weight == pytest.approx(float(want[c]), rel=1e-4, abs=1e-7)
            assert ins.rank == 1 + int((want > want[c]).sum())
            assert f"rank <b>{ins.rank}</b> of 12" in ins.info.value
            assert f"Grad-CAM weight <b>{ins.weight:+.4g}</b>" in ins.info.value
    assert ins.top[0][0] == int(np.argmax(model.predict(image[None] / 255.0, verbose=0)[0]))


def test_the_pattern_follows_in_the_background_and_is_cached(recorder, model, image):
    ins = ChannelInspector(model, image, auto_pattern=True, pattern_steps=8)
    assert ins.wait(60)
    want = cvw.FilterPatterns(model, "c1").generate([0], size=64, steps=8, seed=0)[0]
    np.testing.assert_array_equal(ins.pattern_image(), want)
    frame = recorder.last(ins.canvas)
    np.testing.assert_array_equal(frame, oracle(model, image, "c1", 0, pattern=want))
    y, x = ins.layout_frame.cell_origin(2)
    np.testing.assert_array_equal(frame[y:y + 150, x:x + 150], upscale(np.dstack([want, np.full((64, 64), 255, np.uint8)]), (150, 150)))
    ins.channel = 1
    assert ins.wait(60) and ins.pattern_image(channel=1) is not None
    runs = []
    ins.runner.start = lambda job: runs.append(job)  # coming back: from the cache, no new run
    ins.channel = 0
    assert runs == []
    np.testing.assert_array_equal(ins.pattern_image(), want)


def test_stop_ends_a_long_pattern_run_and_keeps_what_it_had(recorder, model, image):
    ins = ChannelInspector(model, image, auto_pattern=False, pattern_steps=1000)
    ins.pattern()
    assert ins.running and ins.stop_button.disabled is False
    ins.stop()
    assert ins.wait(10) and not ins.running
    assert ins.pattern_button.disabled is False and ins.stop_button.disabled is True
    assert ins.pattern_image() is not None  # the stopped run's pattern is shown until redone
    assert ins.status.value == ""


def test_top_activating_crops_of_a_data_set(recorder, model, image):
    images = np.random.default_rng(3).uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    top = cvw.scan.top_activations(model, images, "c2", k=3, progress=False)
    ins = ChannelInspector(model, image, layer="c2", top=top, auto_pattern=False)
    ins.channel = 4
    crops = top.crops(4)
    assert crops.shape[0] == 3
    np.testing.assert_array_equal(recorder.last(ins.canvas), oracle(model, image, "c2", 4, crops=crops))
    lazy = ChannelInspector(model, image, layer="c2", images=images, k=3, auto_pattern=False)
    lazy.channel = 4
    np.testing.assert_array_equal(lazy.crops(), crops)  # scanned on first view of the layer
    assert ChannelInspector(model, image, auto_pattern=False).crops() is None  # no data set


def test_bad_layer_and_out_of_range_channel(recorder, model, image):
    with pytest.raises(cvw.ConvVizError, match="layer: 'gap' has no spatial output"):
        ChannelInspector(model, image, layer="gap", auto_pattern=False)
    ins = ChannelInspector(model, image, auto_pattern=False)
    ins.channel = 99
    assert ins.channel == 7 and ins.channel_slider.value == 7  # clamped like the slider


def test_the_dashboard_tabs_share_one_selection(recorder, model, image):
    dash = Dashboard(model=model, img=image)
    act, fil, cam = dash.activations, dash.filters, dash.cam
    ins = dash.inspector
    ins.stop()
    ins.auto_pattern = False
    assert dash.tabs.get_title(3) == "Channel"
    act.layer, act.channel = "c2", 5
    assert (ins.layer, ins.channel) == ("c2", 5) and (fil.layer, fil.filter_index) == ("c2", 5)
    assert dash.selection.layer == "c2" and dash.selection.channel == 5
    np.testing.assert_array_equal(recorder.last(ins.canvas), oracle(model, image, "c2", 5))
    ins.wait(60)
    ins.channel = 9  # the inspector moves the others
    fmap = cvw.Activations(model).compute(image)["c2"]
    assert act.channel == 9 and fil.filter_index == 9
    np.testing.assert_array_equal(recorder.last(act.canvas), channel_frame(fmap, 9, size=act.size))
    act.view = "grid"  # a click on a cell of the activation grid selects that channel everywhere
    y, x = act.layout_grid.cell_origin(2)
    frontend_event(act.canvas, event="mouse_down", x=x + 1, y=y + 1)
    assert act.channel == 2 and ins.channel == 2 and fil.filter_index == 2
    cam.class_index = 3  # the class explained is shared with the inspector's weight
    assert ins.class_index == 3 and dash.selection.class_index == 3
    kernel = model.get_layer("probs").kernel.numpy()
    assert ins.weight == pytest.approx(float(kernel[2, 3] / 169), rel=1e-4, abs=1e-7)
    act.layer = "c1"  # the Grad-CAM tab keeps its own layer (the last conv layer)
    assert ins.layer == "c1" and fil.layer == "c1" and cam.layer == "c2"


def test_the_frame_is_opaque_even_where_text_is_drawn(model, image):
    fmap = cvw.Activations(model).compute(image)["c1"]
    frame, _ = inspector_frame(image, fmap, 0, None, size=160)
    assert (frame[..., 3] == 255).all()  # a browser would premultiply translucent pixels

"""CamExplorer: overlay and raw heatmap are render's frames of the engine's Grad-CAM."""

import numpy as np
import pytest

from convviz_widgets import ConvVizError, predict_top
from convviz_widgets import cam as cam_engine
from convviz_widgets.render.frames import fit_size, upscale
from convviz_widgets.render.overlay import heatmap_frame, overlay
from convviz_widgets.widgets import CamExplorer


def panels(explorer, frame):
    """The overlay (cell 0) and the raw heatmap (cell 1) of a CamExplorer frame."""
    layout = explorer.layout_frame
    out = []
    for i in range(2):
        y, x = layout.cell_origin(i)
        out.append(frame[y : y + layout.cell_h, x : x + layout.cell_w])
    return out


def expected_panels(model, image, layer, k, alpha=0.4, colormap="jet", size=300, method="gradcam"):
    engine = cam_engine(model, method, layer=layer)
    heat = engine.compute(image, class_index=k)
    left = fit_size(overlay(image, heat, alpha, colormap, centres=engine.centres), size)
    return left, upscale(heatmap_frame(heat, colormap), left.shape[:2])


@pytest.fixture
def cam(recorder, model, image):
    explorer = CamExplorer(model, image)
    yield explorer
    assert explorer.wait(30)  # no background readout outlives the test


def test_defaults_top_class_last_conv_layer(cam, model, image):
    top = predict_top(model, image, k=4)
    assert cam.class_index == top[0][0]
    assert cam.layer == "c2" and cam.alpha == 0.4 and cam.colormap == "jet"
    labels = [label for label, _ in cam.class_dropdown.options]
    assert labels[:4] == [f"{name} ({p:.2f})" for _, name, p in top]
    assert labels[4:] == [f"[{i}] class {i}" for i in range(4)]
    assert cam.class_search.options == tuple(labels[4:])


def test_switching_class_changes_the_overlay_to_render_of_gradcam(recorder, cam, model, image):
    first = recorder.last(cam.canvas)
    k = (cam.class_index + 1) % 4
    cam.class_index = k
    now = recorder.last(cam.canvas)
    assert not np.array_equal(first, now)
    left, right = expected_panels(model, image, "c2", k)
    got_left, got_right = panels(cam, now)
    np.testing.assert_array_equal(got_left, left)
    np.testing.assert_array_equal(got_right, right)
    np.testing.assert_array_equal(cam.frame, now)


def test_class_switch_reuses_the_forward_pass_and_revisits_are_cached(cam, monkeypatch):
    engine = cam._engine(cam.layer)
    forwards, computes = [], []
    forward, compute = engine._forward, engine.compute
    monkeypatch.setattr(engine, "_forward", lambda x: forwards.append(1) or forward(x))
    monkeypatch.setattr(engine, "compute", lambda *a, **k: computes.append(1) or compute(*a, **k))
    start = cam.class_index
    for k in (0, 1, 2, 3, start, 0, 1):
        cam.class_index = k
    assert forwards == []  # the engine reuses the image's features
    assert len(computes) == 3  # start was computed at construction; revisits are cached


def test_traits_from_code_equal_controls(recorder, model, image):
    by_code = CamExplorer(model, image)
    by_user = CamExplorer(model, image)
    by_code.class_index, by_code.alpha, by_code.colormap, by_code.layer = 1, 0.7, "viridis", "p1"
    by_code.method = "xgradcam"
    by_user.method_dropdown.set_state({"index": 2})  # XGrad-CAM, third in CAM_METHODS
    by_user.class_dropdown.set_state({"index": 4 + 1})  # "[1] class 1" in the full list
    by_user.alpha_slider.set_state({"value": 0.7})
    by_user.colormap_dropdown.set_state({"index": by_user.colormap_dropdown.options.index(("viridis", "viridis"))})
    by_user.layer_dropdown.set_state({"index": by_user.layers.index("p1")})
    assert (by_user.class_index, by_user.alpha, by_user.colormap, by_user.layer) == (1, 0.7, "viridis", "p1")
    assert by_user.method == "xgradcam"
    np.testing.assert_array_equal(by_code.frame, by_user.frame)
    left, right = expected_panels(model, image, "p1", 1, 0.7, "viridis", method="xgradcam")
    got_left, got_right = panels(by_code, recorder.last(by_code.canvas))
    np.testing.assert_array_equal(got_left, left)
    np.testing.assert_array_equal(got_right, right)
    assert by_code.wait(30) and by_user.wait(30)


def test_clamps_and_clear_errors(cam):
    cam.alpha = 3.0
    assert cam.alpha == 1.0 == cam.alpha_slider.value
    cam.class_index = 99
    assert cam.class_index == 3
    with pytest.raises(ConvVizError, match="colormap"):
        cam.colormap = "no-such-map"
    assert "colormap" in cam.status.value
    with pytest.raises(ConvVizError, match="layer"):
        cam.layer = "nope"
    cam.alpha = 0.2  # still usable, and the error is gone
    assert cam.status.value == "" and cam.colormap == "jet"


def test_typing_a_class_finds_it(cam):
    cam.class_search.set_state({"value": "[2] class 2"})
    assert cam.class_index == 2
    cam.class_search.value = "[9] class 9"
    assert "class: expected one of" in cam.status.value and cam.class_index == 2


def test_new_image_resets_to_its_top_class(recorder, cam, model, image2):
    cam.image = image2
    top = predict_top(model, image2, k=4)
    assert cam.class_index == top[0][0]
    left, _ = expected_panels(model, image2, "c2", top[0][0])
    np.testing.assert_array_equal(panels(cam, recorder.last(cam.canvas))[0], left)


def test_binary_sigmoid_model(recorder, nested_model, image):
    cam = CamExplorer(nested_model, image)
    assert cam.layer == "base/inner2" and len(cam.class_names) == 2
    for k in (0, 1):
        cam.class_index = k
        left, _ = expected_panels(nested_model, image, "base/inner2", k)
        np.testing.assert_array_equal(panels(cam, recorder.last(cam.canvas))[0], left)

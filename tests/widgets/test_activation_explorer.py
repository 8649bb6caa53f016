"""ActivationExplorer: the pixels on the canvas are render's pixels of the engine's maps."""

import numpy as np
import pytest

from convviz_widgets import Activations, ConvVizError, conv_layers
from convviz_widgets.render.activations import blank_channels, channel_frame, grid_frame
from convviz_widgets.widgets import ActivationExplorer

from .conftest import frontend_event


@pytest.fixture(scope="module")
def maps(model, image):
    return Activations(model).compute(image)


def expected(maps, explorer, layer, channel, view):
    fmap = maps[layer]
    if view == "channel":
        return channel_frame(fmap, channel, size=explorer.size)
    cell = min(max(fmap.shape[0], fmap.shape[1], explorer.min_cell), explorer.max_cell)
    return grid_frame(fmap, highlight=channel, cell_size=cell)[0]


def test_first_frame_and_channel_3_of_the_first_layer(recorder, model, image, maps):
    ex = ActivationExplorer(model, image)
    assert ex.layer == "c1" and ex.layers == conv_layers(model)
    np.testing.assert_array_equal(recorder.last(ex.canvas), expected(maps, ex, "c1", 0, "channel"))
    ex.channel = 3
    # exactly the pixels render makes from the engine's output for that channel
    np.testing.assert_array_equal(recorder.last(ex.canvas), channel_frame(maps["c1"], 3, size=ex.size))
    np.testing.assert_array_equal(ex.frame, recorder.last(ex.canvas))
    assert (ex.canvas.height, ex.canvas.width) == ex.frame.shape[:2]


def test_setting_traits_from_code_equals_moving_the_controls(recorder, model, image):
    by_code = ActivationExplorer(model, image)
    by_user = ActivationExplorer(model, image)
    by_code.layer, by_code.view, by_code.channel = "c2", "grid", 7
    # the browser sends control state; set_state is how ipywidgets applies it
    by_user.layer_dropdown.set_state({"index": by_user.layers.index("c2")})
    by_user.view_toggle.set_state({"index": 1})
    by_user.channel_slider.set_state({"value": 7})
    assert (by_user.layer, by_user.view, by_user.channel) == ("c2", "grid", 7)
    assert by_code.channel_slider.value == 7 and by_code.layer_dropdown.value == "c2"
    np.testing.assert_array_equal(by_code.frame, by_user.frame)
    np.testing.assert_array_equal(recorder.last(by_code.canvas), recorder.last(by_user.canvas))


def test_slider_follows_the_layer_and_channel_is_clamped(model, image, maps):
    ex = ActivationExplorer(model, image)
    ex.layer = "c2"
    assert ex.channel_slider.max == maps["c2"].shape[-1] - 1 == 11
    ex.channel = 11
    ex.layer = "c1"  # 8 channels: 11 is clamped to 7, in the trait and the control
    assert ex.channel == ex.channel_slider.value == 7
    ex.channel = -4
    assert ex.channel == 0
    ex.channel = 10**6
    assert ex.channel == 7


def test_switching_layer_channel_and_view_never_reruns_the_model(recorder, model, image):
    ex = ActivationExplorer(model, image)
    calls = []
    forward = ex._activations._forward
    ex._activations._forward = lambda x: calls.append(1) or forward(x)
    for layer in ex.layers:
        ex.layer = layer
        ex.channel = 2
        ex.view = "grid"
        ex.view = "channel"
    assert calls == []
    assert len(recorder.frames(ex.canvas)) >= 3 * len(ex.layers)


def test_grid_highlights_the_channel_and_a_click_selects_a_cell(recorder, model, image, maps):
    ex = ActivationExplorer(model, image)
    ex.layer, ex.view, ex.channel = "c2", "grid", 4
    np.testing.assert_array_equal(recorder.last(ex.canvas), expected(maps, ex, "c2", 4, "grid"))
    y, x = ex.layout_grid.cell_origin(9)
    frontend_event(ex.canvas, event="mouse_down", x=x + 2, y=y + 2)
    assert ex.channel == ex.channel_slider.value == 9
    np.testing.assert_array_equal(recorder.last(ex.canvas), expected(maps, ex, "c2", 9, "grid"))
    y, x = ex.layout_grid.cell_origin(5)
    frontend_event(ex.canvas, event="mouse_move", x=x + 1, y=y + 1)  # hover selects too
    assert ex.channel == 5
    frontend_event(ex.canvas, event="mouse_down", x=0, y=0)  # the padding: nothing changes
    assert ex.channel == 5


def test_info_line_shows_shape_and_blank_channels(model, image, maps):
    ex = ActivationExplorer(model, image)
    for layer in ex.layers:
        ex.layer = layer
        h, w, c = maps[layer].shape
        assert f"({h}, {w}, {c})" in ex.info.value
        assert f"{blank_channels(maps[layer])} of {c} channels blank" in ex.info.value


def test_bad_layer_is_a_clear_error_and_the_widget_still_works(recorder, model, image, maps):
    ex = ActivationExplorer(model, image)
    with pytest.raises(ConvVizError, match="layer: expected one of 'c1'.*got 'c3'"):
        ex.layer = "c3"
    assert "got &#x27;c3&#x27;" in ex.status.value
    assert ex.layer == "c1"
    ex.channel = 2
    np.testing.assert_array_equal(recorder.last(ex.canvas), expected(maps, ex, "c1", 2, "channel"))
    assert ex.status.value == ""


def test_failure_while_rendering_shows_in_status_and_keeps_the_frame(model, image, monkeypatch):
    import convviz_widgets.widgets.activation_explorer as module

    ex = ActivationExplorer(model, image)
    good = ex.frame
    monkeypatch.setattr(module, "channel_frame", lambda *a, **k: 1 / 0)
    ex.channel = 1
    assert "internal error: ZeroDivisionError" in ex.status.value
    assert ex.frame is good
    monkeypatch.undo()
    ex.channel = 2
    assert ex.status.value == "" and ex.frame is not good


def test_nested_model_layers_are_outer_inner(recorder, nested_model, image):
    ex = ActivationExplorer(nested_model, image)
    assert ex.layers == ["base/inner1", "base/inner2"]
    ex.layer = "base/inner2"
    fmap = Activations(nested_model).compute(image)["base/inner2"]
    np.testing.assert_array_equal(recorder.last(ex.canvas), channel_frame(fmap, 0, size=ex.size))


def test_new_image_recomputes(recorder, model, image, image2):
    ex = ActivationExplorer(model, image, layers=["c2"])
    ex.channel = 3
    ex.image = image2
    fmap = Activations(model).compute(image2)["c2"]
    np.testing.assert_array_equal(recorder.last(ex.canvas), channel_frame(fmap, 3, size=ex.size))


def test_burst_of_200_random_changes_ends_on_the_final_state(recorder, model, image, maps):
    ex = ActivationExplorer(model, image)
    rng = np.random.default_rng(42)
    for _ in range(200):
        what = rng.integers(4)
        if what == 0:
            ex.layer = ex.layers[rng.integers(len(ex.layers))]
        elif what == 1:
            ex.channel = int(rng.integers(-3, 20))
        elif what == 2:
            ex.view = ("channel", "grid")[rng.integers(2)]
        else:
            ex.channel_slider.set_state({"value": int(rng.integers(0, ex.channel_slider.max + 1))})
    final = expected(maps, ex, ex.layer, ex.channel, ex.view)
    np.testing.assert_array_equal(recorder.last(ex.canvas), final)
    np.testing.assert_array_equal(ex.frame, final)
    fresh = ActivationExplorer(model, image)
    fresh.layer, fresh.view, fresh.channel = ex.layer, ex.view, ex.channel
    np.testing.assert_array_equal(fresh.frame, final)


def test_a_layer_change_draws_once(recorder, model, image):
    ex = ActivationExplorer(model, image)
    ex.channel = 7
    before = len(recorder.frames(ex.canvas))
    ex.layer = "c2"  # changes the slider's max and maybe the channel: still one frame
    assert len(recorder.frames(ex.canvas)) == before + 1


def test_big_maps_are_shrunk_in_the_grid(recorder, model, image, maps):
    ex = ActivationExplorer(model, image, min_cell=8, max_cell=12)
    ex.view = "grid"  # c1 maps are 30x30: 12 px cells keep the mosaic small
    want = grid_frame(maps["c1"], highlight=0, cell_size=12)[0]
    np.testing.assert_array_equal(recorder.last(ex.canvas), want)
    assert ex.layout_grid.cell_h == 12 and want.shape[1] < 8 * 30


def test_grid_of_a_new_image_and_another_colormap_is_rendered_afresh(recorder, model, image, image2):
    ex = ActivationExplorer(model, image)
    ex.layer, ex.view, ex.channel = "c2", "grid", 3
    ex.image = image2
    fmap = Activations(model).compute(image2)["c2"]
    cell = max(fmap.shape[0], ex.min_cell)
    want = grid_frame(fmap, highlight=3, cell_size=cell)[0]
    np.testing.assert_array_equal(recorder.last(ex.canvas), want)
    ex.colormap = "magma"
    want = grid_frame(fmap, colormap="magma", highlight=3, cell_size=cell)[0]
    np.testing.assert_array_equal(recorder.last(ex.canvas), want)

"""Load and faults in the widgets, headless, checked against what reached the canvas.

A 500-event burst ends on the frame of the final state; Stop at a random step of a grid run ends
it within one step and keeps the partial patterns; a fault injected in an engine shows in the
status line and the widget goes on working; 200 renders leave resident memory flat.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets import ActivationExplorer, CamExplorer, ConvVizError, Dashboard, FilterExplorer
from convviz_widgets.render.activations import channel_frame, grid_frame
from convviz_widgets.render.frames import COLORMAPS, fit_size, tile, upscale
from convviz_widgets.render.overlay import heatmap_frame, overlay
from convviz_widgets.render.patterns import pattern_grid
from tests.widgets.conftest import frontend_event
from tests.widgets.test_filter_explorer import spy_generate

from .conftest import SIZE, record_figure, rss_bytes, status_text, upload
from .inputs import encode

pytestmark = pytest.mark.timeout(300)

BURST = 500


def activation_frame(model, image, ex):
    """What render makes of the engine's maps for ``ex``'s state (the widget tests' oracle)."""
    fmap = cvw.Activations(model).compute(image)[ex.layer]
    if ex.view == "channel":
        return channel_frame(fmap, ex.channel, ex.colormap, size=ex.size)
    cell = max(fmap.shape[0], fmap.shape[1], ex.min_cell)
    return grid_frame(fmap, colormap=ex.colormap, highlight=ex.channel, cell_size=cell)[0]


def cam_frame(model, image, cam):
    engine = cvw.GradCAM(model, cam.layer)
    heat = engine.compute(image, class_index=cam.class_index)
    left = fit_size(overlay(image, heat, cam.alpha, cam.colormap, centres=engine.centres), cam.size)
    right = upscale(heatmap_frame(heat, cam.colormap), left.shape[:2])
    return tile([left, right], cols=2, pad=cam.pad)[0]


def random_event(rng, act, cam, fx):
    """One user action, as the front end sends it (control state) or as code sets a trait.

    Some values are out of range on purpose: the traits must clamp them.
    """
    kind = int(rng.integers(16))
    if kind == 0:
        act.layer_dropdown.set_state({"index": int(rng.integers(len(act.layers)))})
    elif kind == 1:
        act.channel_slider.set_state({"value": int(rng.integers(0, act.channel_slider.max + 1))})
    elif kind == 2:
        act.channel = int(rng.integers(-5, 40))
    elif kind == 3:
        act.view_toggle.set_state({"index": int(rng.integers(2))})
    elif kind == 4:
        act.colormap = COLORMAPS[rng.integers(len(COLORMAPS))]
    elif kind == 5 and act.view == "grid" and act.layout_grid is not None:
        h, w = act.frame.shape[:2]
        frontend_event(act.canvas, event="mouse_move", x=float(rng.uniform(0, w)), y=float(rng.uniform(0, h)))
    elif kind == 6:
        cam.class_dropdown.set_state({"index": int(rng.integers(len(cam.class_dropdown.options)))})
    elif kind == 7:
        cam.class_index = int(rng.integers(-3, 9))
    elif kind == 8:
        cam.layer_dropdown.set_state({"index": int(rng.integers(len(cam.layers)))})
    elif kind == 9:
        cam.alpha_slider.set_state({"value": float(rng.uniform(0, 1))})
    elif kind == 10:
        cam.alpha = float(rng.uniform(-0.5, 1.5))
    elif kind == 11:
        cam.colormap_dropdown.set_state({"index": int(rng.integers(len(cam.colormap_dropdown.options)))})
    elif kind == 12:
        cam.class_search.set_state({"value": cam.class_search.options[rng.integers(len(cam.class_search.options))]})
    elif kind == 13:
        fx.filter_slider.set_state({"value": int(rng.integers(0, fx.filter_slider.max + 1))})
    elif kind == 14:
        fx.layer_dropdown.set_state({"index": int(rng.integers(len(fx.layers)))})
    else:
        fx.mode_toggle.set_state({"index": int(rng.integers(2))})
    return kind


def test_burst_of_500_events_ends_on_the_final_state(recorder, model, image):
    act, cam, fx = ActivationExplorer(model, image), CamExplorer(model, image), FilterExplorer(model)
    fx.size = SIZE
    rng = np.random.default_rng(2024)
    kinds = [random_event(rng, act, cam, fx) for _ in range(BURST)]
    assert len(set(kinds)) == 16  # every kind of event happened
    for ex in (act, cam, fx):
        assert ex.last_error is None and ex.status.value == ""
    # the canvas shows the final state: render applied to the engines' output ...
    np.testing.assert_array_equal(recorder.last(act.canvas), activation_frame(model, image, act))
    np.testing.assert_array_equal(recorder.last(cam.canvas), cam_frame(model, image, cam))
    # ... and a fresh explorer set to that state draws the same pixels
    fresh_act = ActivationExplorer(model, image)
    fresh_act.layer, fresh_act.view, fresh_act.colormap, fresh_act.channel = act.layer, act.view, act.colormap, act.channel
    fresh_cam = CamExplorer(model, image)
    fresh_cam.layer, fresh_cam.class_index, fresh_cam.alpha, fresh_cam.colormap = (
        cam.layer, cam.class_index, cam.alpha, cam.colormap)
    fresh_fx = FilterExplorer(model)
    fresh_fx.size, fresh_fx.layer, fresh_fx.mode, fresh_fx.filter_index = fx.size, fx.layer, fx.mode, fx.filter_index
    for ex, fresh in ((act, fresh_act), (cam, fresh_cam), (fx, fresh_fx)):
        np.testing.assert_array_equal(recorder.last(ex.canvas), recorder.last(fresh.canvas))
        np.testing.assert_array_equal(ex.frame, recorder.last(ex.canvas))
    # the controls show the same state as the traits
    assert (act.layer_dropdown.value, act.channel_slider.value, act.view_toggle.value) == (act.layer, act.channel, act.view)
    assert (cam.class_dropdown.value, cam.layer_dropdown.value, cam.alpha_slider.value) == (
        cam.class_index, cam.layer, cam.alpha)
    drawn = sum(len(recorder.frames(ex.canvas)) for ex in (act, cam, fx))
    record_figure("burst", f"{BURST} random slider/dropdown/trait/mouse events, {drawn} frames drawn, "
                           "final frames equal the final state's")


# -- Stop, faults, Run again ---------------------------------------------------------------------


@pytest.fixture
def grid(recorder, model):
    fx = FilterExplorer(model, live_interval=0.0)
    fx.size, fx.layer, fx.mode, fx.steps = SIZE, "c2", "grid", 60  # 12 filters: one page
    yield fx
    fx.stop()
    fx.wait(30)


def grid_frame_of(fx, images):
    highlight = fx.filter_index if fx.filter_index in fx.page_filters() else None
    return pattern_grid(list(images), cols=8, pad=2, highlight=highlight, size=fx.size)[0]


def stop_at_random_step(grid, seed):
    """Run the grid, press Stop during a random step; return that step and the steps seen."""
    stop_at = int(np.random.default_rng(seed).integers(2, 40))
    reached, pressed = threading.Event(), threading.Event()

    def pause(step):
        if step == stop_at:
            reached.set()
            pressed.wait(30)  # the user presses Stop during this step

    _, steps = spy_generate(grid, "c2", before_step=pause)
    grid.run_button.click()
    assert reached.wait(60)
    grid.stop_button.click()
    pressed.set()
    assert grid.wait(30)
    return stop_at, steps


def test_stop_at_a_random_step_ends_within_it_and_run_again_works(recorder, grid, model):
    stop_at, steps = stop_at_random_step(grid, seed=7)
    assert steps == list(range(1, stop_at + 1))  # ended within the step Stop was pressed in
    assert grid.progress.description == "stopped" and not grid.run_button.disabled
    assert grid.stop_button.disabled and grid.status.value == ""
    engine = cvw.FilterPatterns(model, "c2")
    partial = engine.generate(list(range(12)), size=SIZE, steps=stop_at, seed=0)
    np.testing.assert_array_equal(recorder.last(grid.canvas), grid_frame_of(grid, partial))
    np.testing.assert_array_equal(grid.frame, recorder.last(grid.canvas))
    # Run again: the whole page is optimized to the end
    grid.run_button.click()
    assert grid.wait(60) and grid.progress.description == "done"
    final = engine.generate(list(range(12)), size=SIZE, steps=60, seed=0)
    np.testing.assert_array_equal(recorder.last(grid.canvas), grid_frame_of(grid, final))
    assert len(grid.cache) == 12


def test_partial_patterns_stay_after_stop_when_the_user_moves_a_control(recorder, grid, model):
    """Issue 6: "Stop pressed ...: partial patterns are kept" - not only until the next redraw."""
    stop_at, _ = stop_at_random_step(grid, seed=8)
    partial = cvw.FilterPatterns(model, "c2").generate(list(range(12)), size=SIZE, steps=stop_at, seed=0)
    grid.filter_index = 3  # selecting a cell redraws the grid
    np.testing.assert_array_equal(recorder.last(grid.canvas), grid_frame_of(grid, partial))


def inject_fault(patch, engine, after: int):
    """Make the engine's compiled step raise on call ``after + 1``, the way a TF error would."""
    real, calls = engine._step, []

    def step(*args):
        calls.append(1)
        if len(calls) > after:
            raise RuntimeError(f"injected fault at step {len(calls)}")
        return real(*args)

    patch.setattr(engine, "_step", step)
    return calls


def test_fault_inside_the_engine_during_a_run(recorder, grid, model):
    k = int(np.random.default_rng(11).integers(1, 20))
    with pytest.MonkeyPatch.context() as patch:
        calls = inject_fault(patch, grid._engine("c2"), after=k)
        grid.run()
        assert grid.wait(60)
    assert len(calls) == k + 1
    assert f"internal error: RuntimeError: injected fault at step {k + 1}" in grid.status.value
    assert isinstance(grid.last_error, RuntimeError)
    assert grid.progress.description == "stopped" and not grid.run_button.disabled and grid.stop_button.disabled
    assert grid.cache == {}
    # still usable: the controls redraw
    before = len(recorder.frames(grid.canvas))
    grid.mode = "single"
    grid.filter_index = 5
    # at least the mode change reaches the canvas (an unchanged picture is not resent)
    assert len(recorder.frames(grid.canvas)) >= before + 1
    np.testing.assert_array_equal(recorder.last(grid.canvas), grid._render())
    # the next run works and ends on the engine's result
    grid.mode = "grid"
    grid.run_sync()
    assert grid.status.value == "" and grid.progress.description == "done"
    final = cvw.FilterPatterns(model, "c2").generate(list(range(12)), size=SIZE, steps=60, seed=0)
    np.testing.assert_array_equal(recorder.last(grid.canvas), grid_frame_of(grid, final))


def test_fault_inside_gradcam_while_switching_class(recorder, model, image, monkeypatch):
    cam = CamExplorer(model, image)
    good = cam.frame
    engine = cam._engine(cam.layer)
    real = engine.compute
    monkeypatch.setattr(engine, "compute", lambda *a, **k: (_ for _ in ()).throw(MemoryError("injected")))
    cam.class_index = (cam.class_index + 1) % 4
    assert "internal error: MemoryError: injected" in cam.status.value
    assert cam.frame is good and np.array_equal(recorder.last(cam.canvas), good)
    monkeypatch.setattr(engine, "compute", real)
    cam.class_index = (cam.class_index + 1) % 4
    assert cam.status.value == ""
    np.testing.assert_array_equal(recorder.last(cam.canvas), cam_frame(model, image, cam))


def test_fault_in_one_explorer_during_an_upload_changes_nothing(recorder, model, image, image2, monkeypatch):
    """Dashboard: "a bad upload shows its error in the status line and changes nothing else"."""
    board = Dashboard(model=model, img=image)
    board.cam
    act_frame, cam_frame_before = board.activations.frame, board.cam.frame
    # the activation explorer takes the new image first; the Grad-CAM explorer then fails
    # (its CAM engine's forward pass gives its top predictions: the one model run it makes)
    monkeypatch.setattr(board.cam._engine(board.cam.layer), "compute",
                        lambda *a, **k: (_ for _ in ()).throw(ConvVizError("model: injected")))
    upload(board, encode(image2.astype(np.uint8)), "new.png")
    assert "injected" in status_text(board)
    np.testing.assert_array_equal(board.cam.image, image)
    np.testing.assert_array_equal(board.activations.image, image)  # not half-updated
    assert board.activations.frame is act_frame and board.cam.frame is cam_frame_before


# -- memory --------------------------------------------------------------------------------------

RENDERS = 200


def test_200_renders_leave_resident_memory_flat(recorder, model, image):
    act, cam = ActivationExplorer(model, image), CamExplorer(model, image)
    rng = np.random.default_rng(3)
    images = [np.clip(image + rng.normal(0, 30, image.shape), 0, 255).astype(np.float32) for _ in range(8)]

    def render(i):
        if i % 10 == 0:  # a new image now and then: the engines run again, caches refill
            act.image = cam.image = images[(i // 10) % len(images)]
        act.layer, act.view, act.channel = act.layers[i % 3], ("channel", "grid")[i % 2], i % 8
        cam.layer, cam.class_index = cam.layers[(i // 3) % 3], i % 4
        drawn = len(recorder.draws)
        recorder.draws.clear()  # the recorder keeps decoded frames; keep only this step's
        return drawn

    for i in range(60):  # warm-up: every layer, class, view and image once, TF traced
        render(i)
    gc.collect()
    start = rss_bytes()
    frames = sum(render(i) for i in range(RENDERS))
    gc.collect()
    growth = (rss_bytes() - start) / 2**20
    record_figure("memory", f"{RENDERS} render steps ({frames} frames) after warm-up: resident memory grew {growth:+.1f} MB (limit 50 MB)")
    assert act.last_error is None and cam.last_error is None
    assert frames >= 2 * RENDERS
    assert growth < 50


def test_the_memory_measure_sees_a_leak():
    """The RSS figure above is able to fail: 64 MB kept alive show up as >= 50 MB."""
    gc.collect()
    start = rss_bytes()
    leak = np.ones(64 * 2**20, dtype=np.uint8)
    assert (rss_bytes() - start) / 2**20 >= 50
    del leak

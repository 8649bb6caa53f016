"""FilterExplorer: background runs, live frames, Stop within one step, the pattern cache."""

import threading

import numpy as np
import pytest

from convviz_widgets import ConvVizError, FilterPatterns
from convviz_widgets.engines.feature_vis import CLASSIC
from convviz_widgets.render.frames import fit_size
from convviz_widgets.render.patterns import pattern_grid
from convviz_widgets.widgets import FilterExplorer
from convviz_widgets.widgets.pattern_runner import Settings


def single_frame(explorer, image):
    return fit_size(pattern_grid([image], cols=1, pad=0, size=explorer.size)[0], explorer.display_size)


@pytest.fixture
def fx(recorder, model):
    ex = FilterExplorer(model, live_interval=0.0)
    ex.steps = 5
    ex.size = 32
    yield ex
    ex.stop()
    ex.wait(10)


def spy_generate(explorer, layer, before_step=None):
    """Wrap the layer's engine: record every call and every step the callback saw."""
    engine = explorer._engine(layer)
    calls, steps = [], []
    generate = engine.generate

    def spy(filters, callback=None, **kwargs):
        calls.append(list(filters))

        def wrapped(step, images):
            steps.append(step)
            if before_step is not None:
                before_step(step)
            return callback(step, images)

        return generate(filters, callback=wrapped, **kwargs)

    engine.generate = spy
    return calls, steps


def test_defaults_and_any_pattern_size(recorder, model):
    ex = FilterExplorer(model)
    # The model's input is fixed at 32 px, yet the engine optimizes at any size up to a layer.
    assert ex.layer == "c1" and ex.size == 64 and not ex.size_box.disabled
    ex.size = 100
    assert ex.size == 100 and ex.size_box.value == 100
    ex.size = 5000
    assert ex.size == FilterExplorer.SIZES[1]
    assert ex.frame is not None  # a placeholder before anything runs


def test_single_run_draws_live_and_ends_on_the_engine_result(recorder, fx, model):
    engine = FilterPatterns(model, "c1")
    # a filter with a gradient (a dead one stays flat gray, and unchanged frames are not resent)
    live = next(f for f in range(8) if engine.generate([f], size=32, steps=1).std() > 0)
    fx.filter_index = live
    thread = fx.run()
    assert isinstance(thread, threading.Thread) and thread.daemon
    assert fx.wait(30)
    want = engine.generate([live], size=32, steps=5, step_size=1.0, seed=0)[0]
    np.testing.assert_array_equal(fx.cache[Settings("c1", 5, 1.0, 32, 0, CLASSIC).key(live)], want)
    frames = recorder.frames(fx.canvas)
    assert len(frames) >= 5  # live frames during the run, live_interval=0
    np.testing.assert_array_equal(frames[-1], single_frame(fx, want))
    assert fx.progress.value == fx.progress.max == 5 and fx.progress.description == "done"
    assert not fx.run_button.disabled and fx.stop_button.disabled


def test_stop_takes_effect_within_one_step(fx):
    fx.steps = 200
    reached, stopped = threading.Event(), threading.Event()

    def pause_at_step_3(step):
        if step == 3:
            reached.set()
            stopped.wait(10)  # the main thread presses Stop now

    _, steps = spy_generate(fx, "c1", before_step=pause_at_step_3)
    fx.run()
    assert reached.wait(30)
    fx.stop_button.click()
    stopped.set()
    assert fx.wait(10)
    assert steps == [1, 2, 3]
    assert fx.progress.description == "stopped" and fx.cache == {}
    assert not fx.run_button.disabled


def test_cached_filters_are_instant_without_an_engine_call(recorder, fx):
    fx.run_sync()
    calls, _ = spy_generate(fx, "c1")
    frame = fx.frame
    fx.filter_index = 1
    fx.filter_index = 0  # back to the computed filter: drawn from the cache
    assert fx.run() is None
    assert calls == []
    np.testing.assert_array_equal(recorder.last(fx.canvas), frame)


def test_grid_fills_a_page_and_runs_only_the_missing_filters(recorder, fx, model):
    fx.layer = "c2"  # 12 filters: one page of 12
    fx.filter_index = 5
    fx.run_sync()
    calls, _ = spy_generate(fx, "c2")
    fx.mode = "grid"
    assert fx.page_filters() == tuple(range(12))
    placeholder = recorder.last(fx.canvas)
    fx.run_sync()
    assert calls == [[f for f in range(12) if f != 5]]
    engine = FilterPatterns(model, "c2")
    want = engine.generate(list(range(12)), size=32, steps=5, seed=0)
    images = [fx.cache[Settings("c2", 5, 1.0, 32, 0, CLASSIC).key(f)] for f in range(12)]
    np.testing.assert_array_equal(np.stack(images), want)  # noise depends on (seed, f) only
    frame, layout = pattern_grid(images, cols=8, pad=2, highlight=5, size=32)
    np.testing.assert_array_equal(recorder.last(fx.canvas), frame)
    assert not np.array_equal(placeholder, frame)
    # a click on a cell selects that filter
    y, x = layout.cell_origin(9)
    fx.canvas._handle_frontend_event(None, {"event": "mouse_down", "x": x + 1, "y": y + 1}, [])
    assert fx.filter_index == fx.filter_slider.value == 9


def test_controls_equal_traits_and_clamp(fx):
    fx.filter_slider.set_state({"value": 6})
    fx.steps_box.set_state({"value": 12})
    fx.mode_toggle.set_state({"index": 1})
    assert (fx.filter_index, fx.steps, fx.mode) == (6, 12, "grid")
    fx.filter_index = 50
    assert fx.filter_index == fx.filter_slider.value == 7
    fx.steps = 0
    assert fx.steps == 1
    fx.page = 4
    assert fx.page == 0
    with pytest.raises(ConvVizError):
        fx.layer = "c9"
    assert "c9" in fx.status.value and fx.layer == "c1"


def test_kernel_stays_free_and_no_stale_frame_after_a_burst(recorder, fx):
    """While a run goes on, the main thread keeps changing traits; the last frame drawn is the
    final state's, never a live frame of a view the user already left."""
    fx.steps = 60
    fx.mode = "grid"
    started = threading.Event()
    spy_generate(fx, "c1", before_step=lambda step: started.set())
    fx.run()
    assert started.wait(30)
    rng = np.random.default_rng(1)
    for _ in range(50):
        choice = rng.integers(3)
        if choice == 0:
            fx.filter_index = int(rng.integers(0, 8))
        elif choice == 1:
            fx.mode = ("single", "grid")[rng.integers(2)]
        else:
            fx.layer = ("c1", "p1")[rng.integers(2)]
    fx.layer, fx.mode = "p1", "single"
    assert fx.wait(60)
    np.testing.assert_array_equal(recorder.last(fx.canvas), fx._render())
    np.testing.assert_array_equal(fx.frame, fx._render())
    assert len(fx.cache) == 8  # the c1 grid run finished in the background


def test_engine_error_shows_in_status_and_run_works_again(fx, monkeypatch):
    engine = fx._engine("c1")

    def broken(*args, **kwargs):
        raise ConvVizError("filters: something the user can fix")

    monkeypatch.setattr(engine, "generate", broken)
    fx.run()
    assert fx.wait(10)
    assert "something the user can fix" in fx.status.value
    assert not fx.run_button.disabled
    monkeypatch.undo()
    fx.run_sync()
    assert fx.status.value == "" and len(fx.cache) == 1


# -- recipes, class patterns, the first view (issues 11 and 13) ----------------------------------


def test_fourier_recipe_from_the_dropdown_is_cached_under_its_recipe(recorder, fx, model):
    from convviz_widgets.engines.feature_vis import FOURIER

    fx.recipe_dropdown.set_state({"index": 1})
    assert fx.recipe == "fourier" and fx.settings().recipe == FOURIER
    fx.run_sync()
    want = FilterPatterns(model, "c1").generate([0], size=32, steps=5, recipe="fourier")[0]
    np.testing.assert_array_equal(fx.cache[Settings("c1", 5, 1.0, 32, 0, FOURIER).key(0)], want)
    np.testing.assert_array_equal(recorder.last(fx.canvas), single_frame(fx, want))
    calls, _ = spy_generate(fx, "c1")
    fx.recipe = "classic"  # another recipe, another key: not computed yet
    assert fx.run() is not None and fx.wait(30) and calls == [[0]]
    assert len(fx.cache) == 2


def test_class_target_fills_a_grid_of_all_classes(recorder, fx, model):
    from convviz_widgets import ClassPatterns
    from convviz_widgets.engines.feature_vis import FOURIER
    from convviz_widgets.widgets.pattern_runner import CLASSES

    fx.target_toggle.set_state({"index": 1})
    fx.mode, fx.recipe, fx.filter_index = "grid", "fourier", 9
    assert fx.target == "classes" and fx.layer_dropdown.disabled
    assert fx.page_filters() == (0, 1, 2, 3) and fx.filter_index == 3  # 4 classes, clamped
    calls, steps = spy_generate(fx, CLASSES)
    fx.run_sync()
    assert calls == [[0, 1, 2, 3]] and steps == [1, 2, 3, 4, 5]
    want = ClassPatterns(model).generate([0, 1, 2, 3], size=32, steps=5, recipe="fourier")
    got = np.stack([fx.cache[Settings(CLASSES, 5, 1.0, 32, 0, FOURIER).key(k)] for k in range(4)])
    np.testing.assert_array_equal(got, want)
    frame = pattern_grid(list(want), cols=8, pad=2, highlight=3, size=32)[0]
    np.testing.assert_array_equal(recorder.last(fx.canvas), frame)
    assert len(recorder.frames(fx.canvas)) >= 5  # it filled in live


def test_a_cheap_first_view_runs_at_once(recorder, model):
    ex = FilterExplorer(model, live_interval=0.0, autorun_seconds=30.0)
    assert ex.wait(60) and ex.progress.description == "done"
    want = FilterPatterns(model, "c1").generate([0], size=64, steps=40)[0]
    np.testing.assert_array_equal(ex.cache[ex.key(0)], want)
    np.testing.assert_array_equal(recorder.last(ex.canvas), single_frame(ex, want))


def test_an_expensive_view_says_what_run_will_do(recorder, model):
    from convviz_widgets.engines.feature_vis.cost import estimate_seconds, forward_flops
    from convviz_widgets.render.patterns import caption

    ex = FilterExplorer(model, autorun_seconds=1e-9)  # every view counts as expensive here
    assert not ex.running and ex.cache == {}
    ex.layer, ex.mode = "c2", "grid"
    engine = ex._engine("c2")
    # FLOPs of c1 (3x3x3 -> 8 on 62x62) + c2 (own filter: 3x3x8 depthwise on 29x29), x2
    assert forward_flops(engine, 64) == 2 * (62 * 62 * 8 * 27 + 29 * 29 * 8 * 9 + 0)
    seconds = estimate_seconds(engine, 12, 64, 40)
    lines = ["Run: 12 filters of c2", "40 steps, 64 px, classic",
             f"about {seconds:.0f} s" if seconds >= 1.5 else "about a second or less"]
    blank = pattern_grid([None] * 12, cols=8, pad=2, highlight=0, size=64)[0]
    np.testing.assert_array_equal(recorder.last(ex.canvas), caption(blank, lines))
    assert (recorder.last(ex.canvas) != blank).any()


def test_a_diverging_run_shows_the_error_and_keeps_the_last_finite_frame(recorder, fx, model):
    fx.step_size = 100.0
    engine = fx._engine("c1")
    real = engine.generate

    def overflowing(filters, **kwargs):  # the step size the widget allows cannot overflow
        return real(filters, **{**kwargs, "step_size": 1e38})

    engine.generate = overflowing
    fx.steps = 50
    fx.filter_index = next(f for f in range(8) if real([f], size=32, steps=1).std() > 0)
    fx.run_sync()
    assert "diverged at step" in fx.status.value and fx.progress.description == "stopped"
    kept = fx.partial[fx.key(fx.filter_index)]
    assert kept.dtype == np.uint8 and fx.cache == {}
    np.testing.assert_array_equal(recorder.last(fx.canvas), single_frame(fx, kept))
    assert not fx.run_button.disabled


def test_classes_target_needs_a_classifier(recorder, keras):
    inp = keras.Input((16, 16, 3))
    body = keras.Model(inp, keras.layers.Conv2D(4, 3, name="conv")(inp))
    ex = FilterExplorer(body)
    assert [v for _, v in ex.target_toggle.options] == ["filters"]
    with pytest.raises(ConvVizError, match="'classes' needs a classifier"):
        ex.target = "classes"
    assert ex.target == "filters" and "needs a classifier" in ex.status.value

"""CamExplorer with the CAM family: every method's frame and the compare view equal the engines
and render; the faithfulness readout equals engines.metrics and is never shown stale; Score-CAM
fills in live, stops and resumes; a new image runs the model once."""

import threading

import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets import CAM_METHODS, ConvVizError
from convviz_widgets.engines import metrics
from convviz_widgets.render import (
    compare_frame,
    curve_plot,
    fit_size,
    heatmap_frame,
    overlay,
    tile,
    upscale,
)
from convviz_widgets.render.compare import METHOD_LABELS
from convviz_widgets.widgets import CamExplorer

from .conftest import SIZE, decode_png


def single_frame(image, heat, centres, alpha=0.4, colormap="jet", size=300, pad=4):
    left = fit_size(overlay(image, heat, alpha, colormap, centres=centres), size)
    right = upscale(heatmap_frame(heat, colormap), left.shape[:2])
    return tile([left, right], cols=2, pad=pad)[0]


def oracle(model, method, image, k, layer="c2", **options):
    engine = cvw.cam(model, method, layer=layer, **options)
    heat = engine.compute(image, class_index=k)
    return heat, engine.centres


@pytest.fixture
def quiet(recorder, model, image):
    """An explorer without the readout (its own tests below), Score-CAM in 2-channel batches."""
    ex = CamExplorer(model, image, readout=False, live_interval=0.0,
                     options={"scorecam": {"batch_size": 2}})  # fmt: skip
    yield ex
    ex.stop()
    assert ex.wait(30)


def test_every_method_draws_its_engines_map(recorder, quiet, model, image):
    assert [v for _, v in quiet.method_dropdown.options] == list(CAM_METHODS)
    k = (quiet.class_index + 1) % 4
    quiet.class_index = k
    for method in CAM_METHODS:
        quiet.method = method
        assert quiet.wait(30)
        heat, centres = oracle(model, method, image, k)
        np.testing.assert_array_equal(quiet.heatmap, heat, err_msg=method)
        np.testing.assert_array_equal(recorder.last(quiet.canvas), single_frame(image, heat, centres))
        assert quiet.method_dropdown.value == method and quiet.status.value == ""
    maps = [oracle(model, m, image, k)[0] for m in CAM_METHODS]
    assert len({m.tobytes() for m in maps}) >= 4  # the methods do differ on this model


def test_compare_view_one_row_same_class(recorder, quiet, model, image):
    quiet.method = "layercam"
    quiet.view_toggle.set_state({"index": 1})  # the control, as the browser sends it
    assert quiet.view == "compare" and quiet.wait(30)
    k = quiet.class_index
    entries = [oracle(model, m, image, k) for m in CAM_METHODS]
    want, layout = compare_frame(
        image, [e[0] for e in entries], [METHOD_LABELS[m] for m in CAM_METHODS],
        centres=[e[1] for e in entries], size=200, pad=4, highlight=CAM_METHODS.index("layercam"),
    )  # fmt: skip
    np.testing.assert_array_equal(recorder.last(quiet.canvas), want)
    assert (layout.n, layout.rows) == (7, 1)
    # a click on a panel selects its method; fewer methods from code: the row shrinks
    y, x = layout.cell_origin(1)
    quiet._on_mouse_down(x + 5, y + 5)
    assert quiet.method == "gradcam++"
    quiet.compare = ("eigencam", "gradcam")
    sub = [entries[CAM_METHODS.index(m)] for m in quiet.compare]
    want, _ = compare_frame(image, [e[0] for e in sub], ["EigenCAM", "Grad-CAM"],
                            centres=[e[1] for e in sub], size=200, pad=4)  # fmt: skip
    np.testing.assert_array_equal(recorder.last(quiet.canvas), want)


def test_bad_method_and_compare_are_reported_and_the_widget_stays_usable(quiet):
    with pytest.raises(ConvVizError, match="method: expected one of 'gradcam'"):
        quiet.method = "gradcam3"
    assert "method: expected one of" in quiet.status.value and quiet.method == "gradcam"
    with pytest.raises(ConvVizError, match="compare"):
        quiet.compare = ()
    with pytest.raises(ConvVizError, match="compare"):
        quiet.compare = ("gradcam", "nope")
    quiet.method = "xgradcam"
    assert quiet.status.value == "" and quiet.method == "xgradcam"


def test_bad_engine_options_and_layers_show_in_the_status_line(recorder, model, nested_model, image):
    ex = CamExplorer(model, image, readout=False, options={"scorecam": {"max_channels": 99}})
    ex.method = "scorecam"
    assert ex.wait(30) and not ex.running
    assert "max_channels: expected None or an integer in 1..12" in ex.status.value
    ex.method = "layercam"  # usable: the next method draws and the error is gone
    assert ex.status.value == ""
    heat, centres = oracle(model, "layercam", image, ex.class_index)
    np.testing.assert_array_equal(recorder.last(ex.canvas), single_frame(image, heat, centres))
    one = CamExplorer(nested_model, image, readout=False)
    one.layer = "base/inner2"
    with pytest.raises(ConvVizError):
        one.layer = "base/nope"
    assert "layer: expected one of" in one.status.value


def count_images(keras):
    """The widgets' tiny model behind a layer that counts the images going through it."""
    import tensorflow as tf

    seen = []

    class Count(keras.layers.Layer):
        def call(self, x):
            n = tf.py_function(lambda t: seen.append(int(t.shape[0])) or 0, [x], tf.int32)
            with tf.control_dependencies([n]):
                return tf.identity(x)

    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = Count(name="count")(inp)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(12, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(4, activation="softmax", name="probs")(x)
    return keras.Model(inp, out), seen


def test_a_new_image_runs_the_model_once(recorder, keras, image, image2):
    model, seen = count_images(keras)
    ex = CamExplorer(model, image, readout=False)
    assert seen == [1]  # top predictions and the map from one forward pass
    top = cvw.predict_top(model, image2, k=4)
    seen.clear()
    ex.image = image2
    assert seen == [1]
    assert [(i, round(p, 6)) for i, _, p in ex.top] == [(i, round(p, 6)) for i, _, p in top]
    ex.class_index = top[1][0]  # a class switch runs only the head
    assert seen == [1]


def test_readout_equals_the_metrics_functions(recorder, model, image):
    ex = CamExplorer(model, image)
    ex.readout_steps = 10
    assert ex.wait(60)
    k, heat = ex.class_index, ex.heatmap
    got = ex.faithfulness
    deletion = metrics.deletion(model, image, heat, k, steps=10)
    insertion = metrics.insertion(model, image, heat, k, steps=10)
    drop, increased = metrics.average_drop(model, image, heat, k)
    for mine, want in ((got.deletion, deletion), (got.insertion, insertion)):
        np.testing.assert_array_equal(mine.fractions, np.arange(11) / 10)  # i / steps
        np.testing.assert_allclose(mine.probabilities, want.probabilities, rtol=1e-6, atol=1e-7)
        assert mine.auc == pytest.approx(want.auc, abs=1e-6)
    assert got.average_drop == pytest.approx(drop, abs=1e-6) and got.increased == increased
    text = ex.readout_html.value
    assert f"deletion AUC <b>{deletion.auc:.3f}</b>" in text
    assert f"insertion AUC <b>{insertion.auc:.3f}</b>" in text
    assert f"average drop <b>{100 * drop:.1f}%</b>" in text
    plot = curve_plot([(f"deletion AUC {deletion.auc:.3f}", deletion.fractions, deletion.probabilities),
                       (f"insertion AUC {insertion.auc:.3f}", insertion.fractions, insertion.probabilities)])
    np.testing.assert_array_equal(ex.curve_frame, plot)
    np.testing.assert_array_equal(decode_png(ex.curve_image.value), plot)
    ex.readout = False  # off: nothing shown
    assert ex.readout_html.value == "" and ex.curve_frame is None
    ex.readout_checkbox.set_state({"value": True})  # back on: the cached result at once
    assert ex.faithfulness is got and ex.curve_frame is not None


def test_a_stale_readout_is_never_shown(recorder, model, image, monkeypatch):
    ex = CamExplorer(model, image, readout=False)
    ex.readout_steps = 5
    first, release, calls = threading.Event(), threading.Event(), []
    real = metrics.average_drop

    def slow(*args, **kwargs):
        calls.append(args[3])
        if len(calls) == 1:  # the first map's readout: hold it until the class has changed
            first.set()
            assert release.wait(30)
            return 0.987654, True
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "average_drop", slow)
    shown = []
    ex.readout_html.observe(lambda change: shown.append(change["new"]), "value")
    start = ex.class_index
    ex.readout = True
    assert first.wait(30)
    other = (start + 1) % 4
    ex.class_index = other  # while the first readout is still being computed ...
    heat, centres = oracle(model, "gradcam", image, other)
    np.testing.assert_array_equal(recorder.last(ex.canvas), single_frame(image, heat, centres))
    assert "computing" in ex.readout_html.value  # ... the map did not wait for it
    release.set()
    assert ex.wait(60)
    assert calls[0] == start and calls[-1] == other
    assert not any("98.8%" in text for text in shown)  # the old state's result never appeared
    drop, _ = real(model, image, ex.heatmap, other)
    assert ex.faithfulness.average_drop == pytest.approx(drop, abs=1e-6)
    assert f"{100 * drop:.1f}%" in ex.readout_html.value


def test_redraws_during_a_readout_do_not_compute_it_again(recorder, model, image, monkeypatch):
    ex = CamExplorer(model, image, readout=False)
    ex.readout_steps = 5
    started, release, calls = threading.Event(), threading.Event(), []
    real = metrics.deletion

    def slow(*args, **kwargs):
        calls.append(args[3])
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "deletion", slow)
    ex.readout = True
    assert started.wait(30)
    ex.alpha, ex.colormap = 0.6, "viridis"  # same map, same readout: redrawn, not recomputed
    release.set()
    assert ex.wait(60) and calls == [ex.class_index]
    assert ex.faithfulness.deletion.auc == pytest.approx(real(model, image, ex.heatmap, ex.class_index, steps=5).auc)


def test_readout_errors_go_to_the_status_line(recorder, model, image, monkeypatch):
    ex = CamExplorer(model, image, readout=False)
    monkeypatch.setattr(metrics, "deletion", lambda *a, **k: (_ for _ in ()).throw(
        ConvVizError("heatmap: injected")))  # fmt: skip
    ex.readout = True
    assert ex.wait(30)
    assert "heatmap: injected" in ex.status.value and "failed" in ex.readout_html.value
    monkeypatch.undo()
    ex.class_index = (ex.class_index + 1) % 4  # still usable; the next readout works
    assert ex.wait(60) and ex.faithfulness is not None and ex.status.value == ""


def spy_scorecam(explorer, on_callback=None):
    """Record each partial map the Score-CAM engine hands the widget's callback."""
    engine = explorer._engine(explorer.layer, "scorecam")
    partials = []
    compute = engine.compute

    def spy(img, class_index=None, callback=None):
        def wrapped(done, total, partial):
            partials.append((done, total, np.array(partial)))
            if on_callback is not None:
                on_callback(done)
            return callback(done, total, partial)

        return compute(img, class_index=class_index, callback=wrapped)

    engine.compute = spy
    return engine, partials


def test_scorecam_fills_in_live_and_keeps_the_kernel_free(recorder, quiet, model, image):
    gate, reached, calls = threading.Event(), threading.Event(), []

    def hold(done):
        calls.append(done)
        if len(calls) == 2:  # after the second masked batch: wait for the main thread
            reached.set()
            assert gate.wait(30)

    engine, partials = spy_scorecam(quiet, hold)
    quiet.method = "scorecam"  # returns at once: the map is computed in the background
    assert reached.wait(30) and quiet.running
    quiet.alpha = 0.7  # the kernel is free: another control works meanwhile
    assert quiet.alpha_slider.value == 0.7 and quiet.stop_button.disabled is False
    gate.set()
    assert quiet.wait(30) and quiet.progress.description == "done"
    dones = [d for d, _, _ in partials]  # 12 channels in batches of 2 (dead ones share one)
    assert len(dones) >= 4 and dones == sorted(set(dones)) and dones[-1] == 12
    assert {t for _, t, _ in partials} == {12}
    frames = [f for f in recorder.frames(quiet.canvas)]
    centres = engine.centres
    for i, (done, _, partial) in enumerate(partials[:-1]):  # every partial map reached the canvas
        want = single_frame(image, partial, centres, alpha=0.4 if i == 0 else 0.7)  # 2nd: after the hold
        assert any(np.array_equal(f, want) for f in frames), done
    heat, _ = oracle(model, "scorecam", image, quiet.class_index, batch_size=2)
    np.testing.assert_array_equal(frames[-1], single_frame(image, heat, centres, alpha=0.7))


def test_scorecam_stop_keeps_the_partial_map_and_run_completes_it(recorder, quiet, model, image):
    stops = []

    def stop_once(done):  # the user presses Stop during the first run, after two batches
        stops.append(done)
        if len(stops) == 2:
            quiet.stop_button.click()

    _, partials = spy_scorecam(quiet, stop_once)
    quiet.readout = True
    quiet.method = "scorecam"
    assert quiet.wait(30)
    assert quiet.progress.description == "stopped" and not quiet.running
    assert not quiet.run_button.disabled and quiet.stop_button.disabled
    assert "stopped map" in quiet.readout_html.value and quiet.faithfulness is None
    centres = quiet.centres
    stopped = recorder.last(quiet.canvas)
    np.testing.assert_array_equal(stopped, single_frame(image, partials[-1][2], centres))
    quiet.class_index = quiet.class_index  # nothing restarts it by itself
    assert not quiet.running
    quiet.run_button.click()
    assert quiet.wait(60) and quiet.progress.description == "done"
    heat, _ = oracle(model, "scorecam", image, quiet.class_index, batch_size=2)
    np.testing.assert_array_equal(recorder.last(quiet.canvas), single_frame(image, heat, centres))
    assert quiet.faithfulness is not None  # the complete map gets its readout


def test_scorecam_in_the_compare_view_and_a_class_switch_during_the_run(recorder, quiet, model, image):
    quiet.compare = ("gradcam", "scorecam")
    quiet.view = "compare"
    quiet.class_index = other = (quiet.class_index + 1) % 4  # supersedes the running job
    assert quiet.wait(60)
    entries = [oracle(model, "gradcam", image, other),
               oracle(model, "scorecam", image, other, batch_size=2)]  # fmt: skip
    want, _ = compare_frame(image, [e[0] for e in entries], ["Grad-CAM", "Score-CAM"],
                            centres=[e[1] for e in entries], size=200, pad=4, highlight=0)
    np.testing.assert_array_equal(recorder.last(quiet.canvas), want)


def test_a_class_switch_during_scorecam_restarts_it_for_the_new_class(recorder, quiet, model, image):
    gate, reached, calls = threading.Event(), threading.Event(), []

    def hold(done):
        calls.append(done)
        if len(calls) == 1:  # the first run, after its first batch: the user picks another class
            reached.set()
            assert gate.wait(30)

    engine, _ = spy_scorecam(quiet, hold)
    quiet.method = "scorecam"
    assert reached.wait(30)
    first = quiet.class_index
    quiet.class_index = other = (first + 1) % 4  # supersedes the run for `first`
    gate.set()
    assert quiet.wait(60) and quiet.progress.description == "done"
    heat, _ = oracle(model, "scorecam", image, other, batch_size=2)
    np.testing.assert_array_equal(quiet.heatmap, heat)
    np.testing.assert_array_equal(recorder.last(quiet.canvas), single_frame(image, heat, engine.centres))
    assert ("scorecam", "c2", first) not in quiet._heatmaps  # the stopped run left nothing behind


def test_scorecam_in_bfloat16_through_the_explorer_options(recorder, model, image):
    ex = CamExplorer(model, image, readout=False, options={"scorecam": {"precision": "bfloat16"}})
    ex.method = "scorecam"
    assert ex.wait(30) and ex.status.value == ""
    heat, centres = oracle(model, "scorecam", image, ex.class_index, precision="bfloat16")
    np.testing.assert_array_equal(ex.heatmap, heat)  # the same twin, the same map
    np.testing.assert_array_equal(recorder.last(ex.canvas), single_frame(image, heat, centres))
    exact, _ = oracle(model, "scorecam", image, ex.class_index)
    assert np.corrcoef(heat.ravel(), exact.ravel())[0, 1] > 0.99

"""The ``convviz-widgets`` command: PNG figures checked against the engines and render
functions pixel for pixel, one-line errors with an exit status, and the Voilà demo."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import convviz_widgets as cvw
from convviz_widgets import cli, render

ENTRY_POINT = Path(sys.executable).with_name("convviz-widgets")
ERROR_LINE = re.compile(r"^convviz-widgets(?: [a-z ]+)?: error: \S.*$")


@pytest.fixture(scope="module")
def model():
    return cvw.load_model()


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGBA"))


def run(argv, capsys) -> tuple[int, list[str], list[str]]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_activations_one_grid_per_layer(model, tmp_path, capsys):
    code, out, err = run(["render", "activations", "--image", "cat", "--out", tmp_path], capsys)
    assert code == 0, err
    layers = cvw.conv_layers(model)
    written = [Path(line) for line in out]
    assert [p.name for p in written] == [f"cat_activations_{name}.png" for name in layers]
    assert all(p.parent == tmp_path for p in written)

    maps = cvw.Activations(model).compute(cvw.sample_image("cat"))
    for path, (name, fmap) in zip(written, maps.items()):
        h, w, c = fmap.shape
        cell = h * -(-64 // h)  # integer upscale to >= --cell-size 64
        expected, _ = render.grid_frame(fmap, cols=min(16, c), cell_size=cell)
        np.testing.assert_array_equal(png(path), expected, err_msg=name)
    first = png(written[0])
    assert len(np.unique(first.reshape(-1, 4), axis=0)) > 50  # a picture, not a flat frame


def test_activations_single_layer_and_cell_size(model, tmp_path, capsys):
    layer = cvw.conv_layers(model)[-1]
    argv = ["render", "activations", "--image", "star", "--layer", layer, "--cols", "8",
            "--cell-size", "20", "--out", tmp_path / "new" / "dir"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert out == [str(tmp_path / "new" / "dir" / f"star_activations_{layer}.png")]
    h, w, c = cvw.Activations(model, layers=layer).compute(cvw.sample_image("star"))[layer].shape
    cell = h * -(-20 // h)
    rows = -(-c // 8)
    assert png(out[0]).shape == (rows * (cell + 1) + 1, 8 * (cell + 1) + 1, 4)


def test_gradcam_overlay_heatmap_and_top3(model, tmp_path, capsys):
    code, out, err = run(["render", "gradcam", "--image", "star", "--out", tmp_path], capsys)
    assert code == 0, err
    img = cvw.sample_image("star")
    top = cvw.predict_top(model, img, k=3)
    assert out[0] == "top predictions:"
    for line, (index, label, _) in zip(out[1:4], top):
        assert f"{label} (class {index})" in line
    k, label = top[0][0], top[0][1]
    overlay_path, heatmap_path = Path(out[-2]), Path(out[-1])
    assert overlay_path.name == f"star_gradcam_{k}-{label}.png"
    assert heatmap_path.name == f"star_gradcam_{k}-{label}_heatmap.png"

    engine = cvw.GradCAM(model)
    heatmap = engine.compute(img)
    shown = png(overlay_path)
    assert engine.centres is not None  # the default model's cells are placed where they look
    np.testing.assert_array_equal(shown, render.overlay(img, heatmap, 0.4, centres=engine.centres))
    assert np.abs(shown[..., :3].astype(float) - img).mean() > 5  # the heatmap is visible
    raw = png(heatmap_path)
    assert raw.shape[0] >= img.shape[0] // 2 and raw.shape[0] % heatmap.shape[0] == 0
    assert len(np.unique(raw.reshape(-1, 4), axis=0)) > 3


def test_gradcam_class_by_name_and_the_tutorials_blend(model, tmp_path, capsys):
    names = cvw.class_names(model)
    img = cvw.sample_image("cat")
    argv = ["render", "gradcam", "--class", names[1].upper(), "--blend", "additive",
            "--score", "probability", "--out", tmp_path]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    heatmap = cvw.GradCAM(model, score="probability").compute(img, class_index=1)
    assert Path(out[-2]).name.startswith("cat_gradcam_1-")
    np.testing.assert_array_equal(png(out[-2]), render.superimpose_additive(img, heatmap))


def test_gradcam_other_method(model, tmp_path, capsys):
    argv = ["render", "gradcam", "--image", "star", "--method", "gradcam++", "--class", "2",
            "--out", tmp_path]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    img = cvw.sample_image("star")
    engine = cvw.cam(model, "gradcam++")
    heatmap = engine.compute(img, class_index=2)
    label = cvw.class_names(model)[2]
    assert [Path(p).name for p in out[-2:]] == [f"star_gradcampp_2-{label}.png",
                                                f"star_gradcampp_2-{label}_heatmap.png"]
    np.testing.assert_array_equal(png(out[-2]), render.overlay(img, heatmap, 0.4, centres=engine.centres))
    assert out[4] == f"Grad-CAM++ of class 2 ({label}) at layer {engine.layer}"
    probs = engine.probabilities  # the top-3 lines come from the CAM engine's forward pass
    assert out[1].endswith(f"(class {int(np.argmax(probs))}): {probs.max():.1%}")


def test_gradcam_scorecam_bfloat16(model, tmp_path, capsys):
    layer = cvw.conv_layers(model)[0]  # 32 channels: a short Score-CAM
    argv = ["render", "gradcam", "--image", "star", "--method", "scorecam", "--precision",
            "bfloat16", "--class", "3", "--layer", layer, "--out", tmp_path]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    img = cvw.sample_image("star")
    engine = cvw.cam(model, "scorecam", layer=layer, precision="bfloat16")
    heatmap = engine.compute(img, class_index=3)
    np.testing.assert_array_equal(png(out[-2]), render.overlay(img, heatmap, 0.4, centres=engine.centres))
    full = cvw.cam(model, "scorecam", layer=layer).compute(img, class_index=3)
    assert np.corrcoef(heatmap.ravel(), full.ravel())[0, 1] > 0.99  # bfloat16 passes, same map
    assert not np.array_equal(heatmap, full)  # ... but they did run in bfloat16

    code, _, err = run(["render", "gradcam", "--image", "star", "--precision", "bfloat16",
                        "--out", tmp_path], capsys)  # fmt: skip
    assert code == 1
    assert err == ["convviz-widgets: error: --precision bfloat16: only Score-CAM's "
                   "masked passes have a precision; expected --method scorecam (or all), got "
                   "--method gradcam"]


def test_gradcam_all_methods_and_metrics(model, tmp_path, capsys):
    layer = cvw.conv_layers(model)[0]  # 32 channels: a short Score-CAM
    argv = ["render", "gradcam", "--image", "star", "--method", "all", "--metrics",
            "--metric-steps", "5", "--layer", layer, "--out", tmp_path]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    img = cvw.sample_image("star")
    engines = [cvw.cam(model, m, layer=layer) for m in cvw.CAM_METHODS]
    k = engines[0].top_classes(img, 1)[0]
    maps = [e.compute(img, class_index=k) for e in engines]
    label = cvw.class_names(model)[k]
    assert out[-1] == str(tmp_path / f"star_cam-compare_{k}-{label}.png")
    want, layout = render.compare_frame(
        img, maps, [render.method_label(m) for m in cvw.CAM_METHODS],
        centres=[e.centres for e in engines], size=150, pad=4,
    )  # fmt: skip
    assert layout.n == layout.cols == 7
    np.testing.assert_array_equal(png(out[-1]), want)
    assert f"faithfulness of class {k} ({label}), 5 steps:" in out
    lines = out[out.index(f"faithfulness of class {k} ({label}), 5 steps:") + 1 : -1]
    assert len(lines) == 7
    for line, method, heat in zip(lines, cvw.CAM_METHODS, maps, strict=True):
        d = cvw.metrics.deletion(model, img, heat, k, steps=5).auc
        i = cvw.metrics.insertion(model, img, heat, k, steps=5).auc
        drop, rose = cvw.metrics.average_drop(model, img, heat, k)
        assert line == (f"  {render.method_label(method)}: deletion AUC {d:.4f}, insertion AUC "
                        f"{i:.4f}, average drop {100 * drop:.2f}%" + (" (the probability rose)" if rose else ""))


def test_filters_grid(model, tmp_path, capsys):
    argv = ["render", "filters", "--count", "8", "--size", "32", "--steps", "5", "--out", tmp_path]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    layer = cvw.conv_layers(model)[0]
    assert out == [str(tmp_path / f"filters_{layer}.png")]
    grid = png(out[0])
    assert grid.shape == (2 + 34, 2 + 8 * 34, 4)  # 8 patterns of 32 px, 2 px apart, one row
    expected = cvw.FilterPatterns(model, layer).generate(range(8), size=32, steps=5)
    np.testing.assert_array_equal(grid, render.pattern_grid(expected, cols=8, pad=2)[0])
    cells = [grid[2:34, 2 + 34 * i : 34 + 34 * i, :3] for i in range(8)]
    lively = [c for c in cells if c.std() > 1]  # a dead filter gets a flat pattern
    assert len(lively) >= 1
    assert len({c.tobytes() for c in lively}) == len(lively)  # each filter has its own pattern


def test_filters_fourier_and_class_patterns(model, tmp_path, capsys):
    argv = ["render", "filters", "--layer", "conv2d_2", "--count", "4", "--size", "32",
            "--steps", "3", "--recipe", "fourier", "--out", tmp_path]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out == [str(tmp_path / "filters_conv2d_2_fourier.png")]
    expected = cvw.FilterPatterns(model, "conv2d_2").generate(range(4), size=32, steps=3, recipe="fourier")
    np.testing.assert_array_equal(png(out[0]), render.pattern_grid(expected, cols=8, pad=2)[0])

    argv = ["render", "classes", "--class", "star", "--class", "1", "--size", "48", "--steps", "3",
            "--out", tmp_path]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out == ["classes: 3 star, 1 square", str(tmp_path / "classes_object.png")]
    expected = cvw.ClassPatterns(model).generate([3, 1], size=48, steps=3, recipe="object")
    np.testing.assert_array_equal(png(out[1]), render.pattern_grid(expected, cols=2, pad=2)[0])


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["render", "classes", "--class", "zebra"], 1, "--class"),
        (["render", "classes", "--steps", "-1"], 1, "steps"),
        (["render", "filters", "--recipe", "lucid"], 2, "invalid choice"),
        (["render", "gradcam", "--image", "no/such/photo.jpg"], 1, "no such file"),
        (["render", "activations", "--image", "kitten"], 1, "sample image"),
        (["render", "gradcam", "--model", "no-such-model"], 1, "unknown model name"),
        (["render", "gradcam", "--image", "star", "--class", "99"], 1, "0..5"),
        (["render", "gradcam", "--image", "star", "--class", "zebra"], 1, "--class"),
        (["render", "activations", "--image", "star", "--layer", "nope"], 1, "layer"),
        (["render", "filters", "--size", "3"], 1, "size"),
        (["render", "gradcam", "--image", "star", "--alpha", "2"], 1, "alpha"),
        (["render", "gradcam", "--bogus"], 2, "unrecognized arguments"),
        (["render", "gradcam", "--method", "gradcam3"], 2, "choose from 'gradcam', 'gradcam++'"),
        (["render", "gradcam", "--image", "star", "--metrics", "--metric-steps", "0"], 1, "--metric-steps"),
        (["render", "gradcam", "--image", "star", "--method", "all", "--blend", "additive"], 1, "--blend"),
        (["render", "pictures"], 2, "invalid choice"),
        (["render", "filters", "--steps", "many"], 2, "invalid int value"),
        ([], 2, "required"),
    ],
)
def test_errors_are_one_line_and_an_exit_status(argv, code, words, tmp_path, capsys):
    got, out, err = run(argv + ["--out", tmp_path] if argv else argv, capsys)
    assert got == code
    assert len(err) == 1 and ERROR_LINE.match(err[0]), err
    assert words in err[0]
    assert out == []
    assert not list(tmp_path.glob("*.png"))


def test_unwritable_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = run(["render", "activations", "--image", "star", "--out", blocker / "x"], capsys)
    assert code == 1 and len(err) == 1 and ERROR_LINE.match(err[0])


def test_help_lists_every_option(capsys):
    for argv, options in [
        (["--help"], ["render", "demo"]),
        (["render", "activations", "--help"], ["--image", "--model", "--out", "--layer", "--cols", "--cell-size"]),
        (["render", "filters", "--help"], ["--layer", "--count", "--size", "--steps", "--step-size", "--seed"]),
        (["render", "gradcam", "--help"], ["--class", "--layer", "--alpha", "--colormap", "--blend", "--score", "--method", "--metrics", "--metric-steps"]),
        (["demo", "--help"], ["--port", "--ip", "--no-browser", "convviz_widgets[demo]"]),
    ]:
        code, out, _ = run(argv, capsys)
        text = "\n".join(out)
        assert code == 0
        assert all(option in text for option in options), (argv, options)


def test_demo_without_voila_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr(cli, "voila_available", lambda: False)
    code, out, err = run(["demo", "--no-browser"], capsys)
    assert code == 1 and out == []
    assert len(err) == 1 and "pip install convviz_widgets[demo]" in err[0]


def test_demo_port_in_use_is_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(["demo", "--port", port, "--no-browser"], capsys)
    assert code == 1 and out == []
    assert err == [f"convviz-widgets: error: --port: port {port} is already in use; "
                   "choose another or --port 0"]  # fmt: skip


def test_entry_point_exit_status_and_one_line_on_stderr(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}

    def entry_point(*argv):
        return subprocess.run([ENTRY_POINT, *map(str, argv)], capture_output=True, text=True,
                              timeout=120, env=env, cwd=tmp_path)  # fmt: skip

    done = entry_point("render", "--help")
    assert done.returncode == 0 and "activations" in done.stdout and "gradcam" in done.stdout

    missing = str(tmp_path / "missing.png")
    done = entry_point("render", "gradcam", "--image", missing)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [f"convviz-widgets: error: --image: no such file {missing!r}"]

    # After TensorFlow has loaded: its native startup log does not bury the error line.
    done = entry_point("render", "gradcam", "--image", "star", "--class", "6")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "convviz-widgets: error: --class: expected a class index in 0..5 or a class name, got 6"
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_serves_the_dashboard_and_stops_on_ctrl_c(tmp_path):
    psutil = pytest.importorskip("psutil")
    if not cli.voila_available():
        pytest.skip("voila is not installed (pip install convviz_widgets[demo])")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    port = _free_port()
    proc = subprocess.Popen(
        [ENTRY_POINT, "demo", "--port", str(port), "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    out, err = [], []
    readers = [
        threading.Thread(target=lambda s=stream, acc=acc: acc.extend(s), daemon=True)
        for stream, acc in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while not any(url in line for line in out):
            assert proc.poll() is None, f"demo exited early:\n{''.join(err)[-3000:]}"
            assert time.monotonic() < deadline, "demo did not print its URL within 60 s"
            time.sleep(0.2)
        with urllib.request.urlopen(url, timeout=90) as response:  # runs the notebook
            assert response.status == 200
            page = response.read().decode(errors="replace")
        assert "convviz_widgets_demo" in page
        family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert len(family) >= 3  # us, voila, the notebook's kernel

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(5)
    assert any("Stopped." in line for line in out)
    log = "".join(err)
    assert "Traceback" not in log and not re.search(r"\b[A-Z]\w*Error\b", log), log[-3000:]
    time.sleep(0.5)
    assert not [pid for pid in family if psutil.pid_exists(pid) and
                psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_png_is_lossless_rgba(tmp_path):
    """The figures are written losslessly: what render returns is what the file holds."""
    frame = render.to_rgba(np.arange(48 * 3, dtype=np.uint8).reshape(4, 12, 3))
    path = cli._save(frame, tmp_path / "f.png")
    np.testing.assert_array_equal(png(path), frame)
    assert Image.open(io.BytesIO(path.read_bytes())).mode == "RGBA"

"""In-browser latency of the explorers: key press (or choice) to changed canvas pixels.

Voila on 127.0.0.1 serves a notebook written here at run time, Debian's headless Chromium shows
it, and ``tests.browser.harness.time_key_to_pixels`` times, inside the page, from the input event
to the first animation frame whose canvas pixels differ. So the figures include everything a
user waits for: the widget message to the kernel, compute, colormap, PNG encode, the message
back, PNG decode and the draw.

Model: the embedded default model (150x150; conv layers of 32/64/128/128 channels) when it is
shipped, else VGG16(weights=None) at 150x150 (same architecture and cost as the pretrained one).

    measure(repeats=15) -> {
        "channel_switch_ms":      {median, min, max, n},  # ArrowRight on the channel slider
        "grid_channel_switch_ms": {median, min, max, n},  # same, whole 64-channel layer tiled
        "class_switch_ms":        {median, min, max, n},  # CamExplorer, a class not shown before
    }

Targets (issue 3): medians under 60, 150 and 100 ms. ``python -m benchmarks.browser_latency``
prints the figures and the setup.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_FILE = REPO / "convviz_widgets" / "data" / "default_model.keras"
TARGETS_MS = {"channel_switch_ms": 60, "grid_channel_switch_ms": 150, "class_switch_ms": 100}
ACT_CANVAS = "canvas.act-canvas"
CAM_CANVAS = "canvas.cam-canvas"

# The notebooks' first cell: the model, the image, and which 64-channel layer to show.
_SETUP = '''\
from pathlib import Path

import keras
import convviz_widgets as cvw

if Path({default_model!r}).is_file():
    model = cvw.load_model()
    image = cvw.datasets.shapes(1, seed=3)[0][0]
    model_name = "default model"
else:
    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None, input_shape=(150, 150, 3))
    image = cvw.load_image(cvw.sample_image("cat"), target_size=(150, 150))
    model_name = "VGG16(weights=None) at 150x150"
# The first conv layer with 64 channels: the channel view and the 64-cell grid both show it.
layer64 = next(
    name for name in cvw.conv_layers(model)
    if model.get_layer(name.split("/")[-1]).output.shape[-1] == 64
)
'''

_ACTIVATIONS = '''\
import ipywidgets as widgets

explorer = cvw.ActivationExplorer(model, image)
explorer.layer = layer64
explorer.canvas.add_class("act-canvas")
widgets.VBox([widgets.HTML(f"<span id='bench-model'>{model_name}, layer {layer64}</span>"),
              explorer])
'''

_CAM = '''\
explorer = cvw.CamExplorer(model, image)
explorer.canvas.add_class("cam-canvas")
explorer
'''


def _write_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata = {"kernelspec": kernel}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def summarize(samples_s: list[float]) -> dict:
    """{median, min, max, n} in milliseconds, rounded to 0.1 ms."""
    if not samples_s:
        return {"median": None, "min": None, "max": None, "n": 0}
    ms = [s * 1000.0 for s in samples_s]
    return {
        "median": round(statistics.median(ms), 1),
        "min": round(min(ms), 1),
        "max": round(max(ms), 1),
        "n": len(ms),
    }


def _settle(page, canvas: str, quiet_s: float = 0.3, timeout: float = 30.0) -> None:
    """Wait until ``canvas`` exists and its pixels stay the same for ``quiet_s``: the idle canvas
    ``time_key_to_pixels`` needs."""
    import numpy as np

    from tests.browser.harness import canvas_pixels

    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            pixels = canvas_pixels(page, canvas)
        except LookupError:
            pixels = None
        if pixels is None or last is None or not np.array_equal(pixels, last):
            last, since = pixels, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"canvas {canvas!r} did not settle within {timeout} s")


def _time_inputs(page, canvas: str, actions, repeats: int, warmup: int) -> tuple[list, int]:
    """Time ``warmup + repeats`` inputs (``actions(i)`` performs input i); returns the timed
    seconds after warm-up and how many inputs left the pixels unchanged (e.g. two dead channels
    in a row, both flat gray), which are not timed."""
    from tests.browser.harness import time_key_to_pixels

    samples, unchanged = [], 0
    for i in range(warmup + repeats):
        try:
            seconds = time_key_to_pixels(page, lambda i=i: actions(i), canvas, timeout=5.0)
        except AssertionError:
            unchanged += 1
            _settle(page, canvas)
            continue
        if i >= warmup:
            samples.append(seconds)
        _settle(page, canvas, quiet_s=0.15)
    return samples, unchanged


def _measure_activations(page, repeats: int, warmup: int, details: dict) -> dict:
    from tests.browser.harness import canvas_pixels, press_key

    details["setup"] = page.locator("#bench-model").inner_text()
    _settle(page, ACT_CANVAS)
    details["channel_frame"] = "x".join(map(str, canvas_pixels(page, ACT_CANVAS).shape[1::-1]))

    def next_channel(i):
        press_key(page, "channel", "ArrowRight")  # 0 -> 1 -> 2 ...: a new channel each time

    single, unchanged = _time_inputs(page, ACT_CANVAS, next_channel, repeats, warmup)
    details["channel_unchanged"] = unchanged

    page.get_by_role("button", name="grid", exact=True).click()
    page.mouse.move(0, 0)  # hovering a grid cell selects it: keep the pointer off the canvas
    _settle(page, ACT_CANVAS)
    details["grid_frame"] = "x".join(map(str, canvas_pixels(page, ACT_CANVAS).shape[1::-1]))

    def move_highlight(i):
        press_key(page, "channel", "ArrowLeft" if i % 2 else "ArrowRight")

    grid, unchanged = _time_inputs(page, ACT_CANVAS, move_highlight, repeats, warmup)
    details["grid_unchanged"] = unchanged
    return {"channel_switch_ms": summarize(single), "grid_channel_switch_ms": summarize(grid)}


def _measure_cam(page, repeats: int, warmup: int, details: dict) -> dict:
    from tests.browser.harness import canvas_pixels, widget_by_description

    select = widget_by_description(page, "class").locator("select")
    labels = select.locator("option").all_inner_texts()
    options = len(labels)
    classes = sum(label.startswith("[") for label in labels)  # "[k] name": every class
    top = options - classes  # the top predictions are listed first
    # Start in the full list, away from the classes the top predictions cover, and go down:
    # each ArrowDown shows a class whose heatmap this image has not computed yet.
    start = top + max(0, min(classes // 10, classes - warmup - repeats - 1))
    select.select_option(index=start)
    _settle(page, CAM_CANVAS)
    details["cam_frame"] = "x".join(map(str, canvas_pixels(page, CAM_CANVAS).shape[1::-1]))
    details["classes"] = classes

    def next_class(i):
        select.focus()
        page.keyboard.press("ArrowDown" if start + i + 1 < options else "ArrowUp")

    samples, unchanged = _time_inputs(page, CAM_CANVAS, next_class, repeats, warmup)
    details["class_unchanged"] = unchanged  # e.g. two classes whose maps are both all zero
    return {"class_switch_ms": summarize(samples)}


def measure(repeats: int = 15, *, warmup: int = 2, details: dict | None = None) -> dict:
    """Key press to changed pixels in headless Chromium against Voila, ``repeats`` times each.

    Returns ``channel_switch_ms``, ``grid_channel_switch_ms`` and ``class_switch_ms``, each
    ``{median, min, max, n}`` in ms. ``details``, if given, receives the setup (model, layer,
    frame sizes, inputs that changed no pixels). Raises RuntimeError when the browser stack
    (Chromium, Playwright, Voila) is missing.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # tests.browser.harness lives in the repository
    from tests.browser.harness import (
        VoilaServer,
        browser_unavailable_reason,
        close_page,
        launch_chromium,
        open_voila,
    )

    reason = browser_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"browser latency cannot be measured: {reason}")
    from playwright.sync_api import sync_playwright

    details = {} if details is None else details
    result: dict = {}
    setup = _SETUP.format(default_model=str(DEFAULT_MODEL_FILE))
    with tempfile.TemporaryDirectory(prefix="convviz-browser-latency-") as tmp:
        tmp = Path(tmp)
        pages = (
            (_write_notebook(tmp / "latency_activations.ipynb", setup, _ACTIVATIONS), ACT_CANVAS,
             _measure_activations),
            (_write_notebook(tmp / "latency_cam.ipynb", setup, _CAM), CAM_CANVAS, _measure_cam),
        )
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, tmp / "chromium")
            try:
                for notebook, canvas, run in pages:
                    with VoilaServer(notebook, tmp / f"voila-{notebook.stem}") as server:
                        page = context.new_page()
                        try:
                            open_voila(page, server.url, canvas=canvas, timeout=180)
                            result.update(run(page, repeats, warmup, details))
                        finally:
                            close_page(page)
            finally:
                context.close()
    return result


def main() -> None:
    details: dict = {}
    result = measure(details=details)
    for key, stats in result.items():
        fast = stats["median"] is not None and stats["median"] < TARGETS_MS[key]
        verdict = "ok" if fast else "SLOW"
        print(
            f"{key:24s} median {stats['median']} ms  min {stats['min']}  max {stats['max']}  "
            f"n {stats['n']}  (target < {TARGETS_MS[key]} ms: {verdict})"
        )
    print("setup:", details)


if __name__ == "__main__":
    main()

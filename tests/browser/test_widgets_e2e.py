"""The explorers end to end: Voila on 127.0.0.1, headless Chromium, real canvas pixels.

Each notebook (tests/browser/notebooks/e2e_*.ipynb) starts with a cell tagged "setup" that builds a
seeded tiny convnet and an image. The tests execute that same cell here and compute the expected
frames with the engines and ``render``, so every assertion compares the browser's canvas with an
oracle computed independently of the kernel. One page per notebook (a class-scoped fixture):
a load costs the notebook's execution (TensorFlow import included), the actions are cheap.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tests.browser.harness import (
    NOTEBOOKS,
    canvas_pixels,
    close_page,
    control,
    control_value,
    is_blank,
    open_voila,
    page_log,
    press_key,
    select_dropdown,
    wait_for_canvas_change,
)

pytestmark = pytest.mark.browser

ACT_CANVAS = "canvas.act-canvas"
CAM_CANVAS = "canvas.cam-canvas"
FILTER_CANVAS = "canvas.filter-canvas"
DASH_ACT_CANVAS = "canvas.dash-act-canvas"
SHOWN_TAB_CANVAS = ".widget-tab-contents > .widget-box:not(.lm-mod-hidden) canvas"


# --------------------------------------------------------------------------- oracles


def notebook_setup(notebook: Path) -> dict:
    """Run the notebook's "setup" cell here: the same model and image the kernel builds."""
    nb = nbformat.read(notebook, as_version=4)
    [cell] = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    namespace: dict = {"__name__": f"e2e_setup_{notebook.stem}"}
    exec(compile(cell.source, f"{notebook.name}[setup]", "exec"), namespace)  # noqa: S102
    return namespace


class Oracle:
    """The setup cell's model and image as the widgets see them (``as_image``: same resize),
    and what the engines make of them."""

    def __init__(self, notebook: Path):
        import convviz_widgets as cvw

        setup = notebook_setup(notebook)
        self.model = setup["build_model"]()
        size = setup["SIZE"]
        self.image = cvw.load_image(setup["make_image"](), target_size=(size, size))

    @functools.cached_property
    def maps(self) -> dict:
        from convviz_widgets import Activations

        return Activations(self.model).compute(self.image)

    @functools.cached_property
    def gradcam(self):
        from convviz_widgets import GradCAM

        return GradCAM(self.model)  # last conv layer, logit score: the CamExplorer's defaults

    @functools.cache  # noqa: B019 - one oracle per notebook, kept for the module
    def engine(self, method: str):
        from convviz_widgets import cam

        return cam(self.model, method)  # last conv layer, logit score where there is one

    @functools.cached_property
    def top(self) -> list:
        from convviz_widgets import predict_top

        return predict_top(self.model, self.image, k=4)


def describe_difference(actual: np.ndarray, expected: np.ndarray) -> str:
    if actual.shape != expected.shape:
        return f"canvas is {actual.shape}, expected frame is {expected.shape}"
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16)).max(axis=-1)
    ys, xs = np.nonzero(diff)
    return (
        f"{ys.size} of {diff.size} pixels differ (max channel difference {diff.max()}), "
        f"within rows {ys.min()}..{ys.max()}, columns {xs.min()}..{xs.max()}"
    )


def assert_pixels(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
        raise AssertionError(f"{what}: {describe_difference(actual, expected)}")


def wait_for_pixels(page, canvas: str, expected: np.ndarray, what: str, timeout: float = 15.0):
    """Wait until the canvas shows exactly ``expected`` (for actions whose intermediate frames,
    e.g. a resize, are not the point); fail with how the last pixels differed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pixels = canvas_pixels(page, canvas)
        except LookupError:  # not created yet (e.g. a tab's explorer being built)
            if time.monotonic() > deadline:
                raise
        else:
            if pixels.shape == expected.shape and np.array_equal(pixels, expected):
                return pixels
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: the canvas did not show the expected frame within {timeout} s: "
                    f"{describe_difference(pixels, expected)}\n{page_log(page).summary()}"
                )
        page.wait_for_timeout(50)


def assert_stays(page, canvas: str, pixels: np.ndarray, seconds: float, what: str) -> None:
    """The canvas keeps showing ``pixels`` for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert_pixels(canvas_pixels(page, canvas), pixels, what)
        page.wait_for_timeout(100)


@pytest.fixture(scope="class")
def voila_page(request, voila_url, chromium):
    """``request.param``: (notebook, canvas). One page for the class, closed with beforeunload."""
    notebook, canvas = request.param
    page = chromium.new_page()
    page_log(page)
    try:
        open_voila(page, voila_url(notebook), canvas=canvas, timeout=60)
        yield page
        assert page_log(page).page_errors == [], page_log(page).summary()
    finally:
        close_page(page)


def on_page(notebook: str, canvas: str):
    """Class decorator: the class's tests share one page of ``notebook``."""
    return pytest.mark.parametrize(
        "voila_page", [(NOTEBOOKS / notebook, canvas)], indirect=True, ids=[Path(notebook).stem]
    )


# --------------------------------------------------------------------------- ActivationExplorer


@pytest.fixture(scope="module")
def act():
    return Oracle(NOTEBOOKS / "e2e_activations.ipynb")


def act_frame(act, layer: str, channel: int, view: str = "channel") -> np.ndarray:
    """What ActivationExplorer (size 320, min_cell 40, default columns) draws for that state."""
    from convviz_widgets.render.activations import channel_frame, grid_frame

    fmap = act.maps[layer]
    if view == "channel":
        return channel_frame(fmap, channel, size=320)
    return grid_frame(fmap, highlight=channel, cell_size=max(*fmap.shape[:2], 40))[0]


def show_layer_channel_view(page, act, layer: str, view: str = "channel") -> tuple[int, np.ndarray]:
    """Bring the explorer to ``layer`` and ``view`` (whatever an earlier test left); returns the
    channel the slider shows and the canvas, checked against the oracle."""
    select_dropdown(page, "layer", layer)
    page.get_by_role("button", name=view, exact=True).click()
    page.mouse.move(0, 0)  # off the canvas: hovering a grid cell selects it
    channel = int(control_value(page, "channel"))
    pixels = wait_for_pixels(
        page, ACT_CANVAS, act_frame(act, layer, channel, view), f"{layer} channel {channel} {view}"
    )
    return channel, pixels


@on_page("e2e_activations.ipynb", ACT_CANVAS)
class TestActivationExplorer:
    def test_first_frame_is_channel_0_of_the_first_layer(self, voila_page, act):
        pixels = canvas_pixels(voila_page, ACT_CANVAS)

        assert not is_blank(pixels)
        # Canvas backing store = the frame: 38x38 map, integer-upscaled to 304x304, drawn 1:1.
        assert pixels.shape == (304, 304, 4)
        assert_pixels(pixels, act_frame(act, "c1", 0), "first frame (c1, channel 0)")
        assert control_value(voila_page, "layer") == "c1"
        assert control_value(voila_page, "channel") == "0"

    def test_arrow_right_on_the_channel_slider_shows_the_next_channel(self, voila_page, act):
        channel, before = show_layer_channel_view(voila_page, act, "c2")
        for step in (1, 2):
            press_key(voila_page, "channel", "ArrowRight")
            # The first frame that differs is already the new channel's: nothing stale in between.
            before = wait_for_canvas_change(voila_page, before, canvas=ACT_CANVAS)
            expected = act_frame(act, "c2", channel + step)
            assert_pixels(before, expected, f"c2 channel {channel + step}")
            assert control_value(voila_page, "channel") == str(channel + step)

    def test_choosing_another_layer_shows_that_layers_frame(self, voila_page, act):
        show_layer_channel_view(voila_page, act, "c1")
        press_key(voila_page, "channel", "ArrowRight", times=3)
        channel = int(control_value(voila_page, "channel"))
        wait_for_pixels(voila_page, ACT_CANVAS, act_frame(act, "c1", channel), "c1 before switch")

        for layer in ("p1", "c2"):
            select_dropdown(voila_page, "layer", layer)
            # 19x19 -> 304 px, 17x17 -> 306 px: the canvas resizes with the layer.
            wait_for_pixels(voila_page, ACT_CANVAS, act_frame(act, layer, channel), layer)
        assert control_value(voila_page, "channel") == str(channel)

    def test_grid_view_tiles_every_channel_and_follows_the_slider(self, voila_page, act):
        channel, single = show_layer_channel_view(voila_page, act, "c2")
        voila_page.get_by_role("button", name="grid", exact=True).click()
        voila_page.mouse.move(0, 0)

        grid = wait_for_canvas_change(voila_page, single, canvas=ACT_CANVAS)
        # 16 channels of 17x17 in one row: cells upscaled x2 (min_cell 40) to 34 px, 1 px pad.
        assert grid.shape == (36, 16 * 35 + 1, 4)
        expected = act_frame(act, "c2", channel, "grid")
        grid = wait_for_pixels(voila_page, ACT_CANVAS, expected, "grid")
        press_key(voila_page, "channel", "ArrowLeft" if channel else "ArrowRight")
        moved = channel - 1 if channel else 1
        after = wait_for_canvas_change(voila_page, grid, canvas=ACT_CANVAS)
        assert_pixels(after, act_frame(act, "c2", moved, "grid"), f"grid, highlight on {moved}")

        voila_page.get_by_role("button", name="channel", exact=True).click()
        wait_for_pixels(voila_page, ACT_CANVAS, act_frame(act, "c2", moved), "back to one channel")


# --------------------------------------------------------------------------- CamExplorer


@pytest.fixture(scope="module")
def cam():
    return Oracle(NOTEBOOKS / "e2e_cam.ipynb")


def cam_frame(cam, class_index: int, alpha: float = 0.4, method: str = "gradcam") -> np.ndarray:
    """CamExplorer's composition (size 300, pad 4): the overlay, and the raw map beside it."""
    from convviz_widgets.render.frames import fit_size, tile, upscale
    from convviz_widgets.render.overlay import heatmap_frame, overlay

    engine = cam.gradcam if method == "gradcam" else cam.engine(method)
    heatmap = engine.compute(cam.image, class_index=class_index)
    left = fit_size(overlay(cam.image, heatmap, alpha, centres=engine.centres), 300)
    right = upscale(heatmap_frame(heatmap), left.shape[:2])
    return tile([left, right], cols=2, pad=4)[0]


@on_page("e2e_cam.ipynb", CAM_CANVAS)
class TestCamExplorer:
    def test_first_frame_is_the_top_class_and_another_class_changes_the_overlay(
        self, voila_page, cam
    ):
        top = cam.top[0][0]
        pixels = canvas_pixels(voila_page, CAM_CANVAS)
        assert not is_blank(pixels)
        assert_pixels(pixels, cam_frame(cam, top), f"first frame (top class {top})")

        # Every other class whose map differs from the current one, chosen by its listed label.
        for index, label, _ in cam.top[1:]:
            expected = cam_frame(cam, index)
            if np.array_equal(expected, pixels):
                continue  # e.g. two all-zero maps: nothing to see change
            select_dropdown(voila_page, "class", f"[{index}] {label}")
            pixels = wait_for_canvas_change(voila_page, pixels, canvas=CAM_CANVAS)
            assert_pixels(pixels, expected, f"class {index}")
        assert pixels is not None and not np.array_equal(pixels, cam_frame(cam, top))

    def test_opacity_slider_changes_the_blend(self, voila_page, cam):
        index = cam.top[0][0]
        select_dropdown(voila_page, "class", f"[{index}] {cam.top[0][1]}")
        before = wait_for_pixels(voila_page, CAM_CANVAS, cam_frame(cam, index), "top class")
        alpha = float(control_value(voila_page, "opacity"))

        press_key(voila_page, "opacity", "ArrowRight", times=2)  # step 0.05
        after = wait_for_pixels(
            voila_page, CAM_CANVAS, cam_frame(cam, index, round(alpha + 0.1, 2)), "opacity +0.1"
        )
        assert float(control_value(voila_page, "opacity")) == pytest.approx(alpha + 0.1)
        # Only the overlay blends; the raw heatmap on the right stays as it was.
        width = after.shape[1]
        assert not np.array_equal(after[:, : width // 2], before[:, : width // 2])
        np.testing.assert_array_equal(after[:, width // 2 + 4 :], before[:, width // 2 + 4 :])

    def test_arrow_down_on_the_method_dropdown_shows_the_next_methods_map(self, voila_page, cam):
        index, label = cam.top[0][0], cam.top[0][1]
        select_dropdown(voila_page, "class", f"[{index}] {label}")
        alpha = round(float(control_value(voila_page, "opacity")), 2)
        before = wait_for_pixels(voila_page, CAM_CANVAS, cam_frame(cam, index, alpha), "Grad-CAM")
        expected = cam_frame(cam, index, alpha, method="gradcam++")  # the next in CAM_METHODS
        assert not np.array_equal(expected, before)

        press_key(voila_page, "method", "ArrowDown")
        after = wait_for_canvas_change(voila_page, before, canvas=CAM_CANVAS)
        assert_pixels(after, expected, "Grad-CAM++ after ArrowDown on the method dropdown")
        press_key(voila_page, "method", "ArrowUp")
        wait_for_pixels(voila_page, CAM_CANVAS, before, "back to Grad-CAM after ArrowUp")


# --------------------------------------------------------------------------- FilterExplorer


def progress_text(page) -> str:
    """The progress bar's description: "idle", "step i/n", "stopped" or "done"."""
    bar = page.locator(".jupyter-widgets.widget-inline-hbox:has(.progress)")
    return bar.locator("label.widget-label").inner_text().strip()


def wait_for_progress(page, predicate, what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not predicate(text := progress_text(page)):
        if time.monotonic() > deadline:
            raise AssertionError(f"progress: expected {what} within {timeout} s, shows {text!r}")
        page.wait_for_timeout(50)
    return text


@pytest.fixture(scope="module")
def filters():
    return Oracle(NOTEBOOKS / "e2e_filters.ipynb")


def filters_frame(filters, steps: int) -> np.ndarray:
    """The notebook's grid (c2's 16 filters, 128 px, seed 0) once every pattern is done."""
    from convviz_widgets import FilterPatterns
    from convviz_widgets.render.patterns import pattern_grid

    images = FilterPatterns(filters.model, "c2").generate(list(range(16)), size=128, steps=steps)
    return pattern_grid(images, cols=8, pad=2, highlight=0, size=128)[0]


@on_page("e2e_filters.ipynb", FILTER_CANVAS)
class TestFilterExplorer:
    def test_run_fills_the_grid_live_stop_stops_and_run_again_works(self, voila_page):
        page = voila_page
        run = page.get_by_role("button", name="Run")
        stop = page.get_by_role("button", name="Stop")
        placeholders = canvas_pixels(page, FILTER_CANVAS)  # 16 dark cells: nothing computed yet
        assert progress_text(page) == "idle" and stop.is_disabled()

        run.click()
        wait_for_progress(page, lambda t: t.startswith("step "), "a running step count")
        live = wait_for_canvas_change(page, placeholders, canvas=FILTER_CANVAS)
        live_again = wait_for_canvas_change(page, live, canvas=FILTER_CANVAS)  # still evolving
        assert not np.array_equal(live_again, placeholders)
        assert progress_text(page).startswith("step ")  # those frames came while it ran
        assert run.is_disabled() and stop.is_enabled()

        stop.click()
        wait_for_progress(page, lambda t: t == "stopped", '"stopped"', timeout=10)
        page.wait_for_timeout(300)  # the worker's final draw lands with or before "stopped"
        stopped = canvas_pixels(page, FILTER_CANVAS)
        assert_stays(page, FILTER_CANVAS, stopped, 1.5, "canvas after Stop")
        assert run.is_enabled() and stop.is_disabled()

        run.click()
        wait_for_progress(page, lambda t: t.startswith("step "), "a running step count again")
        wait_for_canvas_change(page, stopped, canvas=FILTER_CANVAS)
        stop.click()
        wait_for_progress(page, lambda t: t == "stopped", '"stopped" again', timeout=10)

    def test_a_run_to_the_end_shows_the_engines_patterns(self, voila_page, filters):
        page = voila_page
        steps = control(page, "steps")
        steps.fill("20")
        steps.press("Enter")
        page.get_by_role("button", name="Run").click()
        wait_for_progress(page, lambda t: t == "done", '"done"', timeout=60)

        wait_for_pixels(page, FILTER_CANVAS, filters_frame(filters, steps=20), "finished grid")
        assert page.get_by_role("button", name="Run").is_enabled()

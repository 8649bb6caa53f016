"""The explorers in JupyterLab 4 and Notebook 7: real servers on 127.0.0.1, headless Chromium,
Run All Cells from the menu like a user, and the canvas pixels against engine + render oracles.

One server and one page per front end for the whole module (the notebook runs once in each);
the same oracles as the Voila tests (``test_widgets_e2e``), computed in the test process from
the notebook's "setup" cell.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.harness import (
    NOTEBOOKS,
    JupyterServer,
    canvas_pixels,
    close_page,
    control,
    control_value,
    is_blank,
    page_log,
    run_all_cells,
    wait_for_canvas_change,
    wait_for_render,
    widget_by_description,
)
from tests.browser.test_widgets_e2e import (
    Oracle,
    act_frame,
    assert_pixels,
    cam_frame,
    wait_for_pixels,
)

pytestmark = pytest.mark.browser

NOTEBOOK = NOTEBOOKS / "e2e_frontends.ipynb"
CANVASES = ("fe-act-canvas", "fe-cam-canvas", "fe-filters-canvas", "fe-ins-canvas",
            "fe-dash-act-canvas")  # fmt: skip
# Notebook 7 (7.6) throws this once while it loads its own settings, with or without widgets.
KNOWN_PAGE_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)


@pytest.fixture(scope="module")
def oracle():
    return Oracle(NOTEBOOK)


def inspector_frame_of(oracle, layer: str, channel: int) -> np.ndarray:
    """What ChannelInspector (size 160, pattern not computed yet) draws for that state."""
    from convviz_widgets.engines.geometry import cell_centres
    from convviz_widgets.render.inspector import inspector_frame

    frame, _ = inspector_frame(
        oracle.image, oracle.maps[layer], channel, None, None, size=160,
        centres=cell_centres(oracle.model, layer, oracle.image.shape[:2]),
        pattern_lines=("filter pattern", "press Pattern"),
    )  # fmt: skip
    return frame


@pytest.fixture(scope="module", params=["lab", "notebook"], ids=["jupyterlab4", "notebook7"])
def frontend(request, browser_requirements, chromium, tmp_path_factory):
    """(app, page) with the notebook executed in that front end; one server per front end."""
    app = request.param
    server = JupyterServer(app, NOTEBOOK, tmp_path_factory.mktemp(f"jupyter-{app}")).start()
    page = chromium.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" on close
    log = page_log(page)
    try:
        page.goto(server.notebook_url, wait_until="domcontentloaded", timeout=90_000)
        run_all_cells(page)
        for canvas in CANVASES:
            wait_for_render(page, canvas=f"canvas.{canvas}", timeout=120)
        yield app, page
        unexpected = [e for e in log.page_errors if e not in KNOWN_PAGE_ERRORS]
        assert unexpected == [], log.summary()
    finally:
        close_page(page)
        server.stop()


def press_key(page, description: str, key: str, *, within: str, times: int = 1) -> None:
    """Focus the control (scrolled into view) and press ``key``, like a keyboard user."""
    target = control(page, description, within=within)
    target.scroll_into_view_if_needed()
    target.focus()
    for _ in range(times):
        page.keyboard.press(key)


def test_every_explorer_draws_on_execution(frontend, oracle):
    _, page = frontend
    top = oracle.top[0][0]
    assert_pixels(canvas_pixels(page, "canvas.fe-act-canvas"), act_frame(oracle, "c1", 0), "activations")
    assert_pixels(canvas_pixels(page, "canvas.fe-cam-canvas"), cam_frame(oracle, top), "Grad-CAM")
    wait_for_pixels(page, "canvas.fe-ins-canvas", inspector_frame_of(oracle, "c1", 0), "channel inspector")
    assert_pixels(canvas_pixels(page, "canvas.fe-dash-act-canvas"), act_frame(oracle, "c1", 0),
                  "dashboard activations")  # fmt: skip
    assert not is_blank(canvas_pixels(page, "canvas.fe-filters-canvas"))  # patterns fill in live
    # Drawn one CSS pixel per frame pixel: not stretched to the page width.
    width = page.evaluate("() => document.querySelector('canvas.fe-act-canvas').getBoundingClientRect().width")
    assert width == pytest.approx(304, abs=0.5)


def change(page, app: str, within: str, layer: str | None = None, arrows: int = 0) -> None:
    """A user's input: a layer chosen in the dropdown, then ``arrows`` ArrowRight presses on
    the channel slider. Notebook 7 (7.6) keeps arrow keys from slider handles (focused, the
    handle gets no change), so there the channel stays: README, "Front ends"."""
    if layer is not None:
        widget_by_description(page, "layer", within=within).locator("select").select_option(label=layer)
    if arrows and app == "lab":
        press_key(page, "channel", "ArrowRight", within=within, times=arrows)


def test_a_key_press_changes_the_pixels_as_the_oracle_says(frontend, oracle):
    app, page = frontend
    channel = 1 if app == "lab" else 0
    before = canvas_pixels(page, "canvas.fe-act-canvas")
    change(page, app, ".fe-act", "p1", arrows=1)
    wait_for_canvas_change(page, before, canvas="canvas.fe-act-canvas")
    wait_for_pixels(page, "canvas.fe-act-canvas", act_frame(oracle, "p1", channel), "activations")
    assert control_value(page, "channel", within=".fe-act") == str(channel)

    before = canvas_pixels(page, "canvas.fe-ins-canvas")
    change(page, app, ".fe-ins", "c2", arrows=2)
    wait_for_canvas_change(page, before, canvas="canvas.fe-ins-canvas")
    wait_for_pixels(page, "canvas.fe-ins-canvas", inspector_frame_of(oracle, "c2", 2 * channel), "inspector")


def test_the_dashboards_linked_selection_moves_every_tab(frontend, oracle):
    app, page = frontend
    channel = 3 if app == "lab" else 0
    change(page, app, ".fe-dash-act", "c2", arrows=3)
    wait_for_pixels(page, "canvas.fe-dash-act-canvas", act_frame(oracle, "c2", channel), "dashboard activations")
    page.locator(".fe-dash .lm-TabBar-tabLabel", has_text="Channel").click()
    wait_for_pixels(page, "canvas.fe-dash-ins-canvas", inspector_frame_of(oracle, "c2", channel),
                    "the Channel tab followed")  # fmt: skip
    assert control_value(page, "layer", within=".fe-dash-ins") == "c2"
    assert control_value(page, "channel", within=".fe-dash-ins") == str(channel)
    change(page, app, ".fe-dash-ins", "p1")  # and back the other way
    wait_for_pixels(page, "canvas.fe-dash-ins-canvas", inspector_frame_of(oracle, "p1", channel), "inspector")
    page.locator(".fe-dash .lm-TabBar-tabLabel", has_text="Activations").click()
    wait_for_pixels(page, "canvas.fe-dash-act-canvas", act_frame(oracle, "p1", channel), "activations followed")
    page.locator(".fe-dash .lm-TabBar-tabLabel", has_text="Filter patterns").click()
    # built now, it joined the selection: its filter slider shows the shared channel
    assert control_value(page, "filter", within=".fe-dash") == str(channel)

"""Key press to changed canvas pixels, in headless Chromium against Voila (the real path).

Uses the browser test harness (tests/browser/harness.py): one Voila server per notebook in
benchmarks/notebooks/, Debian's Chromium through Playwright, and ``time_key_to_pixels``, which
times from the keydown event to the first animation frame with different canvas pixels, both
inside the page. Measured: a channel switch (channel view), a layer switch in the grid view
(block1_conv1 <-> block1_conv2, both 64 channels at 224 x 224, the largest 64-channel grids),
and a class switch in the CamExplorer (classes never shown before for this image).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.timing import summarize

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def _unavailable() -> str | None:
    try:
        from tests.browser import harness
    except ImportError as exc:  # the harness is part of the repository's test tree
        return f"tests/browser/harness.py not importable ({exc})"
    needed = ("time_key_to_pixels", "press_key", "open_voila", "VoilaServer", "launch_chromium")
    missing = [name for name in needed if not hasattr(harness, name)]
    if missing:
        return f"tests/browser/harness.py lacks {', '.join(missing)}"
    try:
        import convviz_widgets as cvw

        cvw.ActivationExplorer, cvw.CamExplorer  # noqa: B018 - existence check
    except (ImportError, AttributeError) as exc:
        return f"the widgets are not importable ({exc})"
    return harness.browser_unavailable_reason()


def _time_presses(page, presses, repeats: int, warmup: int) -> dict:
    """Time ``presses[i % len]`` (callables doing one key press) ``warmup + repeats`` times."""
    from tests.browser.harness import time_key_to_pixels

    samples, unchanged = [], 0
    for i in range(warmup + repeats):
        try:
            seconds = time_key_to_pixels(page, presses[i % len(presses)], timeout=20.0)
        except AssertionError:  # e.g. two classes with the same (empty) heatmap: no new pixels
            unchanged += 1
            continue
        finally:
            page.wait_for_timeout(300)  # let the kernel settle: the canvas must be idle
        if i >= warmup:
            samples.append(seconds)
    if not samples:
        raise RuntimeError(f"no key press changed the canvas ({unchanged} tries)")
    return {**summarize(samples), "unchanged": unchanged}


def measure_latency(cfg) -> dict:
    """{'channel_switch', 'layer_switch_grid', 'class_switch': stats in seconds} or {'skipped'}."""
    reason = _unavailable()
    if reason is not None:
        return {"skipped": reason}
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import (
        VoilaServer,
        canvas_pixels,
        close_page,
        launch_chromium,
        open_voila,
        press_key,
        wait_for_canvas_change,
    )

    repeats = 3 if cfg.quick else 9
    result: dict = {"load_failures": []}

    def open_page(context, server):
        """A page showing the notebook's canvas; one reload if the first load stays blank."""
        for attempt in (1, 2):
            page = context.new_page()
            try:
                open_voila(page, server.url, timeout=300)
                return page
            except AssertionError as exc:
                result["load_failures"].append(f"{server.notebook.name} load {attempt}: "
                                               + str(exc).splitlines()[0][:300])
                close_page(page)
                if attempt == 2:
                    raise

    with tempfile.TemporaryDirectory(prefix="convviz-bench-") as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        context = launch_chromium(pw, tmp / "profile")
        try:
            # One Voila server (one VGG16 kernel) at a time: they would slow each other down.
            with VoilaServer(NOTEBOOKS / "latency_activations.ipynb", tmp / "voila-act",
                             startup_timeout=120) as server:
                page = open_page(context, server)
                result["channel_switch"] = _time_presses(
                    page, [lambda: press_key(page, "channel", "ArrowRight")], repeats, warmup=2
                )
                before = canvas_pixels(page)
                # ToggleButtons: a row of <button>s (not found by description in the harness).
                page.get_by_role("button", name="grid", exact=True).click()
                wait_for_canvas_change(page, before, timeout=60)
                page.wait_for_timeout(500)
                result["layer_switch_grid"] = _time_presses(
                    page,
                    [
                        lambda: press_key(page, "layer", "ArrowDown"),
                        lambda: press_key(page, "layer", "ArrowUp"),
                    ],
                    repeats,
                    warmup=2,
                )
                close_page(page)
            with VoilaServer(NOTEBOOKS / "latency_cam.ipynb", tmp / "voila-cam",
                             startup_timeout=120) as server:
                page = open_page(context, server)
                result["class_switch"] = _time_presses(
                    page, [lambda: press_key(page, "class", "ArrowDown")], repeats, warmup=2
                )
                close_page(page)
        finally:
            context.close()
    return result

"""Issue 13's figures, in the browser: the channel inspector's channel change, the same frames in
Voila, JupyterLab 4 and Notebook 7, and the demo's time to first pixels.

    measure(repeats=9) -> {
        "inspector_channel_ms": {median, ...},   # Voila: ArrowRight on the inspector's channel
                                                 #   slider -> new activation + weight drawn
        "layer_switch_ms": {"voila": {...}, "lab": {...}, "notebook": {...}},
                                                 # the ActivationExplorer's layer dropdown, same
                                                 #   notebook, same frames, each front end
        "frontend_ratio": {"lab": x, "notebook": x},   # median / Voila's median (target <= 1.5)
        "demo_first_pixels_s": s,                # `convviz-widgets demo` launched -> first canvas
                                                 #   pixels in the browser (what scripts/demo.sh
                                                 #   execs once the environment is ready)
        "tf_import_and_model_s": s,              # python -c "import tensorflow; load_model()"
        "demo_ratio": x,                         # target < 2
    }

Targets: inspector <= 100 ms; front ends within 1.5x of Voila; demo < 2x. ``python -m
benchmarks.frontend_latency`` prints them. The notebook is tests/browser/notebooks/e2e_frontends.ipynb
(a tiny seeded convnet): the ratios compare front ends on the same frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.browser_latency import _settle, _time_inputs, summarize

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tests" / "browser" / "notebooks" / "e2e_frontends.ipynb"
TARGETS = {"inspector_channel_ms": 100, "frontend_ratio": 1.5, "demo_ratio": 2.0}
ACT = "canvas.fe-act-canvas"
INS = "canvas.fe-ins-canvas"


def _layer_switches(page, repeats, warmup):
    from tests.browser.harness import widget_by_description

    select = widget_by_description(page, "layer", within=".fe-act").locator("select")
    return _time_inputs(page, ACT, lambda i: select.select_option(label=("p1", "c1")[i % 2]),
                        repeats, warmup)[0]  # fmt: skip


def _inspector_channels(page, repeats, warmup):
    from tests.browser.harness import press_key

    return _time_inputs(page, INS, lambda i: press_key(page, "channel", "ArrowRight", within=".fe-ins"),
                        repeats, warmup)[0]  # fmt: skip


def _open(context, url, run_all: bool):
    from tests.browser.harness import run_all_cells, wait_for_render

    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    if run_all:
        run_all_cells(page)
    for canvas in (ACT, INS):
        wait_for_render(page, canvas=canvas, timeout=120)
    _settle(page, ACT)
    return page


def _demo_first_pixels(context, workdir: Path) -> float:
    """Seconds from launching ``convviz-widgets demo`` to the first canvas pixels in the page."""
    from tests.browser.harness import free_port, wait_for_render

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(workdir / var.lower())
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "convviz_widgets.cli", "demo", "--port", str(port),
                             "--no-browser"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        page = context.new_page()
        url = f"http://127.0.0.1:{port}/"
        import socket

        while True:  # until the server listens; then the page (Voila executes, then answers)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() - start > 120:
                raise AssertionError("the demo did not listen within 120 s")
            time.sleep(0.1)
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        wait_for_render(page, canvas=0, timeout=120)
        seconds = time.monotonic() - start
        page.close()
        return seconds
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def _tf_and_model() -> float:
    code = "import tensorflow, convviz_widgets as c; c.load_model()"
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=str(REPO)))  # fmt: skip
    return time.monotonic() - start


def measure(repeats: int = 9, *, warmup: int = 2) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import JupyterServer, VoilaServer, launch_chromium

    out = {"layer_switch_ms": {}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        context = launch_chromium(pw, tmp / "chromium")
        try:
            for name in ("voila", "lab", "notebook"):
                server = (VoilaServer(NOTEBOOK, tmp / name) if name == "voila"
                          else JupyterServer(name, NOTEBOOK, tmp / name)).start()  # fmt: skip
                try:
                    url = server.url if name == "voila" else server.notebook_url
                    page = _open(context, url, run_all=name != "voila")
                    out["layer_switch_ms"][name] = summarize(_layer_switches(page, repeats, warmup))
                    if name == "voila":
                        _settle(page, INS)
                        out["inspector_channel_ms"] = summarize(_inspector_channels(page, repeats, warmup))
                    page.close()
                    print(name, out, file=sys.stderr, flush=True)
                finally:
                    server.stop()
            out["demo_first_pixels_s"] = round(_demo_first_pixels(context, tmp / "demo"), 2)
        finally:
            context.close()
    out["tf_import_and_model_s"] = round(_tf_and_model(), 2)
    voila = out["layer_switch_ms"]["voila"]["median"]
    out["frontend_ratio"] = {
        name: round(out["layer_switch_ms"][name]["median"] / voila, 2) for name in ("lab", "notebook")
    }
    out["demo_ratio"] = round(out["demo_first_pixels_s"] / out["tf_import_and_model_s"], 2)
    return out


def main() -> None:
    print(json.dumps({"targets": TARGETS, **measure()}, indent=1))


if __name__ == "__main__":
    main()

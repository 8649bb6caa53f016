"""nbconvert's HTML export of an executed notebook carries every explorer's PNG fallback: the
frame the widget last drew, for readers without a kernel (or a widget-less viewer)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
nbconvert = pytest.importorskip("nbconvert")

NOTEBOOK = Path(__file__).resolve().parent / "browser" / "notebooks" / "e2e_frontends.ipynb"
EXPLORERS = ("act", "cam", "filters", "inspector", "dash")
STATIC = {"NbConvertBase": {"display_data_priority": [
    "image/png", "application/vnd.jupyter.widget-view+json", "text/html", "text/plain"]}}


@pytest.mark.slow
def test_the_html_export_holds_each_explorers_png(tmp_path, monkeypatch):
    from tests.browser.test_widgets_e2e import Oracle, act_frame

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[3]))  # the kernel imports this checkout
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("inspector.wait(60); filters.wait(60)"))
    nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    pngs = [o["data"]["image/png"] for c in nb.cells[1:6] for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == len(EXPLORERS)  # one per explorer cell, beside its widget view

    # The default export keeps the live widget views (they render from the saved widget state)...
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert html.count('type="application/vnd.jupyter.widget-view+json"') >= len(EXPLORERS)
    # ...and a static export (PNG before the widget view, README "Front ends") shows the frames.
    static = nbconvert.HTMLExporter(config=STATIC)
    html, _ = static.from_notebook_node(nb)
    for name, png in zip(EXPLORERS, pngs, strict=True):
        assert f"data:image/png;base64,{png}" in html.replace("\n", ""), name
    first = np.asarray(Image.open(io.BytesIO(base64.b64decode(pngs[0]))).convert("RGBA"))
    np.testing.assert_array_equal(first, act_frame(Oracle(NOTEBOOK), "c1", 0))

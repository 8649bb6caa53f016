"""The tutorial notebooks run top to bottom, headless and offline, on the embedded default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from convviz_widgets.engines.backend import startup_noise

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TUTORIALS = [p for p in NOTEBOOKS if p.name[:2] in ("01", "02", "03")]
FALLBACK = (
    "VGG16's ImageNet weights are not available on this machine: "
    "using the embedded default model, cvw.load_model()."
)
WIDGET = "application/vnd.jupyter.widget-view+json"
# Run as if offline even where the internet is reachable, so that every run takes the
# fallback path on the embedded default model (and never downloads 500 MB of weights).
OFFLINE_CELL = (
    "import convviz_widgets.engines.models as _models\n"
    "_models._weights_reachable = lambda timeout=3.0: False"
)
CELL_TIMEOUT_S = 240


def test_the_tutorials_are_all_there():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "00_tour",
        "01_intermediate_activations",
        "02_filter_patterns",
        "03_grad_cam",
        "04_datasets",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.id)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_vgg16_first_then_the_default_model(path):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert 'cvw.load_model("vgg16")' in source
    assert "except cvw.ConvVizError:" in source
    assert FALLBACK in source


def execute(path: Path, tmp_path: Path, monkeypatch) -> list:
    """Run the notebook in a fresh python3 kernel of this interpreter; return its code cells."""
    for var, name in (("KERAS_HOME", "keras"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(var, str(tmp_path / name))  # no cached weights, no startup files
    # As a user's kernel starts: the package keeps TensorFlow's native startup log out of the
    # cells (checked below for every cell) without the user setting anything.
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(OFFLINE_CELL))
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    cells = [c for c in nb.cells[1:] if c.cell_type == "code"]
    for cell in cells:
        stderr = "".join(o.text for o in cell.outputs if o.get("name") == "stderr")
        native = [line for line in stderr.splitlines() if startup_noise(line, level=3)]
        assert not native, (path.name, native)  # no red blocks of TensorFlow's startup log
    return cells


def text_of(cell) -> str:
    """What the cell printed (stdout; TensorFlow logs to stderr)."""
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def has(cell, mime: str) -> bool:
    return any(mime in o.get("data", {}) for o in cell.outputs)


def assert_fallback(cells):
    printed = text_of(cells[0]).splitlines()
    assert printed == [FALLBACK]


@pytest.mark.slow
def test_00_tour(tmp_path, monkeypatch):
    cells = execute(NOTEBOOK_DIR / "00_tour.ipynb", tmp_path, monkeypatch)
    assert has(cells[0], WIDGET)


@pytest.mark.slow
def test_01_intermediate_activations(tmp_path, monkeypatch):
    cells = execute(NOTEBOOK_DIR / "01_intermediate_activations.ipynb", tmp_path, monkeypatch)
    assert_fallback(cells)
    assert "conv/pool layers" in text_of(cells[1])
    layers = text_of(cells[1]).count("'")  // 2  # the printed list of layer names
    assert has(cells[1], "image/png") and has(cells[2], "image/png")  # the photo, one channel
    grids = [o for o in cells[3].outputs if "image/png" in o.get("data", {})]
    assert len(grids) == min(8, layers)  # one figure per layer
    assert has(cells[4], WIDGET)
    assert "grid frame (" in text_of(cells[5])


@pytest.mark.slow
def test_02_filter_patterns(tmp_path, monkeypatch):
    cells = execute(NOTEBOOK_DIR / "02_filter_patterns.ipynb", tmp_path, monkeypatch)
    assert_fallback(cells)
    assert has(cells[2], "image/png")  # one filter
    grids = [o for o in cells[3].outputs if "image/png" in o.get("data", {})]
    assert len(grids) == 2  # the first two conv layers
    assert has(cells[4], "image/png")  # classic and fourier side by side
    assert has(cells[5], "image/png")  # class patterns
    assert has(cells[6], WIDGET)
    assert " grid (" in text_of(cells[7])


@pytest.mark.slow
def test_03_grad_cam(tmp_path, monkeypatch):
    cells = execute(NOTEBOOK_DIR / "03_grad_cam.ipynb", tmp_path, monkeypatch)
    assert_fallback(cells)
    top3 = text_of(cells[1]).splitlines()
    assert len(top3) == 3 and all("(class" in line and line.endswith("%") for line in top3)
    assert has(cells[2], "image/png")  # the raw heatmap
    assert has(cells[3], "image/png")  # the two superimposed images
    assert has(cells[4], WIDGET)
    assert "showing class" in text_of(cells[5])
    assert has(cells[6], "image/png")  # the seven methods side by side
    scores = text_of(cells[7]).splitlines()  # one line of faithfulness figures per method
    assert [line.split(":")[0].strip() for line in scores] == [
        "Grad-CAM", "Grad-CAM++", "XGrad-CAM", "LayerCAM", "HiResCAM", "Score-CAM", "EigenCAM"]
    assert all("deletion AUC 0." in line and "insertion AUC" in line for line in scores)
    assert has(cells[7], "image/png")  # the deletion and insertion curves
    assert has(cells[8], WIDGET)
    assert text_of(cells[9]).startswith("Grad-CAM++ readout: deletion AUC ")


@pytest.mark.slow
def test_04_datasets(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    cells = execute(NOTEBOOK_DIR / "04_datasets.ipynb", tmp_path, monkeypatch)
    assert text_of(cells[0]).splitlines() == [
        "48 images; left out: {'broken.png': 'not an image file Pillow can read (expected PNG, "
        "JPEG, GIF, BMP, TIFF, WebP, ...)'}"
    ]
    assert "indices (" in text_of(cells[1]) and ", 6), values (" in text_of(cells[1])
    assert has(cells[1], "image/png")  # the pattern and its crops
    printed = text_of(cells[2])
    assert "gradcam" in printed and "layercam" in printed
    assert printed.splitlines()[-1] == "rerun: computed 0 tasks, read 4 from the cache"
    assert has(cells[3], WIDGET)
    assert "crops of channel" in text_of(cells[4])

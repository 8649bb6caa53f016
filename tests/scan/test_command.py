"""convviz-widgets scan top|audit|atlas: the CSV holds the scan's numbers, the sheets are PNGs."""

import csv

import numpy as np
from PIL import Image

import convviz_widgets as cvw
from convviz_widgets import cli

from .conftest import png_bytes


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_top_audit_and_atlas(model_file, images, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.png").write_bytes(png_bytes(images[i]))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n")
    out = tmp_path / "out"
    common = ["--model", str(model_file), "--out", str(out)]
    assert cli.main(["scan", "top", "--images", str(folder), "--layer", "c2", "--k", "3", "--channels", "2", *common]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "top_activations.csv"), str(out / "top_c2.png"), str(out / "errors.csv")]
    want = cvw.scan.top_activations(cvw.load_model(model_file), folder, "c2", k=3, progress=False)
    table = rows(out / "top_activations.csv")
    assert len(table) == 6 * 3
    assert [r["image"] for r in table[:3]] == [want.names[i] for i in want.indices[0]]
    assert [(int(r["y"]), int(r["x"])) for r in table[:3]] == [tuple(p) for p in want.positions[0]]
    sheet = np.asarray(Image.open(out / "top_c2.png"))
    assert sheet.shape[0] > sheet.shape[1] / 3 * 1.5  # two rows of three 64 px crops
    assert rows(out / "errors.csv")[0]["image"] == "broken.png"

    assert cli.main(["scan", "audit", "--images", str(folder), "--steps", "4", *common]) == 0
    audit = rows(out / "audit.csv")
    assert [r["image"] for r in audit] == [f"{i}.png" for i in range(8)]
    assert all(0 <= float(r["deletion"]) <= 1 for r in audit)

    assert cli.main(["scan", "atlas", "--size", "16", "--steps", "2", *common]) == 0
    assert Image.open(out / "atlas_c1.png").size[0] > 16 * 4


def test_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["scan", "top", "--images", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--images: expected a folder of images" in err
    assert cli.main(["scan", "atlas", "--workers", "0", "--out", str(tmp_path)]) == 1
    assert "--workers: expected a positive integer, got 0" in capsys.readouterr().err

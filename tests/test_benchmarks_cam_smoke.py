"""Smoke test of the CAM benchmark and the faithfulness script: they run, their checks pass,
every number is finite (no timing assertions: times on a shared machine say nothing)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def test_cam_benchmark_quick(tmp_path):
    out = tmp_path / "cam.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cam", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(out.read_text())
    assert set(data["checks"]) == {"cam.gradient_methods_equal_the_tape", "cam.scorecam_weights",
                                   "cam.scorecam_bfloat16_agrees", "cam.deletion_curve"}
    assert all(c["passed"] for c in data["checks"].values())
    names = {r["name"] for r in data["rows"]}
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"):
        assert f"{method}: new image / forward" in names and f"{method}: class switch / forward" in names
    assert {"engine / forward batches", "deletion / forward batches",
            "engine bfloat16 / float32 forward batches",
            "floor of a per-position switch: fc1 kernel x vector / forward"} <= names
    assert all(math.isfinite(r["value"]) for r in data["rows"])
    assert "equality checks: 4/4 passed" in proc.stdout


def test_faithfulness_table_of_one_image():
    from benchmarks.faithfulness import markdown, measure

    rows = measure(n=1, seed=9001, steps=2, methods=["gradcam", "eigencam"])
    per = rows["gradcam"]
    assert len(per["deletion"]) == len(per["pointing_game"]) == 1
    assert 0 <= per["deletion"][0] <= 1 and 0 <= per["insertion"][0] <= 1
    text = markdown(rows, 1, 9001, 2)
    lines = text.splitlines()
    assert lines[2].startswith(f"| gradcam | {per['deletion'][0]:.3f} | {per['insertion'][0]:.3f} |")
    assert lines[3].startswith("| eigencam |") and lines[4] == ""
    assert np.isfinite(rows["eigencam"]["average_drop"][0])

"""Smoke test of the benchmark suite: `python -m benchmarks.run --quick` runs end to end.

No timing assertions (times on a shared machine say nothing); it checks that every section is
in the JSON with finite numbers and that engines and references computed the same results.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("filter_grid", "gradcam", "activations", "memory")


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"benchmarks.run --quick failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text()), proc.stdout


def test_every_section_has_finite_numbers(quick_results):
    data, _ = quick_results
    for section in SECTIONS:
        numbers = list(_numbers(data[section]))
        assert numbers, f"section {section!r} has no numbers"
        assert all(math.isfinite(x) for x in numbers), f"non-finite number in {section!r}"
    assert set(data["filter_grid"]) == {"block1_conv1", "block3_conv1"}
    for layer in data["filter_grid"].values():
        assert layer["flops_total"] > 0 and layer["matmul_rate_flops"] > 0
        assert {"engine", "compiled", "eager", "matmul"} <= set(layer["times"])
    assert data["memory"]["peak_rss_mb"] > 100


def test_engines_and_references_agree(quick_results):
    data, _ = quick_results
    assert set(data["checks"]) == {
        "filter_patterns.block1_conv1",
        "filter_patterns.block3_conv1",
        "gradcam.same_heatmaps",
        "activations.same_values",
    }
    failed = {name: c for name, c in data["checks"].items() if not c["passed"]}
    assert not failed


def test_table_rows_and_printed_table(quick_results):
    data, stdout = quick_results
    rows = data["rows"]
    assert {r["section"] for r in rows} >= {"1 filter grid", "2 Grad-CAM", "3 activations", "5 memory"}
    assert all(r["status"] in ("met", "MISSED", "info") for r in rows)
    assert all(math.isfinite(r["value"]) for r in rows)
    assert sum(r["status"] != "info" for r in rows) >= 10  # every target has its row
    assert "equality checks: 4/4 passed" in stdout
    assert any("browser" in item for item in data["todo"])  # --browser not asked for


def test_flop_formula_hand_computed():
    """VGG16 at 64 px, MACs = H W k^2 C_in C_out per conv; the layer counts one channel."""
    import keras

    from benchmarks.timing import gradient_ascent_flops

    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    b1c1 = 64 * 64 * 9 * 3 * 64
    below = b1c1 + 64 * 64 * 9 * 64 * 64 + 32 * 32 * 9 * 64 * 128 + 32 * 32 * 9 * 128 * 128
    b3c1 = 16 * 16 * 9 * 128 * 256
    assert gradient_ascent_flops(model, "block1_conv1", 64) == {
        "forward": 2 * b1c1 / 64, "backward": 2 * b1c1 / 64, "total": 4 * b1c1 / 64
    }
    flops = gradient_ascent_flops(model, "block3_conv1", 64)
    assert flops["forward"] == flops["backward"] == 2 * below + 2 * b3c1 / 256
    assert flops["total"] == 1_539_440_640  # 1.54 GFLOP per image and step


def test_feature_vis_benchmark_runs_end_to_end(tmp_path):
    """`python -m benchmarks.feature_vis --quick`: every row present, finite, with its target."""
    out = tmp_path / "feature_vis.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.feature_vis", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    data = json.loads(out.read_text())
    sections = {r["section"] for r in data["rows"]}
    assert sections == {"1 step cost", "2 class patterns", "3 robustness", "4 high frequencies"}
    assert all(math.isfinite(r["value"]) for r in data["rows"])
    targets = [r for r in data["rows"] if r["status"] != "info"]
    assert len(targets) == 6  # step cost, 5 of 6 classes, robustness and HF on two layers each
    assert set(data["patterns"]) == {"conv2d_3", "conv2d_4"}
    assert data["classifier"]["test_accuracy"] >= 0


def test_high_frequency_share_hand_computed():
    from benchmarks.feature_vis import high_frequency_share

    y, x = np.mgrid[0:16, 0:16]
    low = np.repeat(np.cos(2 * np.pi * x / 16)[None, :, :, None], 3, axis=3)  # 1/16 cycles/px
    high = np.repeat(np.cos(2 * np.pi * 6 * x / 16)[None, :, :, None], 3, axis=3)  # 6/16 > 0.25
    np.testing.assert_allclose(high_frequency_share(np.concatenate([low, high, low + high])),
                               [0.0, 1.0, 0.5], atol=1e-9)

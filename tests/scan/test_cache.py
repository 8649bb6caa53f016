"""cache_dir: reruns compute nothing, changes recompute only what changed, damage is detected."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import convviz_widgets as cvw

from .conftest import tiny_model

ROOT = Path(__file__).resolve().parents[2]


def scan(model, images, tmp_path, **kwargs):
    args = {"layer": "c2", "k": 4, "batch_size": 10, "progress": False, **kwargs}
    return cvw.scan.top_activations(model, images, cache_dir=tmp_path / "cache", **args)


def same(a, b):
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.positions, b.positions)


def test_rerun_computes_nothing_and_changes_recompute_only_what_changed(model, images, tmp_path):
    first = scan(model, images, tmp_path)
    assert (first.run.computed, first.run.cached) == (4, 0)
    again = scan(model, images, tmp_path)
    assert (again.run.computed, again.run.cached) == (0, 4)
    same(first, again)
    other_k = scan(model, images, tmp_path, k=2)  # k is applied when merging: nothing to compute
    assert other_k.run.computed == 0
    np.testing.assert_array_equal(other_k.indices, first.indices[:, :2])
    more = np.concatenate([images, images[:10] // 2])  # one more batch
    grown = scan(model, more, tmp_path)
    assert (grown.run.computed, grown.run.cached) == (1, 4)
    same(grown, scan(model, more, tmp_path / "fresh"))
    assert scan(model, images, tmp_path, layer="c1").run.computed == 4  # another layer
    assert scan(model, images, tmp_path, preprocess=lambda x: x / 128.0).run.computed == 4
    changed = tiny_model(seed=2)  # other weights, same architecture
    assert scan(changed, images, tmp_path).run.computed == 4


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_damaged_cache_file_is_detected_and_recomputed(model, images, tmp_path, damage):
    first = scan(model, images, tmp_path)
    files = sorted((tmp_path / "cache").glob("*.cvw"))
    assert len(files) == 4
    data = bytearray(files[1].read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 7]
    else:
        data = bytearray(b"not a cache file")
    files[1].write_bytes(bytes(data))
    again = scan(model, images, tmp_path)
    assert (again.run.computed, again.run.cached, again.run.corrupt) == (1, 3, 1)
    same(first, again)
    assert scan(model, images, tmp_path).run.computed == 0  # rewritten whole


def test_killed_mid_run_the_rerun_resumes(model_file, images, tmp_path):
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        import convviz_widgets as cvw
        model = cvw.load_model({str(model_file)!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        def kill(done, total):
            if done == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        cvw.scan.top_activations(model, images, "c2", k=4, batch_size=10, progress=False,
                                 cache_dir={str(tmp_path / "cache")!r}, callback=kill)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == -9  # SIGKILLed, after two batches were cached
    assert len(list((tmp_path / "cache").glob("*.cvw"))) == 2
    model = cvw.load_model(model_file)
    resumed = scan(model, images, tmp_path)
    assert (resumed.run.computed, resumed.run.cached) == (2, 2)
    same(resumed, scan(model, images, tmp_path / "fresh"))


def test_cache_dir_that_cannot_be_made(model, images, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(cvw.ConvVizError, match="cache_dir: expected a folder that can be created"):
        cvw.scan.top_activations(model, images, "c2", cache_dir=tmp_path / "file" / "sub", progress=False)

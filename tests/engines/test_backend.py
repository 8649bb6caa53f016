"""TensorFlow's native startup log is filtered at our first import; the user's output is not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from convviz_widgets.engines.backend import startup_noise

ONEDNN = ("I0000 00:00:1796234184.335374    7873 port.cc:153] oneDNN custom operations are on. "
          "You may see slightly different numerical results")  # fmt: skip
CUINIT = ("E0000 00:00:1796234186.877065    7873 cuda_platform.cc:52] failed call to cuInit: "
          "INTERNAL: CUDA error")  # fmt: skip
OWN_ERROR = "E0000 00:00:1796234186.877065    7873 op_kernel.cc:1830] OP_REQUIRES failed"
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def test_startup_noise_follows_the_log_level():
    assert startup_noise(ONEDNN, level=2) and startup_noise(PREAMBLE, level=2)
    assert not startup_noise(ONEDNN, level=0) and not startup_noise(PREAMBLE, level=0)
    assert not startup_noise(OWN_ERROR, level=2)  # errors stay at the default level
    assert startup_noise(OWN_ERROR, level=3)
    # the GPU probe's error is noise only where no GPU was found
    assert startup_noise(CUINIT, level=2, gpu_found=False)
    assert not startup_noise(CUINIT, level=2, gpu_found=True)
    for line in ("my own line", "I0000 is how my program logs", "WARNING: something of mine"):
        assert not startup_noise(line, level=3)


SCRIPT = r"""
import logging, os, sys
logging.basicConfig(format="%(name)s: %(message)s")
print("before", file=sys.stderr, flush=True)
import convviz_widgets as cvw
assert "tensorflow" not in sys.modules
model = cvw.load_model()
assert "tensorflow" in sys.modules
logging.getLogger("user").warning("user warning")
os.write(2, b"raw fd 2\n")
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def _run(env_level, code=SCRIPT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    if env_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = env_level
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=True)  # fmt: skip


def test_first_import_is_quiet_and_the_users_output_is_kept():
    done = _run(None)
    assert done.stderr.splitlines() == ["before", "user: user warning", "raw fd 2"]
    assert done.stdout.strip() == "2"  # set, because the user had not set it


def test_a_level_the_user_chose_is_respected():
    done = _run("0")
    assert done.stdout.strip() == "0"
    assert "oneDNN custom operations are on" in done.stderr  # level 0: the user asked for INFO
    assert done.stderr.splitlines()[-2:] == ["user: user warning", "raw fd 2"]


@pytest.mark.parametrize(
    "module",
    ["convviz_widgets.engines.metrics", "convviz_widgets.engines.geometry",
     "convviz_widgets.engines.cam.executors", "convviz_widgets.engines.cam.base"],
)
def test_a_submodule_that_imports_keras_first_is_quiet_too(module):
    # imported on its own (cvw.metrics is), it must not bypass the filtered import
    done = _run(None, f"import sys, {module}\nassert 'tensorflow' in sys.modules")
    assert done.stderr == ""

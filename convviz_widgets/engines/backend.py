"""TensorFlow, imported once and quietly; Keras 3 on the TensorFlow backend, or a clear error.

TensorFlow 2.21 writes its native startup log ("WARNING: All log messages before
absl::InitializeLog() ...", "I0000 ... oneDNN custom operations are on", "Could not find cuda
drivers", "failed call to cuInit" on a machine without a GPU) straight to file descriptor 2,
before it reads ``TF_CPP_MIN_LOG_LEVEL``; in a notebook those lines are two red blocks under
the first cell. :func:`import_tensorflow` imports it with descriptor 2 captured and writes back
everything that is not such a line, so the user's own output and logging are untouched.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile

from ..errors import ConvVizError

#: The level TF's C++ logging gets when the user has not set ``TF_CPP_MIN_LOG_LEVEL``:
#: 2 hides INFO and WARNING, errors still show.
DEFAULT_TF_LOG_LEVEL = "2"

# A native log line: severity, date, time, thread, file:line] message (absl / TF's tsl format).
_NATIVE_LINE = re.compile(r"^(?P<severity>[IWEF])\d{4} [\d:.]+ +\d+ (?P<file>\S+):\d+\] ")
# Lines that belong to the startup notes without a severity of their own.
_STARTUP_NOTES = re.compile(
    r"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow with)"
)
# TensorFlow's probe for a GPU; on a machine without one, its errors say only that.
_CUDA_PROBE = re.compile(r"^(?:cuda\w*|cudart_stub|gpu_\w+)\.cc$")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def _log_level() -> tuple[int, bool]:
    """(TF's C++ minimum log level, whether the user chose it)."""
    value = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    chosen = value is not None
    try:
        return int(value if chosen else DEFAULT_TF_LOG_LEVEL), chosen
    except ValueError:
        return 0, chosen


def startup_noise(line: str, level: int, gpu_found: bool = True) -> bool:
    """Whether ``line`` of TensorFlow's native startup output is below the log ``level``.

    A GPU probe's error counts as noise when no GPU was found (and the level is not 0): on a
    machine without one, "failed call to cuInit" says nothing the user can act on.
    """
    match = _NATIVE_LINE.match(line)
    if match is None:
        return level >= 1 and bool(_STARTUP_NOTES.match(line))
    severity = _SEVERITY[match["severity"]]
    if severity < level:
        return True
    return not gpu_found and severity < 3 and bool(_CUDA_PROBE.match(match["file"]))


def import_tensorflow():
    """Import TensorFlow (and probe its devices) with its native startup log filtered; return it.

    ``TF_CPP_MIN_LOG_LEVEL`` is set to :data:`DEFAULT_TF_LOG_LEVEL` only when the user has not
    set it. If TensorFlow was imported already (by the user), nothing is changed or hidden.
    """
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        return tf
    level, chosen = _log_level()
    if not chosen:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = DEFAULT_TF_LOG_LEVEL
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(2)
    gpu_found = True
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow as tf

            gpu_found = bool(tf.config.list_physical_devices("GPU"))
            import keras  # noqa: F401 - its own native libraries log at import, too
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            text = log.read().decode(errors="replace")
            kept = [
                line for line in text.splitlines(keepends=True)
                if not startup_noise(line, level, gpu_found=gpu_found or level == 0)
            ]  # fmt: skip
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
    return tf


@functools.cache
def _backend_name() -> str:
    import_tensorflow()
    import keras

    return keras.backend.backend()


def require_tensorflow() -> None:
    """Raise a ConvVizError at first use when Keras runs on another backend."""
    name = _backend_name()
    if name != "tensorflow":
        raise ConvVizError(
            f"Keras backend: convviz_widgets needs the 'tensorflow' backend, but Keras is "
            f"configured with {name!r}. Set KERAS_BACKEND=tensorflow before importing keras "
            f"(or edit ~/.keras/keras.json) and restart the kernel."
        )

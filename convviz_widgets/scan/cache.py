"""Results of scan tasks on disk: one checksummed file per task, written atomically.

A file is ``MAGIC + blake2b(payload) + payload`` with an ``.npz`` payload. A file whose
checksum does not match (a partial write by another tool, a flipped bit) or that does not
parse is deleted and counted in ``corrupt``; the task is then computed again. Files are
written to a temporary name and renamed, so a process killed mid-write leaves no file that
looks complete, and a rerun resumes from the tasks that finished.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConvVizError

MAGIC = b"CVWSCAN1"
_DIGEST = 32


class ResultCache:
    """{task key: dict of numpy arrays} in a folder; ``hits``, ``writes`` and ``corrupt`` counts."""

    def __init__(self, directory):
        self.root = Path(directory)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConvVizError(
                f"cache_dir: expected a folder that can be created and written, got "
                f"{str(directory)!r} ({exc.strerror or exc})."
            ) from None
        self.hits = self.writes = self.corrupt = 0

    def path(self, key: str) -> Path:
        return self.root / f"{key}.cvw"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        payload = data[len(MAGIC) + _DIGEST :]
        ok = data[: len(MAGIC)] == MAGIC and data[len(MAGIC) : len(MAGIC) + _DIGEST] == _digest(payload)
        result = None
        if ok:
            try:
                with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                    result = {name: npz[name] for name in npz.files}
            except (OSError, ValueError, EOFError):
                result = None
        if result is None:
            self.corrupt += 1
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        return result

    def put(self, key: str, result: dict) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **result)
        payload = buffer.getvalue()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".cvw")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + _digest(payload) + payload)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.writes += 1


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_DIGEST).digest()

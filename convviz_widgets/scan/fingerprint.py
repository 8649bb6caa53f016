"""A stable fingerprint of a model (architecture and weights) and of a scan's settings.

Cache keys and worker-side model caches are keyed by content, never by ``id()``: the same
weights loaded twice give the same fingerprint, one changed weight gives another.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def model_fingerprint(model) -> str:
    """Hex digest of the model's architecture (its Keras JSON config) and every weight's bytes."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(model.to_json().encode())
    # Weights by position, not by ``weight.path``: Keras prefixes the path with whatever name
    # scopes were open when the model was built or loaded ("functional_37/.../c1/kernel" in a
    # long session), so the same file would get another fingerprint in another process. The
    # architecture JSON above already fixes the order and the layers the weights belong to.
    for i, weight in enumerate(model.weights):
        value = np.ascontiguousarray(np.asarray(weight.numpy()))
        digest.update(f"{i}:{value.shape}:{value.dtype};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def callable_key(fn) -> str:
    """A key for a preprocess callable: where it is defined and the bytes of its code."""
    code = getattr(fn, "__code__", None)
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    if code is None:
        return name
    consts = repr([c for c in code.co_consts if isinstance(c, int | float | str | bytes)])
    return name + ":" + hashlib.blake2b(code.co_code + consts.encode(), digest_size=8).hexdigest()


def settings_key(*parts) -> str:
    """Hex digest of JSON-able parts (a scan's kind, model fingerprint, settings, image keys)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

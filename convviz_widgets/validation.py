"""The one index check: engines, render and widgets all say the same thing about a bad index."""

from __future__ import annotations

import numbers

from .errors import ConvVizError


def check_index(name: str, value, count: int, what: str = "an index") -> int:
    """``value`` as an int in ``0..count-1``; else a ConvVizError naming ``name``, the range and
    what came in: ``"class_index: expected a class index in 0..5, got 6"``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConvVizError(
            f"{name}: expected {what} in 0..{count - 1} (an integer), "
            f"got {type(value).__name__} {value!r}"
        )
    if count < 1:
        raise ConvVizError(f"{name}: expected {what}, but there is none (0 in all); got {int(value)}")
    if not 0 <= value < count:
        raise ConvVizError(f"{name}: expected {what} in 0..{count - 1}, got {int(value)}")
    return int(value)

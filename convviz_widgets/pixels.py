"""Optimized float images -> display uint8: the one conversion that render and engines share.

A leaf module (numpy only, like ``errors``): ``render.deprocess`` is this function, and the
engines' ``generate`` (whose contract is uint8, DESIGN.md) uses it without importing render,
so imports still go one way (widgets -> render -> engines, all of them -> leaves).
"""

from __future__ import annotations

import numpy as np

from .errors import ConvVizError

#: How a parameterization's images are shown: "standardize" (the book's deprocess, for
#: images in the model's input space) or "pixels" (images already 0..255, clipped).
DISPLAYS = ("standardize", "pixels")


def deprocess(images, alive=None, display: str = "standardize") -> np.ndarray:
    """Float images (N, H, W, 3) -> uint8.

    "standardize" (the book's): center, divide by std + 1e-5, x0.1 + 0.5, clip, x255.
    "pixels": clip to 0..255 and round down, for images that are pixel values already.
    ``alive`` (N,) bool: images whose objective never had a gradient are shown flat mid-gray
    (their "pattern" would only be the starting noise).
    """
    if display not in DISPLAYS:
        raise ConvVizError(f"display: expected one of {DISPLAYS}, got {display!r}.")
    x = np.asarray(images, dtype=np.float32)
    if display == "pixels":
        x = np.clip(x, 0.0, 255.0)
        if alive is not None:
            x[~np.asarray(alive, dtype=bool)] = 127.0
        return x.astype(np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        z = x - x.mean(axis=(1, 2, 3), keepdims=True)
        z = z / (z.std(axis=(1, 2, 3), keepdims=True) + 1e-5)
    overflow = ~np.isfinite(z).all(axis=(1, 2, 3))
    if overflow.any():  # values near float32's limit (a run about to diverge): scale first
        big = x[overflow].astype(np.float64)
        big /= np.abs(big).max(axis=(1, 2, 3), keepdims=True)
        big -= big.mean(axis=(1, 2, 3), keepdims=True)
        z[overflow] = big / (big.std(axis=(1, 2, 3), keepdims=True) + 1e-5)
    x = z
    if alive is not None:
        x[~np.asarray(alive, dtype=bool)] = 0.0
    x = np.clip(x * 0.1 + 0.5, 0.0, 1.0) * 255.0
    return x.astype(np.uint8)

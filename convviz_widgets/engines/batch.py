"""One image -> the model's input batch, and a content key for caching per image."""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import ConvVizError
from .images import load_image, resize
from .models import input_size


def model_image(model, img) -> np.ndarray:
    """``img`` (anything load_image takes) as float32 (H, W, 3) at the model's input size."""
    image = load_image(img)
    h, w = input_size(model)
    if h is not None or w is not None:
        image = resize(image, (h or image.shape[0], w or image.shape[1]))
    return image


def model_batch(model, img, preprocess) -> np.ndarray:
    """The preprocessed (1, H, W, 3) float32 batch fed to the model."""
    return preprocessed(preprocess, model_image(model, img)[None])


def preprocessed(preprocess, batch: np.ndarray) -> np.ndarray:
    """``preprocess`` applied to a copy of ``batch`` (preprocess_input may work in place), as
    float32 of the batch's shape; a failure or another shape is a ConvVizError."""
    try:
        x = preprocess(batch.copy())
    except Exception as exc:
        raise ConvVizError(f"preprocess: raised {type(exc).__name__}: {exc}") from exc
    x = np.asarray(x, dtype=np.float32)
    if x.shape != batch.shape:
        raise ConvVizError(
            f"preprocess: expected it to return the batch's shape {batch.shape}, got {x.shape}."
        )
    return x


def content_key(array: np.ndarray) -> tuple:
    """A key that changes whenever the pixels change (arrays are mutable; ids are not keys)."""
    data = np.ascontiguousarray(array)
    return data.shape, str(data.dtype), hashlib.blake2b(data.tobytes(), digest_size=16).digest()

"""Turning whatever the user has (a path, bytes, a PIL image, an array) into one RGB image.

The result is always float32 (H, W, 3) with values 0..255, the tutorial's convention.
Conventions for arrays: uint8 and other integers are 0..255; uint16 is 0..65535 (scaled
down); floats are 0..255, like Keras' ``img_to_array``, so ``load_image`` of its own result
changes nothing. Float images in 0..1 (matplotlib's ``imread`` of a PNG, scikit-image's
``img_as_float``) must be multiplied by 255 first: as given they are nearly black.
Gray images are repeated to RGB;
transparent images are composited over white. Images larger than MAX_IMAGE_PIXELS are
refused before they are decoded (decompression bombs).
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConvVizError

MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels: more than any camera photo a notebook needs

_PHOTOS = {
    "cat": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
}


def load_image(source, target_size=None) -> np.ndarray:
    """Load ``source`` as float32 (H, W, 3) in 0..255, resized to ``target_size`` (h, w) if given."""
    from PIL import Image

    if _is_checked(source):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = _from_pil(source, "image")
    elif isinstance(source, bytes | bytearray | memoryview):
        image = _from_bytes(bytes(source), "image bytes")
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ConvVizError(f"image: no such file {str(path)!r}.")
        image = _from_bytes(path.read_bytes(), repr(str(path)))
    else:
        raise ConvVizError(
            "image: expected a file path, bytes, a PIL image or a numpy array, "
            f"got {type(source).__name__}."
        )
    return resize(image, target_size) if target_size is not None else image


class CheckedImage(np.ndarray):
    """Pixels that were decoded and validated once: float32 (H, W, 3) 0..255, read-only.

    ``load_image`` passes such an array through (resizing it if asked) instead of checking it
    again, so an image entering the widgets is decoded and validated once however many
    explorers and engines use it. Read-only, so what was validated is what they all see; any
    writable array (a copy, the result of arithmetic) is checked like any other.
    """


def checked_image(source, target_size=None) -> CheckedImage:
    """``load_image(source, target_size)`` as a :class:`CheckedImage` (decoded at most once)."""
    image = load_image(source, target_size=target_size)
    if isinstance(image, CheckedImage):
        return image
    view = image.view(CheckedImage)
    view.flags.writeable = False
    return view


def _is_checked(source) -> bool:
    return (
        isinstance(source, CheckedImage) and not source.flags.writeable
        and source.dtype == np.float32 and source.ndim == 3 and source.shape[-1] == 3
        and source.flags.c_contiguous
    )  # fmt: skip


def resize(image: np.ndarray, size) -> np.ndarray:
    """Resize float32 (H, W, 3) to ``size`` = (height, width) with OpenCV (area when shrinking)."""
    import cv2

    try:
        h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    except (TypeError, ValueError, IndexError):
        raise ConvVizError(f"target_size: expected (height, width), got {size!r}.") from None
    if h < 1 or w < 1:
        raise ConvVizError(f"target_size: expected positive (height, width), got {size!r}.")
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] and w < image.shape[1]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = cv2.resize(image, (w, h), interpolation=interpolation).reshape(h, w, 3)
    # Interpolation can overshoot 0..255 by float round-off (255.00003): keep the contract.
    return np.ascontiguousarray(np.clip(out, 0.0, 255.0), dtype=np.float32)


def _from_bytes(data: bytes, what: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ConvVizError(f"image: {what} is empty (0 bytes); expected an image file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ConvVizError(
            f"image: {what} is not an image file Pillow can read "
            "(expected PNG, JPEG, GIF, BMP, TIFF, WebP, ...)."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConvVizError(
            f"image: {what} is too large to decode safely (over {MAX_IMAGE_PIXELS:,} pixels)."
        ) from None
    return _from_pil(pil, what)


def _from_pil(pil, what: str) -> np.ndarray:
    from PIL import Image, ImageOps

    width, height = pil.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ConvVizError(
            f"image: {what} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{MAX_IMAGE_PIXELS:,} (convviz_widgets.engines.images.MAX_IMAGE_PIXELS); "
            "expected a smaller image. It was not decoded."
        )
    try:
        pil.seek(0)  # first frame of an animated GIF/PNG/WebP
        pil.load()
        pil = ImageOps.exif_transpose(pil)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ConvVizError(
            f"image: {what} could not be decoded ({exc}); the file is damaged or truncated."
        ) from None
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _from_array(np.asarray(pil))
    if pil.mode == "P":
        pil = pil.convert("RGBA")
    if pil.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGBA", pil.size, (255, 255, 255, 255))
        pil = Image.alpha_composite(background, pil.convert("RGBA"))
    return _from_array(np.asarray(pil.convert("RGB")))


def _from_array(array: np.ndarray) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ConvVizError(
            f"image: expected an array of uint8 or float pixels, got dtype {a.dtype}."
        )
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (2, 3, 4)):
        raise ConvVizError(
            "image: expected an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
            f"got shape {a.shape}."
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ConvVizError(f"image: the array is empty (shape {a.shape}).")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int(np.size(a) - np.isfinite(a).sum())
        raise ConvVizError(
            f"image: the array has {bad} NaN or infinite values; expected finite pixel values."
        )
    x = a.astype(np.float32)
    if a.dtype == np.uint16:
        x /= 257.0
    elif np.issubdtype(a.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ConvVizError(
                f"image: integer pixels must lie in 0..255, got {x.min():g}..{x.max():g}."
            )
    elif x.min() < 0 or x.max() > 255:
        raise ConvVizError(
            f"image: float pixels must lie in 0..255, got {x.min():g}..{x.max():g} "
            "(for an image in 0..1, pass image * 255)."
        )
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    elif x.shape[-1] == 2:  # gray + alpha
        x = np.repeat(_over_white(x[..., :1], x[..., 1:]), 3, axis=-1)
    elif x.shape[-1] == 4:
        x = _over_white(x[..., :3], x[..., 3:])
    return np.ascontiguousarray(x, dtype=np.float32)


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha / 255.0
    return color * a + 255.0 * (1.0 - a)


#: The sample photos (what an ImageNet classifier was trained on).
PHOTO_SAMPLES = tuple(_PHOTOS)


def sample_images() -> list[str]:
    """Names accepted by :func:`sample_image`: real photos first, then generated shapes."""
    from ..datasets import SHAPE_CLASSES

    return list(_PHOTOS) + list(SHAPE_CLASSES)


def sample_image(name: str = "cat") -> np.ndarray:
    """A shipped, offline sample image as float32 (H, W, 3) 0..255.

    Photos come from scikit-image's data module ("cat" is Chelsea); shape names give a
    generated 150x150 image containing that object (what the default model was trained on).
    """
    names = sample_images()
    if name not in names:
        raise ConvVizError(f"sample image: unknown name {name!r}; expected one of {names}.")
    return _sample(name).copy()


@functools.cache
def _sample(name: str) -> np.ndarray:
    if name in _PHOTOS:
        import skimage.data

        return _from_array(getattr(skimage.data, _PHOTOS[name])())
    from ..datasets import SHAPE_CLASSES, shapes

    images, labels, _ = shapes(64, seed=2024)
    index = int(np.flatnonzero(labels == SHAPE_CLASSES.index(name))[0])
    return images[index].astype(np.float32)

"""What a scan reads: a folder of image files, an array of images, or ``datasets.shapes`` output.

``image_folder(path)`` lists the image files under ``path`` (recursively, sorted by their path
relative to it) and reads only each file's header; the pixels are decoded when an image is
used. Files that cannot be images (empty, not an image format Pillow knows, a header it cannot
read) are left out and listed in ``.errors`` with the reason. A file that passes the header check
but fails to decode (a truncated JPEG) is found by the scan that reads it: the scan skips it and
reports it in its result's ``errors`` (and in the folder's ``.errors``), it never raises.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..engines.batch import preprocessed
from ..errors import ConvVizError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _header_error(path: Path) -> str | None:
    """Why ``path`` cannot be an image file, judged from its size and header; None if it may be."""
    from PIL import Image, UnidentifiedImageError

    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as pil:
            width, height = pil.size
    except UnidentifiedImageError:
        return "not an image file Pillow can read (expected PNG, JPEG, GIF, BMP, TIFF, WebP, ...)"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"unreadable header ({type(exc).__name__}: {exc})"
    if width < 1 or height < 1:
        return f"image of size {width}x{height}"
    return None


class ImageFolder(Sequence):
    """A lazy, sorted, indexable sequence of the images under a folder (float32 (H, W, 3), 0..255).

    ``.names``: each image's path relative to the folder (POSIX separators), in order;
    ``.paths``: the absolute paths; ``.errors``: {relative path: reason} for files left out.
    """

    def __init__(self, path):
        root = Path(path)
        if not root.is_dir():
            raise ConvVizError(f"path: expected a folder of images, got {str(path)!r} (not a folder).")
        self.root = root.resolve()
        self.errors: dict[str, str] = {}
        names = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith(".") or not filename.lower().endswith(EXTENSIONS):
                    continue
                names.append(Path(dirpath, filename).relative_to(self.root).as_posix())
        names.sort()
        self.names: list[str] = []
        for name in names:
            reason = _header_error(self.root / name)
            if reason is None:
                self.names.append(name)
            else:
                self.errors[name] = reason

    @property
    def paths(self) -> list[str]:
        return [str(self.root / name) for name in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        from ..engines.images import load_image

        return load_image(self.root / self.names[_index(index, len(self))])

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}: {len(self)} images, {len(self.errors)} errors)"


def image_folder(path) -> ImageFolder:
    """The images under folder ``path``: lazy, sorted, recursive; unreadable files in ``.errors``."""
    return ImageFolder(path)


def _index(index, n: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise ConvVizError(f"index: expected an integer, got {type(index).__name__}.")
    i = int(index) + (n if index < 0 else 0)
    if not 0 <= i < n:
        raise IndexError(f"index {int(index)} out of range for {n} images")
    return i


class Source:
    """The images of a scan, whatever the user passed: what each task reads, and cache keys.

    ``payload(indices)`` is what a task receives (file paths, or the images themselves);
    ``keys(indices)`` one string per image that changes when the image changes.
    """

    def __init__(self, images, what: str = "images"):
        self.folder = None
        self.array = None
        self.items = None
        self.labels = self.masks = None
        if _is_shapes_output(images):
            images, labels, masks = images  # datasets.shapes(n) output
            self.labels, self.masks = np.asarray(labels), np.asarray(masks)
        if isinstance(images, str | os.PathLike):
            images = ImageFolder(images)
        if isinstance(images, ImageFolder):
            self.folder = images
            self.names = list(images.names)
        elif isinstance(images, np.ndarray):
            if images.ndim not in (3, 4) or images.shape[0] == 0:
                raise ConvVizError(
                    f"{what}: expected an array of images (n, H, W, 3) or (n, H, W), "
                    f"got shape {images.shape}."
                )
            self.array = images
            self.names = [str(i) for i in range(len(images))]
        elif isinstance(images, Sequence) and not isinstance(images, bytes | bytearray):
            self.items = list(images)
            self.names = [
                str(x) if isinstance(x, str | os.PathLike) else str(i) for i, x in enumerate(self.items)
            ]
        else:
            raise ConvVizError(
                f"{what}: expected a folder path, cvw.image_folder(...), an array (n, H, W, 3), "
                f"datasets.shapes(...) output or a list of images, got {type(images).__name__}."
            )
        if not self.names:
            raise ConvVizError(f"{what}: no images to scan (the folder or list is empty).")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def errors(self) -> dict:
        return dict(self.folder.errors) if self.folder is not None else {}

    def payload(self, indices) -> list:
        if self.folder is not None:
            return [str(self.folder.root / self.names[i]) for i in indices]
        if self.array is not None:
            return [self.array[i] for i in indices]
        return [self.items[i] for i in indices]

    def keys(self, indices) -> list[str]:
        if self.folder is not None:
            out = []
            for i in indices:
                stat = (self.folder.root / self.names[i]).stat()
                out.append(f"{self.names[i]}:{stat.st_size}:{stat.st_mtime_ns}")
            return out
        return [_content_key(x) for x in self.payload(indices)]

    def image(self, index: int):
        from ..engines.images import load_image

        return load_image(self.payload([index])[0])


def _is_shapes_output(images) -> bool:
    """(images (n, H, W, 3), labels (n,), masks (n, H, W)): not merely a tuple of three images."""
    if not (isinstance(images, tuple) and len(images) == 3):
        return False
    a, labels, masks = (np.asarray(x) if isinstance(x, np.ndarray) else x for x in images)
    return (
        isinstance(a, np.ndarray) and isinstance(labels, np.ndarray) and isinstance(masks, np.ndarray)
        and a.ndim == 4 and labels.ndim == 1 and masks.ndim == 3 and len(a) == len(labels) == len(masks)
    )


def _content_key(item) -> str:
    if isinstance(item, str | os.PathLike):
        stat = Path(item).stat()
        return f"{Path(item).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    if isinstance(item, bytes | bytearray):
        return hashlib.blake2b(bytes(item), digest_size=16).hexdigest()
    data = np.ascontiguousarray(np.asarray(item))
    digest = hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()
    return f"{data.shape}:{data.dtype}:{digest}"


def load_batch(model, items, preprocess):
    """(preprocessed float32 batches grouped by size, their positions in ``items``, errors).

    Each item is decoded and resized to the model's input size; an item that fails gives an
    entry {position: reason} in ``errors`` and is skipped. Images of different sizes (a model
    that takes any size) go in separate batches.
    """
    from ..engines.batch import model_image

    groups: dict[tuple, list] = {}
    errors: dict[int, str] = {}
    for position, item in enumerate(items):
        try:
            image = model_image(model, item)
        except ConvVizError as exc:
            errors[position] = str(exc).removeprefix("image: ")
            continue
        groups.setdefault(image.shape, []).append((position, image))
    batches = []
    for members in groups.values():
        positions = [p for p, _ in members]
        raw = np.stack([im for _, im in members])
        batches.append((positions, raw, preprocessed(preprocess, raw)))
    return batches, errors

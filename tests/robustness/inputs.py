"""Generators for the bad-input corpus: every file and array is made here, nothing is downloaded."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

# -- encoders ------------------------------------------------------------------------------------


def encode(image, fmt: str = "PNG", **save) -> bytes:
    """A PIL image (or a uint8/uint16 array) saved to bytes in ``fmt``."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels, ~1000x smaller than them.

    Deflate output after a full flush does not depend on earlier data, so the compressed block
    of "many zero rows" is repeated instead of compressing gigabytes; the zlib trailer is the
    Adler-32 of n zero bytes, (n mod 65521) << 16 | 1.
    """
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    per_block = max(1, (1 << 20) // len(row))
    full, rest = divmod(height, per_block)
    c = zlib.compressobj(9)
    first = c.compress(row * per_block) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(row * per_block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(row * rest) + c.flush()
    if full == 0:  # a small image: one honest stream
        stream = zlib.compress(row * rest, 9)
    else:
        stream = first + repeat * (full - 1) + tail[:-4]
        stream += struct.pack(">I", ((len(row) * height) % 65521) << 16 | 1)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", stream)
        + _chunk(b"IEND", b"")
    )


def png48(rgb16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one; OpenCV can, in BGR order)."""
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb16[..., ::-1]))
    assert ok
    return data.tobytes()


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupt_idat(data: bytes) -> bytes:
    """Flip bits inside the compressed pixel data (the chunk's CRC no longer matches)."""
    out = bytearray(data)
    start = out.find(b"IDAT") + 4
    for i in range(start + 2, start + 12):
        out[i] ^= 0xA5
    return bytes(out)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (6, 5), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def transparent_gif() -> bytes:
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    im.putpixel((1, 1), 1)
    return encode(im, "GIF", transparency=0)


def palette_png_with_transparency() -> bytes:
    im = Image.new("P", (4, 3), 0)  # index 0: red, fully transparent (tRNS)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((2, 1), 1)  # one opaque blue pixel
    return encode(im, "PNG", transparency=0)


def multipage_tiff() -> bytes:
    pages = [Image.new("RGB", (5, 4), (9, 99, 199)), Image.new("RGB", (5, 4), (200, 0, 0))]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


TALL = np.zeros((60, 40, 3), np.uint8)
TALL[:20] = (255, 0, 0)  # the top third red, the rest blue
TALL[20:] = (0, 0, 255)


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return encode(TALL, "JPEG", quality=95, exif=exif.tobytes())


GRAY = (np.arange(6 * 7).reshape(6, 7) * 6).astype(np.uint8)
RGBA = np.array(
    [[[255, 0, 0, 255], [0, 0, 0, 0]], [[0, 0, 255, 128], [10, 20, 30, 255]]], dtype=np.uint8
)
WIDE = np.tile(np.linspace(0, 255, 8000, dtype=np.float32).astype(np.uint8)[None, :, None], (10, 1, 3))
DARK = (noise((32, 32, 3), seed=5) % 2).astype(np.uint8)  # an 8-bit image whose levels are 0 and 1


def fake_keras_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.0.0"}')
    return buffer.getvalue()


# -- the corpus entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input. ``error``: regex the ConvVizError must match; else ``check(loaded)`` asserts."""

    id: str
    make: Callable[[], object]
    filename: str | None = None  # files: the name on disk and in the upload
    error: str | None = None
    check: Callable[[np.ndarray], None] | None = None
    pillow_limit_off: bool = False  # Pillow's own bomb check disabled (Image.MAX_IMAGE_PIXELS = None)

    def __repr__(self):
        return self.id

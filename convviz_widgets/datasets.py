"""The default model's data set: procedural, seeded images of shapes on cluttered backgrounds.

Each image holds one object of its class in a random colour, size, rotation and position, over a
textured background (gradients, smooth colour fields, stripes, noise) with clutter that belongs to
no class (lines, elongated blobs, small fragments), sometimes partly occluded or cut by the border.
Object colours are drawn independently of the class, so colour alone cannot give the answer.
numpy and cv2 only: no TensorFlow, so the data can be made anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .errors import ConvVizError

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
IMAGE_SIZE = 150

_SIZE_RANGE = (34.0, 72.0)  # object diameter in pixels
_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn at 1/16 px precision
_SCALE = float(1 << _SHIFT)
_CHUNK = 32  # images whose backgrounds are computed in one vectorized pass
_MIN_VISIBLE = 0.6  # an occluder may hide at most 40% of the object


def shapes(
    n: int, seed: int | Sequence[int] = 0, *, difficulty: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images with one shape each, their class indices and the shapes' visible pixels.

    Returns (uint8 images (n, 150, 150, 3), int64 labels (n,), bool masks (n, 150, 150)).
    Classes are balanced (``n // 6`` or one more each) and shuffled. Same ``seed``, same arrays.
    ``seed`` is anything ``numpy.random.default_rng`` takes (an int, or a sequence of ints).
    ``difficulty`` scales background texture, clutter and occlusion: 0 gives shapes on smooth
    gradients with nothing else, 1 (the default) the full data set; training ramps it up.
    """
    n = _check_count(n)
    difficulty = _check_difficulty(difficulty)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(SHAPE_CLASSES))
    images, masks = _render(rng, labels, difficulty)
    return images, labels, masks


def sample(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One image of class ``name`` (uint8 (150, 150, 3)) and its object mask (bool (150, 150))."""
    if name not in SHAPE_CLASSES:
        raise ConvVizError(
            f"name: expected one of {', '.join(SHAPE_CLASSES)}, got {name!r}"
        )
    rng = np.random.default_rng(seed)
    images, masks = _render(rng, np.array([SHAPE_CLASSES.index(name)], dtype=np.int64))
    return images[0], masks[0]


def _check_difficulty(difficulty) -> float:
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float, np.number)) or not (
        0 <= difficulty <= 1
    ):
        raise ConvVizError(f"difficulty: expected a number from 0 to 1, got {difficulty!r}")
    return float(difficulty)


def _check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConvVizError(f"n: expected a non-negative integer, got {n!r}")
    return int(n)


def _render(
    rng: np.random.Generator, labels: np.ndarray, difficulty: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    n = len(labels)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    masks = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        _backgrounds(rng, images[start:stop], difficulty)
        for i in range(start, stop):
            masks[i] = _draw_scene(rng, images[i], int(labels[i]), difficulty)
    return images, masks


# --- backgrounds -----------------------------------------------------------------------------

# (150, 5): row i holds the bicubic weights of the 5 coarse samples for output pixel i.
_UPSAMPLE = cv2.resize(np.eye(5, dtype=np.float32), (5, IMAGE_SIZE), interpolation=cv2.INTER_CUBIC)
_COORDS = (np.arange(IMAGE_SIZE, dtype=np.float32) - (IMAGE_SIZE - 1) / 2) / IMAGE_SIZE


def _unit_directions(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    return np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]


def _backgrounds(rng: np.random.Generator, out: np.ndarray, difficulty: float = 1.0) -> None:
    """Fill uint8 ``out`` (n, 150, 150, 3): gradient, colour field, half-plane, stripes, noise.

    The three scalar patterns are combined with their colours in one batched matrix product;
    big temporaries are avoided because memory traffic, not arithmetic, is what costs here.
    """
    n = len(out)
    x = _COORDS[None, None, :]
    y = _COORDS[None, :, None]
    patterns = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 4), dtype=np.float32)
    colors = np.empty((n, 4, 3), dtype=np.float32)

    # Linear gradient between two colours; sometimes nearly flat.
    cos, sin = _unit_directions(rng, n)
    np.clip(x * cos + y * sin + 0.5, 0, 1, out=patterns[..., 0])
    colors[:, 0] = rng.uniform(-1, 1, (n, 3)) * rng.uniform(0, 160, (n, 1))
    colors[:, 3] = rng.uniform(0, 255, (n, 3))  # base colour, times the constant pattern
    patterns[..., 3] = 1

    # A soft-edged half-plane in another colour (straight edges, no corners), on some images.
    cos, sin = _unit_directions(rng, n)
    offset = rng.uniform(-0.4, 0.4, (n, 1, 1)).astype(np.float32)
    np.clip((x * cos + y * sin - offset) * 40, 0, 1, out=patterns[..., 1])
    colors[:, 1] = rng.uniform(-90, 90, (n, 3)) * (rng.random((n, 1)) < 0.3) * difficulty

    # Stripes along a random direction, in a random colour, on some images.
    cos, sin = _unit_directions(rng, n)
    period = rng.uniform(5, 25, (n, 1, 1)).astype(np.float32) / IMAGE_SIZE
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    np.sin((x * cos + y * sin) * (2 * np.pi / period) + phase, out=patterns[..., 2])
    colors[:, 2] = rng.uniform(-30, 30, (n, 3)) * (rng.random((n, 1)) < 0.35) * difficulty

    bg = np.matmul(patterns.reshape(n, -1, 4), colors).reshape(out.shape)

    # Smooth random colour field: a coarse 5x5 grid, bicubic-upsampled as two matrix products.
    grid = rng.uniform(-1, 1, (n, 5, 5, 3)) * rng.uniform(0, 50, (n, 1, 1, 1)) * difficulty
    grid = grid.astype(np.float32)
    bg += np.einsum("yi,nijc,xj->nyxc", _UPSAMPLE, grid, _UPSAMPLE, optimize=True)

    # Pixel noise, from none to strong; luminance only, a third of the random numbers.
    noise = rng.standard_normal(out.shape[:3], dtype=np.float32)
    noise *= rng.uniform(0, 16 * difficulty, (n, 1, 1)).astype(np.float32)
    bg += noise[..., None]
    np.clip(bg, 0, 255, out=bg)
    np.copyto(out, bg, casting="unsafe")


# --- shapes ----------------------------------------------------------------------------------


def _regular(k: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(k) * (2 * np.pi / k)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _class_outline(rng: np.random.Generator, label: int) -> list[np.ndarray]:
    """The class's contours in unit-radius coordinates (a ring is an outer and an inner contour)."""
    name = SHAPE_CLASSES[label]
    if name == "circle":
        return [_regular(64)]
    if name == "square":
        return [_regular(4, phase=np.pi / 4) + rng.uniform(-0.05, 0.05, (4, 2))]
    if name == "triangle":
        angles = np.pi / 2 + np.arange(3) * (2 * np.pi / 3) + rng.uniform(-0.12, 0.12, 3)
        return [np.stack([np.cos(angles), np.sin(angles)], axis=1)]
    if name == "star":
        points = rng.integers(5, 7)
        radii = np.tile([1.0, rng.uniform(0.36, 0.46)], points)
        return [_regular(2 * points) * radii[:, None]]
    if name == "cross":
        w = rng.uniform(0.27, 0.4)
        quarter = np.array([[w, 1.0], [w, w], [1.0, w]])
        quarter_turns = ((1, 0), (0, -1), (-1, 0), (0, 1))
        turns = [quarter @ np.array([[c, s], [-s, c]]) for c, s in quarter_turns]
        return [np.concatenate(turns)]
    if name == "ring":
        return [_regular(64), _regular(64, radius=rng.uniform(0.45, 0.6))[::-1]]
    raise AssertionError(label)


def _place(contours, center, radius, angle, aspect) -> list[np.ndarray]:
    """Scale, squash, rotate and move unit contours; int32 in cv2's fixed-point (shift) units."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, s], [-s, c]])
    scale = radius * np.array([aspect, 1.0 / aspect])
    return [
        np.round(((pts * scale) @ rotation + center) * _SCALE).astype(np.int32)
        for pts in contours
    ]


def _fill(canvas: np.ndarray, polygons, color) -> None:
    cv2.fillPoly(canvas, polygons, color, lineType=cv2.LINE_AA, shift=_SHIFT)


def _random_color(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(rng.uniform(0, 255, 3).tolist())


def _object_color(rng: np.random.Generator, local_bg: np.ndarray) -> tuple[float, float, float]:
    """A colour independent of the class that stays visible over ``local_bg``.

    One time in four it is deliberately close to the background (distance 60-90 in RGB).
    """
    if rng.random() < 0.25:
        direction = rng.standard_normal(3)
        color = local_bg + direction / np.linalg.norm(direction) * rng.uniform(60, 90)
        if np.all((color >= 0) & (color <= 255)):
            return tuple(color.tolist())
    for _ in range(20):
        color = rng.uniform(0, 255, 3)
        if np.linalg.norm(color - local_bg) >= 100:
            return tuple(color.tolist())
    return tuple(np.where(local_bg < 128, 255.0, 0.0).tolist())


def _clutter(rng: np.random.Generator, near=None):
    """One piece of clutter that belongs to no class: a line, an elongated blob or a fragment.

    Returns ``draw(canvas, color)``, so the same piece can go on the image and on a test mask.
    """
    kind = rng.integers(3)
    where = np.asarray(near if near is not None else rng.uniform(0, IMAGE_SIZE, 2))
    if kind == 0:  # a polyline of 2-4 points; occluding lines are thicker
        steps = rng.normal(0, 25, (int(rng.integers(1, 4)), 2))
        pts = np.concatenate([[where], where + np.cumsum(steps, axis=0)])
        pts = [np.round(pts * _SCALE).astype(np.int32)]
        thickness = int(rng.integers(1, 4) if near is None else rng.integers(3, 8))
        return lambda canvas, color: cv2.polylines(
            canvas, pts, False, color, thickness, cv2.LINE_AA, _SHIFT
        )
    if kind == 1:  # an elongated ellipse (at least 2.2:1, never a circle)
        length = rng.uniform(5, 16)
        aspect = np.sqrt(rng.uniform(2.2, 4.0))
        polygon = _place([_regular(24)], where, length / aspect, rng.uniform(0, np.pi), aspect)
    else:  # a small irregular fragment, well under the smallest object
        k = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        pts = np.stack([np.cos(angles), np.sin(angles)], axis=1) * rng.uniform(0.4, 1.0, (k, 1))
        polygon = _place([pts], where, rng.uniform(3, 8), 0.0, 1.0)
    return lambda canvas, color: _fill(canvas, polygon, color)


def _draw_scene(
    rng: np.random.Generator, image: np.ndarray, label: int, difficulty: float = 1.0
) -> np.ndarray:
    """Draw clutter, the object and maybe an occluder onto ``image`` in place; return the mask."""
    diameter = rng.uniform(*_SIZE_RANGE)
    radius = diameter / 2
    if rng.random() < 0.2:  # may be cut by the border, but most of it stays in the image
        center = rng.uniform(0.55 * radius, IMAGE_SIZE - 0.55 * radius, 2)
    else:
        center = rng.uniform(radius + 1, IMAGE_SIZE - radius - 1, 2)
    angle, aspect = rng.uniform(0, 2 * np.pi), rng.uniform(0.87, 1.15)
    outline = _place(_class_outline(rng, label), center, radius, angle, aspect)

    lo = np.clip(np.round(center - radius).astype(int), 0, IMAGE_SIZE - 1)
    hi = np.clip(np.round(center + radius).astype(int) + 1, 1, IMAGE_SIZE)
    local_bg = image[lo[1] : hi[1], lo[0] : hi[0]].reshape(-1, 3).mean(axis=0)
    color = _object_color(rng, local_bg)

    for _ in range(round(rng.integers(1, 6) * difficulty)):
        # Clutter sometimes wears the object's colour, so colour does not single the object out.
        _clutter(rng)(image, color if rng.random() < 0.15 else _random_color(rng))

    _fill(image, outline, color)
    alpha = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    _fill(alpha, outline, 255)
    mask = alpha > 127

    if rng.random() < 0.2 * difficulty:  # an occluder over the object, kept only if most of the object shows
        draw = _clutter(rng, near=center + rng.uniform(-0.8, 0.8, 2) * radius)
        occluder_color = _random_color(rng)
        occluder = np.zeros_like(alpha)
        draw(occluder, 255)
        hidden = mask & (occluder > 127)
        if hidden.sum() <= (1 - _MIN_VISIBLE) * mask.sum():
            draw(image, occluder_color)
            mask &= ~hidden
    return mask

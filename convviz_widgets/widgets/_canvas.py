"""The one place where frames reach an ipycanvas Canvas.

Every canvas message of this package goes through :func:`put_frame`, under one lock, so the
filter explorer's worker thread and the kernel's main thread never interleave canvas traffic.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
from ipycanvas import canvas as _ipycanvas

from ..render.frames import encode_png

#: Serializes every canvas message (and the widget messages sent from worker threads).
DRAW_LOCK = threading.RLock()


@contextmanager
def held_canvas():
    """``ipycanvas.hold_canvas`` with its cleanup in ``finally``.

    ipycanvas' own context manager has no try/finally: an exception inside it leaves the shared
    canvas manager caching forever (and every later draw silently queued). Here a failure drops
    the partial batch and restores the manager.
    """
    manager = _ipycanvas._CANVAS_MANAGER
    was_caching = manager._caching
    manager._caching = True
    ok = False
    try:
        yield
        ok = True
    finally:
        if not was_caching:
            try:
                if ok:
                    manager.flush()
            finally:
                manager._caching = False
                manager._commands_cache = []
                manager._buffers_cache = []


def _send_png(canvas, png: bytes, x: int = 0, y: int = 0) -> bool:
    """Send pre-encoded PNG bytes with ipycanvas' own "putImageData" command.

    ``Canvas.put_image_data`` re-encodes every frame with PIL at its default PNG level (~85 ms for
    a 2400x300 grid); the front end only needs image bytes, and ``encode_png`` (cv2, fast level)
    makes them several times faster. This is the same message ``put_image_data`` sends
    (ipycanvas 0.13-0.14). Returns False when that private protocol is not there any more, so
    the caller can fall back to the public API.
    """
    commands = getattr(_ipycanvas, "COMMANDS", None)
    manager = getattr(canvas, "_canvas_manager", None)
    if not isinstance(commands, dict) or "putImageData" not in commands:
        return False
    if manager is None or not hasattr(manager, "send_draw_command"):
        return False
    manager.send_draw_command(canvas, commands["putImageData"], [int(x), int(y)], [png])
    return True


def changed_box(previous: np.ndarray, rgba: np.ndarray):
    """(y0, y1, x0, x1) bounding the pixels that differ between two same-shaped frames, or None."""
    diff = previous.view(np.uint32)[..., 0] != rgba.view(np.uint32)[..., 0]
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def show_at_frame_size(canvas, width: int) -> None:
    """Display ``canvas`` one CSS pixel per frame pixel, shrunk (never stretched) to its container.

    Without a CSS width a canvas in a flex column (Voila, JupyterLab) is stretched to the full
    page width: a 300 px channel became ~1170 px and pushed the controls out of view. Frames are
    drawn at their display size (integer upscaling in ``render``), so the browser only scales
    when the page is narrower than the frame, and ``image-rendering: pixelated`` keeps maps crisp
    (see ``FRAME_CSS``).
    """
    with canvas.layout.hold_sync():
        canvas.layout.width = f"{int(width)}px"
        canvas.layout.max_width = "100%"
        canvas.layout.height = "auto"
        canvas.layout.align_self = "flex-start"


#: CSS for every explorer's canvas (class ``convviz-frame``): crisp map pixels at any zoom.
FRAME_CLASS = "convviz-frame"
FRAME_CSS = (
    f"<style>.{FRAME_CLASS} {{ image-rendering: pixelated; }} "
    f".{FRAME_CLASS} canvas {{ image-rendering: pixelated; }}</style>"
)


#: Send only the changed box when it covers less than this share of the frame.
PARTIAL_SHARE = 0.5


def put_frame(
    canvas, rgba: np.ndarray, png: bytes | None = None, previous=None, png_filter: str = "sub"
) -> None:
    """Resize ``canvas`` to the frame and draw it, as one batch of messages.

    ``rgba`` must come from ``render.frames.to_rgba`` (C-contiguous uint8 (H, W, 4)): only RGBA
    reaches the canvas (ipycanvas sends 3-channel arrays as lossy JPEG). With ``previous`` (the
    frame the canvas shows), only the box of changed pixels is encoded and sent when it is
    small: moving a highlight in a 64-channel grid sends two cells, not the whole mosaic. It is
    one putImageData, so the browser never shows half an update. ``png_filter``: see
    ``render.encode_png``.
    """
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise TypeError(f"put_frame expects uint8 (H, W, 4), got {rgba.dtype} {rgba.shape}")
    height, width = rgba.shape[:2]
    with DRAW_LOCK:
        x = y = 0
        part = rgba
        if canvas.width != width or canvas.height != height:
            with canvas.hold_sync():
                canvas.width = width
                canvas.height = height
            show_at_frame_size(canvas, width)
        elif previous is not None and previous.shape == rgba.shape:
            box = changed_box(previous, rgba)
            if box is None:
                return
            y0, y1, x0, x1 = box
            if (y1 - y0) * (x1 - x0) < PARTIAL_SHARE * height * width:
                y, x, part, png = y0, x0, np.ascontiguousarray(rgba[y0:y1, x0:x1]), None
        if png is None:
            png = encode_png(part, png_filter=png_filter)
        with held_canvas():
            # ipycanvas sends "switchCanvas" only when the target canvas changes; a browser that
            # connected later (Voila executes first, a page reload) never saw the earlier one and
            # would have no canvas to draw on. Start every frame with it (one tiny command).
            if hasattr(canvas._canvas_manager, "_current_canvas"):
                canvas._canvas_manager._current_canvas = None
            if not _send_png(canvas, png, x, y):
                canvas.put_image_data(part, x, y)

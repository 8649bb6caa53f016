"""What every explorer shares: the canvas, the frame, the status line, error reporting, batching."""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas
from traitlets import Unicode, validate

from ..errors import ConvVizError
from ..render.frames import encode_png, to_rgba
from ._canvas import DRAW_LOCK, FRAME_CLASS, FRAME_CSS, put_frame
from ._controls import check_choice

_log = logging.getLogger(__name__)


def error_message(exc: BaseException) -> str:
    """The line the status shows for ``exc``: a ConvVizError as is, anything else as internal."""
    if isinstance(exc, ConvVizError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def shows_errors(method):
    """Run a widget callback; a failure goes to the status line instead of the void.

    The widget keeps its last good state and frame, so it stays usable.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported in the status line, see show_error
            self.show_error(exc)
            return None

    return wrapper


class Explorer(widgets.VBox):
    """Base of the explorers: one Canvas, ``.frame``, ``.save_png``, a status line, a layer.

    Subclasses implement ``_render()`` -> RGBA frame of the current state; ``redraw()`` computes
    and draws it. Trait observers call ``request_redraw``; inside ``batch()`` redraw requests
    coalesce into one draw at the end, so a burst of changes draws the final state once.
    Subclasses create ``self.layer_dropdown`` (options (name, name)) before setting ``layer``.
    """

    layer = Unicode()

    #: PNG row filter for this explorer's frames (``render.encode_png``): "sub" suits images
    #: (overlays, patterns); colormapped, block-upscaled maps encode twice as fast and 40%
    #: smaller with "none" (ActivationExplorer).
    png_filter = "sub"

    def __init__(self, **kwargs):
        self.canvas = Canvas(width=1, height=1)
        self.canvas.add_class(FRAME_CLASS)
        # A hidden <style> that travels with every explorer (see ``_with_frame_css``).
        self._frame_css = widgets.HTML(FRAME_CSS, layout=widgets.Layout(display="none"))
        self.status = widgets.HTML(value="")
        self.last_error: BaseException | None = None
        self._frame: np.ndarray | None = None
        self._png: bytes | None = None
        self._batch_depth = 0
        self._redraw_pending = False
        # Generations order the frames: a frame older than the last one drawn is never drawn.
        self._generation = 0
        self._drawn_generation = -1
        super().__init__(**kwargs)
        self.canvas.on_client_ready(self._on_client_ready)

    # -- public ------------------------------------------------------------------------------

    @property
    def frame(self) -> np.ndarray | None:
        """The last RGBA uint8 (H, W, 4) frame drawn on the canvas."""
        return self._frame

    def save_png(self, path) -> str:
        """Write what the canvas shows to ``path`` as PNG; returns the path."""
        if self._frame is None:
            raise ConvVizError("save_png: nothing has been drawn yet, so there is no frame to save")
        path = os.fspath(path)
        with open(path, "wb") as fobj:
            fobj.write(self._full_png())
        return path

    def redraw(self) -> None:
        """Compute the frame of the current state and draw it (errors go to the status line)."""
        self._redraw()

    @property
    def layers(self) -> list[str]:
        """The layer names the layer dropdown offers."""
        return [value for _, value in self.layer_dropdown.options]

    @validate("children")
    def _with_frame_css(self, proposal):
        # Subclasses lay out their own children; the frame CSS is always among them.
        children = tuple(proposal["value"])
        css = getattr(self, "_frame_css", None)
        return children if css is None or css in children else (*children, css)

    @validate("layer")
    def _check_layer(self, proposal):
        try:
            check_choice("layer", proposal["value"], self.layers)
        except Exception as exc:
            self.show_error(exc)
            raise
        return proposal["value"]

    # -- status ------------------------------------------------------------------------------

    def show_error(self, exc: BaseException) -> None:
        """Put ``exc`` in the status line (and keep it in ``last_error``)."""
        self.last_error = exc
        if not isinstance(exc, ConvVizError):
            _log.debug("convviz_widgets callback failed", exc_info=exc)
        self._set_status(error_message(exc), error=True)

    def _set_status(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        value = f'<span style="color:{color}">{html.escape(text)}</span>' if text else ""
        with DRAW_LOCK:
            self.status.value = value

    def clear_error(self) -> None:
        self.last_error = None
        self._set_status("")

    # -- drawing -----------------------------------------------------------------------------

    @contextmanager
    def batch(self):
        """Coalesce redraw requests made inside into one redraw at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
        if self._batch_depth == 0 and self._redraw_pending:
            self._redraw()

    def request_redraw(self, change=None) -> None:
        """Observer for every state trait: redraw now, or once at the end of a batch."""
        if self._batch_depth:
            self._redraw_pending = True
        else:
            self._redraw()

    @shows_errors
    def _redraw(self) -> None:
        self._redraw_pending = False
        generation = self.next_generation()
        frame = self._render()
        self.draw(frame, generation)
        if isinstance(self.last_error, Exception):
            self.clear_error()

    def next_generation(self) -> int:
        with DRAW_LOCK:
            self._generation += 1
            return self._generation

    def draw(self, rgba: np.ndarray, generation: int) -> bool:
        """Draw ``rgba`` unless a newer frame was drawn already; returns whether it was drawn.

        Only what changed since the last frame is sent when that is a small part of it.
        """
        rgba = to_rgba(rgba, name="rgba")  # the one conversion to canvas pixels (no copy if RGBA)
        with DRAW_LOCK:
            if generation < self._drawn_generation:
                return False
            put_frame(self.canvas, rgba, previous=self._frame, png_filter=self.png_filter)
            self._drawn_generation = generation
            self._frame = rgba
            self._png = None  # encoded on demand (save_png, a browser connecting)
            return True

    def _full_png(self) -> bytes:
        if self._png is None:
            self._png = encode_png(self._frame, png_filter=self.png_filter)
        return self._png

    @shows_errors
    def _on_client_ready(self) -> None:
        # A browser connected after the frame was drawn (Voila executes before any browser
        # connects; a reload starts from an empty canvas): send the last frame again.
        with DRAW_LOCK:
            if self._frame is not None:
                put_frame(self.canvas, self._frame, self._full_png())

    def _render(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- static fallback ---------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        """The widget view plus a PNG of the current frame, for places widgets cannot render."""
        data = super()._repr_mimebundle_(**kwargs)
        if self._frame is not None:
            data["image/png"] = base64.b64encode(self._full_png()).decode("ascii")
        return data


class ImageExplorer(Explorer):
    """An explorer of one image: ``image`` can be set, and switching is all-or-nothing.

    ``prepare_image(img)`` computes everything a new image needs and changes nothing (it may
    fail); ``apply_image(prepared)`` switches to it and redraws. The Dashboard prepares every
    explorer first, so an image that fails in one of them changes none of them. Subclasses
    implement the two hooks ``_prepare_image`` and ``_apply_image``.
    """

    @property
    def image(self):
        """The image (float32 (H, W, 3), 0..255) shown."""
        return self._image

    @image.setter
    def image(self, img):
        self.apply_image(self.prepare_image(img))

    def prepare_image(self, img):
        """Everything ``img`` needs (decoded, validated, the model run), without showing it."""
        return self._prepare_image(img)

    def apply_image(self, prepared) -> None:
        """Show an image ``prepare_image`` returned."""
        with self.batch():
            self._apply_image(prepared)
            self.request_redraw()

    def _set_image(self, img):
        self._apply_image(self._prepare_image(img))

    def _prepare_image(self, img):  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_image(self, prepared) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

"""The one draw path: pre-encoded PNG through ipycanvas' putImageData, resize, cleanup."""

import base64

import numpy as np
import pytest
from ipycanvas import Canvas
from ipycanvas import canvas as ipycanvas_canvas

from convviz_widgets import ConvVizError
from convviz_widgets.render.frames import to_rgba
from convviz_widgets.widgets import _canvas
from convviz_widgets.widgets._base import Explorer

from .conftest import decode_png, frontend_event


def _frame(h=5, w=7, seed=0):
    rng = np.random.default_rng(seed)
    return to_rgba(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


class _Solid(Explorer):
    """The smallest explorer: draws a frame given from outside."""

    def __init__(self, rgba):
        super().__init__()
        self.rgba = rgba
        self.children = [self.canvas, self.status]
        self.redraw()

    def _render(self):
        return self.rgba


def test_put_frame_sends_the_exact_pixels_as_png_and_resizes(recorder):
    canvas = Canvas(width=1, height=1)
    rgba = _frame()
    _canvas.put_frame(canvas, rgba)
    assert (canvas.width, canvas.height) == (7, 5)
    assert len(recorder.draws) == 1
    np.testing.assert_array_equal(recorder.last(canvas), rgba)
    assert recorder.messages == 1  # switchCanvas and putImageData in one batch


def test_put_frame_refuses_anything_but_rgba_uint8(recorder):
    canvas = Canvas()
    with pytest.raises(TypeError):
        _canvas.put_frame(canvas, np.zeros((4, 4, 3), np.uint8))
    assert recorder.draws == []


def test_held_canvas_recovers_after_an_exception(recorder):
    canvas = Canvas()
    manager = ipycanvas_canvas._CANVAS_MANAGER
    with pytest.raises(RuntimeError):
        with _canvas.held_canvas():
            canvas.fill_rect(0, 0, 2, 2)
            raise RuntimeError("boom")
    assert manager._caching is False and manager._commands_cache == []
    _canvas.put_frame(canvas, _frame())
    assert len(recorder.draws) == 1  # the next draw is sent at once, without the stale rect


def test_falls_back_to_put_image_data_when_the_private_protocol_moves(recorder, monkeypatch):
    canvas = Canvas()
    calls = []
    monkeypatch.setattr(ipycanvas_canvas, "COMMANDS", {})
    monkeypatch.setattr(Canvas, "put_image_data", lambda self, data, x=0, y=0: calls.append(data))
    rgba = _frame()
    _canvas.put_frame(canvas, rgba)
    assert len(calls) == 1 and calls[0] is rgba


def test_frame_save_png_mimebundle_and_client_ready(recorder, tmp_path):
    rgba = _frame(9, 4, seed=3)
    widget = _Solid(rgba)
    np.testing.assert_array_equal(widget.frame, rgba)
    np.testing.assert_array_equal(recorder.last(widget.canvas), rgba)

    path = widget.save_png(tmp_path / "out.png")
    np.testing.assert_array_equal(decode_png(open(path, "rb").read()), rgba)

    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    np.testing.assert_array_equal(decode_png(base64.b64decode(bundle["image/png"])), rgba)

    # A browser connecting later (Voila, a reload) gets the last frame again.
    before = len(recorder.frames(widget.canvas))
    frontend_event(widget.canvas, event="client_ready")
    assert len(recorder.frames(widget.canvas)) == before + 1
    np.testing.assert_array_equal(recorder.last(widget.canvas), rgba)


def test_a_browser_connecting_later_is_told_which_canvas_to_draw_on(recorder):
    """Voila runs the notebook before any browser connects: the switchCanvas sent then is lost.

    A browser that connects later starts with no current canvas, so the redraw on client_ready
    must begin with switchCanvas again, or the front end has nothing to put the image on.
    """
    rgba = _frame(5, 6, seed=4)
    widget = _Solid(rgba)
    recorder._current = None  # a fresh page: it has seen no switchCanvas
    frontend_event(widget.canvas, event="client_ready")
    assert recorder.draws[-1][0] == "IPY_MODEL_" + widget.canvas.model_id
    np.testing.assert_array_equal(recorder.last(widget.canvas), rgba)


def test_stale_generation_is_never_drawn(recorder):
    widget = _Solid(_frame(seed=1))
    newer, older = widget.next_generation(), widget.next_generation() - 5
    assert widget.draw(_frame(seed=2), newer)
    assert not widget.draw(_frame(seed=3), older)
    np.testing.assert_array_equal(recorder.last(widget.canvas), _frame(seed=2))


class _Boom:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("boom")


def test_errors_in_render_go_to_the_status_line(recorder):
    widget = _Solid(_frame(seed=1))
    widget.rgba = "not an image"
    widget.redraw()  # no exception escapes: a ConvVizError is shown as it is
    assert "rgba: expected" in widget.status.value and "internal" not in widget.status.value
    assert isinstance(widget.last_error, ConvVizError)
    widget.rgba = _Boom()
    widget.redraw()  # anything else is an internal error, named
    assert "internal error: RuntimeError: boom" in widget.status.value
    np.testing.assert_array_equal(widget.frame, _frame(seed=1))  # the last good frame stays
    widget.rgba = _frame(seed=4)
    widget.redraw()
    assert widget.status.value == "" and widget.last_error is None
    np.testing.assert_array_equal(recorder.last(widget.canvas), _frame(seed=4))


def test_save_png_before_any_frame_is_a_clear_error():
    class Empty(Explorer):
        def _render(self):
            return None

    with pytest.raises(ConvVizError, match="nothing has been drawn"):
        Empty().save_png("x.png")

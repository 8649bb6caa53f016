"""Fixtures for the headless widget tests: tiny models, an image, and a canvas recorder.

The recorder patches ipycanvas' canvas manager at the point where messages leave the kernel
(``_send_custom``), decodes every putImageData buffer, and so sees exactly what a browser gets.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from ipycanvas import canvas as ipycanvas_canvas
from PIL import Image

SIZE = 32


@pytest.fixture(scope="session")
def keras():
    import keras

    return keras


def _tiny(keras, size=SIZE, classes=4, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(12, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="session")
def model(keras):
    """32x32 input, conv c1 (8) -> pool p1 -> conv c2 (12) -> 4-way softmax."""
    return _tiny(keras)


@pytest.fixture(scope="session")
def nested_model(keras):
    """A base model inside a Sequential: layer names "base/inner"."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="inner1")(inp)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="inner2")(x)
    base = keras.Model(inp, x, name="base")
    return keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), base, keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(1, activation="sigmoid")],
        name="outer",
    )


@pytest.fixture(scope="session")
def image():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    base = np.stack([xx * 8, yy * 8, (xx + yy) * 4], axis=-1).astype(np.float32)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.float32)


@pytest.fixture(scope="session")
def image2():
    return np.random.default_rng(7).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(bytes(data))) as im:
        assert im.mode == "RGBA", im.mode
        return np.asarray(im).copy()


class CanvasRecorder:
    """Every putImageData that reached the wire, as the browser's canvas shows it afterwards.

    ``draws`` holds (canvas model id, RGBA of the WHOLE canvas after the draw, x, y, RGBA of the
    part sent): a draw of only the changed box is composited onto the canvas, like a browser
    does, sized as the canvas widget is when the message leaves.
    """

    def __init__(self):
        self.draws = []
        self.messages = 0
        self._current = None
        self._screens = {}  # canvas model id -> RGBA backing store
        self.names = {i: name for name, i in ipycanvas_canvas.COMMANDS.items()}

    def _paste(self, cid, part, x, y):
        from ipywidgets.widgets import widget

        canvas = widget._instances.get(cid.removeprefix("IPY_MODEL_"))  # the live widget registry
        shape = (canvas.height, canvas.width, 4) if canvas is not None else part.shape
        screen = self._screens.get(cid)
        screen = np.zeros(shape, np.uint8) if screen is None or screen.shape != shape else screen.copy()
        h, w = min(part.shape[0], shape[0] - y), min(part.shape[1], shape[1] - x)
        screen[y:y + h, x:x + w] = part[:h, :w]
        self._screens[cid] = screen
        return screen

    def record(self, command, buffers=()):
        self.messages += 1
        buffers = list(buffers)
        commands = command if command and isinstance(command[0], list) else [command]
        for cmd in commands:
            name = self.names[cmd[0]]
            args = cmd[1]
            nbuf = cmd[2] if len(cmd) > 2 else 0
            mine, buffers = buffers[:nbuf], buffers[nbuf:]
            if name == "switchCanvas":
                self._current = args[0]
            elif name == "putImageData":
                x, y = (list(args) + [0, 0])[:2]
                part = decode_png(mine[0])
                self.draws.append((self._current, self._paste(self._current, part, x, y), x, y, part))

    def frames(self, canvas) -> list[np.ndarray]:
        key = "IPY_MODEL_" + canvas.model_id
        return [rgba for cid, rgba, *_ in self.draws if cid == key]

    def last(self, canvas) -> np.ndarray:
        frames = self.frames(canvas)
        assert frames, "nothing was drawn on this canvas"
        return frames[-1]


@pytest.fixture
def recorder(monkeypatch):
    rec = CanvasRecorder()
    manager = ipycanvas_canvas._CANVAS_MANAGER
    monkeypatch.setattr(manager, "_send_custom", rec.record)
    monkeypatch.setattr(manager, "_current_canvas", None)
    yield rec
    assert manager._caching is False, "a draw left the canvas manager caching"


def frontend_event(canvas, **content):
    """Simulate a message from the browser's canvas view (client_ready, mouse_down, ...)."""
    canvas._handle_frontend_event(None, content, [])


def json_roundtrip(value):
    return json.loads(json.dumps(value))


@pytest.fixture(autouse=True)
def no_autorun(monkeypatch):
    """FilterExplorer's first view runs at once when cheap (issue 13); these tests start runs
    themselves, so it is off here (test_filter_explorer's autorun tests turn it back on)."""
    from convviz_widgets.widgets import FilterExplorer

    monkeypatch.setattr(FilterExplorer, "AUTORUN_SECONDS", 0.0)

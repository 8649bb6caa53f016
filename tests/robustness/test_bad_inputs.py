"""Bad and unusual inputs, generated here, through the public API and the Dashboard's upload.

Each input must give a correct result (unusual but valid input: values checked) or a
ConvVizError whose message names what was wrong: never another exception, a hang or a crash.
In the Dashboard the status line shows the message, nothing else changes, and the next valid
upload works. The figures (inputs tried, handled correctly) are printed at the end of the run.
"""

from __future__ import annotations

import io
import itertools
import re
import time
import tracemalloc

import numpy as np
import PIL.Image
import pytest
from PIL import Image

import convviz_widgets as cvw
from convviz_widgets import ConvVizError
from convviz_widgets.render.activations import channel_frame

from . import inputs as gen
from .conftest import SIZE, rss_bytes, status_text, upload
from .inputs import Case, encode

pytestmark = pytest.mark.timeout(120)  # a hang fails the test instead of the run


# -- checks for unusual but valid images ---------------------------------------------------------


def exact(expected):
    expected = np.asarray(expected, dtype=np.float32)

    def check(img):
        assert img.shape == expected.shape
        np.testing.assert_array_equal(img, expected)

    return check


def gray_as_rgb(img):
    assert img.shape == GRAY.shape + (3,)
    np.testing.assert_array_equal(img[..., 0], GRAY)
    np.testing.assert_array_equal(img[..., 1], img[..., 0])
    np.testing.assert_array_equal(img[..., 2], img[..., 0])


def first_gif_frame(img):
    assert img.shape == (5, 6, 3)
    np.testing.assert_array_equal(img, np.broadcast_to([255, 0, 0], img.shape))  # frame 0 of 3


def gif_transparency_over_white(img):
    want = np.full((4, 4, 3), 255.0, np.float32)
    want[1, 1] = (10, 200, 30)
    np.testing.assert_array_equal(img, want)


def palette_transparency_over_white(img):
    want = np.full((3, 4, 3), 255.0, np.float32)
    want[1, 2] = (0, 0, 255)
    np.testing.assert_array_equal(img, want)


def rgba_over_white(img):
    np.testing.assert_array_equal(img[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(img[0, 1], [255, 255, 255])  # fully transparent: white
    np.testing.assert_allclose(img[1, 0], [127, 127, 255], atol=1)  # half-transparent blue
    np.testing.assert_array_equal(img[1, 1], [10, 20, 30])


def cmyk_to_rgb(img):
    assert img.shape == (16, 16, 3)
    np.testing.assert_allclose(img[:, :8].mean(axis=(0, 1)), [0, 255, 255], atol=6)  # cyan
    np.testing.assert_allclose(img[:, 8:].mean(axis=(0, 1)), [255, 0, 255], atol=6)  # magenta


def exif_rotation_applied(img):
    assert img.shape == (40, 60, 3)  # 60 tall x 40 wide, displayed rotated: 40 tall x 60 wide
    right, left = img[:, -15:].mean(axis=(0, 1)), img[:, :35].mean(axis=(0, 1))
    np.testing.assert_allclose(right, [255, 0, 0], atol=12)  # the top (red) went right
    np.testing.assert_allclose(left, [0, 0, 255], atol=12)


def all_levels_in(low, high):
    def check(img):
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
        assert low <= img.min() and img.max() <= high

    return check


GRAY = gen.GRAY
LEVELS16 = np.array([[0, 65535], [257 * 100, 257 * 200]], dtype=np.uint16)
RGB16 = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 4 * 257).astype(np.uint16)
CMYK = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
CMYK.paste((0, 255, 0, 0), (8, 0, 16, 16))
BITS = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)

# -- files (bytes with a file name): through load_image(path), load_image(bytes), the upload -----

FILES = [
    Case("empty-file", lambda: b"", "empty.png", error=r"is empty \(0 bytes\)"),
    Case("random-bytes-jpg", lambda: gen.noise(4096).tobytes(), "photo.jpg", error="not an image file"),
    Case("truncated-jpeg", lambda: gen.truncated(encode(gen.noise((64, 64, 3)), "JPEG")), "cut.jpg",
         error="damaged or truncated"),
    Case("truncated-png", lambda: gen.truncated(encode(gen.noise((64, 64, 3)))), "cut.png",
         error="damaged or truncated"),
    Case("png-corrupt-data", lambda: gen.corrupt_idat(encode(gen.noise((64, 64, 3)))), "bad.png",
         error="damaged or truncated"),
    Case("png-signature-only", lambda: b"\x89PNG\r\n\x1a\n", "sig.png", error="not an image file"),
    Case("text-file", lambda: b"just some notes\n" * 20, "notes.txt", error="not an image file"),
    Case("svg-vector", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
         b'<rect width="9" height="9"/></svg>', "logo.svg", error="not an image file"),
    Case("html-named-png", lambda: b"<!doctype html><html><body>404</body></html>", "page.png",
         error="not an image file"),
    Case("zip-named-png", gen.fake_keras_zip, "model.png", error="not an image file"),
    Case("animated-gif", gen.animated_gif, "anim.gif", check=first_gif_frame),
    Case("gif-transparency", gen.transparent_gif, "t.gif", check=gif_transparency_over_white),
    Case("png-16-bit-gray", lambda: encode(LEVELS16), "deep.png",
         check=exact(np.repeat([[[0], [255]], [[100], [200]]], 3, axis=2))),
    Case("png-48-bit-rgb", lambda: gen.png48(RGB16), "deep_rgb.png", check=exact(RGB16 // 257)),
    Case("jpeg-cmyk", lambda: encode(CMYK, "JPEG", quality=95), "print.jpg", check=cmyk_to_rgb),
    Case("png-palette-transparency", gen.palette_png_with_transparency, "pal.png",
         check=palette_transparency_over_white),
    Case("png-gray", lambda: encode(GRAY), "gray.png", check=gray_as_rgb),
    Case("png-gray-alpha", lambda: encode(Image.fromarray(np.stack([GRAY, GRAY * 0 + 255], -1), "LA")),
         "la.png", check=gray_as_rgb),
    Case("png-rgba", lambda: encode(gen.RGBA), "rgba.png", check=rgba_over_white),
    Case("bmp-1-bit", lambda: encode(Image.fromarray(BITS), "BMP"), "bits.bmp",
         check=exact(np.repeat(BITS[..., None] * 255, 3, axis=2))),
    Case("tiff-float-0-1", lambda: encode(Image.fromarray(np.full((3, 4), 0.5, np.float32), "F"), "TIFF"),
         "float.tif", check=exact(np.full((3, 4, 3), 0.5))),
    Case("tiff-float-700", lambda: encode(Image.fromarray(np.full((3, 4), 700, np.float32), "F"), "TIFF"),
         "hdr.tif", error=r"float pixels must lie in 0\.\.255, got 700\.\.700"),
    Case("tiff-multipage", gen.multipage_tiff, "pages.tif", check=exact(np.full((4, 5, 3), [9, 99, 199]))),
    Case("webp-lossless", lambda: encode(gen.noise((9, 7, 3)), "WEBP", lossless=True), "x.webp",
         check=exact(gen.noise((9, 7, 3)))),
    Case("png-named-jpg", lambda: encode(gen.noise((5, 6, 3))), "really_png.jpg",
         check=exact(gen.noise((5, 6, 3)))),
    Case("png-1x1", lambda: encode(np.array([[[1, 2, 3]]], np.uint8)), "dot.png",
         check=exact([[[1, 2, 3]]])),
    Case("png-2x2", lambda: encode(gen.noise((2, 2, 3))), "tiny.png", check=exact(gen.noise((2, 2, 3)))),
    Case("png-8000x10", lambda: encode(gen.WIDE), "wide.png", check=exact(gen.WIDE)),
    Case("jpeg-exif-rotated", gen.exif_rotated_jpeg, "phone.jpg", check=exif_rotation_applied),
    Case("png-levels-0-1", lambda: encode(gen.DARK), "mask.png", check=exact(gen.DARK)),
    Case("bomb-100000x100000", lambda: gen.png_bomb(100_000, 100_000), "bomb.png",
         error=r"too large to decode safely \(over 40,000,000 pixels\)"),
    Case("bomb-10000x10000", lambda: gen.png_bomb(10_000, 10_000), "bomb.png",
         error=r"too large to decode safely \(over 40,000,000 pixels\)"),
    Case("bomb-8000x8000", lambda: gen.png_bomb(8000, 8000), "bomb.png",
         error=r"8000x8000 = 64,000,000 pixels, over the limit of 40,000,000"),
    Case("bomb-pillow-limit-off", lambda: gen.png_bomb(100_000, 100_000), "bomb.png",
         error=r"100000x100000 = 10,000,000,000 pixels, over the limit", pillow_limit_off=True),
]

# -- other sources: arrays, PIL images, paths, wrong types (through load_image and the engines) --


def _readonly():
    a = gen.noise((6, 5, 3)).astype(np.float32)
    a.flags.writeable = False
    return a


def _lazy_truncated_pil():
    return Image.open(io.BytesIO(gen.truncated(encode(gen.noise((64, 64, 3))))))


ARRAYS = [
    Case("array-nan", lambda: np.where(np.eye(8, dtype=bool)[..., None], np.nan, 9.0) * np.ones(3),
         error=r"has 24 NaN or infinite values"),
    Case("array-inf", lambda: np.full((8, 8, 3), np.inf), error=r"192 NaN or infinite values"),
    Case("array-float-0-1", lambda: np.full((4, 4, 3), 0.25, np.float32), check=exact(np.full((4, 4, 3), 0.25))),
    Case("array-float-0-255", lambda: np.full((4, 4, 3), 200.0), check=exact(np.full((4, 4, 3), 200.0))),
    Case("array-float-max-1.5", lambda: np.full((4, 4, 3), 1.5), check=exact(np.full((4, 4, 3), 1.5))),
    Case("array-float-negative", lambda: np.full((4, 4, 3), -0.5), error=r"float pixels must lie in 0\.\.255"),
    Case("array-int-300", lambda: np.full((4, 4), 300, np.int32), error=r"integer pixels must lie in 0\.\.255, got 300"),
    Case("array-uint16", lambda: LEVELS16, check=exact(np.repeat([[[0], [255]], [[100], [200]]], 3, axis=2))),
    Case("array-float16", lambda: np.full((3, 3, 3), 0.5, np.float16), check=exact(np.full((3, 3, 3), 0.5))),
    Case("array-batch-of-one", lambda: np.zeros((1, 8, 8, 3)), error=r"got shape \(1, 8, 8, 3\)"),
    Case("array-rank-1", lambda: np.zeros(12), error=r"got shape \(12,\)"),
    Case("array-channels-first", lambda: np.zeros((3, 8, 8)), error=r"\(H, W, 3\).*got shape \(3, 8, 8\)"),
    Case("array-bool", lambda: np.zeros((4, 4), bool), error="got dtype bool"),
    Case("array-complex", lambda: np.zeros((4, 4, 3), complex), error="got dtype complex128"),
    Case("array-object", lambda: np.empty((4, 4, 3), object), error="got dtype object"),
    Case("array-strings", lambda: np.full((4, 4), "x"), error="got dtype <U1"),
    Case("array-empty", lambda: np.zeros((0, 8, 3)), error=r"empty \(shape \(0, 8, 3\)\)"),
    Case("array-gray-hw1", lambda: GRAY[..., None], check=gray_as_rgb),
    Case("array-strided-view", lambda: gen.noise((12, 10, 3))[::-2, ::3],
         check=exact(gen.noise((12, 10, 3))[::-2, ::3])),
    Case("array-fortran-order", lambda: np.asfortranarray(gen.noise((6, 5, 3))), check=exact(gen.noise((6, 5, 3)))),
    Case("array-read-only", _readonly, check=exact(gen.noise((6, 5, 3)))),
    Case("pil-cmyk-image", lambda: CMYK, check=cmyk_to_rgb),
    Case("pil-truncated-lazy", _lazy_truncated_pil, error="damaged or truncated"),
    Case("nested-python-list", lambda: [[[0, 0, 0]]], error="got list"),
    Case("none", lambda: None, error="got NoneType"),
    Case("missing-path", lambda: "/nonexistent/convviz/cat.png", error="no such file '/nonexistent/convviz/cat.png'"),
]


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engines(model):
    return cvw.Activations(model), cvw.GradCAM(model)


@pytest.fixture(scope="module")
def c1_oracle(keras, model):
    return keras.Model(model.inputs, model.get_layer("c1").output)


def _load_timed(source):
    start = time.perf_counter()
    try:
        return cvw.load_image(source)
    finally:
        assert time.perf_counter() - start < 2.0, "load_image took over 2 s"


def _through_engines(source, img, model, engines, c1_oracle):
    """A valid image through every engine: right shapes, finite values, agreement with Keras."""
    acts, cam = engines
    maps = acts.compute(img)
    assert list(maps) == ["c1", "p1", "c2"]
    assert all(np.isfinite(m).all() for m in maps.values())
    resized = cvw.load_image(source, target_size=(SIZE, SIZE))
    want = np.asarray(c1_oracle(resized[None] / 255.0))[0]
    np.testing.assert_allclose(maps["c1"], want, atol=1e-4)
    # load_image's result and the source it came from are the same image to the engines
    np.testing.assert_allclose(acts.compute(source)["c2"], maps["c2"], atol=1e-5)
    heat = cam.compute(img)
    assert heat.shape == maps["c2"].shape[:2] and np.isfinite(heat).all()
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    top = cvw.predict_top(model, img, k=4)
    probs = [p for _, _, p in top]
    assert sorted(probs, reverse=True) == probs and abs(sum(probs) - 1.0) < 1e-5


# -- the API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FILES + ARRAYS, ids=lambda c: c.id)
def test_api(case, tmp_path, monkeypatch, model, engines, c1_oracle):
    source = case.make()
    sources = [source]
    if case.filename is not None:
        path = tmp_path / case.filename
        path.write_bytes(source)
        sources = [path, source]  # the same file as a path and as bytes
    if case.pillow_limit_off:
        monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", None)
    for src in sources:
        if case.error:
            with pytest.raises(ConvVizError, match=case.error):
                _load_timed(src)
            with pytest.raises(ConvVizError, match=case.error):  # the engines say the same
                engines[0].compute(src)
        else:
            img = _load_timed(src)
            assert img.dtype == np.float32 and img.flags.c_contiguous
            case.check(img)
            _through_engines(src, img, model, engines, c1_oracle)


BOMBS = [c for c in FILES if c.id.startswith("bomb-")]


@pytest.mark.parametrize("case", BOMBS, ids=lambda c: c.id)
def test_bomb_is_refused_quickly_without_allocating(case, monkeypatch):
    data = case.make()
    assert len(data) < 1_500_000  # tiny on disk, whatever it claims
    if case.pillow_limit_off:
        monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", None)
    decoded = []
    load = PIL.ImageFile.ImageFile.load
    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", lambda im: decoded.append(im) or load(im))
    rss = rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConvVizError, match=case.error):
            cvw.load_image(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    assert decoded == []  # refused from the header: no pixel was decoded
    assert peak < 8 * len(data) + 1_000_000  # a few copies of the file at most, never the pixels
    assert rss_bytes() - rss < 50 * 2**20


def test_bomb_generator_makes_real_pngs():
    """The bombs are honest: the same generator at a small size decodes to the claimed pixels."""
    im = Image.open(io.BytesIO(gen.png_bomb(9000, 2500)))
    im.load()
    assert im.size == (9000, 2500) and not np.asarray(im).any()


# -- the Dashboard's upload ----------------------------------------------------------------------

_alternate = itertools.count()


@pytest.fixture(scope="module")
def dash(module_recorder, model, image):
    from convviz_widgets.widgets import Dashboard

    board = Dashboard(model=model, img=image)
    board.cam  # build the Grad-CAM tab too: both image explorers must follow
    return board


def shown(dash, module_recorder, engines, data):
    """The image the explorers must hold, and the frame the activation canvas must show."""
    want = np.clip(cvw.load_image(data, target_size=(SIZE, SIZE)), 0, 255)
    ex = dash.activations
    frame = channel_frame(engines[0].compute(want)[ex.layer], ex.channel, size=ex.size)
    return want, frame


def assert_shows(dash, module_recorder, engines, data):
    assert status_text(dash) == "" and dash.last_error is None
    want, frame = shown(dash, module_recorder, engines, data)
    np.testing.assert_allclose(dash.activations.image, want, atol=1e-4)
    np.testing.assert_allclose(dash.cam.image, want, atol=1e-4)
    np.testing.assert_array_equal(module_recorder.last(dash.activations.canvas), frame)


@pytest.mark.parametrize("case", FILES, ids=lambda c: c.id)
def test_dashboard_upload(case, dash, module_recorder, engines, monkeypatch, image, image2):
    data = case.make()
    if case.pillow_limit_off:
        monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", None)
    before, before_cam, frame = dash.activations.image, dash.cam.image, dash.activations.frame
    drawn = len(module_recorder.frames(dash.activations.canvas))
    upload(dash, data, case.filename)
    if case.error:
        text = status_text(dash)
        assert re.search(case.error, text), text
        assert text.startswith("image: ") and "internal error" not in text
        assert isinstance(dash.last_error, ConvVizError)
        np.testing.assert_array_equal(dash.activations.image, before)  # nothing changed
        np.testing.assert_array_equal(dash.cam.image, before_cam)
        assert dash.activations.frame is frame
        assert len(module_recorder.frames(dash.activations.canvas)) == drawn
    else:
        assert_shows(dash, module_recorder, engines, data)
    # the widget keeps working: a following valid upload is shown everywhere
    good = encode(np.clip(image2 if next(_alternate) % 2 else image, 0, 255).astype(np.uint8))
    upload(dash, good, "next.png")
    assert_shows(dash, module_recorder, engines, good)


# -- models: through load_model, Activations, GradCAM, FilterPatterns, predict_top ----------------

MODELS = {}


def model_case(fn):
    MODELS[fn.__name__.replace("_", "-")] = fn
    return fn


def head(keras, h, classes=3, activation="softmax"):
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.layers.Dense(classes, activation=activation)(h)


def conv_model(keras, size=SIZE, name="c", seed=0, **dense):
    keras.utils.set_random_seed(seed)
    x = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name=name)(x)
    return keras.Model(x, head(keras, h, **dense))


def every_engine_refuses(model, message, layer="c"):
    for make in (
        lambda: cvw.load_model(model),
        lambda: cvw.Activations(model),
        lambda: cvw.GradCAM(model),
        lambda: cvw.FilterPatterns(model, layer),
        lambda: cvw.predict_top(model, np.zeros((SIZE, SIZE, 3))),
    ):
        with pytest.raises(ConvVizError, match=message):
            make()


def tap(keras, model, layer, image):
    """Keras' own output of ``layer`` for ``image`` with the default x / 255 preprocessing."""
    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(sub(np.asarray(image, np.float32)[None] / 255.0))[0]


@model_case
def no_conv_layers(keras, tmp_path, image):
    x = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    assert cvw.conv_layers(model) == []
    assert len(cvw.predict_top(model, image, k=3)) == 3  # still a classifier
    with pytest.raises(ConvVizError, match="no convolution layer"):
        cvw.GradCAM(model)
    with pytest.raises(ConvVizError, match="no conv"):
        cvw.Activations(model)  # nothing to show: say so, not Keras' "outputs cannot be empty"


@model_case
def two_inputs(keras, tmp_path, image):
    a, b = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(4, 3, name="c")(keras.layers.Add()([a, b]))
    every_engine_refuses(keras.Model([a, b], head(keras, h)), "has 2 inputs")


@model_case
def grayscale_input(keras, tmp_path, image):
    x = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(4, 3, name="c")(x)
    every_engine_refuses(keras.Model(x, head(keras, h, 10)), r"takes \(None, 28, 28, 1\)")


@model_case
def output_not_a_classifier(keras, tmp_path, image):
    keras.utils.set_random_seed(0)
    x = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(4, 3, name="c")(x)
    model = keras.Model(x, keras.layers.Conv2D(3, 1, activation="softmax", name="seg")(h))
    maps = cvw.Activations(model).compute(image)  # activations work with any model
    np.testing.assert_allclose(maps["seg"], tap(keras, model, "seg", image), atol=1e-5)
    assert cvw.FilterPatterns(model, "c").generate([1], size=16, steps=2).shape == (1, 16, 16, 3)
    for make in (lambda: cvw.GradCAM(model), lambda: cvw.predict_top(model, image)):
        with pytest.raises(ConvVizError, match=r"classifier whose output is \(batch, classes\).*\(None, 30, 30, 3\)"):
            make()


@model_case
def single_relu_unit(keras, tmp_path, image):
    """One ReLU unit is a regressor, not a binary classifier: DESIGN says a ConvVizError."""
    model = conv_model(keras, classes=1, activation="relu")
    for make in (lambda: cvw.GradCAM(model), lambda: cvw.predict_top(model, image)):
        with pytest.raises(ConvVizError, match="sigmoid"):
            make()


@model_case
def logits_output(keras, tmp_path, image):
    model = conv_model(keras, activation=None)
    logits = np.asarray(model(cvw.load_image(image)[None] / 255.0))[0]
    want = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    got = {k: p for k, _, p in cvw.predict_top(model, image, k=3)}
    np.testing.assert_allclose([got[i] for i in range(3)], want, rtol=1e-5)
    assert cvw.GradCAM(model).compute(image).shape == (30, 30)


@model_case
def sequential_never_built(keras, tmp_path, image):
    model = keras.Sequential([keras.layers.Conv2D(4, 3, name="c"), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    every_engine_refuses(model, r"is not built.*model\.build\(\(None, 150, 150, 3\)\)")


@model_case
def sequential_built_by_build(keras, tmp_path, image):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Conv2D(4, 3, name="c"), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.build((None, SIZE, SIZE, 3))
    np.testing.assert_allclose(cvw.Activations(model).compute(image)["c"], tap(keras, model, "c", image), atol=1e-5)
    assert cvw.GradCAM(model).compute(image, 1).shape == (30, 30)


@model_case
def keras_layer_not_a_model(keras, tmp_path, image):
    with pytest.raises(ConvVizError, match="expected None, a name, a .keras/.h5 path or a keras.Model, got Conv2D"):
        cvw.Activations(keras.layers.Conv2D(4, 3))


def lambda_model(keras):
    keras.utils.set_random_seed(0)
    x = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="c")(h)
    return keras.Model(x, head(keras, h))


def _saved(keras, tmp_path, name="model.keras"):
    path = tmp_path / name
    conv_model(keras).save(path)
    return path


MODEL_FILES = {
    "keras-file-lambda": (lambda keras, tmp: _save_lambda(keras, tmp), r"Keras safe mode refuses"),
    "keras-file-truncated": (
        lambda keras, tmp: _write(tmp / "cut.keras", gen.truncated(_saved(keras, tmp).read_bytes())),
        r"could not load '.*cut\.keras' as a Keras model"),
    "keras-file-text": (lambda keras, tmp: _write(tmp / "notes.keras", b"not a model\n"),
                        r"could not load '.*notes\.keras' as a Keras model"),
    "keras-file-zip-without-config": (lambda keras, tmp: _write(tmp / "empty.keras", gen.fake_keras_zip()),
                                      r"could not load '.*empty\.keras' as a Keras model"),
    "h5-file-truncated": (
        lambda keras, tmp: _write(tmp / "cut.h5", gen.truncated(_saved(keras, tmp, "m.h5").read_bytes())),
        r"could not load '.*cut\.h5' as a Keras model"),
    "model-file-missing": (lambda keras, tmp: tmp / "nowhere.keras", r"no such file '.*nowhere\.keras'"),
}


def _write(path, data):
    path.write_bytes(data)
    return path


def _save_lambda(keras, tmp):
    path = tmp / "lambda.keras"
    lambda_model(keras).save(path)
    return path


def _model_file_case(file_id):
    def case(keras, tmp_path, image):
        make, message = MODEL_FILES[file_id]
        path = make(keras, tmp_path)
        for source in (path, str(path)):
            with pytest.raises(ConvVizError, match=message):
                cvw.load_model(source)
            with pytest.raises(ConvVizError, match=message):
                cvw.Activations(source)
        if file_id == "keras-file-lambda":  # the user opts in explicitly: it loads and works
            model = cvw.load_model(path, safe_mode=False)
            original = lambda_model(keras)
            np.testing.assert_allclose(cvw.Activations(model).compute(image)["c"],
                                       cvw.Activations(original).compute(image)["c"], atol=1e-5)

    return case


for _file_id in MODEL_FILES:
    MODELS[_file_id] = _model_file_case(_file_id)


@model_case
def unicode_layer_names(keras, tmp_path, image):
    keras.utils.set_random_seed(0)
    x = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="свёртка_1")(x)
    h = keras.layers.MaxPooling2D(name="池化")(h)
    h = keras.layers.Conv2D(5, 3, activation="relu", name="conv ✓ é")(h)
    model = keras.Model(x, head(keras, h))
    assert cvw.conv_layers(model) == ["свёртка_1", "池化", "conv ✓ é"]
    maps = cvw.Activations(model).compute(image)
    for name in ("свёртка_1", "conv ✓ é"):
        np.testing.assert_allclose(maps[name], tap(keras, model, name, image), atol=1e-5)
    assert cvw.GradCAM(model, "池化").compute(image, 2).shape == (15, 15)
    patterns = cvw.FilterPatterns(model, "conv ✓ é").generate([0, 4], size=16, steps=2)
    assert patterns.shape == (2, 16, 16, 3) and patterns.dtype == np.uint8


def renamed_with_slash(keras, name):
    keras.utils.set_random_seed(0)
    x = keras.Input((SIZE, SIZE, 3))
    conv = keras.layers.Conv2D(4, 3, name="plain")
    model = keras.Model(x, head(keras, conv(x)))
    conv.name = name  # Keras refuses "/" in the constructor, but not in the setter
    return model


@model_case
def layer_renamed_with_slash(keras, tmp_path, image):
    model = renamed_with_slash(keras, "p/q")
    for make in (lambda: cvw.Activations(model), lambda: cvw.GradCAM(model, "p/q"),
                 lambda: cvw.FilterPatterns(model, "p/q")):
        with pytest.raises(ConvVizError, match=r"cannot contain character `/`. Received: name=p/q"):
            make()


@model_case
def slash_name_equal_to_a_nested_name(keras, tmp_path, image):
    """A top-level layer renamed "a/conv" beside a nested model "a" with a layer "conv"."""
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((SIZE, SIZE, 3))
    base = keras.Model(inner_in, keras.layers.Conv2D(4, 3, name="conv")(inner_in), name="a")
    x = keras.Input((SIZE, SIZE, 3))
    top = keras.layers.Conv2D(6, 3, name="top")
    model = keras.Model(x, head(keras, top(base(x))))
    top.name = "a/conv"
    with pytest.raises(ConvVizError, match="cannot contain character `/`"):
        cvw.GradCAM(model, "a/conv")  # never the wrong one of the two layers
    names = cvw.conv_layers(model)  # the list users choose from must not name two layers alike
    assert len(set(names)) == len(names), names


@model_case
def nested_models_same_inner_names(keras, tmp_path, image):
    """Two base models whose layers share names (two VGG16s, say): "a/conv" and "b/conv"."""
    keras.utils.set_random_seed(0)

    def base(name):
        i = keras.Input((SIZE, SIZE, 3))
        return keras.Model(i, keras.layers.Conv2D(4, 3, activation="relu", name="conv")(i), name=name)

    a, b = base("a"), base("b")
    x = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(x, head(keras, keras.layers.Concatenate()([a(x), b(x)])))
    assert cvw.conv_layers(model) == ["a/conv", "b/conv"]
    maps = cvw.Activations(model).compute(image)
    np.testing.assert_allclose(maps["a/conv"], tap(keras, a, "conv", image), atol=1e-5)
    np.testing.assert_allclose(maps["b/conv"], tap(keras, b, "conv", image), atol=1e-5)
    assert cvw.GradCAM(model, "b/conv").compute(image, 0).shape == (30, 30)


def free_size_model(keras):
    keras.utils.set_random_seed(0)
    x = keras.Input((None, None, 3))
    return keras.Model(x, head(keras, keras.layers.Conv2D(4, 3, name="c")(x), 2))


def _too_small(side):
    def case(keras, tmp_path, image):
        model = free_size_model(keras)
        tiny = np.full((side, side, 3), 100, np.uint8)
        for make in (lambda: cvw.Activations(model).compute(tiny), lambda: cvw.GradCAM(model).compute(tiny),
                     lambda: cvw.predict_top(model, tiny)):
            with pytest.raises(ConvVizError, match=rf"{side}x{side}|\({side}, {side}"):
                make()

    return case


MODELS["free-size-model-1x1-image"] = _too_small(1)
MODELS["free-size-model-2x2-image"] = _too_small(2)


@model_case
def free_size_model_wide_image(keras, tmp_path, image):
    model = free_size_model(keras)
    wide = gen.WIDE[:, :3000]
    maps = cvw.Activations(model).compute(wide)
    assert maps["c"].shape == (8, 2998, 4)
    np.testing.assert_allclose(maps["c"], tap(keras, model, "c", wide), atol=1e-4)
    assert cvw.GradCAM(model).compute(wide).shape == (8, 2998)


@pytest.mark.parametrize("case", list(MODELS), ids=str)
def test_model(case, keras, tmp_path, image):
    MODELS[case](keras, tmp_path, image)


@pytest.mark.parametrize("case", list(MODEL_FILES), ids=str)
def test_dashboard_model_file(case, dash, module_recorder, engines, keras, tmp_path, image2):
    """The Dashboard's model box: a bad file shows its error; model, image and widgets stay."""
    make, message = MODEL_FILES[case]
    path = make(keras, tmp_path)
    old, explorer = dash.model, dash.activations
    dash.model_text.value = str(path)
    dash.load_button.click()
    text = status_text(dash)
    assert re.search(message, text), text
    assert text.startswith("model: ") and "internal error" not in text
    assert dash.model is old and dash.activations is explorer
    good = encode(np.clip(image2, 0, 255).astype(np.uint8)[::-1])
    upload(dash, good, "after.png")
    assert_shows(dash, module_recorder, engines, good)


@pytest.mark.parametrize("case", ["free-size-model-1x1-image", "free-size-model-2x2-image"], ids=str)
def test_dashboard_free_size_model_tiny_upload(case, recorder, keras, image):
    from convviz_widgets.widgets import Dashboard

    side = int(case.split("-")[-2][0])
    board = Dashboard(model=free_size_model(keras), img=image)
    board.cam
    before = board.activations.image
    upload(board, encode(np.full((side, side, 3), 100, np.uint8)), "tiny.png")
    text = status_text(board)
    assert re.search(rf"{side}x{side}|\({side}, {side}", text) and "internal error" not in text, text
    np.testing.assert_array_equal(board.activations.image, before)
    np.testing.assert_array_equal(board.cam.image, before)

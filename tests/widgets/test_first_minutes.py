"""The first five minutes: an image that fits the model, frames at their display size, the input
beside a channel, and a new image decoded and validated once."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets.datasets import SHAPE_CLASSES
from convviz_widgets.engines import images as images_module
from convviz_widgets.engines.models import ModelInfo, _register, divide_by_255, imagenet_class_names
from convviz_widgets.widgets import ActivationExplorer, Dashboard
from convviz_widgets.widgets._canvas import FRAME_CLASS

from .conftest import decode_png
from .test_dashboard import png_bytes, upload


@pytest.fixture(scope="module")
def default_model():
    return cvw.load_model()


def test_trained_samples_follow_the_model(default_model, model, keras):
    assert cvw.trained_samples(default_model) == list(SHAPE_CLASSES)
    assert cvw.trained_samples(model) == []  # a user's model: nothing known
    imagenet = keras.models.clone_model(model)
    _register(imagenet, ModelInfo("vgg16", divide_by_255, imagenet_class_names()))
    assert cvw.trained_samples(imagenet) == ["cat", "coffee", "astronaut", "rocket"]


def test_the_default_model_opens_on_a_shape_it_recognizes(recorder, default_model):
    dash = Dashboard(model=default_model)
    first = SHAPE_CLASSES[0]
    assert dash.image_dropdown.value == first
    labels = dict((value, label) for label, value in dash.image_dropdown.options)
    assert labels[first] == f"{first} (like its training data)"
    assert labels["cat"] == "cat (not what it was trained on)"
    np.testing.assert_array_equal(dash.image, cvw.sample_image(first))
    assert dash.cam.top[0][1] == first  # the first Grad-CAM explains the object that is there


def test_an_imagenet_model_opens_on_the_cat_and_a_users_model_too(recorder, model, keras):
    imagenet = keras.models.clone_model(model)
    _register(imagenet, ModelInfo("vgg16", divide_by_255, None))  # no labels: not known
    for m in (model, imagenet):
        dash = Dashboard(model=m)
        assert dash.image_dropdown.value == "cat"
        assert ("cat", "cat") in dash.image_dropdown.options  # no claim about training data
        want = cvw.load_image(cvw.sample_image("cat"), target_size=(32, 32))
        np.testing.assert_array_equal(dash.activations.image, want)


def test_frames_are_shown_at_their_size_and_crisp(recorder, model, image):
    ex = ActivationExplorer(model, image)
    frame = recorder.last(ex.canvas)
    layout = ex.canvas.layout
    assert (layout.width, layout.max_width, layout.height) == (f"{frame.shape[1]}px", "100%", "auto")
    assert FRAME_CLASS in ex.canvas._dom_classes
    css = [c for c in ex.children if "image-rendering: pixelated" in str(getattr(c, "value", ""))]
    assert len(css) == 1 and f".{FRAME_CLASS}" in css[0].value
    ex.view = "grid"
    grid = recorder.last(ex.canvas)
    assert grid.shape != frame.shape and layout.width == f"{grid.shape[1]}px"
    ex.children = list(ex.children)[:2]  # re-laid out: the style stays with the explorer
    assert css[0] in ex.children


def _image_oracle(image, shape):
    h, w = shape
    shrink = h <= image.shape[0] and w <= image.shape[1]
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    rgba = np.full((h, w, 4), 255, np.uint8)
    rgba[..., :3] = np.rint(np.clip(resized, 0, 255)).astype(np.uint8)
    return rgba


def test_the_input_is_shown_beside_one_channel(recorder, model, image, image2):
    ex = ActivationExplorer(model, image)
    frame = recorder.last(ex.canvas)  # c1: 30x30 channel, x10 -> 300x300
    assert frame.shape[:2] == (300, 300)
    shown = decode_png(ex.input_view.value)
    np.testing.assert_array_equal(shown, _image_oracle(image, (300, 300)))
    assert ex.input_view.layout.display is None and ex.input_view.layout.width == "300px"
    assert ex.input_view in ex.children[3].children and ex.canvas in ex.children[3].children
    ex.layer = "c2"  # 13x13 -> 312x312: the input follows the channel's size
    np.testing.assert_array_equal(decode_png(ex.input_view.value), _image_oracle(image, (312, 312)))
    ex.image = image2
    np.testing.assert_array_equal(decode_png(ex.input_view.value), _image_oracle(image2, (312, 312)))
    ex.view = "grid"
    assert ex.input_view.layout.display == "none"
    plain = ActivationExplorer(model, image, show_input=False)
    assert plain.input_view.layout.display == "none" and plain.input_view.value == b""


@pytest.fixture
def decodes(monkeypatch):
    """How often an image was validated (every decode ends in ``_from_array``)."""
    calls = []
    original = images_module._from_array

    def counting(array):
        calls.append(array.shape)
        return original(array)

    monkeypatch.setattr(images_module, "_from_array", counting)
    return calls


def test_a_new_image_is_decoded_and_validated_once(recorder, model, image, image2, decodes):
    dash = Dashboard(model=model, img=image)
    assert len(decodes) == 1
    dash.filters, dash.cam  # every tab built: they get the image decoded already
    assert len(decodes) == 1
    decodes.clear()
    upload(dash, png_bytes(image2))
    assert dash.status.value == "" and len(decodes) == 1
    decodes.clear()
    dash.image_dropdown.value = "star"
    assert dash.status.value == "" and len(decodes) == 1
    assert not dash.activations.image.flags.writeable  # what was validated cannot change


def test_explorers_by_name(recorder, model, image):
    dash = Dashboard(model=model, img=image)
    assert dash.explorer("cam") is dash.cam is dash.explorers[2]
    with pytest.raises(cvw.ConvVizError, match=r"tab: expected one of 'activations', 'filters', 'cam'"):
        dash.explorer("camera")

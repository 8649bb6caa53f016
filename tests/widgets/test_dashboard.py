"""Dashboard: three explorers, lazily built, one model and image; bad input only shows an error."""

import datetime
import io

import numpy as np
import pytest
from PIL import Image

from convviz_widgets import Activations, load_image, sample_image, sample_images
from convviz_widgets.render.activations import channel_frame
from convviz_widgets.widgets import ActivationExplorer, CamExplorer, Dashboard, FilterExplorer

from .conftest import SIZE


@pytest.fixture
def dash(recorder, model, image):
    return Dashboard(model=model, img=image)


def upload(dash, content, name="x.png"):
    dash.upload.value = ({"name": name, "type": "image/png", "size": len(content),
                          "content": memoryview(content),
                          "last_modified": datetime.datetime(2024, 1, 1)},)


def png_bytes(array):
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_tabs_are_built_when_first_shown(dash, model):
    assert [type(e) for e in dash.explorers] == [ActivationExplorer] + [type(None)] * 3
    dash.tabs.selected_index = 2
    assert isinstance(dash.explorers[2], CamExplorer) and dash.explorers[1] is None
    dash.tabs.selected_index = 1
    assert isinstance(dash.filters, FilterExplorer) and not dash.filters.running
    assert all(e.model is model for e in dash.explorers if e is not None)
    assert dash.filters.cache == {}  # nothing runs until Run


def test_upload_changes_the_image_everywhere(recorder, dash, model, image2):
    cam = dash.cam
    upload(dash, png_bytes(image2))
    assert dash.status.value == ""
    want = load_image(png_bytes(image2), target_size=(SIZE, SIZE))
    np.testing.assert_array_equal(dash.activations.image, want)
    np.testing.assert_array_equal(cam.image, want)
    fmap = Activations(model).compute(want)["c1"]
    np.testing.assert_array_equal(recorder.last(dash.activations.canvas),
                                  channel_frame(fmap, 0, size=dash.activations.size))


def test_bad_upload_shows_the_error_and_loses_nothing(recorder, dash, image):
    before = dash.activations.frame
    upload(dash, b"definitely not an image")
    assert "image" in dash.status.value and "internal error" not in dash.status.value
    np.testing.assert_array_equal(dash.activations.image, image)
    assert dash.activations.frame is before
    dash.activations.channel = 2  # still usable
    assert dash.activations.frame is not before


def test_sample_image_chooser(dash):
    name = sample_images()[-1]
    dash.image_dropdown.value = name
    assert dash.status.value == ""
    want = np.clip(load_image(sample_image(name), target_size=(SIZE, SIZE)), 0, 255)
    np.testing.assert_array_equal(dash.activations.image, want)


def test_model_chooser_errors_and_files(dash, model, keras, tmp_path):
    old = dash.model
    dash.model_text.value = "no-such-model"
    dash.load_button.click()
    assert "model" in dash.status.value and dash.model is old
    path = tmp_path / "tiny.keras"
    model.save(path)
    dash.model_text.value = str(path)
    dash.load_button.click()
    assert dash.status.value == "" and dash.model is not old
    assert dash.activations.model is dash.model and dash.activations.layers == ["c1", "p1", "c2"]

"""The embedded default model: what it is, and that it is good enough to teach with.

The seeds here are never used by scripts/train_default_model.py (it trains on tuple seeds).
"""

import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets.datasets import SHAPE_CLASSES, shapes

DATA = Path(cvw.__file__).parent / "data"
MODEL_PATH = DATA / "default_model.keras"


@pytest.fixture(scope="module")
def model():
    return keras.models.load_model(MODEL_PATH, compile=False, safe_mode=True)


def test_metadata_matches_the_data_set():
    meta = json.loads((DATA / "default_model.json").read_text())
    assert meta["class_names"] == list(SHAPE_CLASSES)
    assert meta["input_size"] == 150
    assert meta["preprocess"] == "divide_by_255"
    assert meta["trained_with"].startswith("scripts/train_default_model.py --seed ")
    assert meta["test_accuracy"] >= 0.99 and meta["cam_peak_in_mask"] >= 0.98  # the script's gates


def test_is_the_small_tutorial_convnet(model):
    assert MODEL_PATH.stat().st_size < 3 * 2**20
    assert [layer.name for layer in model.layers[1:]] == [
        "conv2d_1",
        "max_pooling2d_1",
        "conv2d_2",
        "max_pooling2d_2",
        "conv2d_3",
        "max_pooling2d_3",
        "conv2d_4",
        "global_average_pooling2d",
        "predictions",
    ]
    assert model.input_shape == (None, 150, 150, 3)
    assert model.output_shape == (None, len(SHAPE_CLASSES))
    assert model.get_layer("predictions").activation is keras.activations.softmax


def test_accuracy_on_fresh_images(model):
    images, labels, _ = shapes(300, seed=12345)
    probabilities = model.predict(images.astype(np.float32) / 255.0, batch_size=50, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (probabilities.argmax(axis=1) == labels).mean()
    assert accuracy >= 0.985, f"accuracy {accuracy:.3f} on shapes(300, seed=12345)"  # 99.7% as shipped


def test_grad_cam_points_at_the_object():
    cam = cvw.GradCAM(cvw.load_model())
    images, _, masks = shapes(100, seed=54321)
    hits = 0
    for image, mask in zip(images, masks):
        heatmap = cam.compute(image.astype(np.float32))
        assert heatmap.shape == (18, 18)
        big = cv2.resize(heatmap, (150, 150), interpolation=cv2.INTER_LINEAR)
        row, col = np.unravel_index(np.argmax(big), big.shape)
        hits += bool(mask[row, col])
    assert hits >= 96, f"Grad-CAM peak on the object in {hits}/100 of shapes(100, seed=54321)"  # 99 as shipped

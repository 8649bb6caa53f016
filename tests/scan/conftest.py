"""A tiny seeded convnet and small image folders for the scan tests (24 px: fast on 2 cores)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

SIZE = 24


def tiny_model(seed=1):
    """c1: 3x3 valid, p1: 2x2 max pool, c2: 3x3 valid; c2's cells see 8x8 pixels at (2y, 2x)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((SIZE, SIZE, 3), name="image")
    h = layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    h = layers.MaxPooling2D(2, name="p1")(h)
    h = layers.Conv2D(6, 3, activation="relu", name="c2")(h)
    out = layers.Dense(3, activation="softmax", name="head")(layers.GlobalAveragePooling2D(name="gap")(h))
    return keras.Model(x, out, name="tiny")


@pytest.fixture(scope="session")
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


def random_images(n, seed=0, size=SIZE):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype(np.uint8)


@pytest.fixture(scope="session")
def images():
    imgs = random_images(40)
    imgs[17] = imgs[5]  # an exact duplicate: ties are broken by index
    return imgs


def layer_maps(model, images, layer):
    """numpy oracle input: the layer's maps from Keras' own predict, x / 255 as the default."""
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    return sub.predict(np.asarray(images, np.float32) / 255.0, verbose=0)


def png_bytes(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()

"""Small, seeded Keras models shared by the engine tests (16-32 px inputs: fast on 2 cores)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from keras import layers


def small_functional(classes=3, size=32, activation="softmax"):
    keras.utils.set_random_seed(1)
    x = keras.Input((size, size, 3))
    h = layers.Conv2D(8, 3, activation="relu", name="c1")(x)
    h = layers.MaxPooling2D(2, name="p1")(h)
    h = layers.Conv2D(16, 3, activation="relu", name="c2")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    out = layers.Dense(classes, activation=activation, name="head")(h)
    return keras.Model(x, out, name="small")


@pytest.fixture(scope="session")
def functional():
    return small_functional()


@pytest.fixture(scope="session")
def sequential():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 3, activation="relu", name="c1"),
            layers.MaxPooling2D(2, name="p1"),
            layers.Conv2D(8, 3, activation="relu", name="c2"),
            layers.Flatten(name="flat"),
            layers.Dense(1, activation="sigmoid", name="out"),
        ],
        name="seq",
    )
    return model


@pytest.fixture(scope="session")
def nested():
    """The classic trap: a base model inside a Sequential (VGG16 architecture, random weights)."""
    keras.utils.set_random_seed(3)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), base, layers.GlobalAveragePooling2D(), layers.Dense(2)],
        name="outer",
    )
    return model


@pytest.fixture
def image():
    return np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)

"""The model resolved once (ModelSpec), and the one index validator."""

from __future__ import annotations

import pytest

import convviz_widgets as cvw
from convviz_widgets.engines import graph as graph_module
from convviz_widgets.engines import models
from convviz_widgets.validation import check_index


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.fixture(scope="module")
def tiny(keras):
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inp)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(6, 3, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="tiny_spec")


def test_the_spec_answers_layers_shapes_and_classes(tiny):
    spec = cvw.engines.model_spec(tiny)
    assert spec is cvw.engines.model_spec(tiny)  # one per model
    assert spec.conv_layers == ("c1", "p1", "c2") and spec.last_conv_layer == "c2"
    assert spec.input_size == (16, 16)
    assert spec.layer_shape("c1") == (14, 14, 4) and spec.layer_shape("p1") == (7, 7, 4)
    assert spec.channels("c2") == 6 and spec.num_classes == 3
    assert spec.class_names == ["class 0", "class 1", "class 2"]
    assert spec.check_channel("c2", 5) == 5 and spec.check_class(2) == 2
    with pytest.raises(cvw.ConvVizError, match=r"channel: expected a channel of layer 'c2' in 0\.\.5, got 6"):
        spec.check_channel("c2", 6)
    with pytest.raises(cvw.ConvVizError, match=r"layer: 'gap' has no spatial output"):
        spec.resolve_layer("gap")
    with pytest.raises(cvw.ConvVizError, match=r"class_index: expected a class index in 0\.\.2, got 3"):
        spec.check_class(3)


def test_the_old_helpers_are_thin_wrappers_that_walk_once(keras, monkeypatch):
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(2, 3, name="k"),
                              keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])  # fmt: skip
    walks = []
    original = graph_module.iter_layers
    monkeypatch.setattr(graph_module, "iter_layers", lambda *a, **k: walks.append(1) or original(*a, **k))
    for _ in range(3):
        assert models.conv_layers(model) == ["k"]
        assert models.last_conv_layer(model) == "k"
        assert models.resolve_layer(model, "k") == "k"
        assert models.layer_output_shape(model, "k") == (10, 10, 2)
        assert models.num_classes(model) == 2 and models.class_names(model) == ["class 0", "class 1"]
    assert len(walks) == 1  # the layers were listed once, not by every helper every time


@pytest.mark.parametrize(
    "value, message",
    [
        (5, "index: expected a cell index in 0..4, got 5"),
        (-1, "index: expected a cell index in 0..4, got -1"),
        (True, "index: expected a cell index in 0..4 (an integer), got bool True"),
        (1.0, "index: expected a cell index in 0..4 (an integer), got float 1.0"),
    ],
)
def test_check_index_names_the_argument_the_range_and_the_value(value, message):
    with pytest.raises(cvw.ConvVizError) as info:
        check_index("index", value, 5, "a cell index")
    assert str(info.value) == message


def test_check_index_accepts_numpy_integers_and_reports_an_empty_range():
    import numpy as np

    assert check_index("k", np.int64(3), 4) == 3 and type(check_index("k", np.int64(3), 4)) is int
    with pytest.raises(cvw.ConvVizError, match=r"k: expected an index, but there is none \(0 in all\); got 0"):
        check_index("k", 0, 0)

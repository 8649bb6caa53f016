import time

import keras
import numpy as np
import pytest
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines import backend, models

from .conftest import small_functional


def test_conv_layers_functional(functional):
    assert cvw.conv_layers(functional) == ["c1", "p1", "c2"]


def test_conv_layers_sequential(sequential):
    assert cvw.conv_layers(sequential) == ["c1", "p1", "c2"]


def test_conv_layers_nested_are_qualified(nested):
    names = cvw.conv_layers(nested)
    assert names[0] == "vgg16/block1_conv1"
    assert names[-2:] == ["vgg16/block5_conv3", "vgg16/block5_pool"]
    assert len(names) == 18


def test_resolve_inner_name_without_prefix(nested):
    assert models.resolve_layer(nested, "block5_conv3") == "vgg16/block5_conv3"


def test_unknown_layer_lists_valid_names(functional):
    with pytest.raises(cvw.ConvVizError, match=r"'nope' is not a layer.*c1, p1, c2"):
        models.resolve_layer(functional, "nope")


def test_layer_without_spatial_output(functional):
    with pytest.raises(cvw.ConvVizError, match="no spatial output"):
        cvw.GradCAM(functional, layer="gap")


def test_layer_object_is_accepted(functional):
    assert models.resolve_layer(functional, functional.get_layer("c2")) == "c2"


def test_load_model_passes_a_model_through(functional):
    assert cvw.load_model(functional) is functional


def test_unbuilt_sequential_is_refused():
    model = keras.Sequential([layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(), layers.Dense(2)])
    with pytest.raises(cvw.ConvVizError, match="not built"):
        cvw.load_model(model)


def test_two_inputs_are_refused():
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    out = layers.Dense(2)(layers.GlobalAveragePooling2D()(layers.Add()([a, b])))
    with pytest.raises(cvw.ConvVizError, match="2 inputs"):
        cvw.Activations(keras.Model([a, b], out))


def test_non_image_input_is_refused():
    x = keras.Input((10,))
    with pytest.raises(cvw.ConvVizError, match=r"\(batch, height, width, 3\)"):
        cvw.load_model(keras.Model(x, layers.Dense(2)(x)))


def test_non_classifier_output_is_refused_for_gradcam():
    x = keras.Input((16, 16, 3))
    out = layers.Conv2D(4, 3, name="c")(x)  # a feature map, not class scores
    model = keras.Model(x, out)
    assert cvw.conv_layers(model) == ["c"]  # activations still work
    with pytest.raises(cvw.ConvVizError, match=r"classifier whose output is \(batch, classes\)"):
        cvw.GradCAM(model)


def test_model_without_conv_layers_has_no_gradcam_layer():
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Dense(3, activation="softmax")(layers.Flatten()(x)))
    assert cvw.conv_layers(model) == []
    with pytest.raises(cvw.ConvVizError, match="no convolution layer"):
        cvw.GradCAM(model)


def test_keras_file_round_trip(tmp_path, functional, image):
    path = tmp_path / "model.keras"
    functional.save(path)
    loaded = cvw.load_model(str(path))
    assert cvw.conv_layers(loaded) == ["c1", "p1", "c2"]
    np.testing.assert_allclose(
        cvw.Activations(loaded).compute(image)["c2"],
        cvw.Activations(functional).compute(image)["c2"],
        rtol=1e-5,
        atol=1e-5,
    )


def test_h5_round_trip(tmp_path, sequential, image):
    path = tmp_path / "model.h5"
    sequential.save(path)
    loaded = cvw.load_model(path)
    assert cvw.conv_layers(loaded) == ["c1", "p1", "c2"]
    np.testing.assert_allclose(
        cvw.GradCAM(loaded).compute(image, 1), cvw.GradCAM(sequential).compute(image, 1), atol=1e-5
    )


def test_lambda_layer_is_refused_by_safe_mode(tmp_path):
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Lambda(lambda t: t * 2.0)(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(cvw.ConvVizError, match="safe mode"):
        cvw.load_model(path)


def test_truncated_keras_file(tmp_path, functional):
    path = tmp_path / "model.keras"
    functional.save(path)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(cvw.ConvVizError, match="could not load"):
        cvw.load_model(broken)


def test_missing_model_file():
    with pytest.raises(cvw.ConvVizError, match="no such file"):
        cvw.load_model("/nonexistent/model.keras")


def test_wrong_model_file_type(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(cvw.ConvVizError, match=r"\.keras, \.h5"):
        cvw.load_model(path)


def test_unknown_model_name():
    with pytest.raises(cvw.ConvVizError, match="unknown model name 'alexnet'.*vgg16"):
        cvw.load_model("alexnet")


def test_imagenet_weights_offline_fail_fast_and_explain(monkeypatch, tmp_path):
    # An address that refuses at once stands in for "no internet" on any machine.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_WEIGHTS_HOST", ("127.0.0.1", 9))
    start = time.perf_counter()
    with pytest.raises(cvw.ConvVizError) as info:
        cvw.load_model("vgg16")
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert str(tmp_path / "models") in message
    assert "weights=None" in message and "load_model()" in message


def test_application_without_weights_uses_family_preprocessing():
    model = cvw.load_model("vgg16", weights=None)
    assert models.model_info(model).preprocess is keras.applications.vgg16.preprocess_input
    names = cvw.class_names(model)
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"


def test_other_backend_is_reported(monkeypatch):
    monkeypatch.setattr(backend, "_backend_name", lambda: "jax")
    with pytest.raises(cvw.ConvVizError, match="needs the 'tensorflow' backend.*'jax'"):
        cvw.Activations(small_functional())


def test_class_names_binary_and_generic(sequential, functional):
    assert cvw.class_names(sequential) == ["class 0", "class 1"]
    assert cvw.class_names(functional) == ["class 0", "class 1", "class 2"]


def test_layer_names_with_unicode():
    x = keras.Input((16, 16, 3))
    h = layers.Conv2D(4, 3, name="чат_conv")(x)
    model = keras.Model(x, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(h)))
    assert cvw.conv_layers(model) == ["чат_conv"]
    cam = cvw.GradCAM(model, "чат_conv")  # TF cannot trace this name: runs eagerly instead
    assert cam.compute(np.full((16, 16, 3), 9.0), 0).shape == (14, 14)
    assert cam._first.eager
    acts = cvw.Activations(model).compute(np.full((16, 16, 3), 9.0))
    oracle = keras.Model(model.inputs, model.get_layer("чат_conv").output)(np.full((1, 16, 16, 3), 9 / 255))
    np.testing.assert_allclose(acts["чат_conv"], oracle[0], atol=1e-6)

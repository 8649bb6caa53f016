import keras
import numpy as np

import convviz_widgets as cvw


def test_every_layer_matches_a_submodel(functional, image):
    acts = cvw.Activations(functional).compute(image)
    assert list(acts) == ["c1", "p1", "c2"]
    for name, value in acts.items():
        oracle = keras.Model(functional.inputs, functional.get_layer(name).output)
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, oracle(image[None] / 255.0)[0], rtol=1e-5, atol=1e-6)


def test_nested_layers_match_the_inner_model(nested, image):
    acts = cvw.Activations(nested, layers=["vgg16/block2_conv1", "block5_pool"]).compute(image)
    base = nested.get_layer("vgg16")
    oracle = keras.Model(base.inputs, base.get_layer("block2_conv1").output)
    np.testing.assert_allclose(acts["vgg16/block2_conv1"], oracle(image[None] / 255.0)[0], atol=1e-5)
    assert acts["vgg16/block5_pool"].shape == (1, 1, 512)


def test_one_forward_pass_per_image(functional, image):
    engine = cvw.Activations(functional)
    calls = []
    forward = engine._forward
    engine._forward = lambda x: calls.append(1) or forward(x)
    first = engine.compute(image)
    again = engine.compute(image.copy())
    assert len(calls) == 1
    np.testing.assert_array_equal(first["c2"], again["c2"])
    engine.compute(image[::-1].copy())
    assert len(calls) == 2
    assert forward.experimental_get_tracing_count() == 1


def test_custom_preprocess(functional, image):
    acts = cvw.Activations(functional, layers="c1", preprocess=lambda x: x * 0.0).compute(image)
    bias = functional.get_layer("c1").bias.numpy()
    np.testing.assert_allclose(acts["c1"], np.broadcast_to(np.maximum(bias, 0), acts["c1"].shape), atol=1e-6)


def test_image_is_resized_to_the_model_input(functional):
    acts = cvw.Activations(functional, layers=["c1"]).compute(np.zeros((64, 80, 3)))
    assert acts["c1"].shape == (30, 30, 8)

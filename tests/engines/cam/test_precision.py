"""Score-CAM's masked passes in bfloat16: the twin's layers, its agreement with float32, errors."""

import keras
import numpy as np
import pytest
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines.graph import flat_graph
from convviz_widgets.engines.precision import bfloat16_twin


def scaled(x):
    return x / 255.0


def policies(model):
    return {layer.name: layer.dtype_policy.name for layer in model.layers}


@pytest.mark.parametrize("kind", ["functional", "sequential", "nested"])
def test_the_twin_runs_the_conv_body_in_bfloat16_and_the_head_in_float32(kind, request, image):
    model = request.getfixturevalue(kind)
    before = [w.copy() for w in model.get_weights()]
    source = flat_graph(model).submodel(("@probability",))
    twin = bfloat16_twin(source)
    twin_policies = policies(twin)
    for layer in source.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        spatial = len(layer.output.shape) >= 3
        assert twin_policies[layer.name] == ("mixed_bfloat16" if spatial else "float32"), layer.name
        assert layer.dtype_policy.name == "float32"  # the user's layers are untouched
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.stack([image, image[::-1]]) / 255.0
    want = source(x).numpy()
    got = np.asarray(twin(x), np.float32)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0.05, atol=2e-3)  # bfloat16: 8 significant bits
    assert not np.array_equal(got, want)  # it did compute in reduced precision


def test_scorecam_in_bfloat16_agrees_with_float32(functional, image):
    exact = cvw.ScoreCAM(functional, preprocess=scaled)
    fast = cvw.ScoreCAM(functional, preprocess=scaled, precision="bfloat16")
    assert fast.precision == "bfloat16" and exact.precision == "float32"
    for k in range(3):
        w32, w16 = exact.channel_weights(image, k), fast.channel_weights(image, k)
        np.testing.assert_allclose(w16, w32, rtol=0.03, atol=2e-3)
        m32, m16 = exact.compute(image, k), fast.compute(image, k)
        assert np.abs(m16 - m32).max() <= 0.05
        assert np.corrcoef(m16.ravel(), m32.ravel())[0, 1] > 0.99
    # the image's own scores are float32: the same as the float32 engine's
    np.testing.assert_array_equal(fast.scores, exact.scores)


def test_cam_passes_precision_and_refuses_a_bad_one(functional):
    assert cvw.cam(functional, "scorecam", precision="bfloat16").precision == "bfloat16"
    for bad in ("float16", "bf16", None, 16):
        with pytest.raises(cvw.ConvVizError, match=r"precision: expected one of \('float32', "
                                                   r"'bfloat16'\), got"):
            cvw.ScoreCAM(functional, precision=bad)
    with pytest.raises(cvw.ConvVizError, match="options: 'gradcam' takes score, got precision"):
        cvw.cam(functional, "gradcam", precision="bfloat16")


class Unrebuildable(layers.Layer):
    """A layer with a constructor argument Keras cannot put in a config (an array)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor


def test_a_model_that_cannot_be_cloned_is_refused_with_the_reason():
    keras.utils.set_random_seed(4)
    x = keras.Input((16, 16, 3))
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(Unrebuildable(np.float32([2.0]))(x))
    model = keras.Model(x, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(h)))
    with pytest.raises(cvw.ConvVizError, match=r"precision='bfloat16': expected a model whose "
                                               r"layers can be rebuilt.*NotImplementedError"):
        cvw.ScoreCAM(model, layer="conv", precision="bfloat16")
    cvw.ScoreCAM(model, layer="conv")  # float32 needs no copy

import keras
import numpy as np
import pytest
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines.filter_patterns import initial_images
from convviz_widgets.render.patterns import deprocess


def linear_model(kernel):
    """One 1x1 linear conv: the gradient of filter f's mean activation is kernel[:, f] / (H W)."""
    x = keras.Input((None, None, 3))
    conv = layers.Conv2D(kernel.shape[1], 1, use_bias=False, name="conv")
    model = keras.Model(x, conv(x))
    conv.set_weights([kernel.reshape(1, 1, 3, -1).astype(np.float32)])
    return model


KERNEL = np.array([[1.0, 0.0, 0.5], [-2.0, 0.0, 0.5], [0.5, 0.0, 0.5]])


def test_hand_computed_ascent():
    size, steps, step_size = 12, 5, 2.0
    out = cvw.FilterPatterns(linear_model(KERNEL), "conv").generate([0, 2], size, steps, step_size, seed=3)
    x = initial_images([0, 2], size, 3).astype(np.float64)
    for i, f in enumerate([0, 2]):
        grad = KERNEL[:, f] / size**2
        rms = np.sqrt(np.mean(grad**2))
        x[i] += steps * step_size * grad / (rms + 1e-5)
    expected = deprocess(x)
    assert out.dtype == np.uint8 and out.shape == (2, size, size, 3)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_zero_gradient_gives_a_flat_pattern():
    out = cvw.FilterPatterns(linear_model(KERNEL), "conv").generate(1, size=10, steps=3)
    np.testing.assert_array_equal(out, np.full((1, 10, 10, 3), 127, np.uint8))


def test_deprocess_reference():
    x = np.array([[[[0.0, 1.0, 2.0]]]])
    centred = (x - 1.0) / (np.sqrt(2 / 3) + 1e-5) * 0.1 + 0.5
    np.testing.assert_array_equal(deprocess(x), (np.clip(centred, 0, 1) * 255).astype(np.uint8))


def test_batched_equals_one_at_a_time(nested):
    engine = cvw.FilterPatterns(nested, "vgg16/block2_conv1")
    filters = [0, 7, 63]
    batched = engine.generate(filters, size=32, steps=6)
    single = np.concatenate([engine.generate([f], size=32, steps=6) for f in filters])
    assert np.abs(batched.astype(int) - single.astype(int)).max() <= 1
    assert len({b.tobytes() for b in batched}) == 3  # each filter has its own pattern


def test_compiled_once_for_any_filter_count_and_size(nested):
    engine = cvw.FilterPatterns(nested, "vgg16/block1_conv2")
    engine.generate([1], size=32, steps=1)
    engine.generate([5, 6, 7], size=32, steps=1)
    engine.generate(list(range(10)), size=32, steps=1)
    assert engine._step.experimental_get_tracing_count() == 1


def test_callback_sees_every_step_and_can_stop(functional):
    engine = cvw.FilterPatterns(functional, "c2")
    seen = []

    def callback(step, images):
        seen.append((step, images.shape, images.dtype))
        return step < 3

    stopped = engine.generate([0, 1], size=32, steps=40, callback=callback)
    assert [s for s, _, _ in seen] == [1, 2, 3]
    assert all(shape == (2, 32, 32, 3) and dtype == np.uint8 for _, shape, dtype in seen)
    np.testing.assert_array_equal(stopped, engine.generate([0, 1], size=32, steps=3))


def test_fixed_size_top_still_allows_any_size():
    model = cvw.load_model("vgg16", weights=None)  # Flatten + Dense fix the input at 224
    engine = cvw.FilterPatterns(model, "block1_conv1")
    assert engine.fixed_size is None
    assert engine.generate([0], size=16, steps=1).shape == (1, 16, 16, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": [16]}, r"has 16 filters, expected indices 0\.\.15, got 16"),
        ({"filters": [-1]}, "got -1"),
        ({"filters": []}, "at least one"),
        ({"filters": [0.5]}, "integer filter indices"),
        ({"filters": [0], "size": 3}, "size: expected"),
        ({"filters": [0], "steps": -1}, "steps"),
        ({"filters": [0], "step_size": float("nan")}, "step_size"),
    ],
)
def test_bad_arguments(functional, kwargs, message):
    with pytest.raises(cvw.ConvVizError, match=message):
        cvw.FilterPatterns(functional, "c2").generate(**kwargs)


def conv_model(**conv):
    keras.utils.set_random_seed(11)
    x = keras.Input((None, None, 3))
    h = layers.Conv2D(6, 3, activation="relu", padding="same", name="c1")(x)
    out = layers.Conv2D(5, name="layer", **conv)(h)
    return keras.Model(x, out)


CONVS = {
    "3x3 same relu": dict(kernel_size=3, padding="same", activation="relu"),
    "3x3 valid linear, no bias": dict(kernel_size=3, use_bias=False),
    "5x5 stride 2 tanh": dict(kernel_size=5, strides=2, activation="tanh"),
    "4x4 stride 3 same relu": dict(kernel_size=4, strides=3, padding="same", activation="relu"),
    "3x3 same elu": dict(kernel_size=3, padding="same", activation="elu"),
    "2x4 kernel valid sigmoid": dict(kernel_size=(2, 4), activation="sigmoid"),
}


@pytest.mark.parametrize("conv", CONVS, ids=list(CONVS))
def test_own_filter_shortcut_equals_the_whole_layer(conv):
    """Computing only each image's own output channel gives the whole layer's result."""
    model = conv_model(**CONVS[conv])
    fast = cvw.FilterPatterns(model, "layer")
    whole = cvw.FilterPatterns(model, "layer")
    whole.own_filter = None  # before the first call: the step traces the general path
    assert fast.own_filter is not None
    filters = [4, 0, 2, 2]
    a = fast.generate(filters, size=17, steps=5, step_size=3.0)
    loss_fast = fast.losses
    b = whole.generate(filters, size=17, steps=5, step_size=3.0)
    np.testing.assert_allclose(loss_fast, whole.losses, rtol=1e-4, atol=1e-6)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # and the shortcut's activations are the layer's own channel, pixel for pixel
    x = np.random.default_rng(1).uniform(0, 255, (4, 17, 17, 3)).astype(np.float32)
    before = keras.Model(model.inputs, model.get_layer("layer").input)
    own = fast.own_filter(before(x), np.array(filters, np.int32)).numpy()
    full = model(x).numpy()
    np.testing.assert_allclose(own, full[np.arange(4), :, :, filters], rtol=1e-4, atol=1e-4)


def test_layers_that_are_not_plain_convs_use_the_whole_layer(nested):
    assert cvw.FilterPatterns(nested, "vgg16/block1_pool").own_filter is None
    assert cvw.FilterPatterns(nested, "vgg16/block2_conv2").own_filter is not None
    keras.utils.set_random_seed(12)
    x = keras.Input((None, None, 3))
    model = keras.Model(x, layers.Conv2D(4, 3, activation="softmax", name="soft")(x))
    assert cvw.FilterPatterns(model, "soft").own_filter is None  # softmax mixes channels
    model = conv_model(kernel_size=3, dilation_rate=2, padding="same")
    whole = cvw.FilterPatterns(model, "layer")  # no dilated depthwise kernel on the CPU
    assert whole.own_filter is None and whole.generate([1], size=16, steps=2).shape == (1, 16, 16, 3)

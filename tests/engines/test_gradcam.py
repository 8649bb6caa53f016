import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import convviz_widgets as cvw

# A 2x2 image whose red and green channels ARE the feature maps (1x1 conv, identity on R, G).
R = np.array([[1.0, 0.0], [0.0, 2.0]])
G = np.array([[0.0, 1.0], [3.0, 0.0]])
W = np.array([[1.0, -1.0], [2.0, 0.5]])  # Dense kernel: channel c -> class k


def hand_model(units=2, activation="softmax", kernel=W):
    x = keras.Input((2, 2, 3))
    a = layers.Conv2D(2, 1, use_bias=False, name="conv")(x)
    out = layers.Dense(units, activation=activation, name="head")(layers.GlobalAveragePooling2D()(a))
    model = keras.Model(x, out)
    model.get_layer("conv").set_weights([np.array([[[[1, 0], [0, 1], [0, 0]]]], np.float32)])
    model.get_layer("head").set_weights([kernel.astype(np.float32), np.zeros(units, np.float32)])
    return model


IMAGE = np.stack([R, G, np.zeros((2, 2))], axis=-1)


def identity(x):
    return x


def test_logit_weights_hand_computed():
    cam = cvw.GradCAM(hand_model(), preprocess=identity)
    assert cam.layer == "conv" and cam.split
    # class 0: weights (1, 2) / 4 -> relu(R + 2G) / max = [[1, 2], [6, 2]] / 6
    np.testing.assert_allclose(cam.compute(IMAGE, 0), [[1 / 6, 2 / 6], [1, 2 / 6]], rtol=1e-6)
    # class 1: weights (-1, 0.5) / 4 -> relu(-R + G/2) = [[0, .5], [1.5, 0]] -> / 1.5
    np.testing.assert_allclose(cam.compute(IMAGE, 1), [[0, 1 / 3], [1, 0]], rtol=1e-6, atol=1e-7)


def test_default_class_is_the_top_prediction():
    cam = cvw.GradCAM(hand_model(), preprocess=identity)
    logits = np.array([R.mean() + 2 * G.mean(), -R.mean() + 0.5 * G.mean()])
    np.testing.assert_allclose(cam.compute(IMAGE), cam.compute(IMAGE, int(np.argmax(logits))))


def test_probability_score_matches_numpy_oracle():
    model = hand_model()
    cam = cvw.GradCAM(model, preprocess=identity, score="probability")
    logits = np.array([R.mean() + 2 * G.mean(), -R.mean() + 0.5 * G.mean()])
    p = np.exp(logits) / np.exp(logits).sum()
    for k in (0, 1):
        dp_dlogit = p[k] * ((np.arange(2) == k) - p)  # softmax Jacobian row
        weights = W @ dp_dlogit / 4.0  # per channel
        raw = np.maximum(weights[0] * R + weights[1] * G, 0)
        expected = raw / raw.max() if raw.max() > 0 else raw
        np.testing.assert_allclose(cam.compute(IMAGE, k), expected, rtol=1e-5)


def test_binary_sigmoid_class_zero_is_the_complement():
    model = hand_model(units=1, activation="sigmoid", kernel=np.array([[1.0], [-1.0]]))
    cam = cvw.GradCAM(model, preprocess=identity)
    s = R - G  # weights (1, -1) / 4
    np.testing.assert_allclose(cam.compute(IMAGE, 1), np.maximum(s, 0) / np.maximum(s, 0).max())
    np.testing.assert_allclose(cam.compute(IMAGE, 0), np.maximum(-s, 0) / np.maximum(-s, 0).max())
    with pytest.raises(cvw.ConvVizError, match=r"0\.\.1 \(2 classes\), got 2"):
        cam.compute(IMAGE, 2)


def test_all_negative_map_stays_zero():
    cam = cvw.GradCAM(hand_model(kernel=-np.abs(W)), preprocess=identity)
    out = cam.compute(IMAGE, 0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros((2, 2)))


def tutorial_gradcam(model, layer, image, k, use_logits):
    """The Keras example's Grad-CAM, as an oracle (eager, grad_model, pooled grads)."""
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        conv, preds = grad_model(image[None] / 255.0)
        score = preds[:, k]
    grads = tape.gradient(score, conv)
    pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
    heat = tf.nn.relu(conv[0] @ pooled[..., None])[..., 0].numpy()
    return heat / heat.max() if heat.max() > 0 else heat


def test_matches_the_tutorial_on_a_model_with_a_skip_connection(image):
    keras.utils.set_random_seed(5)
    x = keras.Input((32, 32, 3))
    c1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    c2 = layers.Conv2D(8, 3, padding="same", name="c2")(c1)
    out = layers.Dense(3, name="logits")(layers.GlobalAveragePooling2D()(layers.Add()([c1, c2])))
    model = keras.Model(x, out)
    cam = cvw.GradCAM(model, layer="c2")
    assert not cam.split  # c1 skips over c2: the whole model runs under the tape
    for k in range(3):
        np.testing.assert_allclose(cam.compute(image, k), tutorial_gradcam(model, "c2", image, k, True), atol=1e-5)


def test_probability_matches_the_tutorial(functional, image):
    cam = cvw.GradCAM(functional, score="probability")
    for k in range(3):
        np.testing.assert_allclose(cam.compute(image, k), tutorial_gradcam(functional, "c2", image, k, False), atol=1e-5)


def spy_on_the_body(cam):
    """Count every run of the model up to the layer (the forward pass or the fused first pass)."""
    calls = []
    for name in ("_forward", "_first"):
        real = getattr(cam, name)
        setattr(cam, name, lambda *args, real=real: calls.append(1) or real(*args))
    return calls


def test_class_switch_reuses_the_forward_pass_without_retracing(functional, image):
    cam = cvw.GradCAM(functional)
    calls = spy_on_the_body(cam)
    maps = [cam.compute(image, k) for k in (0, 1, 2, 1)]
    many = cam.compute_many(image, [2, 0])
    assert len(calls) == 1
    np.testing.assert_allclose(many, [maps[2], maps[0]], atol=1e-6)
    assert cam._maps.experimental_get_tracing_count() == 1
    cam.compute(image[::-1].copy(), 0)
    assert len(calls) == 2


def test_first_pass_equals_the_cached_path(functional, image):
    """A new image's one-class map (fused pass) equals the same class from the cached features."""
    fresh = cvw.GradCAM(functional)
    for i, k in enumerate((None, 0, 2)):
        img = image * (0.5 + 0.2 * i)  # a new image each time: the fused pass
        first = fresh.compute(img, k)
        cached = cvw.GradCAM(functional)
        cached._prepare(img)
        want = int(np.argmax(cached.scores)) if k is None else k
        np.testing.assert_allclose(first, cached.compute_many(img, [want])[0], atol=1e-6)
        np.testing.assert_allclose(fresh.scores, cached.scores, rtol=1e-6)


def test_nested_model_last_conv_layer(nested, image):
    cam = cvw.GradCAM(nested)
    assert cam.layer == "vgg16/block5_conv3" and cam.split
    heat = cam.compute(image, 1)
    assert heat.shape == (2, 2) and heat.max() in (0.0, 1.0)


@pytest.mark.parametrize("bad", [-1, 3, 1.0, True, "0"])
def test_bad_class_index(functional, image, bad):
    with pytest.raises(cvw.ConvVizError, match="class_index"):
        cvw.GradCAM(functional).compute(image, bad)


def test_bad_score(functional):
    with pytest.raises(cvw.ConvVizError, match="score: expected one of"):
        cvw.GradCAM(functional, score="loss")

"""Grad-CAM with a folded [pooling] -> Flatten -> Dense head (VGG16's fc1) equals the tape.

The oracle differentiates the class logit (or probability) with respect to the feature map in
eager mode through the whole model, exactly as the Keras tutorial does; the engine instead
folds the first Dense's kernel over the pooled positions and never runs its backward pass.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import convviz_widgets as cvw


def identity(x):  # the oracle feeds the image as is
    return x


def oracle(model, layer, image, k, score="logit"):
    """Tape through the model: the feature map and d score_k / d map, heatmap as in the paper."""
    final = model.layers[-1]
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, final.input])
    with tf.GradientTape() as tape:
        conv, h = grad_model(image[None])
        logits = h @ final.kernel + final.bias
        if final.units == 1:  # one sigmoid unit: class 0 is the complement
            logits = tf.concat([-logits, logits], axis=-1)
            probs = tf.sigmoid(logits)
        else:
            probs = tf.nn.softmax(logits)
        s = (logits if score == "logit" else probs)[:, k]
    grads = tape.gradient(s, conv)
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))
    heat = tf.nn.relu(tf.einsum("hwc,c->hw", conv[0], weights)).numpy()
    return heat / heat.max() if heat.max() > 0 else heat


def head_model(pool, classes=4, dropout=True, hidden=24, size=20, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((size, size, 3))
    h = layers.Conv2D(6, 3, activation="relu", name="c1")(x)
    h = layers.Conv2D(8, 3, activation="relu", name="last")(h)
    if pool is not None:
        h = pool(h)
    h = layers.Flatten(name="flat")(h)
    if dropout:
        h = layers.Dropout(0.5, name="drop")(h)
    h = layers.Dense(hidden, activation="relu", name="fc1")(h)
    activation = "sigmoid" if classes == 1 else "softmax"
    out = layers.Dense(classes, activation=activation, name="predictions")(h)
    return keras.Model(x, out)


POOLS = {
    "max 2x2": lambda: layers.MaxPooling2D(2, name="pool"),
    "max 3/2 overlapping, same": lambda: layers.MaxPooling2D(3, 2, padding="same", name="pool"),
    "avg 3/2 overlapping": lambda: layers.AveragePooling2D(3, 2, name="pool"),
    "avg 2x2 same (odd map)": lambda: layers.AveragePooling2D(2, padding="same", name="pool"),
    "no pooling": lambda: None,
}


@pytest.fixture
def image():
    return np.random.default_rng(7).uniform(0, 4, (20, 20, 3)).astype(np.float32)


@pytest.mark.parametrize("pool", POOLS, ids=list(POOLS))
@pytest.mark.parametrize("score", ["logit", "probability"])
def test_folded_head_equals_the_tape(pool, score, image):
    model = head_model(POOLS[pool]())
    cam = cvw.GradCAM(model, layer="last", preprocess=identity, score=score)
    assert cam.fold is not None
    first = cam.compute(image, 2)  # the fused first pass
    np.testing.assert_allclose(first, oracle(model, "last", image, 2, score), atol=2e-5)
    for k in range(4):  # class switches from the cached (map, fc1 pre-activation)
        np.testing.assert_allclose(cam.compute(image, k), oracle(model, "last", image, k, score), atol=2e-5)
    many = cam.compute_many(image, [3, 0])
    np.testing.assert_allclose(many, [oracle(model, "last", image, k, score) for k in (3, 0)], atol=2e-5)
    assert cam._maps.experimental_get_tracing_count() == 1


def test_top_k_in_one_batch_and_the_scores_are_the_logits(image):
    model = head_model(layers.MaxPooling2D(2, name="pool"), classes=5, seed=3)
    cam = cvw.GradCAM(model, layer="last", preprocess=identity)
    want = np.stack([oracle(model, "last", image, k) for k in range(5)])
    np.testing.assert_allclose(cam.compute_many(image, range(5)), want, atol=2e-5)
    final = model.layers[-1]
    h = keras.Model(model.inputs, final.input)(image[None])
    logits = (h @ final.kernel + final.bias).numpy()[0]
    np.testing.assert_allclose(cam.scores, logits, rtol=1e-5, atol=1e-6)
    assert cam.top_classes(image, 5) == list(np.argsort(-logits))


def test_binary_sigmoid_head(image):
    """The tutorial's cats-vs-dogs head: Flatten -> Dropout -> Dense(relu) -> Dense(1, sigmoid)."""
    model = head_model(layers.MaxPooling2D(2, name="pool"), classes=1, seed=4)
    cam = cvw.GradCAM(model, layer="last", preprocess=identity)
    assert cam.fold is not None and cam.num_classes == 2
    for k in (1, 0):
        np.testing.assert_allclose(cam.compute(image, k), oracle(model, "last", image, k), atol=2e-5)


def test_nested_base_with_a_flatten_dense_top(image):
    """The pooling is inside the base model, Flatten and the Dense layers outside it."""
    keras.utils.set_random_seed(5)
    base = keras.Sequential(
        [keras.Input((20, 20, 3)), layers.Conv2D(8, 3, activation="relu", name="conv"),
         layers.MaxPooling2D(2, name="pool")],
        name="base",
    )
    model = keras.Sequential(
        [keras.Input((20, 20, 3)), base, layers.Flatten(name="flat"),
         layers.Dense(16, activation="tanh", name="fc1"), layers.Dense(3, activation="softmax")],
    )
    cam = cvw.GradCAM(model, preprocess=identity)
    assert cam.layer == "base/conv" and cam.fold is not None
    flat_model = keras.Model(base.inputs, base.get_layer("conv").output)
    fmap = flat_model(image[None])
    with tf.GradientTape() as tape:
        tape.watch(fmap)
        h = model.layers[-2](model.layers[1](base.get_layer("pool")(fmap)))
        logits = h @ model.layers[-1].kernel + model.layers[-1].bias
        s = logits[0, 1]
    weights = tf.reduce_mean(tape.gradient(s, fmap), axis=(0, 1, 2))
    heat = tf.nn.relu(tf.einsum("hwc,c->hw", fmap[0], weights)).numpy()
    np.testing.assert_allclose(cam.compute(image, 1), heat / heat.max(), atol=2e-5)


def _no_fold_models():
    keras.utils.set_random_seed(6)
    x = keras.Input((20, 20, 3))
    a = layers.Conv2D(8, 3, activation="relu", name="last")(x)
    # the Dense after Flatten is the classifier itself: nothing after it to fold for
    yield "final dense", keras.Model(x, layers.Dense(3, activation="softmax")(layers.Flatten()(a)))
    h = layers.BatchNormalization()(layers.Flatten()(layers.MaxPooling2D(2)(a)))
    out = layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(h))
    yield "batch norm in between", keras.Model(x, out)
    out = layers.Dense(3)(layers.Dense(8)(layers.GlobalAveragePooling2D()(a)))
    yield "global average pooling", keras.Model(x, out)


@pytest.mark.parametrize("name,model", list(_no_fold_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_other_heads_are_not_folded_and_still_exact(name, model, image):
    cam = cvw.GradCAM(model, layer="last", preprocess=identity)
    assert cam.split and cam.fold is None, name
    for k in range(3):
        np.testing.assert_allclose(cam.compute(image, k), oracle(model, "last", image, k), atol=2e-5)

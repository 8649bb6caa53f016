"""Every method against an independent oracle: a plain GradientTape through the whole model
(eager, the Keras tutorial's grad_model) and the paper's formula in numpy, on each executor
(folded Flatten -> Dense head, split head, whole model under the tape)."""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import convviz_widgets as cvw


def identity(x):
    return x


def fold_model():  # [pooling] -> Flatten -> Dense -> Dense: the folded head
    keras.utils.set_random_seed(11)
    x = keras.Input((20, 20, 3))
    h = layers.Conv2D(6, 3, activation="relu", name="c1")(x)
    h = layers.Conv2D(8, 3, activation="relu", name="last")(h)
    h = layers.Flatten()(layers.MaxPooling2D(2)(h))
    h = layers.Dense(12, activation="relu")(layers.Dropout(0.3)(h))
    return keras.Model(x, layers.Dense(4, activation="softmax")(h))


def split_model():  # global average pooling -> Dense: split at the layer
    keras.utils.set_random_seed(12)
    x = keras.Input((20, 20, 3))
    h = layers.Conv2D(6, 3, activation="relu", name="c1")(x)
    h = layers.Conv2D(8, 3, activation="relu", name="last")(h)
    return keras.Model(x, layers.Dense(4, activation="softmax")(layers.GlobalAveragePooling2D()(h)))


def tape_model():  # a skip connection over the layer: the whole model under the tape
    keras.utils.set_random_seed(13)
    x = keras.Input((20, 20, 3))
    c1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    c2 = layers.Conv2D(8, 3, padding="same", activation="relu", name="last")(c1)
    h = layers.GlobalAveragePooling2D()(layers.Add()([c1, c2]))
    return keras.Model(x, layers.Dense(4, activation="softmax")(h))


MODELS = {"fold": fold_model, "split": split_model, "tape": tape_model}


@pytest.fixture(scope="module")
def built():
    return {name: make() for name, make in MODELS.items()}


@pytest.fixture
def img():
    return np.random.default_rng(21).uniform(0, 3, (20, 20, 3)).astype(np.float32)


def tape_oracle(model, image, k):
    """(A (h, w, C), g (h, w, C)): the layer's maps and d logit_k / d maps, eager, whole model."""
    final = model.layers[-1]
    grad_model = keras.Model(model.inputs, [model.get_layer("last").output, final.input])
    with tf.GradientTape() as tape:
        a, h = grad_model(image[None])
        logits = h @ final.kernel + final.bias
        score = logits[0, k]
    return a.numpy()[0].astype(np.float64), tape.gradient(score, a).numpy()[0].astype(np.float64)


def finish(raw):
    raw = np.maximum(raw, 0)
    return raw / raw.max() if raw.max() > 0 else raw


def weighted(a, w):
    return finish(np.einsum("hwc,c->hw", a, w))


def gradcam(a, g):
    return weighted(a, g.mean(axis=(0, 1)))


def gradcam_plus_plus(a, g):
    denominator = 2 * g**2 + a.sum(axis=(0, 1)) * g**3
    alpha = g**2 / np.where(denominator == 0, 1.0, denominator)
    return weighted(a, (alpha * np.maximum(g, 0)).sum(axis=(0, 1)))


def xgradcam(a, g):
    return weighted(a, (a * g).sum(axis=(0, 1)) / (a.sum(axis=(0, 1)) + 1e-7))


def layercam(a, g):
    return finish((np.maximum(g, 0) * a).sum(axis=-1))


def hirescam(a, g):
    return finish((g * a).sum(axis=-1))


FORMULAS = {"gradcam": gradcam, "gradcam++": gradcam_plus_plus, "xgradcam": xgradcam,
            "layercam": layercam, "hirescam": hirescam}


@pytest.mark.parametrize("executor", MODELS)
@pytest.mark.parametrize("method", FORMULAS)
def test_gradient_method_equals_the_tape_oracle(method, executor, built, img):
    model = built[executor]
    engine = cvw.cam(model, method, layer="last", preprocess=identity)
    assert engine.executor.mode == executor
    first = engine.compute(img, 2)  # the fused first pass
    np.testing.assert_allclose(first, FORMULAS[method](*tape_oracle(model, img, 2)), atol=3e-5)
    want = np.stack([FORMULAS[method](*tape_oracle(model, img, k)) for k in range(4)])
    np.testing.assert_allclose(engine.compute_many(img, range(4)), want, atol=3e-5)


def fold_variant(pool, size=20):
    """A folded head with another pooling before Flatten -> Dense (``pool`` a layer or None)."""
    keras.utils.set_random_seed(14)
    x = keras.Input((size, size, 3))
    h = layers.Conv2D(6, 3, activation="relu", name="c1")(x)
    h = layers.Conv2D(8, 3, activation="relu", name="last")(h)
    h = layers.Flatten()(pool(h) if pool is not None else h)
    h = layers.Dense(12, activation="relu")(h)
    return keras.Model(x, layers.Dense(4, activation="softmax")(h))


# pooling before the folded Dense -> the precontracted terms of the weighted needs: M for
# XGradCAM always; N for HiResCAM when the windows tile the map (else the W1 read, as before)
FOLD_VARIANTS = {
    "max 2x2": (lambda: layers.MaxPooling2D(2), 20, "positions"),
    "max 2x2, odd map (last row and column dropped)": (lambda: layers.MaxPooling2D(2), 21, "positions"),
    "average 2x2": (lambda: layers.AveragePooling2D(2), 20, "positions"),
    "average 2x4 same": (lambda: layers.AveragePooling2D((2, 4), padding="same"), 20, "positions"),
    "no pooling": (lambda: None, 12, "positions"),
    "max 3x3 stride 2 (overlapping)": (lambda: layers.MaxPooling2D(3, strides=2), 20, None),
    "max 3x3 same on 16 (partial windows)": (lambda: layers.MaxPooling2D(3, padding="same"), 20, None),
}


@pytest.mark.parametrize("variant", FOLD_VARIANTS)
@pytest.mark.parametrize("method", ["xgradcam", "hirescam"])
def test_weighted_needs_on_every_folded_pooling(method, variant):
    pool, size, positions = FOLD_VARIANTS[variant]
    model = fold_variant(pool(), size)
    image = np.random.default_rng(22).uniform(0, 3, (size, size, 3)).astype(np.float32)
    engine = cvw.cam(model, method, layer="last", preprocess=identity)
    assert engine.executor.mode == "fold"
    assert engine.executor.terms == ("channels" if method == "xgradcam" else positions)
    first = engine.compute(image, 1)
    np.testing.assert_allclose(first, FORMULAS[method](*tape_oracle(model, image, 1)), atol=3e-5)
    want = np.stack([FORMULAS[method](*tape_oracle(model, image, k)) for k in range(4)])
    np.testing.assert_allclose(engine.compute_many(image, range(4)), want, atol=3e-5)
    # the scores come from the precontracted z (sum of the terms + bias): the model's own
    np.testing.assert_allclose(engine.probabilities, model(image[None]).numpy()[0], rtol=1e-5, atol=1e-6)


def scorecam_oracle(model, image, k):
    """The authors' loop, one channel at a time, in numpy + cv2 + the eager model."""
    a = keras.Model(model.inputs, model.get_layer("last").output)(image[None]).numpy()[0]
    weights = []
    for c in range(a.shape[-1]):
        up = cv2.resize(a[:, :, c], (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        span = up.max() - up.min()
        mask = (up - up.min()) / span if span > 0 else np.zeros_like(up)
        weights.append(model(image[None] * mask[None, :, :, None]).numpy()[0, k])
    return weighted(a, np.array(weights)), np.array(weights)


@pytest.mark.parametrize("batch_size", [3, 32])
def test_scorecam_equals_the_authors_loop(built, img, batch_size):
    model = built["tape"]
    engine = cvw.ScoreCAM(model, layer="last", preprocess=identity, batch_size=batch_size)
    for k in (1, 3):
        want, weights = scorecam_oracle(model, img, k)
        np.testing.assert_allclose(engine.compute(img, k), want, atol=1e-5)
        np.testing.assert_allclose(engine.channel_weights(img, k), weights, rtol=1e-5, atol=1e-7)


def test_scorecam_max_channels_scores_the_highest_std_channels_only(built, img):
    model = built["split"]
    engine = cvw.ScoreCAM(model, layer="last", preprocess=identity, max_channels=3)
    a = keras.Model(model.inputs, model.get_layer("last").output)(img[None]).numpy()[0]
    _, weights = scorecam_oracle(model, img, 0)
    chosen = np.argsort(-a.std(axis=(0, 1)), kind="stable")[:3]
    kept = np.zeros_like(weights)
    kept[chosen] = weights[chosen]
    np.testing.assert_allclose(engine.channel_weights(img, 0), kept, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(engine.compute(img, 0), weighted(a, kept), atol=1e-5)


def test_scorecam_progress_and_stop(built, img):
    engine = cvw.ScoreCAM(built["fold"], layer="last", preprocess=identity, batch_size=3)
    seen = []
    full = engine.compute(img, 1, callback=lambda done, total, m: seen.append((done, total, m)))
    assert [(d, t) for d, t, _ in seen] == [(3, 8), (6, 8), (8, 8)]  # 8 channels, batches of 3
    np.testing.assert_allclose(seen[-1][2], full)

    fresh = cvw.ScoreCAM(built["fold"], layer="last", preprocess=identity, batch_size=3)
    seen.clear()
    calls = []
    real = fresh.executor.probabilities
    fresh.executor.probabilities = lambda x: calls.append(len(x)) or real(x)
    stopped = fresh.compute(img, 1, callback=lambda d, t, m: seen.append(m) or False)
    assert calls == [3] and len(seen) == 1  # stopped after the first batch
    np.testing.assert_allclose(stopped, seen[0])
    assert not np.allclose(stopped, full)
    np.testing.assert_allclose(fresh.compute(img, 1), full, atol=1e-6)  # the stop was not cached
    assert calls == [3, 3, 3, 2]


def test_scorecam_batches_bound_the_memory_of_a_2048_channel_layer():
    keras.utils.set_random_seed(14)
    x = keras.Input((8, 8, 3))
    h = layers.Conv2D(2048, 3, name="wide")(x)  # linear: no constant channel
    model = keras.Model(x, layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(h)))
    engine = cvw.ScoreCAM(model, preprocess=identity, batch_size=256)
    sizes = []
    real = engine.executor.probabilities
    engine.executor.probabilities = lambda x: sizes.append(len(x)) or real(x)
    heat = engine.compute(np.random.default_rng(0).uniform(0, 1, (8, 8, 3)))
    assert sizes == [256] * 8 and heat.shape == (6, 6) and heat.max() == 1.0


def test_scorecam_constant_channels_share_one_pass(img):
    keras.utils.set_random_seed(15)
    x = keras.Input((20, 20, 3))
    h = layers.Conv2D(7, 3, activation="relu", name="last")(x)
    model = keras.Model(x, layers.Dense(4, activation="softmax")(layers.GlobalAveragePooling2D()(h)))
    kernel, bias = model.get_layer("last").get_weights()
    kernel[..., [1, 4]], bias[[1, 4]] = 0.0, [-1.0, 0.5]  # channel 1: ReLU(-1) = 0; channel 4: 0.5
    model.get_layer("last").set_weights([kernel, bias])
    engine = cvw.ScoreCAM(model, layer="last", preprocess=identity, batch_size=3)
    sizes = []
    real = engine.executor.probabilities
    engine.executor.probabilities = lambda x: sizes.append(len(x)) or real(x)
    want, weights = scorecam_oracle(model, img, 2)
    np.testing.assert_allclose(engine.compute(img, 2), want, atol=1e-5)
    np.testing.assert_allclose(engine.channel_weights(img, 2), weights, rtol=1e-5)
    assert sizes == [1, 3, 2]  # the zero image once for channels 1 and 4, then 5 channels
    assert weights[1] == pytest.approx(weights[4])


def test_eigencam_equals_the_covariance_eigenvector(built, img):
    model = built["split"]
    a = keras.Model(model.inputs, model.get_layer("last").output)(img[None]).numpy()[0]
    m = a.reshape(-1, a.shape[-1]).astype(np.float64)
    m -= m.mean(axis=0)
    v = np.linalg.eigh(m.T @ m)[1][:, -1]  # the largest eigenvalue's eigenvector
    projection = m @ v
    total = a.sum(axis=-1).ravel()
    projection *= np.sign(np.corrcoef(projection, total)[0, 1])
    want = finish(projection.reshape(a.shape[:2]))
    engine = cvw.EigenCAM(model, layer="last", preprocess=identity)
    np.testing.assert_allclose(engine.compute(img), want, atol=1e-5)
    np.testing.assert_allclose(engine.compute(img, 3), want, atol=1e-5)  # class-agnostic

"""Faithfulness metrics: the DESIGN.md protocol against a numpy oracle and hand-computed curves."""

import cv2
import keras
import numpy as np
import pytest
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines import metrics


def identity(x):
    return x


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def red_mean():
    """p(class 1) = sigmoid(mean of the red channel - 3): a curve one can compute by hand."""
    x = keras.Input((2, 2, 3))
    out = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(x, out)
    model.layers[-1].set_weights([np.array([[1], [0], [0]], np.float32), np.array([-3], np.float32)])
    return model


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(31)
    x = keras.Input((12, 12, 3))
    h = layers.Conv2D(4, 3, activation="relu")(x)
    return keras.Model(x, layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(h)))


RED = np.zeros((2, 2, 3), np.float32)
RED[..., 0] = [[4, 8], [0, 12]]
# order: 0.9 at flat 1 and 3 (tie: flat index first), then 0.5 (flat 2), then 0.1 (flat 0)
HEAT = np.array([[0.1, 0.9], [0.5, 0.9]])


def test_deletion_by_hand(red_mean):
    # red mean as pixels 1, 3, 2, 0 go black: 6, 4, 1, 1, 0
    curve = metrics.deletion(red_mean, RED, HEAT, 1, steps=4, preprocess=identity)
    p = sigmoid(np.array([3.0, 1.0, -2.0, -2.0, -3.0]))
    np.testing.assert_allclose(curve.fractions, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.probabilities, p, rtol=1e-6)
    assert curve.auc == pytest.approx(0.25 * ((p[0] + p[-1]) / 2 + p[1:-1].sum()), rel=1e-6)
    # class 0 is the complement of the sigmoid unit
    np.testing.assert_allclose(metrics.deletion(red_mean, RED, HEAT, 0, steps=4,
                                                preprocess=identity).probabilities, 1 - p, rtol=1e-5)


def test_deletion_step_counts_are_rounded(red_mean):
    # steps=3 on 4 pixels: round(0), round(4/3) = 1, round(8/3) = 3, 4 pixels changed
    curve = metrics.deletion(red_mean, RED, HEAT, 1, steps=3, preprocess=identity)
    np.testing.assert_allclose(curve.probabilities, sigmoid(np.array([3.0, 1.0, -2.0, -3.0])), rtol=1e-6)
    np.testing.assert_allclose(curve.fractions, [0, 1 / 3, 2 / 3, 1])


def test_insertion_by_hand(red_mean):
    blurred = cv2.GaussianBlur(RED, (11, 11), 5)[..., 0].ravel()
    red = RED[..., 0].ravel()
    means = []
    for changed in ([], [1], [1, 3], [1, 3, 2], [1, 3, 2, 0]):
        r = blurred.copy()
        r[changed] = red[changed]
        means.append(r.mean())
    curve = metrics.insertion(red_mean, RED, HEAT, 1, steps=4, preprocess=identity)
    np.testing.assert_allclose(curve.probabilities, sigmoid(np.array(means) - 3), rtol=1e-5)
    assert means[-1] == 6.0 and curve.probabilities[-1] == pytest.approx(sigmoid(3.0), rel=1e-6)


def protocol_oracle(model, img, heatmap, k, steps, insert):
    """The protocol, one step at a time, the eager model on each image."""
    h, w = img.shape[:2]
    s = cv2.resize(heatmap.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    order = np.argsort(-s.ravel(), kind="stable")
    base = cv2.GaussianBlur(img, (11, 11), 5) if insert else img
    probs = []
    for i in range(steps + 1):
        x = base.reshape(-1, 3).copy()
        chosen = order[: round(i * h * w / steps)]
        x[chosen] = img.reshape(-1, 3)[chosen] if insert else 0
        probs.append(float(model(x.reshape(1, h, w, 3) / 255.0).numpy()[0, k]))
    fr = np.arange(steps + 1) / steps
    return np.array(probs), float(sum((fr[i + 1] - fr[i]) * (probs[i] + probs[i + 1]) / 2
                                      for i in range(steps)))


@pytest.mark.parametrize("insert", [False, True], ids=["deletion", "insertion"])
def test_curves_equal_the_protocol_oracle(tiny, insert, monkeypatch):
    rng = np.random.default_rng(8)
    img = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    heat = np.round(rng.uniform(0, 1, (3, 3)), 1)  # rounded: ties in the order
    sizes = []
    real = metrics.probability_fn

    def counting(model):
        fn = real(model)
        return lambda x: sizes.append(len(x)) or fn(x)

    monkeypatch.setattr(metrics, "probability_fn", counting)
    fn = metrics.insertion if insert else metrics.deletion
    curve = fn(tiny, img, heat, 2, steps=7, batch_size=3)
    want, auc = protocol_oracle(tiny, img, heat, 2, 7, insert)
    np.testing.assert_allclose(curve.probabilities, want, rtol=1e-5, atol=1e-7)
    assert curve.auc == pytest.approx(auc, rel=1e-5)
    assert sizes == [3, 3, 2]  # 8 images through the compiled model, batches of 3


def test_average_drop(tiny):
    rng = np.random.default_rng(9)
    img = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    heat = rng.uniform(0, 1, (4, 4))
    s = cv2.resize(heat.astype(np.float32), (12, 12), interpolation=cv2.INTER_LINEAR)
    y = tiny(img[None] / 255.0).numpy()[0]
    o = tiny((img * s[..., None])[None] / 255.0).numpy()[0]
    for k in range(3):
        drop, increased = metrics.average_drop(tiny, img, heat, k)
        assert drop == pytest.approx(max(0.0, y[k] - o[k]) / y[k], rel=1e-4, abs=1e-6)
        assert increased == bool(o[k] > y[k])
    assert metrics.average_drop(tiny, img, np.ones((3, 3)), 0) == (0.0, False)  # nothing masked


def test_pointing_game_by_hand():
    heat = np.zeros((3, 3))
    heat[0, 0] = 1.0  # resized to 30x30: the peak's first pixel is (0, 0)

    def mask_at(y, x):
        m = np.zeros((30, 30), bool)
        m[y, x] = True
        return m

    assert metrics.pointing_game(heat, mask_at(10, 10))  # 14.1 px
    assert not metrics.pointing_game(heat, mask_at(11, 11))  # 15.6 px
    assert metrics.pointing_game(heat, mask_at(0, 15))  # 15 px: within
    assert not metrics.pointing_game(heat, mask_at(0, 16))
    assert metrics.pointing_game(heat, mask_at(0, 16), tolerance=16)
    assert not metrics.pointing_game(heat, mask_at(0, 1), tolerance=0)
    assert metrics.pointing_game(heat, mask_at(0, 0), tolerance=0)


def test_reachable_from_the_top_level():
    assert cvw.metrics is metrics
    assert cvw.metrics.Curve is metrics.Curve


@pytest.mark.parametrize(
    "heatmap,match",
    [
        (np.array([[np.nan, 1.0], [0, 0]]), "heatmap: expected finite values, got 1 NaN or inf"),
        (np.array([[np.inf, 1.0], [0, 0]]), "heatmap: expected finite values"),
        (np.zeros((2, 2, 1)), r"heatmap: expected a 2-D array \(h, w\), got shape \(2, 2, 1\)"),
        (np.zeros(4), r"heatmap: expected a 2-D array"),
        (np.zeros((0, 3)), r"heatmap: expected at least one cell, got shape \(0, 3\)"),
        (np.array([["a", "b"]]), "heatmap: expected a numeric array"),
    ],
)
def test_bad_heatmap(red_mean, heatmap, match):
    for call in (
        lambda: metrics.deletion(red_mean, RED, heatmap, 1),
        lambda: metrics.insertion(red_mean, RED, heatmap, 1),
        lambda: metrics.average_drop(red_mean, RED, heatmap, 1),
        lambda: metrics.pointing_game(heatmap, np.ones((2, 2), bool)),
    ):
        with pytest.raises(cvw.ConvVizError, match=match):
            call()


def test_bad_arguments(red_mean):
    for steps in (0, -1, 1.5, True, "50"):
        with pytest.raises(cvw.ConvVizError, match="steps: expected an integer >= 1"):
            metrics.deletion(red_mean, RED, HEAT, 1, steps=steps)
    with pytest.raises(cvw.ConvVizError, match=r"class_index: expected 0\.\.1 \(2 classes\), got 2"):
        metrics.insertion(red_mean, RED, HEAT, 2)
    with pytest.raises(cvw.ConvVizError, match="class_index: expected an integer"):
        metrics.average_drop(red_mean, RED, HEAT, None)
    with pytest.raises(cvw.ConvVizError, match="heatmap: expected values in 0..1 for average_drop"):
        metrics.average_drop(red_mean, RED, HEAT * 2, 1)
    with pytest.raises(cvw.ConvVizError, match=r"mask: expected a 2-D boolean array \(H, W\), got "
                       r"shape \(2, 2, 3\)"):
        metrics.pointing_game(HEAT, np.ones((2, 2, 3), bool))
    with pytest.raises(cvw.ConvVizError, match="mask: expected a 2-D"):
        metrics.pointing_game(HEAT, np.ones((0, 4), bool))
    with pytest.raises(cvw.ConvVizError, match="mask: expected at least one True pixel"):
        metrics.pointing_game(HEAT, np.zeros((4, 4), bool))
    with pytest.raises(cvw.ConvVizError, match="tolerance: expected a number of pixels >= 0"):
        metrics.pointing_game(HEAT, np.ones((4, 4), bool), tolerance=-1)
    with pytest.raises(cvw.ConvVizError, match="batch_size: expected a positive integer"):
        metrics.deletion(red_mean, RED, HEAT, 1, batch_size=0)
    with pytest.raises(cvw.ConvVizError, match="preprocess: raised ZeroDivisionError"):
        metrics.deletion(red_mean, RED, HEAT, 1, preprocess=lambda x: 1 / 0)
    with pytest.raises(cvw.ConvVizError, match=r"preprocess: expected it to return the batch's shape"):
        metrics.insertion(red_mean, RED, HEAT, 1, preprocess=lambda x: x[..., :1])

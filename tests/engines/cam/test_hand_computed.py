"""Each weight rule by hand on a 2x2x2 example.

The image's red and green channels ARE the layer's maps (a 1x1 identity conv), and the head is
Flatten -> Dense without bias, so d logit_0 / d A[y, x, c] is exactly the Dense kernel entry:

    A_R = [[1, 0], [0, 2]]   g_R = [[1, 2], [0, -1]]     sum_yx A_R = 3
    A_G = [[0, 1], [3, 4]]   g_G = [[.5, 1], [1, 1]]     sum_yx A_G = 8
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines.cam.eigencam import eigen_map

A_R = np.array([[1.0, 0.0], [0.0, 2.0]])
A_G = np.array([[0.0, 1.0], [3.0, 4.0]])
G_R = np.array([[1.0, 2.0], [0.0, -1.0]])
G_G = np.array([[0.5, 1.0], [1.0, 1.0]])
IMAGE = np.stack([A_R, A_G, np.zeros((2, 2))], axis=-1).astype(np.float32)


def identity(x):
    return x


@pytest.fixture(scope="module")
def model():
    x = keras.Input((2, 2, 3))
    a = layers.Conv2D(2, 1, use_bias=False, name="conv")(x)
    out = layers.Dense(2, use_bias=False, activation="softmax", name="head")(layers.Flatten()(a))
    m = keras.Model(x, out)
    m.get_layer("conv").set_weights([np.array([[[[1, 0], [0, 1], [0, 0]]]], np.float32)])
    kernel = np.zeros((8, 2), np.float32)
    kernel[:, 0] = np.stack([G_R, G_G], axis=-1).ravel()  # Flatten order: (y, x, c)
    kernel[:, 1] = -kernel[:, 0]
    m.get_layer("head").set_weights([kernel])
    return m


EXPECTED = {
    # w = mean g = (1/2, 7/8); R/2 + 7G/8 = [[1/2, 7/8], [21/8, 9/2]], / 9/2
    "gradcam": [[1 / 9, 7 / 36], [7 / 12, 1]],
    # alpha = g^2 / (2 g^2 + S g^3): R: 1/5 (g=1), 1/8 (g=2), 0/0 -> 0 (g=0), g=-1 dropped by
    # ReLU(g): w_R = 1/5 + 2/8 = 9/20; G: 1/6 (g=1/2), 1/10 (g=1, three times): w_G = 1/12 +
    # 3/10 = 23/60; map = [[9/20, 23/60], [23/20, 9/10 + 23/15]] = [[27, 23], [69, 146]] / 60
    "gradcam++": [[27 / 146, 23 / 146], [69 / 146, 1]],
    # w_R = (1 - 2) / 3 = -1/3, w_G = (1 + 3 + 4) / 8 = 1: [[-1/3, 1], [3, 10/3]] -> ReLU, / 10/3
    "xgradcam": [[0, 3 / 10], [9 / 10, 1]],
    # sum_c ReLU(g) A: [[1, 1], [3, 0 + 4]] / 4
    "layercam": [[1 / 4, 1 / 4], [3 / 4, 1]],
    # sum_c g A: [[1, 1], [3, -2 + 4]] / 3
    "hirescam": [[1 / 3, 1 / 3], [1, 2 / 3]],
}
WEIGHTS = {"gradcam": [1 / 2, 7 / 8], "gradcam++": [9 / 20, 23 / 60], "xgradcam": [-1 / 3, 1]}


@pytest.mark.parametrize("method", EXPECTED)
def test_weight_rule_by_hand(method, model):
    engine = cvw.cam(model, method, preprocess=identity)
    assert engine.layer == "conv"
    np.testing.assert_allclose(engine.compute(IMAGE, 0), EXPECTED[method], rtol=1e-6, atol=1e-7)
    if method in WEIGHTS:
        np.testing.assert_allclose(engine.channel_weights(IMAGE, 0), WEIGHTS[method], rtol=1e-6)


def test_class_one_is_the_negated_gradient(model):
    # g of class 1 is -g of class 0: Grad-CAM weights (-1/2, -7/8) -> all negative -> stays 0
    gradcam = cvw.GradCAM(model, preprocess=identity)
    np.testing.assert_array_equal(gradcam.compute(IMAGE, 1), np.zeros((2, 2)))
    np.testing.assert_allclose(gradcam.channel_weights(IMAGE, 1), [-1 / 2, -7 / 8], rtol=1e-6)
    # HiResCAM: -[[1, 1], [3, 2]] -> 0 everywhere; LayerCAM: ReLU(-g) A = [[0, 0], [0, 2]] / 2
    np.testing.assert_allclose(cvw.LayerCAM(model, preprocess=identity).compute(IMAGE, 1),
                               [[0, 0], [0, 1]])


def test_gradcam_plus_plus_zero_denominator_counts_as_one():
    # A = -1/2 everywhere (sum -2), g = 1: 2 g^2 + S g^3 = 2 - 2 = 0 -> alpha = g^2 / 1 = 1,
    # w = sum_yx alpha ReLU(g) = 4; the second channel: A = 1 (sum 4), g = 1: alpha = 1/6, w = 4/6
    a = tf.constant(np.stack([np.full((2, 2), -0.5), np.ones((2, 2))], -1)[None], tf.float32)
    g = tf.ones((1, 2, 2, 2))
    w = cvw.GradCAMPlusPlus.weights(None, tf, a, g).numpy()
    np.testing.assert_allclose(w, [[4.0, 4 / 6]], rtol=1e-6)


def test_scorecam_by_hand():
    # GAP -> Dense(2) softmax, kernel [[1, -1], [3, 1/2]] (R, G -> classes); the layer = the image
    x = keras.Input((2, 2, 3))
    a = layers.Conv2D(2, 1, use_bias=False, name="conv")(x)
    out = layers.Dense(2, activation="softmax", name="head")(layers.GlobalAveragePooling2D()(a))
    m = keras.Model(x, out)
    m.get_layer("conv").set_weights([np.array([[[[1, 0], [0, 1], [0, 0]]]], np.float32)])
    m.get_layer("head").set_weights([np.array([[1, -1], [3, 0.5]], np.float32), np.zeros(2, np.float32)])
    image = np.stack([A_R, np.array([[0.0, 1.0], [3.0, 0.0]]), np.zeros((2, 2))], -1)
    # mask_R = R / 2 = [[.5, 0], [0, 1]]: R' = [[.5, 0], [0, 2]], G' = 0 -> means (5/8, 0)
    #   logits (5/8, -5/8): p0 = sigmoid(5/4)
    # mask_G = G / 3 = [[0, 1/3], [1, 0]]: R'' = 0, G'' = [[0, 1/3], [3, 0]] -> means (0, 5/6)
    #   logits (5/2, 5/12): p0 = sigmoid(25/12)
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    w = np.array([sigmoid(5 / 4), sigmoid(25 / 12)])
    engine = cvw.ScoreCAM(m, preprocess=identity)
    np.testing.assert_allclose(engine.channel_weights(image, 0), w, rtol=1e-5)
    np.testing.assert_allclose(engine.channel_weights(image, 1), 1 - w, rtol=1e-5)
    raw = w[0] * A_R + w[1] * image[..., 1]
    np.testing.assert_allclose(engine.compute(image, 0), raw / raw.max(), rtol=1e-5)


def test_eigencam_by_hand():
    # positions in order (0,0), (0,1), (1,0), (1,1): R = (2, 0, 0, 2), G = (1, 2, 0, 1);
    # centred: R (1, -1, -1, 1) and G (0, 1, -1, 0) are orthogonal, |R| > |G|: the first
    # component is R's axis; sum_c A centred (1, 0, -2, 1) correlates positively with +R
    a = np.stack([np.array([[2.0, 0], [0, 2]]), np.array([[1.0, 2], [0, 1]])], axis=-1)
    np.testing.assert_allclose(eigen_map(a), [[1, 0], [0, 1]], atol=1e-7)
    np.testing.assert_allclose(eigen_map(-a + 5), [[0, 1], [1, 0]], atol=1e-7)  # sign follows sum
    np.testing.assert_array_equal(eigen_map(np.ones((2, 2, 3))), np.zeros((2, 2)))  # no variance


def test_the_bad_inputs_of_the_methods(model, functional, image):
    one_channel = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(1, 3, name="one"),
                                    layers.GlobalAveragePooling2D(), layers.Dense(2)])
    with pytest.raises(cvw.ConvVizError, match="layer: EigenCAM needs a layer with at least 2 "
                       "channels.*'one' has 1"):
        cvw.EigenCAM(one_channel)
    for bad in (0, 17, -1, 2.5, True, "4"):
        with pytest.raises(cvw.ConvVizError, match=r"max_channels: expected None or an integer "
                           r"in 1\.\.16 \(the channels of 'c2'\)"):
            cvw.ScoreCAM(functional, max_channels=bad)
    with pytest.raises(cvw.ConvVizError, match="batch_size: expected a positive integer, got 0"):
        cvw.ScoreCAM(functional, batch_size=0)
    with pytest.raises(cvw.ConvVizError, match="score: expected one of"):
        cvw.LayerCAM(functional, score="loss")
    with pytest.raises(cvw.ConvVizError, match="k: expected a positive integer"):
        cvw.HiResCAM(functional).top_classes(image, 0)
    with pytest.raises(cvw.ConvVizError, match="class_indices: expected at least one"):
        cvw.XGradCAM(functional).compute_many(image, [])

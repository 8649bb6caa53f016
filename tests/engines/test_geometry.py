"""Receptive-field centres of feature-map cells: hand-computed, and measured by gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import convviz_widgets as cvw
from convviz_widgets.engines.geometry import CellCentres, cell_centres


def tutorial_convnet(padding="valid"):
    """The cats-vs-dogs convnet of the tutorial (150 px, 3x3 convs, 2x2 max pooling)."""
    x = keras.Input((150, 150, 3))
    h = x
    for i, filters in enumerate((32, 64, 128, 128), 1):
        h = layers.Conv2D(filters, 3, activation="relu", padding=padding, name=f"conv{i}")(h)
        if i < 4:
            h = layers.MaxPooling2D(2, name=f"pool{i}")(h)
    out = layers.Dense(1, activation="sigmoid")(layers.Flatten()(h))
    return keras.Model(x, out)


def test_tutorial_valid_convnet_hand_computed():
    # conv4 cell i <- pool3 i+1 <- conv3 2i+2.5 <- pool2 2i+3.5 <- conv2 4i+7.5 <- pool1 4i+8.5
    # <- conv1 8i+17.5 <- input pixel 8i+18.5: centres at pixels 18.5 .. 130.5 of 150
    got = cell_centres(tutorial_convnet(), "conv4", (150, 150))
    want = CellCentres(19 / 150, 8 / 150, 19 / 150, 8 / 150)  # (18.5 + 0.5) / 150
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert CellCentres.stretched(15, 15) != pytest.approx(got)  # a plain resize is off


def test_vgg16_same_padding_is_the_plain_stretch():
    model = cvw.load_model("vgg16", weights=None)
    np.testing.assert_allclose(cell_centres(model, "block5_conv3", (224, 224)), CellCentres.stretched(14, 14))
    np.testing.assert_allclose(cell_centres(model, "block1_conv1", (224, 224)), CellCentres.stretched(224, 224))


def test_same_padding_with_an_odd_size_is_not_a_stretch():
    # 150 -> 75 -> 37 (the last row of 75 is dropped) -> 18: cell i at 8i + 3.5, not 150/18 i
    got = cell_centres(tutorial_convnet("same"), "conv4", (150, 150))
    np.testing.assert_allclose(got, CellCentres(4 / 150, 8 / 150, 4 / 150, 8 / 150))


def ones_chain():
    """A linear network of every supported kind of window, all weights 1 (no padding issues)."""
    x = keras.Input((None, None, 1))
    h = layers.ZeroPadding2D(((2, 1), (0, 3)), name="zpad")(x)
    h = layers.Conv2D(1, (3, 5), strides=2, use_bias=False, name="a")(h)
    h = layers.AveragePooling2D(3, strides=2, name="b")(h)
    h = layers.Cropping2D(((1, 0), (2, 1)), name="crop")(h)
    h = layers.Conv2D(1, 3, dilation_rate=2, use_bias=False, name="c")(h)
    h = layers.DepthwiseConv2D(2, use_bias=False, name="d")(h)
    model = keras.Model(x, h)
    for layer in model.layers:
        for w in layer.weights:
            w.assign(np.ones(w.shape, np.float32))
    return model


@pytest.mark.parametrize("hw", [(97, 131), (80, 80)])
def test_centres_equal_the_gradient_centroid_of_every_interior_cell(hw):
    """For a linear network of all-ones kernels, d cell / d input is the cell's receptive field
    weighted symmetrically about its centre: its centroid IS the centre."""
    model = ones_chain()
    c = cell_centres(model, "d", hw)
    x = tf.zeros((1, *hw, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x)[0, :, :, 0]
    jacobian = tape.jacobian(out, x).numpy()[:, :, 0, :, :, 0]  # (oh, ow, H, W)
    oh, ow = out.shape
    ys, xs = np.mgrid[0 : hw[0], 0 : hw[1]] + 0.5  # pixel centres
    checked = 0
    for i in range(oh):
        for j in range(ow):
            g = jacobian[i, j]
            rows, cols = np.nonzero(g.sum(1))[0], np.nonzero(g.sum(0))[0]
            touches = rows[0] == 0 or cols[0] == 0 or rows[-1] == hw[0] - 1 or cols[-1] == hw[1] - 1
            if touches:  # the zero padding cuts this cell's field: its centroid moves inward
                continue
            cy, cx = (g * ys).sum() / g.sum(), (g * xs).sum() / g.sum()
            np.testing.assert_allclose([cy / hw[0], cx / hw[1]], [c.y0 + i * c.dy, c.x0 + j * c.dx], atol=1e-6)
            checked += 1
    assert checked >= 4


def test_unknown_geometry_gives_none():
    x = keras.Input((16, 16, 3))
    up = layers.UpSampling2D(name="up")(layers.Conv2D(2, 3, name="c")(x))
    t = layers.Conv2DTranspose(2, 3, strides=2, name="t")(x)
    model = keras.Model(x, [layers.Conv2D(2, 1, name="after_up")(up), layers.Conv2D(2, 1, name="after_t")(t)])
    assert cell_centres(model, "c", (16, 16)) is not None
    assert cell_centres(model, "after_up", (16, 16)) is None
    assert cell_centres(model, "after_t", (16, 16)) is None


def test_branches_agree_or_meet_halfway():
    x = keras.Input((32, 32, 3))
    a = layers.Conv2D(3, 3, padding="same", name="a")(x)
    b = layers.Conv2D(3, 1, name="b")(x)
    same = layers.Add(name="same")([a, b])  # both keep every pixel where it was
    c = layers.Conv2D(3, 2, strides=2, name="c")(x)  # cell i at pixel 2i + 0.5
    # 'same', stride 2 on 32: one pixel of padding, after (TensorFlow): cell i at 2i + 1
    d = layers.MaxPooling2D(3, strides=2, padding="same", name="d")(x)
    e = layers.Conv2D(3, 3, strides=2, padding="same", name="e")(x)
    model = keras.Model(x, [same, layers.Add(name="de")([d, e]), layers.Add(name="ce")([c, e])])
    np.testing.assert_allclose(cell_centres(model, "same", (32, 32)), CellCentres.stretched(32, 32))
    np.testing.assert_allclose(cell_centres(model, "c", (32, 32)), CellCentres.stretched(16, 16))
    np.testing.assert_allclose(cell_centres(model, "de", (32, 32)), [1.5 / 32, 2 / 32] * 2)
    # half a pixel apart (2i + 0.5 and 2i + 1): the merged cell sees both, centred halfway
    np.testing.assert_allclose(cell_centres(model, "ce", (32, 32)), [1.25 / 32, 2 / 32] * 2)


def test_broadcast_inputs_and_different_strides():
    x = keras.Input((32, 32, 3))
    a = layers.Conv2D(3, 3, strides=2, padding="same", name="a")(x)  # cell i at 2i + 1
    se = layers.Reshape((1, 1, 3))(layers.Dense(3)(layers.GlobalAveragePooling2D()(a)))
    excite = layers.Multiply(name="excite")([a, se])  # squeeze-and-excite: se has no position
    wide = layers.Conv2D(3, 3, strides=1, padding="same", name="wide")(x)
    mixed = layers.Concatenate(name="mixed")([layers.UpSampling2D(name="up")(a), wide])
    model = keras.Model(x, [excite, mixed])
    np.testing.assert_allclose(cell_centres(model, "excite", (32, 32)), [1.5 / 32, 2 / 32] * 2)
    assert cell_centres(model, "mixed", (32, 32)) is None  # the upsampled branch is unknown


def test_nested_models_are_followed():
    keras.utils.set_random_seed(0)
    inner = tutorial_convnet()
    base = keras.Model(inner.inputs, inner.get_layer("conv4").output, name="base")
    model = keras.Sequential([keras.Input((150, 150, 3)), base, layers.GlobalAveragePooling2D(), layers.Dense(2)])
    np.testing.assert_allclose(cell_centres(model, "base/conv4", (150, 150)), [19 / 150, 8 / 150] * 2)


def test_gradcam_reports_the_centres_of_its_layer():
    keras.utils.set_random_seed(1)
    model = tutorial_convnet()
    cam = cvw.GradCAM(model)
    assert cam.centres is None  # no image yet
    cam.compute(np.zeros((300, 200, 3), np.float32))  # resized to the model's 150 x 150
    np.testing.assert_allclose(cam.centres, [19 / 150, 8 / 150] * 2)


def test_receptive_field_extent_hand_computed():
    from convviz_widgets.engines.geometry import receptive_field

    # extent grows by step * (kernel - 1) per layer: conv1 3, pool1 4, conv2 8, pool2 10,
    # conv3 18, pool3 22, conv4 38 pixels; the centres are cell_centres' own
    model = tutorial_convnet()
    for layer, extent in (("conv1", 3), ("pool1", 4), ("conv2", 8), ("pool3", 22), ("conv4", 38)):
        centres, size = receptive_field(model, layer, (150, 150))
        assert size == (extent, extent), layer
        assert centres == cell_centres(model, layer, (150, 150))
    vgg = cvw.load_model("vgg16", weights=None)
    assert receptive_field(vgg, "block5_conv3", (224, 224))[1] == (196, 196)  # the known value
    assert receptive_field(vgg, "block5_pool", (224, 224))[1] == (212, 212)

"""The "object" recipe: the Window parameterization, class evidence maps, one object per class."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import convviz_widgets as cvw
from convviz_widgets.engines.feature_vis import FOURIER, OBJECT, RECIPES, Recipe
from convviz_widgets.engines.feature_vis import parts as P

from .conftest import small_functional


def loop_mask(size, radius, edge):
    """The window's definition, one pixel at a time: 1 within ``radius`` (a fraction of the side)
    of the centre, a raised cosine down to 0 over ``edge``, 0 beyond."""
    out = np.zeros((size, size))
    c = (size - 1) / 2
    for y in range(size):
        for x in range(size):
            r = math.hypot(y - c, x - c) / size
            if r <= radius:
                out[y, x] = 1.0
            elif r < radius + edge:
                out[y, x] = 0.5 * (1 + math.cos(math.pi * (r - radius) / edge))
    return out


# -- the Window parameterization -------------------------------------------------------------------


@pytest.mark.parametrize("size, radius, edge", [(20, 0.25, 0.25), (9, 0.1, 0.3), (150, 0.3, 0.1)])
def test_window_mask_against_its_definition(size, radius, edge):
    want = loop_mask(size, radius, edge)
    np.testing.assert_allclose(P.window_mask(size, radius, edge), want, atol=1e-6)
    ours = P.Window(radius=radius, edge=edge).mask(tf.constant(size)).numpy()  # in the step
    np.testing.assert_allclose(ours, want, atol=1e-5)


def test_window_mask_hand_values():
    m = P.window_mask(20, 0.25, 0.25)  # centre (9.5, 9.5); 1 up to 5 px, 0 from 10 px
    assert m[9, 9] == m[10, 10] == 1.0 and m[0, 0] == 0.0  # centre; corner at 13.4 px
    # (9, 17): 7.517 px = 0.3758 of the side, t = (0.3758 - 0.25) / 0.25 = 0.5033
    assert m[9, 17] == pytest.approx(0.5 + 0.5 * math.cos(math.pi * 0.50332), abs=1e-4)
    assert m[9, 17] == pytest.approx(0.4948, abs=1e-4)
    row = m[9, 10:]  # from the centre outwards: never rising
    assert np.all(np.diff(row) <= 0) and row[0] == 1.0 and row[-1] < 0.05
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(m, m[::-1, ::-1])


def test_window_images_are_background_plus_mask_times_inner():
    fourier = P.Fourier()
    window = P.Window(fourier, radius=0.2, edge=0.1, background=100.0)
    params = fourier.init([0, 3], 16, seed=2) * 50  # far from flat grey
    inner = fourier(tf.constant(params), tf.constant(16)).numpy()
    ours = window(tf.constant(params), tf.constant(16)).numpy()
    m = P.window_mask(16, 0.2, 0.1)[None, :, :, None]
    np.testing.assert_allclose(ours, 100.0 + m * (inner - 100.0), atol=1e-3)
    outside, inside = m[0, :, :, 0] == 0, m[0, :, :, 0] == 1
    assert outside.sum() > 50 and inside.sum() > 20
    np.testing.assert_array_equal(ours[:, outside], 100.0)  # the background, exactly
    np.testing.assert_allclose(ours[:, inside], inner[:, inside], atol=1e-4)
    assert np.abs(inner[:, outside] - 100.0).max() > 10  # so the line above tests something


def test_window_is_its_inner_parameterization_elsewhere():
    for inner in (P.Fourier(sd=0.1), P.Pixels()):
        w = P.Window(inner)
        assert (w.display, w.pixel_space, w.spec_shape()) == (
            inner.display, inner.pixel_space, inner.spec_shape())
        np.testing.assert_array_equal(w.init([1, 2], 12, 5), inner.init([1, 2], 12, 5))
    assert P.Window(P.Fourier(sd=0.1)) == P.Window(P.Fourier(sd=0.1))  # a cache key by value
    assert hash(OBJECT) == hash(Recipe(OBJECT.parameterization, OBJECT.transforms, (), P.Adam(),
                                       P.CenterNeuron(), 0.05))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: P.Window("fourier"), r"Window.inner: expected a Parameterization.*got str 'fourier'"),
        (lambda: P.Window(P.Window()), "Window.inner: expected a Parameterization other than Window"),
        (lambda: P.Window(radius=0), r"Window.radius: expected a fraction of the side in \(0, 0.75\], got 0"),
        (lambda: P.Window(radius=0.9), r"Window.radius: expected .*\(0, 0.75\], got 0.9"),
        (lambda: P.Window(radius=True), "Window.radius.*got True"),
        (lambda: P.Window(edge=-0.1), "Window.edge: expected a positive fraction of the side, got -0.1"),
        (lambda: P.Window(background=float("nan")), "Window.background: expected a finite number, got nan"),
        (lambda: P.Window(background="grey"), "Window.background: expected a finite number, got 'grey'"),
        (lambda: Recipe(parameterization="window"), r"expected a Parameterization \(Pixels, Fourier, Window"),
    ],
)
def test_bad_window(make, message):
    with pytest.raises(cvw.ConvVizError, match=message):
        make()


# -- class evidence maps ---------------------------------------------------------------------------


def test_class_evidence_map_is_the_head_per_cell_and_its_mean_is_the_logit():
    model = small_functional(classes=3)
    engine = cvw.ClassPatterns(model)
    assert engine.offers == ("score", "map")
    w, b = model.get_layer("head").get_weights()
    features = keras.Model(model.inputs, model.get_layer("c2").output)
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    classes = tf.constant([2, 0])
    ours = engine._target(tf.constant(x), classes, "map").numpy()
    a = features(x).numpy()  # (2, 14, 14, 16)
    want = np.stack([a[0] @ w[:, 2] + b[2], a[1] @ w[:, 0] + b[0]])
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)
    logits = engine._target(tf.constant(x), classes).numpy()
    np.testing.assert_allclose(ours.mean(axis=(1, 2)), logits, rtol=1e-5, atol=1e-5)


def test_channel_mean_of_the_class_map_is_the_logit_objective():
    engine = cvw.ClassPatterns(small_functional(classes=3))
    by_map = Recipe(P.Fourier(), (), (), P.Adam(), P.ChannelMean(), 0.05)
    by_score = Recipe(P.Fourier(), (), (), P.Adam(), P.ClassScore(), 0.05)
    a = engine.optimize([0, 1, 2], 24, 5, recipe=by_map)
    b = engine.optimize([0, 1, 2], 24, 5, recipe=by_score)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.images, b.images, atol=0.05)


def test_no_map_without_a_global_pool(sequential):
    engine = cvw.ClassPatterns(sequential)  # Flatten -> Dense: no per-cell class score
    assert engine.offers == ("score",) and engine.default_recipe == "fourier"
    with pytest.raises(cvw.ConvVizError, match=r"CenterNeuron needs a layer with channels .*, or a "
                       r"class evidence map; .*needs the scores to come from one global pooling"):
        engine.generate([0], size=16, steps=1, recipe="object")
    np.testing.assert_array_equal(engine.generate([0, 1], size=16, steps=2, recipe=None),
                                  engine.generate([0, 1], size=16, steps=2, recipe="fourier"))


def test_evidence_map_of_a_nested_model(nested):
    engine = cvw.ClassPatterns(nested)
    x = tf.constant(np.random.default_rng(1).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32))
    cells = engine._target(x, tf.constant([1]), "map").numpy()
    assert cells.shape == (1, 1, 1)  # VGG16 at 32 px: a 1 x 1 map, so the cell is the logit
    np.testing.assert_allclose(cells[:, 0, 0], engine._target(x, tf.constant([1])).numpy(), rtol=1e-5)


# -- the recipe and the engine ---------------------------------------------------------------------


def test_object_recipe_and_default():
    assert RECIPES["object"] is OBJECT
    engine = cvw.ClassPatterns(small_functional(classes=3))
    assert engine.default_recipe == "object"
    # generate's own default is the API contract's "fourier"; None asks for default_recipe
    np.testing.assert_array_equal(engine.generate([0], size=16, steps=1),
                                  engine.generate([0], size=16, steps=1, recipe="fourier"))
    np.testing.assert_array_equal(engine.generate([1], size=16, steps=1, recipe=None),
                                  engine.generate([1], size=16, steps=1, recipe="object"))
    assert OBJECT.parameterization == P.Window(P.Fourier(decay=1.5, sd=0.1), radius=0.3, edge=0.08)
    assert OBJECT.objective == P.CenterNeuron() and OBJECT.optimizer == P.Adam()
    assert OBJECT.transforms == (P.Jitter(8), P.Scale(0.7, 0.8), P.Rotate(10.0))
    assert OBJECT.learning_rate == FOURIER.learning_rate and OBJECT.regularizers == ()


def test_no_retrace_of_the_object_step():
    model = small_functional(classes=3)
    classes = cvw.ClassPatterns(model)
    filters = cvw.FilterPatterns(model, "c2")
    for k, size in (([0], 24), ([1, 2], 20), ([0, 1, 2], 31)):
        classes.generate(k, size=size, steps=1, recipe="object")
        filters.generate(k, size=size, steps=1, recipe="object")  # the neuron objective
    assert classes._steps[OBJECT].experimental_get_tracing_count() == 1
    assert filters._steps[OBJECT].experimental_get_tracing_count() == 1
    assert classes._images[OBJECT].experimental_get_tracing_count() == 1


def test_default_class_patterns_draw_one_object_at_the_centre():
    """On the default model: the own class's evidence of the "object" patterns is concentrated
    at the centre of the map, where "fourier" (the logit, a mean over cells) spreads it."""
    model = cvw.load_model("default")
    engine = cvw.ClassPatterns(model)
    classes = [0, 3, 5]

    def central_share(images):  # share of the positive own-class evidence in the central 6x6
        x = tf.constant(images.astype(np.float32) / 255.0)
        e = np.maximum(engine._target(x, tf.constant(classes), "map").numpy(), 0)  # (3, 18, 18)
        return e[:, 6:12, 6:12].sum(axis=(1, 2)) / e.sum(axis=(1, 2))

    one = engine.generate(classes, steps=60, recipe=None)  # default_recipe: object, 150 px
    tiled = engine.generate(classes, steps=60, recipe="fourier")
    share, tiled_share = central_share(one), central_share(tiled)
    assert np.all(share > 0.5), share  # 36 of 324 cells (11%) hold most of the evidence
    assert np.all(share > 2 * tiled_share), (share, tiled_share)
    # and the picture: the pixels' contrast lies inside the window, the rest is flat grey
    dev = np.abs(one.astype(np.float32) - 127.5).mean(axis=3)
    r = np.hypot(*np.mgrid[0:150, 0:150] - 74.5) / 150
    assert np.all(dev[:, r > 0.45] < 1.0) and np.all(dev[:, r < 0.15].mean(axis=1) > 30)

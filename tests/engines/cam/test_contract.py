"""One contract for every CAM method: the same models, the same inputs, the same promises.

Models: Functional (softmax), Sequential (one sigmoid unit), a nested "outer/inner" layer
(VGG16 base inside a Sequential), and VGG16(weights=None) with its Flatten -> Dense top.
"""

import keras
import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets.engines.predictions import probabilities

METHODS = cvw.CAM_METHODS
# Score-CAM: every channel of the small models in batches of 3; 12 of VGG16's 512 in 3 batches
OPTIONS = {"scorecam": {"batch_size": 3}}
VGG_OPTIONS = {"scorecam": {"max_channels": 12, "batch_size": 5}}
MODELS = ("functional", "sequential", "nested", "vgg16")
CELLS = {"functional": (13, 13), "sequential": (13, 13), "nested": (2, 2), "vgg16": (4, 4)}
EXECUTORS = {"functional": "split", "sequential": "split", "nested": "split", "vgg16": "fold"}
LAYERS = {"functional": "c2", "sequential": "c2", "nested": "vgg16/block5_conv3",
          "vgg16": "block5_conv3"}


@pytest.fixture(scope="session")
def vgg16():
    keras.utils.set_random_seed(4)
    return keras.applications.VGG16(weights=None, input_shape=(64, 64, 3))


@pytest.fixture
def models(request, functional, sequential, nested):
    return {"functional": functional, "sequential": sequential, "nested": nested,
            "vgg16": request.getfixturevalue("vgg16") if "vgg16" in request.node.name else None}


def spy(engine):
    """Count the runs of the model over the image (forward pass or fused first pass)."""
    calls = []
    for name in ("_forward", "_first"):
        real = getattr(engine, name)
        if real is not None:
            setattr(engine, name, lambda *args, real=real: calls.append(1) or real(*args))
    return calls


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("method", METHODS)
def test_contract(method, kind, models):
    model = models[kind]
    size = model.inputs[0].shape[1]
    img = np.random.default_rng(3).uniform(0, 255, (size, size, 3)).astype(np.float32)
    engine = cvw.cam(model, method, preprocess=lambda x: x / 255.0, **(VGG_OPTIONS if kind in ("vgg16", "nested") else OPTIONS).get(method, {}))
    assert type(engine) is getattr(cvw, type(engine).__name__) and engine.method == method
    assert engine.layer == LAYERS[kind]
    assert engine.executor.mode == (EXECUTORS[kind] if engine.needs.startswith("gradient")
                                    else "forward")
    calls = spy(engine)

    top = engine.compute(img)  # a new image: one run of the model
    assert top.shape == CELLS[kind] and top.dtype == np.float32
    assert top.min() >= 0 and top.max() in (0.0, 1.0)
    n = engine.num_classes
    assert engine.scores.shape == (n,) and engine.probabilities.shape == (n,)
    # the probabilities come with the scores of that one run, and equal the model's own output
    np.testing.assert_allclose(engine.probabilities, probabilities(model, img, lambda x: x / 255.0),
                               rtol=1e-4, atol=1e-6)
    assert engine.centres is not None

    best = int(np.argmax(engine.scores))
    others = [k for k in range(n) if k != best][:2]
    maps = engine.compute_many(img, [best, *others])
    assert maps.shape == (1 + len(others), *CELLS[kind]) and maps.dtype == np.float32
    np.testing.assert_allclose(maps[0], top, atol=1e-5)
    for k, m in zip(others, maps[1:]):
        np.testing.assert_allclose(engine.compute(img, k), m, atol=1e-5)
    assert engine.top_classes(img, 2)[0] == best
    assert len(calls) == 1  # class switches and top_classes never rerun the model on the image
    if engine.class_agnostic:
        np.testing.assert_array_equal(maps, np.repeat(top[None], len(maps), axis=0))

    for bad in (-1, n, 1.5, True):
        with pytest.raises(cvw.ConvVizError, match="class_index"):
            engine.compute(img, bad)
    with pytest.raises(cvw.ConvVizError, match="class_index"):
        engine.compute_many(img, [0, n])
    if engine.has_channel_weights():
        w = engine.channel_weights(img, best)
        assert w.shape == (engine.channels,) and w.dtype == np.float32
    else:
        with pytest.raises(cvw.ConvVizError, match="no per-channel weights"):
            engine.channel_weights(img)


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("scorecam", "eigencam")])
def test_gradient_methods_never_retrace_on_a_class_switch(method, functional, image):
    engine = cvw.cam(functional, method)
    for k in (0, 1, 2, 1):
        engine.compute(image, k)
    engine.compute_many(image, [2, 0])
    assert engine._maps.experimental_get_tracing_count() == 1
    assert engine._first.experimental_get_tracing_count() == 1


def test_registry_and_factory(functional):
    assert METHODS == ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "scorecam",
                       "eigencam")
    classes = [cvw.GradCAM, cvw.GradCAMPlusPlus, cvw.XGradCAM, cvw.LayerCAM, cvw.HiResCAM,
               cvw.ScoreCAM, cvw.EigenCAM]
    assert [c.method for c in classes] == list(METHODS)
    assert cvw.cam(functional, "GradCAM++").method == "gradcam++"
    assert cvw.cam(functional).score == "logit"
    assert cvw.cam(functional, "hirescam", score="probability").score == "probability"
    assert cvw.engines.GradCAM is cvw.GradCAM
    from convviz_widgets.engines.gradcam import GradCAM  # the old module still answers

    assert GradCAM is cvw.GradCAM


def test_unknown_method_lists_the_valid_ones(functional):
    with pytest.raises(cvw.ConvVizError, match=r"method: expected one of gradcam, gradcam\+\+, "
                       r"xgradcam, layercam, hirescam, scorecam, eigencam, got 'gradcam3'"):
        cvw.cam(functional, "gradcam3")
    with pytest.raises(cvw.ConvVizError, match="method: expected one of"):
        cvw.cam(functional, None)


def test_unknown_option_names_the_valid_ones(functional):
    with pytest.raises(cvw.ConvVizError, match="options: 'scorecam' takes max_channels, "
                       "batch_size, precision, got score"):
        cvw.cam(functional, "scorecam", score="logit")

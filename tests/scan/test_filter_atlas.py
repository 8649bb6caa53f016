"""filter_atlas: every filter of every conv layer, each what FilterPatterns gives for it."""

import numpy as np
import pytest

import convviz_widgets as cvw


def test_every_filter_of_every_conv_layer(model, tmp_path):
    atlas = cvw.scan.filter_atlas(model, size=16, steps=3, batch_size=3, progress=False, cache_dir=tmp_path)
    assert list(atlas) == ["c1", "c2"] and atlas.complete
    assert atlas["c1"].shape == (4, 16, 16, 3) and atlas["c2"].shape == (6, 16, 16, 3)
    for layer, patterns in atlas.items():
        engine = cvw.FilterPatterns(model, layer)
        for f in range(patterns.shape[0]):
            alone = engine.generate([f], size=16, steps=3)[0]
            assert np.abs(patterns[f].astype(int) - alone).max() <= 1  # batching: float round-off
    again = cvw.scan.filter_atlas(model, size=16, steps=3, batch_size=3, progress=False, cache_dir=tmp_path)
    assert again.run.computed == 0 and all((again[k] == atlas[k]).all() for k in atlas)
    one = cvw.scan.filter_atlas(model, "c2", size=16, steps=4, progress=False, cache_dir=tmp_path)
    assert list(one) == ["c2"] and one.run.computed == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layers": "head"}, "layer: 'head' has no spatial output"),
        ({"size": 4}, "size: expected an integer >= 8"),
        ({"steps": -1}, "steps: expected a non-negative integer"),
    ],
)
def test_bad_arguments(model, kwargs, match):
    with pytest.raises(cvw.ConvVizError, match=match):
        cvw.scan.filter_atlas(model, progress=False, **kwargs)


def test_the_recipe_goes_to_the_engine(model):
    import inspect

    engine = cvw.FilterPatterns(model, "c1")
    if "recipe" not in inspect.signature(engine.generate).parameters:
        with pytest.raises(cvw.ConvVizError, match="recipe: this installation's FilterPatterns has only"):
            cvw.scan.filter_atlas(model, recipe="fourier", progress=False)
        return
    atlas = cvw.scan.filter_atlas(model, "c1", recipe="fourier", size=16, steps=2, progress=False)
    want = engine.generate(list(range(4)), size=16, steps=2, recipe="fourier")
    assert np.abs(atlas["c1"].astype(int) - want).max() <= 1

"""cam_audit: every number is what the single-image CAM and metrics functions give."""

import numpy as np
import pandas as pd
import pytest

import convviz_widgets as cvw
from convviz_widgets.engines.images import resize

from .conftest import png_bytes


@pytest.fixture(scope="module")
def shapes24():
    images, labels, masks = cvw.datasets.shapes(5, seed=3)
    small = np.stack([resize(im.astype(np.float32), (24, 24)) for im in images]).astype(np.uint8)
    return small, labels % 3, masks[:, 3::6, 3::6]


def test_rows_equal_the_single_image_functions(model, shapes24):
    images, labels, masks = shapes24
    df = cvw.scan.cam_audit(
        model, images, labels=labels, masks=masks, methods=("gradcam", "layercam"), steps=8,
        batch_size=2, progress=False,
    )
    assert list(df.columns) == [
        "image", "method", "label", "top_class", "correct", "deletion", "insertion",
        "average_drop", "increased", "pointing_game",
    ]
    assert len(df) == 10 and df.attrs["complete"]
    assert list(df["method"]) == ["gradcam", "layercam"] * 5 and list(df["image"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    for row in df.itertuples():
        img, label = images[row.image], int(labels[row.image])
        engine = cvw.cam(model, row.method)
        heatmap = engine.compute(img, label)
        top = int(np.argmax(engine.scores))
        assert (row.label, row.top_class, row.correct) == (label, top, top == label)
        assert row.deletion == cvw.metrics.deletion(model, img, heatmap, label, steps=8).auc
        assert row.insertion == cvw.metrics.insertion(model, img, heatmap, label, steps=8).auc
        assert (row.average_drop, row.increased) == cvw.metrics.average_drop(model, img, heatmap, label)
        assert row.pointing_game == cvw.metrics.pointing_game(heatmap, masks[row.image])


def test_without_labels_the_top_class_is_explained(model, shapes24, tmp_path):
    images = shapes24[0]
    for i, image in enumerate(images[:3]):
        (tmp_path / f"{i}.png").write_bytes(png_bytes(image))
    (tmp_path / "3_bad.png").write_bytes(b"")
    df = cvw.scan.cam_audit(model, tmp_path, metrics=("deletion",), steps=4, progress=False)
    assert list(df["image"]) == ["0.png", "1.png", "2.png"] and df.attrs["errors"].keys() == {"3_bad.png"}
    assert df["label"].isna().all() and df["correct"].isna().all()
    assert df["insertion"].isna().all() and df["pointing_game"].isna().all()
    for row in df.itertuples():
        engine = cvw.cam(model)
        heatmap = engine.compute(images[int(row.image[0])])  # the top class
        assert row.top_class == int(np.argmax(engine.scores))
        assert row.deletion == cvw.metrics.deletion(model, images[int(row.image[0])], heatmap, row.top_class, steps=4).auc


def test_shapes_output_brings_its_labels_and_masks_and_a_cache_adds_only_new_methods(tmp_path):
    model = cvw.load_model()
    data = cvw.datasets.shapes(2, seed=4)
    args = {"metrics": ("pointing_game",), "progress": False, "cache_dir": tmp_path}
    first = cvw.scan.cam_audit(model, data, **args)
    assert list(first["label"]) == list(data[1]) and first["pointing_game"].notna().all()
    both = cvw.scan.cam_audit(model, data, methods=("gradcam", "eigencam"), **args)
    assert (both.attrs["run"].computed, both.attrs["run"].cached) == (1, 1)
    pd.testing.assert_frame_equal(both[both.method == "gradcam"].reset_index(drop=True), first)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"methods": ("nope",)}, "methods: expected a non-empty list of gradcam"),
        ({"metrics": ("auc",)}, "metrics: expected a non-empty list of deletion"),
        ({"labels": [0, 1]}, r"labels: expected one per image \(5\), got 2"),
        ({"labels": [0, 1, 2, 3, 4]}, "labels: expected integer class indices 0..2"),
        ({"steps": 0}, "steps: expected a positive integer"),
    ],
)
def test_bad_arguments(model, shapes24, kwargs, match):
    with pytest.raises(cvw.ConvVizError, match=match):
        cvw.scan.cam_audit(model, shapes24[0], progress=False, **kwargs)

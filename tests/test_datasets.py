"""The default model's data set: contract, determinism, and that colour gives nothing away."""

import cv2
import numpy as np
import pytest

import convviz_widgets as cvw
from convviz_widgets import datasets


@pytest.fixture(scope="module")
def batch():
    return datasets.shapes(600, seed=7)


def _object_colors(images, masks):
    return np.array([image[mask].mean(axis=0) for image, mask in zip(images, masks)])


def test_shapes_dtypes_and_ranges(batch):
    images, labels, masks = batch
    assert images.shape == (600, 150, 150, 3) and images.dtype == np.uint8
    assert labels.shape == (600,) and labels.dtype == np.int64
    assert masks.shape == (600, 150, 150) and masks.dtype == bool
    assert set(np.unique(labels)) == set(range(len(datasets.SHAPE_CLASSES)))


def test_same_seed_same_arrays_and_other_seed_differs():
    a = datasets.shapes(20, seed=3)
    b = datasets.shapes(20, seed=3)
    c = datasets.shapes(20, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    # every image differs, not just the batch as a whole
    assert all(not np.array_equal(x, y) for x, y in zip(a[0], c[0]))


def test_classes_are_balanced():
    _, labels, _ = datasets.shapes(63, seed=1)
    counts = np.bincount(labels, minlength=6)
    assert counts.min() == 10 and counts.max() == 11


def test_masks_are_visible_flat_coloured_objects(batch):
    images, _, masks = batch
    areas = masks.sum(axis=(1, 2))
    # the smallest object (25 px across), at worst a fifth cut by the border or hidden
    assert areas.min() >= 100
    assert (areas < 0.3 * 150 * 150).all()
    # inside the mask, away from anti-aliased edges, only the object's single colour shows
    kernel = np.ones((3, 3), np.uint8)
    for image, mask in zip(images[:100], masks[:100]):
        core = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        assert core.sum() > 0.3 * mask.sum()
        assert image[core].std(axis=0).max() < 2.0


def test_colour_alone_does_not_predict_the_class(batch):
    images, labels, masks = batch
    colors = _object_colors(images, masks)
    centroids = np.array([colors[labels == k].mean(axis=0) for k in range(6)])
    # class-mean object colours are all close to the overall mean colour
    assert np.linalg.norm(centroids - colors.mean(axis=0), axis=1).max() < 20
    # a nearest-centroid classifier on object colour is at chance on fresh images
    test_images, test_labels, test_masks = datasets.shapes(600, seed=8)
    test_colors = _object_colors(test_images, test_masks)
    predicted = np.linalg.norm(test_colors[:, None] - centroids[None], axis=-1).argmin(axis=1)
    assert (predicted == test_labels).mean() < 1 / 6 + 0.08


def test_background_is_sometimes_close_to_the_object_colour(batch):
    images, _, masks = batch
    kernel = np.ones((9, 9), np.uint8)
    close = 0
    for image, mask in zip(images, masks):
        around = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
        distance = np.linalg.norm(image[mask].mean(axis=0) - image[around].mean(axis=0))
        close += distance < 90
    assert close / len(images) > 0.1


def test_sample_draws_the_named_class():
    for name in datasets.SHAPE_CLASSES:
        image, mask = datasets.sample(name, seed=5)
        assert image.shape == (150, 150, 3) and image.dtype == np.uint8
        assert mask.shape == (150, 150) and mask.sum() >= 100
        np.testing.assert_array_equal(image, datasets.sample(name, seed=5)[0])

    # a ring has a hole at its centre; every other shape covers its own centroid
    for name in datasets.SHAPE_CLASSES:
        for seed in range(5):
            _, mask = datasets.sample(name, seed=seed)
            rows, cols = np.nonzero(mask)
            at_centroid = mask[round(rows.mean()), round(cols.mean())]
            assert at_centroid == (name != "ring"), (name, seed)


@pytest.mark.parametrize("n", [-1, 2.5, "3", True])
def test_bad_count_is_a_convviz_error(n):
    with pytest.raises(cvw.ConvVizError, match="n: expected a non-negative integer"):
        datasets.shapes(n)


def test_unknown_sample_name_is_a_convviz_error():
    with pytest.raises(cvw.ConvVizError, match="name: expected one of circle"):
        datasets.sample("hexagon")


def test_zero_images():
    images, labels, masks = datasets.shapes(0)
    assert images.shape == (0, 150, 150, 3)
    assert labels.shape == (0,) and masks.shape == (0, 150, 150)


def test_difficulty_zero_is_a_lone_shape_on_a_smooth_gradient():
    images, labels, masks = datasets.shapes(12, seed=2, difficulty=0)
    full, full_labels, _ = datasets.shapes(12, seed=2)
    np.testing.assert_array_equal(labels, full_labels)
    kernel = np.ones((5, 5), np.uint8)
    for image, mask in zip(images, masks):
        background = ~cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        curvature = np.abs(cv2.Laplacian(image.astype(np.float32), cv2.CV_32F))
        assert curvature[background].max() <= 6  # no noise, stripes, clutter: only a gradient
    # the default is the full data set, noisy and cluttered
    assert np.abs(cv2.Laplacian(full[0].astype(np.float32), cv2.CV_32F)).max() > 50
    np.testing.assert_array_equal(full, datasets.shapes(12, seed=2, difficulty=1.0)[0])


@pytest.mark.parametrize("difficulty", [-0.1, 1.5, "1", None])
def test_bad_difficulty_is_a_convviz_error(difficulty):
    with pytest.raises(cvw.ConvVizError, match="difficulty: expected a number from 0 to 1"):
        datasets.shapes(2, difficulty=difficulty)

import json
import os
import subprocess
import sys
import textwrap

import cv2
import matplotlib
import numpy as np
import pytest

from convviz_widgets.engines.geometry import CellCentres
from convviz_widgets.errors import ConvVizError
from convviz_widgets.render import (
    heatmap_frame,
    overlay,
    place_heatmap,
    superimpose_additive,
    to_rgba,
)


def jet_bytes(levels):
    return matplotlib.colormaps["jet"](levels, bytes=True)


def test_heatmap_frame_levels_are_truncated_255_times_heatmap():
    heatmap = np.array([[0.0, 0.5], [1.0, np.nan]], np.float32)
    out = heatmap_frame(heatmap)
    np.testing.assert_array_equal(out, jet_bytes(np.array([[0, 127], [255, 0]])))


def test_heatmap_frame_upscales_cells_visibly():
    heatmap = np.random.default_rng(0).random((7, 7))
    out = heatmap_frame(heatmap, colormap="viridis", size=224)
    assert out.shape == (224, 224, 4)  # 7 * 32
    np.testing.assert_array_equal(out[::32, ::32], heatmap_frame(heatmap, colormap="viridis"))


def test_overlay_alpha_zero_is_the_image_and_alpha_one_the_colored_heatmap():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (6, 9, 3)).astype(np.float32)
    heatmap = rng.random((3, 3)).astype(np.float32)
    np.testing.assert_array_equal(overlay(image, heatmap, alpha=0.0), to_rgba(image))
    resized = cv2.resize(heatmap, (9, 6), interpolation=cv2.INTER_LINEAR)
    colored = jet_bytes((np.clip(resized, 0, 1) * np.float32(255)).astype(np.uint8))
    np.testing.assert_array_equal(overlay(image, heatmap, alpha=1.0), colored)


def test_overlay_blend_hand_computed():
    image = np.full((2, 2, 3), 100.0)
    heatmap = np.ones((1, 1))  # jet(1.0) = (128, 0, 0)
    out = overlay(image, heatmap, alpha=0.25)
    # 100 * 0.75 + 128 * 0.25 = 107, 100 * 0.75 = 75
    assert (out.reshape(-1, 4) == [107, 75, 75, 255]).all()


def test_overlay_nan_heatmap_is_zero_and_gray_image_works():
    out = overlay(np.zeros((3, 3)), np.full((2, 2), np.nan), alpha=1.0)
    assert (out.reshape(-1, 4) == jet_bytes(0)).all()


@pytest.mark.parametrize(
    "image_shape, heat_shape",
    [((1, 1, 3), (14, 14)), ((224, 224, 3), (1, 1)), ((1, 3000, 3), (7, 7)), ((50, 2, 3), (3, 40))],
)
def test_overlay_any_sizes(image_shape, heat_shape):
    rng = np.random.default_rng(2)
    out = overlay(rng.random(image_shape) * 255, rng.random(heat_shape))
    assert out.shape == image_shape[:2] + (4,) and out.dtype == np.uint8 and out.flags.c_contiguous


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.4", None, True])
def test_overlay_rejects_alpha_outside_unit_interval(alpha):
    with pytest.raises(ConvVizError, match=r"alpha: expected a number in \[0, 1\]"):
        overlay(np.zeros((2, 2, 3)), np.zeros((2, 2)), alpha=alpha)


def test_overlay_rejects_bad_shapes():
    with pytest.raises(ConvVizError, match=r"heatmap: expected an \(h, w\) heatmap, got shape \(2, 2, 1\)"):
        overlay(np.zeros((2, 2, 3)), np.zeros((2, 2, 1)))
    with pytest.raises(ConvVizError, match=r"image: expected an \(H, W, 3\) image"):
        overlay(np.zeros((2, 2, 2)), np.zeros((2, 2)))


def book_recipe(img, heatmap):
    """Deep Learning with Python, 2nd ed., ch. 9, with PIL standing in for keras.utils."""
    from PIL import Image

    heatmap = np.uint8(255 * heatmap)
    jet_colors = matplotlib.colormaps["jet"](np.arange(256))[:, :3]
    jet_heatmap = jet_colors[heatmap].astype(np.float32)
    jet_heatmap -= jet_heatmap.min()
    jet_heatmap /= jet_heatmap.max()
    jet_heatmap *= 255
    jet_heatmap = Image.fromarray(jet_heatmap.astype("uint8"), "RGB")
    jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]))
    superimposed = np.asarray(jet_heatmap, dtype=np.float32) * 0.4 + img
    superimposed -= superimposed.min()
    superimposed /= superimposed.max()
    superimposed *= 255
    return superimposed.astype("uint8")


def test_superimpose_additive_follows_the_book():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (40, 60, 3)).astype(np.float32)
    heatmap = rng.random((7, 7)).astype(np.float32)
    heatmap /= heatmap.max()
    out = superimpose_additive(img, heatmap)
    assert out.shape == (40, 60, 4) and (out[..., 3] == 255).all()
    np.testing.assert_array_equal(out[..., :3], book_recipe(img, heatmap))
    assert out[..., :3].min() == 0 and out[..., :3].max() == 255  # the final min-max stretch


def test_superimpose_additive_constant_inputs_do_not_divide_by_zero():
    out = superimpose_additive(np.zeros((3, 3, 3)), np.zeros((1, 1)), alpha=0.0)
    assert (out[..., :3] == 0).all()


def test_superimpose_additive_equals_keras_array_to_img(tmp_path):
    """The book's real keras.utils calls, run in a child process so that the render tests
    themselves never import TensorFlow (costs the ~3 s of its import)."""
    pytest.importorskip("keras")
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (30, 45, 3)).astype(np.float32)
    heatmap = rng.random((5, 6)).astype(np.float32) ** 2
    np.save(tmp_path / "img.npy", img)
    np.save(tmp_path / "heatmap.npy", heatmap)
    script = textwrap.dedent(
        """
        import sys, numpy as np, keras, matplotlib
        d = sys.argv[1]
        img = np.load(d + "/img.npy"); heatmap = np.load(d + "/heatmap.npy")
        heatmap = np.uint8(255 * heatmap)
        jet_colors = matplotlib.colormaps["jet"](np.arange(256))[:, :3]
        jet_heatmap = jet_colors[heatmap]
        jet_heatmap = keras.utils.array_to_img(jet_heatmap)
        jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]))
        jet_heatmap = keras.utils.img_to_array(jet_heatmap)
        superimposed_img = jet_heatmap * 0.4 + img
        superimposed_img = keras.utils.array_to_img(superimposed_img)
        np.save(d + "/book.npy", np.asarray(superimposed_img))
        """
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, json.dumps(done.stderr[-2000:])
    book = np.load(tmp_path / "book.npy")
    np.testing.assert_array_equal(superimpose_additive(img, heatmap)[..., :3], book)


def test_place_heatmap_without_centres_or_with_the_stretch_is_cv2_resize():
    heat = np.random.default_rng(3).random((5, 7)).astype(np.float32)
    want = cv2.resize(heat, (31, 23), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(place_heatmap(heat, (23, 31)), want)
    np.testing.assert_array_equal(place_heatmap(heat, (23, 31), CellCentres.stretched(5, 7)), want)


def test_place_heatmap_puts_each_cell_at_its_centre():
    # 3 x 2 cells centred on pixel rows 18 + 8 i and columns 10 + 20 j of a 60 x 50 image
    # (fractions (k + 0.5) / size); linear in between, edge values continued beyond.
    centres = CellCentres(18.5 / 60, 8 / 60, 10.5 / 50, 20 / 50)
    heat = np.array([[0.0, 1.0], [0.5, 0.25], [1.0, 0.0]], np.float32)
    out = place_heatmap(heat, (60, 50), centres)
    assert out.shape == (60, 50)
    for i in range(3):
        for j in range(2):
            assert out[18 + 8 * i, 10 + 20 * j] == pytest.approx(heat[i, j], abs=1e-6)
    assert out[22, 10] == pytest.approx((heat[0, 0] + heat[1, 0]) / 2, abs=1e-6)  # halfway
    assert out[26, 15] == pytest.approx(0.75 * heat[1, 0] + 0.25 * heat[1, 1], abs=1e-6)
    np.testing.assert_allclose(out[:18, 10], heat[0, 0], atol=1e-6)  # above the first centre
    np.testing.assert_allclose(out[34:, 30:], heat[2, 1], atol=1e-6)  # beyond the last
    # the plain stretch would put cell (0, 0) at pixel (9.5, 12): not where it belongs
    assert place_heatmap(heat, (60, 50))[18, 30] != pytest.approx(heat[0, 1], abs=0.05)


def test_overlay_with_centres_and_bad_centres():
    image = np.full((60, 50, 3), 100.0)
    heat = np.eye(3, 2, dtype=np.float32)
    centres = CellCentres(18.5 / 60, 8 / 60, 10.5 / 50, 20 / 50)
    placed = overlay(image, heat, alpha=1.0, centres=centres)
    hot, cold = overlay(image, np.ones((1, 1)), 1.0)[0, 0], overlay(image, np.zeros((1, 1)), 1.0)[0, 0]
    np.testing.assert_array_equal(placed[18, 10], hot)  # cell (0, 0) = 1 sits on its centre
    np.testing.assert_array_equal(placed[26, 30], hot)  # and cell (1, 1)
    np.testing.assert_array_equal(placed[59, 0], cold)  # cell (2, 0) = 0, continued to the corner
    assert not np.array_equal(placed, overlay(image, heat, alpha=1.0))  # not the stretch
    for bad in [(0.1, 0.0, 0.1, 0.1), (0.1, 0.1, 0.1), (np.nan, 0.1, 0.1, 0.1), "abcd", 3]:
        with pytest.raises(ConvVizError, match=r"centres: expected \(y0, dy, x0, dx\)"):
            overlay(image, heat, centres=bad)

import io

import numpy as np
import pytest
from PIL import Image

import convviz_widgets as cvw
from convviz_widgets.engines import images


def png_bytes(array, mode=None, **save):
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=save.pop("format", "PNG"), **save)
    return buffer.getvalue()


RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 3


def test_path_bytes_pil_and_array_agree(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(RGB))
    for source in (path, str(path), path.read_bytes(), Image.fromarray(RGB), RGB):
        out = cvw.load_image(source)
        assert out.dtype == np.float32 and out.shape == (4, 5, 3)
        np.testing.assert_array_equal(out, RGB.astype(np.float32))


def test_missing_path():
    with pytest.raises(cvw.ConvVizError, match="no such file '/no/such.png'"):
        cvw.load_image("/no/such.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(cvw.ConvVizError, match="not an image file"):
        cvw.load_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(cvw.ConvVizError, match="empty"):
        cvw.load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt):
    big = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = png_bytes(big, format=fmt)
    with pytest.raises(cvw.ConvVizError, match="damaged or truncated"):
        cvw.load_image(data[: len(data) // 2])


def test_gray_is_repeated_to_rgb():
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    out = cvw.load_image(png_bytes(gray))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=-1).astype(np.float32))


def test_rgba_is_composited_over_white():
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 0, 0]], [[0, 0, 255, 128], [10, 20, 30, 255]]], np.uint8)
    out = cvw.load_image(png_bytes(rgba))
    np.testing.assert_allclose(out[0, 0], [255, 0, 0])
    np.testing.assert_allclose(out[0, 1], [255, 255, 255])
    np.testing.assert_allclose(out[1, 0], [127, 127, 255], atol=1)  # half blue over white
    np.testing.assert_allclose(out[1, 1], [10, 20, 30])


def test_sixteen_bit_png_is_scaled():
    deep = np.array([[0, 65535], [257 * 100, 257 * 200]], dtype=np.uint16)
    out = cvw.load_image(png_bytes(deep))
    np.testing.assert_allclose(out[..., 0], [[0, 255], [100, 200]])


def test_exif_rotation_is_applied():
    tall = np.zeros((6, 4, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = png_bytes(tall, format="JPEG", exif=exif.tobytes())
    assert cvw.load_image(data).shape == (4, 6, 3)


def test_decompression_bomb_is_refused_without_decoding(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(cvw.ConvVizError, match="over the limit of 100"):
        cvw.load_image(png_bytes(np.zeros((20, 20, 3), np.uint8)))


def test_array_conventions():
    half = np.full((2, 2, 3), 0.5, np.float32)
    np.testing.assert_allclose(cvw.load_image(half), 0.5)  # floats are 0..255, never rescaled
    np.testing.assert_allclose(cvw.load_image(half * 200), 100.0)
    np.testing.assert_allclose(cvw.load_image(np.full((2, 2), 7, np.int64)), 7.0)
    mask = np.array([[0, 1], [1, 0]], np.uint8)  # levels 0..1 in a uint8 image
    once = cvw.load_image(mask)
    np.testing.assert_array_equal(cvw.load_image(once), once)  # idempotent


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((2, 2, 2, 3)), "shape"),
        (np.zeros((5,)), "shape"),
        (np.zeros((2, 2, 5)), "shape"),
        (np.zeros((0, 3, 3)), "empty"),
        (np.array([[np.nan, 1.0]]), "NaN or infinite"),
        (np.array([[np.inf, 1.0]]), "NaN or infinite"),
        (np.zeros((2, 2), bool), "dtype bool"),
        (np.zeros((2, 2), complex), "dtype complex"),
        (np.full((2, 2), 300, np.int32), "0..255"),
        (np.full((2, 2), -3.0), "0..255"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(cvw.ConvVizError, match=message):
        cvw.load_image(array)


def test_wrong_source_type():
    with pytest.raises(cvw.ConvVizError, match="got int"):
        cvw.load_image(42)


def test_target_size_resizes():
    out = cvw.load_image(RGB, target_size=(8, 10))
    assert out.shape == (8, 10, 3) and out.dtype == np.float32
    with pytest.raises(cvw.ConvVizError, match="target_size"):
        cvw.load_image(RGB, target_size=(0, 3))


def test_sample_images():
    names = cvw.sample_images()
    assert names[:2] == ["cat", "coffee"] and "circle" in names
    cat = cvw.sample_image("cat")
    assert cat.shape == (300, 451, 3) and cat.dtype == np.float32 and 0 <= cat.min() < cat.max() <= 255
    circle = cvw.sample_image("circle")
    assert circle.shape == (150, 150, 3)
    circle[:] = 0  # callers get a copy
    assert cvw.sample_image("circle").max() > 0
    with pytest.raises(cvw.ConvVizError, match="unknown name 'dog'"):
        cvw.sample_image("dog")

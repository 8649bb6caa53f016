"""image_folder and the image sources of a scan: order, laziness, bad files reported, never raised."""

import io

import numpy as np
import pytest
from PIL import Image

import convviz_widgets as cvw
from convviz_widgets.scan.images import Source

from .conftest import png_bytes, random_images


@pytest.fixture
def folder(tmp_path):
    imgs = random_images(5, seed=3)
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "b" / "deep" / "z.png").write_bytes(png_bytes(imgs[0]))
    (tmp_path / "a.PNG").write_bytes(png_bytes(imgs[1]))
    (tmp_path / "b" / "c.bmp").write_bytes(png_bytes(imgs[2], "BMP"))
    (tmp_path / "jpeg_named.png").write_bytes(png_bytes(imgs[3], "JPEG"))  # mislabeled, but an image
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_bytes(b"hello, I am not an image")
    (tmp_path / "notes.txt").write_text("not an image extension: ignored")
    (tmp_path / ".hidden.png").write_bytes(png_bytes(imgs[4]))
    truncated = png_bytes(imgs[4])
    (tmp_path / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    return tmp_path, imgs


def test_sorted_recursive_lazy_and_indexable(folder):
    path, imgs = folder
    f = cvw.image_folder(path)
    assert f.names == ["a.PNG", "b/c.bmp", "b/deep/z.png", "jpeg_named.png", "truncated.png"]
    assert len(f) == 5 and f.paths[0] == str(path / "a.PNG")
    np.testing.assert_array_equal(f[0], imgs[1].astype(np.float32))  # PNG: lossless
    np.testing.assert_array_equal(f[1], imgs[2].astype(np.float32))
    np.testing.assert_array_equal(f[-3], imgs[0].astype(np.float32))
    assert f[0].dtype == np.float32 and f[0].shape == (24, 24, 3)
    jpeg = np.asarray(Image.open(io.BytesIO(png_bytes(imgs[3], "JPEG"))).convert("RGB"))
    np.testing.assert_array_equal(f[3], jpeg.astype(np.float32))  # a JPEG under a .png name
    with pytest.raises(IndexError):
        f[5]


def test_unreadable_files_are_listed_with_their_reason(folder):
    path, _ = folder
    f = cvw.image_folder(path)
    assert set(f.errors) == {"empty.jpg", "text.png"}
    assert "empty" in f.errors["empty.jpg"] and "0 bytes" in f.errors["empty.jpg"]
    assert "not an image" in f.errors["text.png"]
    with pytest.raises(cvw.ConvVizError, match="truncated"):  # direct access says why
        f[4]


def test_not_a_folder(tmp_path):
    with pytest.raises(cvw.ConvVizError, match="path: expected a folder of images.*not a folder"):
        cvw.image_folder(tmp_path / "missing")


def test_sources_accept_arrays_shapes_output_and_lists(tmp_path):
    data = cvw.datasets.shapes(4, seed=1)
    s = Source(data)
    assert len(s) == 4 and s.names == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(s.labels, data[1])
    np.testing.assert_array_equal(s.image(2), data[0][2].astype(np.float32))
    assert s.keys([0]) != s.keys([1])
    (tmp_path / "x.png").write_bytes(png_bytes(data[0][0]))
    listed = Source([str(tmp_path / "x.png"), data[0][1]])
    assert listed.names == [str(tmp_path / "x.png"), "1"]
    np.testing.assert_array_equal(listed.image(0), data[0][0].astype(np.float32))
    three = tuple(data[0][:3])  # a tuple of three images is three images, not shapes output
    assert Source(three).labels is None and len(Source(three)) == 3
    for bad, match in ((42, "got int"), (np.zeros((0, 4, 4, 3)), r"shape \(0, 4, 4, 3\)"), ([], "no images")):
        with pytest.raises(cvw.ConvVizError, match=match):
            Source(bad)

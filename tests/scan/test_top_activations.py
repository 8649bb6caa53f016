"""top_activations against a numpy oracle built on Keras' own predict; crops cut by hand."""

import numpy as np
import pytest

import convviz_widgets as cvw

from .conftest import layer_maps, png_bytes, random_images


def oracle(model, images, layer, k):
    """(indices, values, positions) per channel: spatial max, first cell, ties by index."""
    maps = layer_maps(model, images, layer)
    n, h, w, c = maps.shape
    flat = maps.reshape(n, h * w, c)
    best, first = flat.max(axis=1), flat.argmax(axis=1)
    indices = np.stack([np.lexsort((np.arange(n), -best[:, ch]))[:k] for ch in range(c)])
    values = np.take_along_axis(best.T, indices, axis=1)
    cells = np.take_along_axis(first.T, indices, axis=1)
    return indices, values, np.stack([cells // w, cells % w], axis=-1)


@pytest.mark.parametrize("layer", ["c1", "c2"])
def test_matches_the_numpy_oracle(model, images, layer):
    got = cvw.scan.top_activations(model, images, layer, k=6, batch_size=7, progress=False)
    indices, values, positions = oracle(model, images, layer, 6)
    np.testing.assert_array_equal(got.indices, indices)
    np.testing.assert_allclose(got.values, values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.positions, positions)
    assert got.values.dtype == np.float32 and got.positions.shape == (got.channels, 6, 2)
    assert got.complete and got.run.total == 6 and got.errors == {}
    assert (np.diff(got.values, axis=1) <= 0).all()  # best first
    for row in got.indices:  # each image at most once per channel
        assert len(set(row.tolist())) == len(row)


def test_a_duplicate_image_follows_its_twin(model, images):
    got = cvw.scan.top_activations(model, images, "c2", k=40, progress=False)
    for row, vals in zip(got.indices, got.values):
        at5, at17 = list(row).index(5), list(row).index(17)
        assert at17 == at5 + 1 and vals[at5] == vals[at17]


def test_crops_are_the_receptive_fields_cut_by_hand(model, images):
    got = cvw.scan.top_activations(model, images, "c2", k=4, progress=False)
    crops = got.crops(3)
    assert crops.shape == (4, 8, 8, 3) and crops.dtype == np.uint8
    for crop, index, (y, x) in zip(crops, got.indices[3], got.positions[3]):
        # c2 cell (y, x) <- 3x3 of p1 from (y, x) <- 6x6 of c1 from (2y, 2x) <- 8x8 pixels from (2y, 2x)
        np.testing.assert_array_equal(crop, images[index][2 * y : 2 * y + 8, 2 * x : 2 * x + 8])
    c1 = cvw.scan.top_activations(model, images, "c1", k=2, progress=False)
    for crop, index, (y, x) in zip(c1.crops(0), c1.indices[0], c1.positions[0]):
        np.testing.assert_array_equal(crop, images[index][y : y + 3, x : x + 3])
    with pytest.raises(cvw.ConvVizError, match=r"channel: expected an integer 0..5.*got 6"):
        got.crops(6)


def test_fewer_images_than_k_and_images_of_other_sizes(model):
    small = random_images(2, seed=4, size=12)  # resized to the model's 24 px like every image
    got = cvw.scan.top_activations(model, list(small), "c2", k=5, progress=False)
    assert got.indices.shape == (6, 2)
    from convviz_widgets.engines.images import resize

    resized = np.stack([resize(im.astype(np.float32), (24, 24)) for im in small])
    np.testing.assert_array_equal(got.indices, oracle(model, resized, "c2", 5)[0])


def test_bad_files_are_skipped_and_reported(model, tmp_path, images):
    for i in range(6):
        (tmp_path / f"{i:02d}.png").write_bytes(png_bytes(images[i]))
    cut = png_bytes(images[6])
    (tmp_path / "03_truncated.png").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "04_empty.png").write_bytes(b"")
    (tmp_path / "05_text.jpg").write_bytes(b"GIF89a? no")
    folder = cvw.image_folder(tmp_path)
    got = cvw.scan.top_activations(model, folder, "c2", k=6, batch_size=3, progress=False)
    assert set(got.errors) == {"03_truncated.png", "04_empty.png", "05_text.jpg"}
    assert "truncated" in got.errors["03_truncated.png"] and "03_truncated.png" in folder.errors
    good = [folder.names.index(f"{i:02d}.png") for i in range(6)]
    want = oracle(model, images[:6], "c2", 6)[0]
    np.testing.assert_array_equal(got.indices, np.asarray(good)[want])  # nothing good is lost
    assert got.complete


def test_callback_stops_with_a_partial_result(model, images):
    seen = []
    got = cvw.scan.top_activations(
        model, images, "c2", k=3, batch_size=10, progress=False,
        callback=lambda done, total: seen.append((done, total)) or done < 2,
    )
    assert seen == [(1, 4), (2, 4)] and not got.complete and got.run.done == 2
    np.testing.assert_array_equal(got.indices, oracle(model, images[:20], "c2", 3)[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layer": "head"}, "layer: 'head' has no spatial output"),
        ({"layer": "nope"}, "layer: 'nope' is not a layer"),
        ({"k": 0}, "k: expected a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size: expected a positive integer"),
        ({"client": "remote"}, "client: expected None .*'local'.*got 'remote'"),
        ({"callback": 3}, "callback: expected a callable"),
    ],
)
def test_bad_arguments(model, images, kwargs, match):
    args = {"layer": "c2", **kwargs}
    with pytest.raises(cvw.ConvVizError, match=match):
        cvw.scan.top_activations(model, images[:3], progress=False, **args)


def test_ctrl_c_keeps_the_finished_batches(model, images):
    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after 2 of 4 tasks"):
        got = cvw.scan.top_activations(model, images, "c2", k=3, batch_size=10, progress=False,
                                       callback=interrupt)
    assert not got.complete and got.run.stopped and got.run.done == 2
    np.testing.assert_array_equal(got.indices, oracle(model, images[:20], "c2", 3)[0])


def test_the_progress_bar_counts_batches(model, images, monkeypatch):
    import tqdm.auto

    bars = []

    class Recorder:
        def __init__(self, total, desc, unit, disable, leave):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    cvw.scan.top_activations(model, images, "c2", batch_size=16)
    assert [(b.total, b.n, b.closed, b.desc) for b in bars] == [(3, 3, True, "top activations c2")]

import numpy as np
import pytest

import convviz_widgets as cvw


def test_top_k_matches_the_model(functional, image):
    probabilities = functional(image[None] / 255.0).numpy()[0]
    top = cvw.predict_top(functional, image, k=2)
    order = np.argsort(-probabilities)
    assert [t[0] for t in top] == list(order[:2])
    assert [t[1] for t in top] == [f"class {i}" for i in order[:2]]
    np.testing.assert_allclose([t[2] for t in top], probabilities[order[:2]], rtol=1e-5)


def test_binary_sigmoid_gives_complement(sequential, image):
    p = float(sequential(image[None] / 255.0).numpy()[0, 0])
    top = dict((i, prob) for i, _, prob in cvw.predict_top(sequential, image, k=2))
    np.testing.assert_allclose([top[0], top[1]], [1 - p, p], rtol=1e-5)


def test_bad_k(functional, image):
    with pytest.raises(cvw.ConvVizError, match="k: expected a positive integer"):
        cvw.predict_top(functional, image, k=0)

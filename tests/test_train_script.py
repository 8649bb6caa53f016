"""scripts/train_default_model.py: its adversarial examples, Grad-CAM targets and schedule."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from convviz_widgets.datasets import shapes

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_default_model.py"


@pytest.fixture(scope="module")
def train():
    spec = importlib.util.spec_from_file_location("train_default_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def batch():
    images, labels, masks = shapes(6, seed=99)
    return images.astype(np.float32) / 255.0, labels, masks


def test_adversarial_examples_stay_in_the_ball_and_raise_the_loss(train, batch):
    keras.utils.set_random_seed(1)
    model = train.build_training_model(attack_steps=2)
    x, labels, _ = batch
    epsilon = 8 / 255
    model.epsilon.assign(epsilon)
    adv = model.adversarial(tf.constant(x), tf.constant(labels)).numpy()
    assert np.abs(adv - x).max() <= epsilon + 1e-6
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert np.abs(adv - x).max() > epsilon / 2  # it moved, not just the random start

    def loss(images):
        probabilities = model(images, training=False)[0]
        return keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy()

    # per image: PGD from a random start finds a worse point than the clean image
    assert (loss(adv) > loss(x)).all()


def test_epsilon_ramp(train):
    model = train.build_training_model()
    ramp = train.EpsilonRamp(0.04, start=10, ramp=20, steps_per_epoch=15)
    ramp.set_model(model)
    seen = {}
    for epoch in range(3):
        ramp.on_epoch_begin(epoch)
        for batch in range(15):
            ramp.on_train_batch_begin(batch)
            seen[epoch * 15 + batch] = float(model.epsilon.numpy())
    assert seen[0] == seen[10] == 0.0
    assert seen[20] == pytest.approx(0.02)
    assert seen[30] == seen[44] == pytest.approx(0.04)


def test_cam_targets_mark_the_object_cells(train, batch):
    _, labels, masks = batch
    targets = train.cam_targets(labels, masks)
    assert targets.shape == (6, 18, 18, 6)
    # only the true class's channel is ever set, and every image has at least one cell
    others = targets.sum(axis=(1, 2)) * (1 - np.eye(6)[labels])
    assert not others.any()
    assert (targets.max(axis=(1, 2, 3)) == 1).all()
    # a marked cell's centre (bilinear resize peak) lies on or within 3.5 px of the object
    centres = np.round((np.arange(18) + 0.5) * 150 / 18 - 0.5).astype(int)
    for target, label, mask in zip(targets, labels, masks):
        rows, cols = np.nonzero(target[..., label])
        for r, c in zip(rows, cols):
            y, x = centres[r], centres[c]
            assert mask[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5].any()

"""Train the package's embedded default model on `convviz_widgets.datasets.shapes` and ship it.

The model is the small convnet of the classic "cats vs dogs from scratch" tutorial with a compact
head (global average pooling, then one softmax Dense), trained on freshly generated images every
step, so it never sees the same image twice. It takes pixels / 255; the division happens here, in
the data pipeline, not inside the model. After training it is checked on images from a seed never
used in training: accuracy, and whether the Grad-CAM peak of the last conv layer lies on the object.

    python scripts/train_default_model.py --seed 0 --save-candidate stage1.keras
    python scripts/train_default_model.py --seed 1 --init stage1.keras --epochs 6 --cam-epochs 6 \
        --easy-epochs 0 --ramp-epochs 0 --adversarial-epochs 0 --epsilon-ramp-epochs 0 \
        --learning-rate 0.0003

The first stage trains from scratch (about 75 minutes on 2 CPU cores); the second fine-tunes its
model on full-difficulty adversarial batches at a low learning rate (about 15 minutes). Each
writes convviz_widgets/data/default_model.keras and default_model.json when its quality gates
pass (accuracy >= 99%, Grad-CAM peak on the object >= 98%, on images of a seed never used in
training), and exits non-zero leaving the shipped files untouched when one is missed.

How (see build_training_model): batch norm while training, folded away afterwards; zero-sum first
conv kernels; a curriculum from plain to full data (``shapes(difficulty=...)``); adversarial
training (fast FGSM with a random start, L-inf radius 8/255, ramped in from the third epoch; see
AdversarialTraining), so that the model's gradients are perceptually aligned and plain gradient
ascent on a class score draws the class's shape; for the last epochs, a loss that puts each
class map's peak on the object, so Grad-CAM points at it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from convviz_widgets.datasets import IMAGE_SIZE, SHAPE_CLASSES, shapes  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1] / "convviz_widgets" / "data"
MIN_ACCURACY = 0.99
MIN_CAM_PEAK_IN_MASK = 0.98
# Seeds: training batches use (seed, 1, epoch, step), validation (seed, 2); the final evaluation
# uses a plain integer seed, a different numpy SeedSequence from any of those tuples.
TRAIN_STREAM, VALIDATION_STREAM = 1, 2
# The first stage of the shipped model (its defaults), whose candidate the second stage refines.
STAGE_1 = "scripts/train_default_model.py --seed 0"
FILTERS = (32, 64, 128, 128)
CAM_SIDE = 18  # the last conv layer's map: 150 -> 75 -> 37 -> 18 with "same" padding


def build_model(num_classes: int = len(SHAPE_CLASSES)) -> keras.Model:
    """The shipped model: the tutorial's four conv blocks, global average pooling, softmax Dense.

    One departure from the tutorial: "same" padding. With "valid" padding the last conv's 15x15
    map covers image pixels 18..131 only, so a heatmap stretched over the whole image (what every
    Grad-CAM overlay does) is misplaced by up to 14 px towards the borders; the 18x18 "same" map
    lines up with the image to within 6 px. Same parameters (241,606), ~10% more compute.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = inputs
    for i, filters in enumerate(FILTERS, start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv2d_{i}")(x)
        if i < len(FILTERS):
            x = layers.MaxPooling2D(2, name=f"max_pooling2d_{i}")(x)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="shapes_convnet")


class AdversarialTraining(keras.Model):
    """Trains on adversarial examples: PGD in an L-inf ball of radius ``epsilon`` (pixels in 0..1).

    Each batch is replaced by its worst case found in ``steps`` signed-gradient steps from a
    random start (``steps=1``: fast FGSM with a random start, Wong et al. 2020), against the
    classification loss, with the network in inference mode. Gradients of a model trained so
    are perceptually aligned: plain gradient ascent on a class score draws the class's shape
    (Santurkar et al. 2019). ``epsilon`` is a variable, ramped by ``EpsilonRamp``, so changing
    it never retraces the train step; 0 trains on the clean batch.
    """

    def __init__(self, *args, steps: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.attack_steps = steps
        self.epsilon = tf.Variable(0.0, trainable=False, name="epsilon")

    def adversarial(self, x, labels):
        epsilon = self.epsilon
        step = epsilon * (1.25 if self.attack_steps == 1 else 2.5 / self.attack_steps)
        delta = tf.random.uniform(tf.shape(x), -1.0, 1.0) * epsilon
        for _ in range(self.attack_steps):
            with tf.GradientTape() as tape:
                tape.watch(delta)
                probabilities = self(tf.clip_by_value(x + delta, 0.0, 1.0), training=False)[0]
                loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            gradient = tape.gradient(loss, delta)
            delta = tf.clip_by_value(delta + step * tf.sign(gradient), -epsilon, epsilon)
        return tf.stop_gradient(tf.clip_by_value(x + delta, 0.0, 1.0))

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cond(self.epsilon > 0, lambda: self.adversarial(x, y[0]), lambda: x)
        return super().train_step((x, y, sample_weight))


class EpsilonRamp(keras.callbacks.Callback):
    """Adversarial radius: 0 until step ``start``, then linear up to ``epsilon`` over ``ramp``."""

    def __init__(self, epsilon: float, start: int, ramp: int, steps_per_epoch: int):
        super().__init__()
        self.target, self.start, self.ramp = epsilon, start, max(ramp, 1)
        self.steps_per_epoch, self.epoch = steps_per_epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        done = self.epoch * self.steps_per_epoch + batch
        value = self.target * float(np.clip((done - self.start) / self.ramp, 0.0, 1.0))
        self.model.epsilon.assign(value)


class ZeroMeanKernel(keras.constraints.Constraint):
    """Keeps each 3x3 kernel slice zero-sum, so a flat colour gives the first conv nothing."""

    def __call__(self, kernel):
        return kernel - keras.ops.mean(kernel, axis=(0, 1), keepdims=True)


def build_training_model(
    num_classes: int = len(SHAPE_CLASSES), attack_steps: int = 1, init: keras.Model | None = None
) -> AdversarialTraining:
    """The same network, made trainable from scratch in minutes.

    Two changes that the shipped model does not carry as layers: batch normalization between each
    conv and its ReLU (folded into the conv's kernel and bias afterwards, exact in inference mode),
    and a first conv whose kernels sum to zero per input channel. With random object and background
    colours the plain network sits at chance for thousands of steps: the image's overall colour
    swamps the averaged features. Zero-sum kernels make the network blind to a constant colour
    offset (valid convolution, so exactly), leaving edges and shapes to learn from.

    A second output, ``class_maps``, applies the classifier's own Dense to every cell of the last
    conv layer: (18, 18, classes) logits whose average is the classification logit and which are,
    up to the bias and ReLU, the Grad-CAM maps. A loss on it teaches the maps to peak on the object.

    ``init``: a shipped model to continue from (a second, fine-tuning stage). Then the network is
    the shipped one exactly (conv with bias, no batch norm) with ``init``'s weights.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = inputs
    for i, filters in enumerate(FILTERS, start=1):
        constraint = ZeroMeanKernel() if i == 1 else None
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=init is not None,
            kernel_constraint=constraint,
            name=f"conv2d_{i}",
        )(x)
        if init is None:
            x = layers.BatchNormalization(momentum=0.9, name=f"batch_normalization_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
        if i < len(FILTERS):
            x = layers.MaxPooling2D(2, name=f"max_pooling2d_{i}")(x)
    classifier = layers.Dense(num_classes, name="predictions")  # logits; softmax follows
    pooled = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    probabilities = layers.Softmax(name="probabilities")(classifier(pooled))
    class_maps = layers.Identity(name="class_maps")(classifier(x))
    model = AdversarialTraining(
        inputs, [probabilities, class_maps], name="shapes_convnet_training", steps=attack_steps
    )
    if init is not None:
        for name in [f"conv2d_{i}" for i in range(1, len(FILTERS) + 1)] + ["predictions"]:
            model.get_layer(name).set_weights(init.get_layer(name).get_weights())
    first = model.get_layer("conv2d_1")
    first.kernel.assign(ZeroMeanKernel()(first.kernel))
    return model


def fold_batch_norm(trained: keras.Model) -> keras.Model:
    """The shipped model with each conv's following BatchNormalization folded into its weights
    (a model trained without batch norm, from ``init``, has its weights copied as they are)."""
    shipped = build_model()
    for i in range(1, len(FILTERS) + 1):
        conv = trained.get_layer(f"conv2d_{i}").get_weights()
        if len(conv) == 2:
            shipped.get_layer(f"conv2d_{i}").set_weights(conv)
            continue
        (kernel,) = conv
        bn = trained.get_layer(f"batch_normalization_{i}")
        gamma, beta, mean, variance = bn.get_weights()
        scale = gamma / np.sqrt(variance + bn.epsilon)
        shipped.get_layer(f"conv2d_{i}").set_weights([kernel * scale, beta - mean * scale])
    shipped.get_layer("predictions").set_weights(trained.get_layer("predictions").get_weights())
    return shipped


def cam_targets(labels: np.ndarray, masks: np.ndarray, side: int = CAM_SIDE) -> np.ndarray:
    """(n, side, side, classes): one-hot class at the last conv layer's cells on the object.

    A cell counts when the object covers the pixels around its centre once the map is resized
    to the image, where a bilinear-resized map peaks; if no cell qualifies (a thin or small
    object), every cell whose centre is within 3 px of the object does.
    """
    size = masks.shape[1]
    centres = (np.arange(side) + 0.5) * size / side - 0.5
    lo, hi = np.floor(centres).astype(int), np.ceil(centres).astype(int)
    on_object = np.ones((len(masks), side, side), dtype=bool)
    for rows in (lo, hi):
        for cols in (lo, hi):
            on_object &= masks[:, rows][:, :, cols]
    window = (np.abs(np.arange(size)[None, :] - centres[:, None]) <= 3.5).astype(np.float32)
    touching = window @ masks.astype(np.float32) @ window.T > 0  # any object pixel nearby
    empty = ~on_object.any(axis=(1, 2))
    on_object[empty] = touching[empty]
    onehot = np.eye(len(SHAPE_CLASSES), dtype=np.float32)[labels]
    return on_object[..., None].astype(np.float32) * onehot[:, None, None, :]


def cam_in_object_loss(y_true, y_pred):
    """-log of the share of the true class's spatial softmax that falls on the object's cells."""
    ops = keras.ops
    true_class = ops.max(y_true, axis=(1, 2))  # (n, classes) one-hot
    cells = CAM_SIDE * CAM_SIDE
    inside = ops.reshape(ops.max(y_true, axis=-1), (-1, cells)) > 0
    scores = ops.reshape(ops.sum(y_pred * true_class[:, None, None, :], axis=-1), (-1, cells))
    log_p = ops.log_softmax(scores, axis=-1)
    return -ops.logsumexp(ops.where(inside, log_p, -1e9), axis=-1)


class FreshShapes(keras.utils.PyDataset):
    """Never-seen batches: batch ``step`` of epoch ``epoch`` has seed (seed, 1, epoch, step).

    A curriculum: difficulty 0 (plain backgrounds, no clutter) for ``easy_steps`` steps, then
    rising linearly to 1 (the full data set) over ``ramp_steps`` steps.
    """

    def __init__(self, seed: int, steps: int, batch_size: int, easy_steps: int, ramp_steps: int):
        super().__init__()
        self.seed, self.steps, self.batch_size = seed, steps, batch_size
        self.easy_steps, self.ramp_steps = easy_steps, ramp_steps
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        done = self.epoch * self.steps + step
        difficulty = float(np.clip((done - self.easy_steps) / max(self.ramp_steps, 1), 0, 1))
        seed = (self.seed, TRAIN_STREAM, self.epoch, step)
        images, labels, masks = shapes(self.batch_size, seed=seed, difficulty=difficulty)
        return images.astype(np.float32) / 255.0, (labels, cam_targets(labels, masks))

    def on_epoch_end(self) -> None:
        self.epoch += 1


def grad_cam(model: keras.Model, images: np.ndarray, batch_size: int = 50):
    """Grad-CAM of the last conv layer for the predicted class's logit (pre-softmax score).

    Returns (predicted classes (n,), heatmaps (n, h, w) ReLU'd and divided by their max).
    """
    conv = model.get_layer("conv2d_4")
    dense = model.get_layer("predictions")
    gap = model.get_layer("global_average_pooling2d")
    features = keras.Model(model.inputs, conv.output)

    @tf.function(autograph=False)
    def cam_batch(x):
        with tf.GradientTape() as tape:
            maps = features(x, training=False)
            tape.watch(maps)
            logits = tf.matmul(gap(maps), dense.kernel) + dense.bias
            predicted = tf.argmax(logits, axis=1)
            # samples are independent, so the sum's gradient is each sample's own gradient
            score = tf.reduce_sum(tf.gather(logits, predicted, axis=1, batch_dims=1))
        grads = tape.gradient(score, maps)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        heat = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))
        peak = tf.reduce_max(heat, axis=(1, 2), keepdims=True)
        return predicted, tf.math.divide_no_nan(heat, peak)

    predicted, heatmaps = [], []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start : start + batch_size].astype(np.float32) / 255.0)
        p, h = cam_batch(x)
        predicted.append(p.numpy())
        heatmaps.append(h.numpy())
    return np.concatenate(predicted), np.concatenate(heatmaps)


def cam_peaks_in_mask(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Whether each heatmap's peak, resized to the image (bilinear), falls on the object's mask."""
    hits = np.empty(len(heatmaps), dtype=bool)
    for i, (heat, mask) in enumerate(zip(heatmaps, masks, strict=True)):
        big = cv2.resize(heat, mask.shape[::-1], interpolation=cv2.INTER_LINEAR)
        row, col = np.unravel_index(np.argmax(big), big.shape)
        hits[i] = mask[row, col]
    return hits


def evaluate(model: keras.Model, seed: int, n: int) -> dict:
    images, labels, masks = shapes(n, seed=seed)
    predicted, heatmaps = grad_cam(model, images)
    correct = predicted == labels
    in_mask = cam_peaks_in_mask(heatmaps, masks)
    for k, name in enumerate(SHAPE_CLASSES):
        of_class = labels == k
        print(
            f"  {name:>8}: accuracy {correct[of_class].mean():.3f}, "
            f"CAM peak in mask {in_mask[of_class].mean():.3f}  (n={of_class.sum()})"
        )
    confusion = np.zeros((len(SHAPE_CLASSES),) * 2, dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    print("  confusion (rows: true, columns: predicted):")
    print("\n".join("    " + " ".join(f"{v:4d}" for v in row) for row in confusion))
    return {"test_accuracy": float(correct.mean()), "cam_peak_in_mask": float(in_mask.mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=26)
    parser.add_argument("--easy-epochs", type=float, default=1, help="epochs of easiest data")
    parser.add_argument("--ramp-epochs", type=float, default=3, help="then easy-to-full ramp")
    parser.add_argument("--steps-per-epoch", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--cam-epochs", type=int, default=6, help="last epochs with the CAM loss")
    parser.add_argument("--cam-loss-weight", type=float, default=0.25)
    parser.add_argument(
        "--epsilon", type=float, default=8.0, help="adversarial L-inf radius, in 0..255 pixel units"
    )
    parser.add_argument("--attack-steps", type=int, default=1, help="PGD steps (1: fast FGSM)")
    parser.add_argument(
        "--adversarial-epochs", type=float, default=2, help="epochs before adversarial training"
    )
    parser.add_argument("--epsilon-ramp-epochs", type=float, default=3)
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="a model this script shipped, to fine-tune (a second stage; no batch norm)",
    )
    parser.add_argument(
        "--save-candidate",
        type=Path,
        default=None,
        help="also save the trained model here, gates or not (the input of a second stage)",
    )
    parser.add_argument("--eval-seed", type=int, default=2024, help="never used in training")
    parser.add_argument("--eval-n", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    started = time.perf_counter()

    init = None
    if args.init is not None:
        init = keras.models.load_model(args.init, compile=False, safe_mode=True)
    model = build_training_model(attack_steps=args.attack_steps, init=init)
    model.summary()
    total_steps = args.epochs * args.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, total_steps, alpha=0.02)
    optimizer = keras.optimizers.Adam(schedule)
    data = FreshShapes(
        args.seed,
        args.steps_per_epoch,
        args.batch_size,
        easy_steps=round(args.easy_epochs * args.steps_per_epoch),
        ramp_steps=round(args.ramp_epochs * args.steps_per_epoch),
    )
    val_images, val_labels, val_masks = shapes(300, seed=(args.seed, VALIDATION_STREAM))
    validation = (
        val_images.astype(np.float32) / 255.0,
        (val_labels, cam_targets(val_labels, val_masks)),
    )
    ramp = EpsilonRamp(
        args.epsilon / 255.0,
        start=round(args.adversarial_epochs * args.steps_per_epoch),
        ramp=round(args.epsilon_ramp_epochs * args.steps_per_epoch),
        steps_per_epoch=args.steps_per_epoch,
    )
    # Learn to classify first; the Grad-CAM loss joins for the last epochs only: from the start
    # it pulls the class maps towards "any object here" and slows classification down a lot.
    cam_start = args.epochs - args.cam_epochs
    phases = ((0, cam_start, 0.0), (cam_start, args.epochs, args.cam_loss_weight))
    for first, last, cam_weight in phases:
        if last <= first:
            continue
        print(f"epochs {first + 1}-{last}: Grad-CAM loss weight {cam_weight}")
        model.compile(
            optimizer=optimizer,
            loss=["sparse_categorical_crossentropy", cam_in_object_loss],
            loss_weights=[1.0, cam_weight],
            metrics=[["accuracy"], []],
        )
        model.fit(
            data,
            initial_epoch=first,
            epochs=last,
            validation_data=validation,
            callbacks=[ramp],
            verbose=2,
        )
    print(f"trained in {time.perf_counter() - started:.0f} s")

    # Ship the plain network (batch norm folded in), uncompiled: no optimizer state.
    shipped = fold_batch_norm(model)
    val_x = val_images[:64].astype(np.float32) / 255.0
    drift = np.abs(shipped.predict(val_x, verbose=0) - model.predict(val_x, verbose=0)[0]).max()
    print(f"folded batch norm: max probability difference {drift:.2e}")
    if drift > 1e-3:
        print("batch-norm folding changed the predictions: nothing written", file=sys.stderr)
        return 1
    if args.save_candidate is not None:
        shipped.save(args.save_candidate)
        print(f"candidate saved: {args.save_candidate}")
    print(f"evaluating on shapes({args.eval_n}, seed={args.eval_seed}):")
    metrics = evaluate(shipped, args.eval_seed, args.eval_n)
    print(
        f"test accuracy {metrics['test_accuracy']:.4f} (gate {MIN_ACCURACY}), "
        f"CAM peak in mask {metrics['cam_peak_in_mask']:.4f} (gate {MIN_CAM_PEAK_IN_MASK})"
    )
    passed = metrics["test_accuracy"] >= MIN_ACCURACY
    passed &= metrics["cam_peak_in_mask"] >= MIN_CAM_PEAK_IN_MASK
    if not passed:
        rejected = Path(tempfile.gettempdir()) / "default_model.rejected.keras"
        shipped.save(rejected)
        print(f"quality gate missed, nothing shipped; candidate: {rejected}", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "default_model.keras"
    shipped.save(model_path)
    command = " ".join(
        ["scripts/train_default_model.py", f"--seed {args.seed}"]
        + [
            f"--{name.replace('_', '-')} {getattr(args, name)}"
            for name in (
                "epochs",
                "easy_epochs",
                "ramp_epochs",
                "steps_per_epoch",
                "batch_size",
                "learning_rate",
                "cam_epochs",
                "cam_loss_weight",
                "epsilon",
                "attack_steps",
                "adversarial_epochs",
                "epsilon_ramp_epochs",
                "init",
            )
            if getattr(args, name) != parser.get_default(name)
        ]
    )
    if args.init is not None:  # the documented two-stage pipeline (see the module docstring)
        command = f"{STAGE_1} --save-candidate {args.init}; then {command}"
    info = {
        "class_names": list(SHAPE_CLASSES),
        "input_size": IMAGE_SIZE,
        "preprocess": "divide_by_255",
        "trained_with": command,
        "evaluated_on": f"convviz_widgets.datasets.shapes({args.eval_n}, seed={args.eval_seed})",
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "cam_peak_in_mask": round(metrics["cam_peak_in_mask"], 4),
        "cam_layer": "conv2d_4",
    }
    (args.out / "default_model.json").write_text(json.dumps(info, indent=2) + "\n")
    size_kb = model_path.stat().st_size / 1024
    print(f"wrote {model_path} ({size_kb:.0f} KB) and default_model.json")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tutorial's algorithms, written the way the tutorials write them: the benchmark baselines.

Nothing here is clever on purpose. Each function is the textbook code ported to TF2/Keras 3, so
that "engine / reference" compares our implementation with what a learner would otherwise run:

- ``filter_pattern_eager``: Deep Learning with Python (1st ed.) 5.4.2, one filter at a time,
  eager ``tf.GradientTape``: loss = mean of the filter's activation, gradient divided by
  (sqrt(mean(grads^2)) + 1e-5), step 1.0, 40 steps, then ``deprocess``.
- ``CompiledFilterPattern``: the same with the one-filter step under ``tf.function`` (the common
  modern port). The filter index is passed as an int32 *tensor*, so one trace serves every
  filter; a Python int would retrace (~50 ms) for each new filter.
- ``gradcam_eager``: the Keras example / tutorial Grad-CAM: ``grad_model = keras.Model(model.inputs,
  [last_conv.output, model.output])`` run eagerly under a tape, pooled gradients, heatmap, ReLU,
  divided by its max.
- ``compiled_forward``: a plain ``tf.function`` forward pass with an input signature: the speed
  reference for Grad-CAM and activations.

The starting noise is the engine's own (``initial_images``: seeded per filter), so patterns can
be compared pixel for pixel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from convviz_widgets.engines.filter_patterns import initial_images


def deprocess_image(x: np.ndarray) -> np.ndarray:
    """The book's deprocess: center, / (std + 1e-5), x0.1 + 0.5, clip to [0, 1], x255, uint8."""
    x = x - x.mean()
    x = x / (x.std() + 1e-5)
    x = x * 0.1 + 0.5
    x = np.clip(x, 0, 1)
    x = x * 255
    return np.clip(x, 0, 255).astype("uint8")


def layer_model(model: keras.Model, layer_name: str) -> keras.Model:
    """The book's feature extractor: model input -> the layer's output."""
    return keras.Model(model.inputs[0], model.get_layer(layer_name).output)


# ----------------------------------------------------------------------- (a) eager, one filter


def filter_pattern_eager(
    extractor: keras.Model, filter_index: int, size: int = 150, steps: int = 40, step: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """uint8 (size, size, 3): DLwP 5.4.2 in eager TF2, one filter."""
    input_img_data = tf.Variable(initial_images([filter_index], size, seed))  # (1, s, s, 3)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(input_img_data)
            layer_output = extractor(input_img_data)
            loss = tf.reduce_mean(layer_output[:, :, :, filter_index])
        grads = tape.gradient(loss, input_img_data)
        grads /= tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5
        input_img_data.assign_add(grads * step)
    return deprocess_image(input_img_data.numpy()[0])


# ----------------------------------------------------------------------- (b) compiled, one filter


class CompiledFilterPattern:
    """DLwP 5.4.2 with the one-filter step under ``tf.function``.

    The filter index is an int32 tensor (one trace for all filters, no retracing); the image is
    a (1, None, None, 3) tensor, the Python loop runs the steps, as in the usual TF2 ports.
    """

    def __init__(self, extractor: keras.Model):
        self.extractor = extractor

        @tf.function(
            input_signature=[
                tf.TensorSpec((1, None, None, 3), tf.float32),
                tf.TensorSpec((), tf.int32),
                tf.TensorSpec((), tf.float32),
            ]
        )
        def gradient_ascent_step(img, filter_index, step):
            with tf.GradientTape() as tape:
                tape.watch(img)
                activation = self.extractor(img)
                loss = tf.reduce_mean(tf.gather(activation, filter_index, axis=3))
            grads = tape.gradient(loss, img)
            grads /= tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5
            return img + step * grads

        self.step = gradient_ascent_step

    def __call__(
        self, filter_index: int, size: int = 150, steps: int = 40, step: float = 1.0, seed: int = 0
    ) -> np.ndarray:
        img = tf.constant(initial_images([filter_index], size, seed))
        f = tf.constant(filter_index, tf.int32)
        lr = tf.constant(step, tf.float32)
        for _ in range(steps):
            img = self.step(img, f, lr)
        return deprocess_image(img.numpy()[0])


# ----------------------------------------------------------------------- (c) eager Grad-CAM


def grad_model(model: keras.Model, last_conv_layer_name: str, logits: bool = False) -> keras.Model:
    """The Keras example's ``grad_model``: input -> [last conv output, predictions].

    ``logits=True`` outputs the final Dense's pre-softmax value instead (the Keras example does
    this by setting ``model.layers[-1].activation = None``; we build the same tensor without
    mutating the user's model).
    """
    last_conv = model.get_layer(last_conv_layer_name)
    out = model.output
    if logits:
        final = model.layers[-1]
        out = keras.ops.matmul(final.input, final.kernel) + final.bias
    # (model.inputs[0] rather than the example's model.inputs: same model, no Keras warning
    # about the structure of the inputs when it is called with one tensor)
    return keras.Model(model.inputs[0], [last_conv.output, out])


def gradcam_eager(grad_model: keras.Model, img_array, pred_index=None) -> np.ndarray:
    """The Keras example's ``make_gradcam_heatmap``, eager, one class: float32 (h, w) in 0..1."""
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        if pred_index is None:
            pred_index = tf.argmax(preds[0])
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


# ----------------------------------------------------------------------- (d) compiled forward


def compiled_forward(model: keras.Model, outputs=None):
    """``tf.function`` forward pass with an input signature (no retracing): x -> outputs."""
    target = model if outputs is None else keras.Model(model.inputs[0], outputs)
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
    return tf.function(lambda x: target(x, training=False), input_signature=[spec])


def compiled_matmul(n: int = 2048):
    """A compiled n x n float32 matmul and its two operands: this machine's FLOP-rate probe."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    fn = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    return fn, a, b, 2.0 * n**3

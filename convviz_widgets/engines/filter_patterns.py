"""Filter patterns: gradient ascent in input space (Deep Learning with Python, 1st ed., 5.4.2).

Each image starts as uniform noise in [128, 148), its loss is the mean activation of its own
filter, and it climbs the gradient divided by the gradient's root mean square (+1e-5) with a
fixed step. A filter whose gradient is zero everywhere (a dead ReLU) gives a flat gray
pattern. N filters are optimized together as ONE batch (image i maximizes filter i, the
gradients are normalized per image), which keeps this CPU's matrix units busy; one compiled
step serves every filter, every batch size and every image size without retracing.

Each image needs only ITS filter of the layer. When the layer is a plain Conv2D (VGG16's
block3_conv1, the tutorial's conv layers), the step computes just that one output channel per
image (``_OwnFilter``: one depthwise convolution of the layer's input with each image's own
kernel, summed over input channels) instead of all C of them, forward and backward: the
layer's share of the work drops by a factor of C.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConvVizError
from ..validation import check_index
from .backend import require_tensorflow
from .compiled import Compiled
from .graph import flat_graph, free_size_extractor, producer
from .models import input_size, load_model, resolve_layer


def initial_images(filters, size: int, seed: int) -> np.ndarray:
    """The starting noise, (N, size, size, 3) in [128, 148); filter f's noise depends only on (seed, f)."""
    return np.stack(
        [np.random.default_rng([seed, f]).random((size, size, 3)) * 20.0 + 128.0 for f in filters]
    ).astype(np.float32)


def deprocess(images: np.ndarray, alive=None) -> np.ndarray:
    """Float images (N, H, W, 3) -> uint8: center, divide by std + 1e-5, x0.1 + 0.5, clip, x255.

    ``alive`` (N,) bool: images whose filter never had a gradient are shown flat mid-gray
    (their "pattern" would only be the starting noise).
    """
    x = np.asarray(images, dtype=np.float32)
    x = x - x.mean(axis=(1, 2, 3), keepdims=True)
    x = x / (x.std(axis=(1, 2, 3), keepdims=True) + 1e-5)
    if alive is not None:
        x[~np.asarray(alive, dtype=bool)] = 0.0
    x = np.clip(x * 0.1 + 0.5, 0.0, 1.0) * 255.0
    return x.astype(np.uint8)


_ELEMENTWISE = {  # Keras activations applied element by element (softmax, glu are not)
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "sigmoid", "tanh",
    "silu", "swish", "softplus", "softsign", "hard_sigmoid", "hard_silu", "hard_swish", "mish",
    "exponential", "log_sigmoid", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink",
    "squareplus", "sparse_plus",
}


class _OwnFilter:
    """Filter i's output channel of a Conv2D for image i alone, from the layer's input.

    ``x`` (N, h, w, Cin) is laid out as one image with N*Cin channels, convolved depthwise with
    image i's own kernel (kh, kw, Cin) and summed over Cin: N*Cin instead of N*Cin*Cout
    multiply-adds per output position.
    """

    @classmethod
    def of(cls, conv):
        """An _OwnFilter for the layer ``conv``, or None if it is not a plain Conv2D."""
        import keras

        activation = getattr(getattr(conv, "activation", None), "__name__", None)
        plain = (
            type(conv) is keras.layers.Conv2D
            and conv.groups == 1
            and conv.data_format == "channels_last"
            and conv.compute_dtype == "float32"
            and not getattr(conv, "quantization_mode", None)
            and activation in _ELEMENTWISE
            and conv.strides[0] == conv.strides[1]  # what the depthwise op supports on CPU
            and tuple(conv.dilation_rate) == (1, 1)
            and conv.padding in ("same", "valid")
        )
        return cls(conv) if plain else None

    def __init__(self, conv):
        self.conv = conv

    def __call__(self, x, filters):
        import tensorflow as tf

        conv = self.conv
        kh, kw, cin, _ = conv.kernel.shape
        n = tf.shape(x)[0]
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        kernels = tf.gather(tf.convert_to_tensor(conv.kernel), filters, axis=3)  # (kh, kw, Cin, N)
        kernels = tf.reshape(tf.transpose(kernels, [0, 1, 3, 2]), [kh, kw, n * cin, 1])
        channels = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * cin])
        s = conv.strides[0]
        y = tf.nn.depthwise_conv2d(
            channels,
            kernels,
            strides=[1, s, s, 1],
            padding=conv.padding.upper(),
        )  # (1, ho, wo, N * Cin)
        ho, wo = tf.shape(y)[1], tf.shape(y)[2]
        z = tf.reduce_sum(tf.reshape(y, [ho, wo, n, cin]), axis=3)
        z = tf.transpose(z, [2, 0, 1])  # (N, ho, wo)
        if conv.use_bias:
            z = z + tf.gather(tf.convert_to_tensor(conv.bias), filters)[:, None, None]
        return conv.activation(z)


class FilterPatterns:
    """The input patterns that maximally activate filters of one layer."""

    def __init__(self, model, layer):
        require_tensorflow()
        import tensorflow as tf

        self.model = load_model(model)
        self.layer = resolve_layer(self.model, layer)
        graph = flat_graph(self.model)
        self.num_filters = int(graph.tap(self.layer).shape[-1])
        self.own_filter = None  # the one-channel shortcut (_OwnFilter), when the layer allows
        try:
            extractor = free_size_extractor(self.model, self.layer)
            self.fixed_size = None
            own = _OwnFilter.of(producer(graph.tap(self.layer))[0])
            if own is not None:
                before = free_size_extractor(self.model, self.layer, at="input")
                self.own_filter = own
        except Exception:  # some layer before this one needs a fixed size: optimize at it
            extractor = graph.submodel((self.layer,))
            self.fixed_size = input_size(self.model)[0]

        def activations(images, filters):  # (N, h, w): image i's own filter's activation
            if self.own_filter is not None:
                return self.own_filter(before(images, training=False), filters)
            activation = extractor(images, training=False)
            return tf.gather(activation, filters, axis=3, batch_dims=1)

        def step(images, filters, step_size):
            with tf.GradientTape() as tape:
                tape.watch(images)
                own = activations(images, filters)
                losses = tf.reduce_mean(own, axis=(1, 2))
                total = tf.reduce_sum(losses)  # image i's gradient is its own loss's
            grads = tape.gradient(total, images)
            rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=(1, 2, 3), keepdims=True))
            return images + step_size * grads / (rms + 1e-5), losses, tf.reshape(rms, [-1]) > 0

        self._step = Compiled(
            step,
            [
                tf.TensorSpec((None, None, None, 3), tf.float32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((), tf.float32),
            ],
        )
        self.losses = None  # each filter's mean activation at the last step

    def _filters(self, filters) -> list[int]:
        items = [filters] if isinstance(filters, int | np.integer) else list(filters)
        if not items:
            raise ConvVizError("filters: expected at least one filter index, got none.")
        what = f"a filter of layer {self.layer!r}"
        return [check_index("filters", f, self.num_filters, what) for f in items]

    def generate(
        self,
        filters,
        size: int = 150,
        steps: int = 40,
        step_size: float = 1.0,
        seed: int = 0,
        callback: Callable | None = None,
    ) -> np.ndarray:
        """uint8 (N, size, size, 3): one pattern per filter, all optimized as one batch.

        ``callback(step, images_uint8)`` runs after each step (1-based); returning False
        stops at once and the patterns reached so far are returned.
        """
        import tensorflow as tf

        indices = self._filters(filters)
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8 or (
            self.fixed_size is not None and size != self.fixed_size
        ):
            expected = self.fixed_size or "an integer >= 8 (pixels per side)"
            raise ConvVizError(f"size: expected {expected}, got {size!r}.")
        if not isinstance(steps, int | np.integer) or steps < 0:
            raise ConvVizError(f"steps: expected a non-negative integer, got {steps!r}.")
        if not np.isfinite(step_size):
            raise ConvVizError(f"step_size: expected a finite number, got {step_size!r}.")

        images = tf.constant(initial_images(indices, int(size), seed))
        filter_tensor = tf.constant(indices, tf.int32)
        lr = tf.constant(float(step_size), tf.float32)
        alive = np.zeros(len(indices), dtype=bool)
        for i in range(1, int(steps) + 1):
            images, losses, moved = self._step(images, filter_tensor, lr)
            self.losses = losses.numpy()
            alive |= moved.numpy()
            if callback is not None and callback(i, deprocess(images.numpy(), alive)) is False:
                break
        return deprocess(images.numpy(), alive if steps else None)

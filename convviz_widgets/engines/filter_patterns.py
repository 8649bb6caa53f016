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

``recipe`` chooses how (``feature_vis``): "classic" is the above, bit for bit; "fourier" and
any ``Recipe`` compose their parts around the same per-image activations in one compiled step.
"""

from __future__ import annotations

from collections.abc import Callable

from .backend import require_tensorflow
from .feature_vis.ascent import PatternEngine
from .feature_vis.parts import initial_images
from .graph import flat_graph, free_size_extractor, producer
from .models import input_size, load_model, model_info, resolve_layer

__all__ = ["FilterPatterns", "initial_images"]


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


class FilterPatterns(PatternEngine):
    """The input patterns that maximally activate filters of one layer."""

    what = "filters"
    needs = "map"

    def __init__(self, model, layer):
        require_tensorflow()
        import tensorflow as tf

        self.model = load_model(model)
        self.layer = resolve_layer(self.model, layer)
        self.preprocess = model_info(self.model).preprocess  # for pixel-space recipes only
        graph = flat_graph(self.model)
        self.shape = tuple(graph.tap(self.layer).shape[1:])
        self.num_filters = self.num_targets = int(self.shape[-1])
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

        self._activations = activations
        super().__init__()

    def _target(self, x, indices, needs=None):
        return self._activations(x, indices)

    def _target_shape(self):
        return self.shape

    def _describe_index_range(self):
        return f"layer {self.layer!r} has {self.num_filters} filters"

    def generate(self, filters, size: int = 150, steps: int = 40, step_size: float = 1.0,
                 seed: int = 0, callback: Callable | None = None, recipe="classic"):
        """uint8 (N, size, size, 3): one pattern per filter, all optimized as one batch.

        ``callback(step, images_uint8)`` runs after each step (1-based); returning False
        stops at once and the patterns reached so far are returned. ``recipe``: "classic"
        (the book, the default), "fourier" or a ``Recipe``; ``optimize`` returns the floats.
        """
        return super().generate(filters, size, steps, step_size, seed, callback, recipe)

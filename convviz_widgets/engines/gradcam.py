"""Grad-CAM: where in the image is the evidence for class k (Selvaraju et al., 2017).

weights_c = mean over (y, x) of d score_k / d A[y, x, c]; heatmap = ReLU(sum_c weights_c A_c),
divided by its max. The score is the class logit by default (the paper), or the probability
(what the tutorial's code differentiates; it saturates when the model is confident).

Speed: when everything after the layer depends on the layer's output alone (VGG16, the
tutorial's convnets, base model + pooling + dense), the network is split at the layer. The
image goes through the body once and its feature map is cached; each class then costs only
the small head (forward + backward). Switching class for the same image never reruns the
body. Otherwise (e.g. a skip connection jumps over the layer), the whole model runs with the
tape, as many classes as asked for in one batch.

When the head starts with [pooling] -> Flatten -> Dense (VGG16's fc1: 25088 x 4096 floats,
411 MB), even the head is mostly that one kernel, read forward and again backward for every
class. But Grad-CAM only needs the gradient's *sum over positions* per channel, and pooling's
backward pass keeps per-channel sums (max pooling routes each gradient to one input, average
pooling spreads it evenly), so

    sum_yx d score / d A[y, x, c] = sum_d W1c[c, d] * d score / d z1[d],
    W1c[c, d] = sum over pooled positions p of W1[(p, c), d]

with z1 the Dense's pre-activation. W1c (C x D, 8 MB for VGG16) is folded once, z1 is cached
with the feature map, and a class switch only runs what comes after fc1 (``fold``). The fold
reads the Dense's kernel when the GradCAM is created: make a new one after changing weights.
"""

from __future__ import annotations

import keras
import numpy as np

from ..errors import ConvVizError
from ..validation import check_index
from .backend import require_tensorflow
from .batch import content_key, model_batch
from .compiled import Compiled
from .geometry import cell_centres
from .graph import flat_graph, producer, unalias
from .models import default_preprocess, last_conv_layer, load_model, num_classes, resolve_layer

SCORES = ("logit", "probability")


def _cam_from(tf, feature_maps, grads):
    """(k, h, w) normalized heatmaps from feature maps (1 or k, h, w, c) and gradients (k, ...)."""
    return _cam_of_weights(tf, feature_maps, tf.reduce_mean(grads, axis=(1, 2)))


def _cam_of_weights(tf, feature_maps, weights):
    """(k, h, w) normalized heatmaps from feature maps (1, h, w, c) and channel weights (k, c)."""
    cams = tf.nn.relu(tf.einsum("bhwc,kc->khw", feature_maps[:1], weights))
    peak = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(cams, peak)


_PASS_THROUGH = (  # identity at inference
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


class _DenseFold:
    """The head ``layer -> [pooling] -> Flatten -> Dense -> rest``, folded (see the module doc).

    ``flat(a)`` is the Dense's input, ``z = flat @ kernel + bias`` its pre-activation,
    ``rest(activation(z))`` the class scores, and ``weights_of(dscore/dz)`` the Grad-CAM
    channel weights (k, C).
    """

    def __init__(self, graph, layer: str, scores: str):
        import tensorflow as tf

        names = list(graph.taps)
        after = names[names.index(layer) + 1 : names.index(layer) + 8]
        dense_name = next(
            (n for n in after if isinstance(producer(graph.taps[n])[0], keras.layers.Dense)), None
        )
        if dense_name is None:
            raise ValueError("no Dense layer right after the layer")
        to_dense = graph.submodel((dense_name,), inputs=layer)  # ValueError if not a cut
        self.rest = graph.submodel((scores,), inputs=dense_name)
        chain = [
            unalias(op)
            for op in to_dense.operations
            if not isinstance(op, keras.layers.InputLayer)
        ]
        kinds = []
        for op in chain:
            if isinstance(op, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
                kinds.append("pool" if op.data_format == "channels_last" else "?")
            elif isinstance(op, keras.layers.Flatten):
                kinds.append("flatten" if op.data_format == "channels_last" else "?")
            elif isinstance(op, keras.layers.Dense):
                kinds.append("dense")
            elif not isinstance(op, _PASS_THROUGH):
                kinds.append("?")
        if kinds not in (["pool", "flatten", "dense"], ["flatten", "dense"]):
            raise ValueError(f"head is not [pooling] -> Flatten -> Dense: {kinds}")
        self.dense = dense = chain[-1]
        if getattr(dense, "quantization_mode", None) or len(dense.kernel.shape) != 2:
            raise ValueError("the Dense layer is quantized or not 2-D")
        channels = graph.tap(layer).shape[-1]
        kernel = tf.convert_to_tensor(dense.kernel, tf.float32)
        inputs, units = kernel.shape
        if inputs % channels:
            raise ValueError("the Dense input is not positions x channels")
        h, w = graph.tap(layer).shape[1:3]
        self.positions = float(h * w)
        self.w1c = tf.reduce_sum(tf.reshape(kernel, (inputs // channels, channels, units)), 0)
        flat = producer(graph.tap(dense_name))[1][0]  # the Dense's input
        flat_name = next((n for n, t in graph.taps.items() if t is flat), None)
        if flat_name is None:
            raise ValueError("the Dense layer's input is not a layer output")
        self.flat = graph.submodel((flat_name,), inputs=layer)

    def z(self, a):
        import tensorflow as tf

        z = tf.matmul(self.flat(a, training=False), tf.cast(self.dense.kernel, tf.float32))
        return z + self.dense.bias if self.dense.use_bias else z

    def scores(self, z):
        return self.rest(self.dense.activation(z), training=False)

    def weights_of(self, tf, dz):
        return tf.matmul(dz, self.w1c, transpose_b=True) / self.positions


class GradCAM:
    """Class activation maps for one layer (default: the last conv layer) of a classifier."""

    def __init__(self, model, layer=None, preprocess=None, score: str = "logit"):
        require_tensorflow()
        import tensorflow as tf

        self.model = load_model(model)
        self.preprocess = default_preprocess(self.model, preprocess)
        self.num_classes = num_classes(self.model)
        if score not in SCORES:
            raise ConvVizError(f"score: expected one of {SCORES}, got {score!r}.")
        self.score = score
        self.layer = resolve_layer(self.model, last_conv_layer(self.model) if layer is None else layer)
        graph = flat_graph(self.model)
        scores = "@" + score
        x_spec = tf.TensorSpec(graph.input.shape, tf.float32)
        a_spec = tf.TensorSpec((None, *graph.tap(self.layer).shape[1:]), tf.float32)
        k_spec = tf.TensorSpec((None,), tf.int32)
        try:
            body = graph.submodel((self.layer,))
            head = graph.submodel((scores,), inputs=self.layer)
        except ValueError:  # the layer is not a cut of the graph: no separate head
            body = head = None
        self.split = head is not None
        self.fold = None
        if self.split:
            try:
                self.fold = _DenseFold(graph, self.layer, scores)
            except ValueError:  # not a [pooling] -> Flatten -> Dense head
                pass
        fold = self.fold

        if fold is not None:  # features: (a, z), z the first Dense's pre-activation

            def forward(x):
                a = body(x, training=False)
                z = fold.z(a)
                return (a, z), fold.scores(z)

            def maps(a, z, classes):
                tiled = tf.repeat(z, tf.shape(classes)[0], axis=0)
                with tf.GradientTape() as tape:
                    tape.watch(tiled)
                    s = fold.scores(tiled)
                    total = tf.reduce_sum(tf.gather(s, classes, axis=1, batch_dims=1))
                return _cam_of_weights(tf, a, fold.weights_of(tf, tape.gradient(total, tiled)))

            def first(x, k):
                # A new image and one class (k < 0: the top one) in ONE pass.
                a = body(x, training=False)
                z = fold.z(a)
                with tf.GradientTape() as tape:
                    tape.watch(z)
                    s = fold.scores(z)
                    k = tf.where(k < 0, tf.argmax(s[0], output_type=tf.int32), k)
                    score = s[0, k]
                cams = _cam_of_weights(tf, a, fold.weights_of(tf, tape.gradient(score, z)))
                return (a, z), s, cams

            z_spec = tf.TensorSpec((None, fold.w1c.shape[1]), tf.float32)
            self._maps = Compiled(maps, [a_spec, z_spec, k_spec])
            self._first = Compiled(first, [x_spec, tf.TensorSpec((), tf.int32)])
        elif self.split:  # features: (a,)

            def forward(x):
                a = body(x, training=False)
                return (a,), head(a, training=False)

            def maps(a, classes):
                tiled = tf.repeat(a, tf.shape(classes)[0], axis=0)
                with tf.GradientTape() as tape:
                    tape.watch(tiled)
                    s = head(tiled, training=False)
                    total = tf.reduce_sum(tf.gather(s, classes, axis=1, batch_dims=1))
                return _cam_from(tf, a, tape.gradient(total, tiled))

            def first(x, k):
                # A new image and one class (k < 0: the top one): body, head and gradient in ONE
                # pass, so the head runs forward once instead of once for scores and once for
                # the gradient.
                a = body(x, training=False)
                with tf.GradientTape() as tape:
                    tape.watch(a)
                    s = head(a, training=False)
                    k = tf.where(k < 0, tf.argmax(s[0], output_type=tf.int32), k)
                    score = s[0, k]
                return (a,), s, _cam_from(tf, a, tape.gradient(score, a))

            self._maps = Compiled(maps, [a_spec, k_spec])
            self._first = Compiled(first, [x_spec, tf.TensorSpec((), tf.int32)])
        else:  # features: (x,), the whole model runs under the tape
            full = graph.submodel((self.layer, scores))

            def forward(x):
                _, s = full(x, training=False)
                return (x,), s

            def maps(x, classes):
                tiled = tf.repeat(x, tf.shape(classes)[0], axis=0)
                with tf.GradientTape() as tape:
                    tape.watch(tiled)
                    a, s = full(tiled, training=False)
                    total = tf.reduce_sum(tf.gather(s, classes, axis=1, batch_dims=1))
                return _cam_from(tf, a, tape.gradient(total, a))

            self._maps = Compiled(maps, [x_spec, k_spec])
        self._forward = Compiled(forward, [x_spec])
        self._key = None
        self._features = None  # what ``_maps`` needs of the last image (see above)
        self.scores = None  # class scores for the last image, numpy (classes,)
        # Where the heatmap's cells sit in the last image (geometry.CellCentres; None: unknown,
        # stretch the map): pass it to render.overlay(..., centres=...).
        self.centres = None
        self._centres: dict = {}

    def _prepare(self, img):
        """Run the model on ``img`` unless it is the image of the last call (cached by content)."""
        x = model_batch(self.model, img, self.preprocess)
        key = content_key(x)
        if key != self._key:
            features, s = self._forward(x)
            self._remember(x, key, features, s)

    def _remember(self, x, key, features, scores):
        self._key, self._features, self.scores = key, tuple(features), scores.numpy()[0]
        hw = tuple(x.shape[1:3])
        if hw not in self._centres:
            self._centres[hw] = cell_centres(self.model, self.layer, hw)
        self.centres = self._centres[hw]

    def _class_indices(self, class_indices) -> np.ndarray:
        out = [check_index("class_index", k, self.num_classes, "a class index") for k in class_indices]
        return np.asarray(out, dtype=np.int32)

    def compute(self, img, class_index=None) -> np.ndarray:
        """The heatmap float32 (h, w) in 0..1 for ``class_index`` (default: the top class)."""
        x = model_batch(self.model, img, self.preprocess)
        key = content_key(x)
        if key != self._key:
            if self.split:  # a new image and one class: the fused first pass
                k = -1 if class_index is None else int(self._class_indices([class_index])[0])
                features, s, cams = self._first(x, np.int32(k))
                self._remember(x, key, features, s)
                return cams.numpy()[0].astype(np.float32)
            features, s = self._forward(x)
            self._remember(x, key, features, s)
        if class_index is None:
            class_index = int(np.argmax(self.scores))
        return self._maps_of([class_index])[0]

    def compute_many(self, img, class_indices) -> np.ndarray:
        """Heatmaps float32 (k, h, w) for several classes of one image, in one batch."""
        self._prepare(img)
        return self._maps_of(list(class_indices))

    def _maps_of(self, class_indices) -> np.ndarray:
        """Heatmaps of the image prepared last."""
        classes = self._class_indices(class_indices)
        if classes.size == 0:
            raise ConvVizError("class_indices: expected at least one class index, got none.")
        return self._maps(*self._features, classes).numpy().astype(np.float32)

    def top_classes(self, img, k: int = 5) -> list[int]:
        """The ``k`` highest-scoring classes for ``img``, best first."""
        self._prepare(img)
        return [int(i) for i in np.argsort(-self.scores, kind="stable")[:k]]

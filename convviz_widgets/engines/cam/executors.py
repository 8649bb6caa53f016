"""How a CAM method gets what it needs from the model: the executors (no method maths here).

A gradient method asks for the gradients g of class scores with respect to the layer's maps A:
summed over the positions per channel (``GRADIENT_SUMS``), at every position (``GRADIENTS``),
or, for the methods linear in g, already multiplied by A and summed over the positions
(``WEIGHTED_SUMS``: sum_yx A g per channel) or over the channels (``WEIGHTED_MAPS``: sum_c A g
per position). Three ways to get them, fastest first:

- fold: the head after the layer is ``[pooling] -> Flatten -> Dense -> rest`` (VGG16, the
  tutorial's convnets). The image runs through the body once, A and the Dense's pre-activation
  z are cached, and a class switch runs only ``rest`` backwards. Pooling's backward pass keeps
  per-channel sums (max pooling routes each gradient to one input, average pooling spreads it
  evenly), so

      sum_yx d score / d A[y, x, c] = sum_d W1c[c, d] * d score / d z[d],
      W1c[c, d] = sum over pooled positions p of W1[(p, c), d]

  with W1 the Dense's kernel: the per-channel sums never touch W1 again (VGG16's fc1: 25088 x
  4096 floats, 411 MB, against W1c's 8 MB). Per-position gradients read W1 once (dz @ W1^T)
  and then run only the pooling's backward pass: Grad-CAM++ and LayerCAM, non-linear in g,
  need every one of those P x C dot products, so that read is the floor of their class switch.
  W1c is folded when the engine is created: make a new engine after changing the weights.

  The weighted needs are linear in dz too, and W1 is contracted with this image's maps ONCE,
  in the pass that replaces the Dense's own matmul (so a new image reads W1 once, not twice):

      sum_yx A[y, x, c] g[y, x, c] = sum_d M[c, d] dz[d],  M[c, d] = sum_p P[p, c] W1[(p, c), d]

  with P the pooled maps (the Dense's input; pooling is positively homogeneous, so
  sum over a window of A * d pool / d A is the pooled value, for max and average pooling), and

      sum_c A[y, x, c] g[y, x, c] = sum_d N[yx, d] dz[d],
      N[yx, d] = sum_c A[y, x, c] R[y, x, c] W1[(p(yx), c), d]

  with R = d (sum of P) / d A the pooling's routing (one-hot per window for max pooling,
  1 / window size for average pooling), for pooling windows that do not overlap. The Dense's
  pre-activation is then z = sum_c M[c] + b (or sum_yx N[yx] + b), and a class switch costs
  the layers after the Dense plus one small matrix-vector product (M: C x D, N: hw x D).
- split: everything after the layer depends on the layer's output alone; A is cached and a
  class switch runs the head (forward and backward) only.
- tape: otherwise (e.g. a skip connection jumps over the layer) the whole model runs under the
  tape, as many classes as asked for in one batch.

A new image and one class run in ONE fused pass (``first``) for every executor: the forward
pass that gives the scores also gives the gradients. Class indices are passed as tensors, so
nothing retraces when the class changes.

Masked forward passes (Score-CAM) and the activations alone (EigenCAM) need no gradients:
``ForwardExecutor`` gives A and the scores in one pass, and the class probabilities of any
batch of (masked) inputs through the compiled model (or its bfloat16 twin, ``precision``).
"""

from __future__ import annotations

from ..backend import import_tensorflow

import_tensorflow()  # before Keras: TensorFlow's native startup log filtered (backend.py)
import keras  # noqa: E402

from ..compiled import Compiled  # noqa: E402
from ..graph import producer, unalias  # noqa: E402

GRADIENT_SUMS = "gradient sums per channel"
GRADIENTS = "gradients per position"
WEIGHTED_SUMS = "gradient x activation sums per channel"
WEIGHTED_MAPS = "gradient x activation sums per position"
MASKED_PASSES = "masked forward passes"
ACTIVATIONS = "activations only"
GRADIENT_NEEDS = (GRADIENT_SUMS, GRADIENTS, WEIGHTED_SUMS, WEIGHTED_MAPS)
NEEDS = (*GRADIENT_NEEDS, MASKED_PASSES, ACTIVATIONS)

_PASS_THROUGH = (  # identity at inference
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


class _DenseFold:
    """The head ``layer -> [pooling] -> Flatten -> Dense -> rest``, folded (see the module doc).

    ``flat(a)`` is the Dense's input, ``z = flat @ kernel + bias`` its pre-activation,
    ``scores(z)`` the class scores; ``sums_of(dz)`` (k, C) and ``grads_of(a, dz)``
    (k, h, w, C) the gradients with respect to the layer's maps.
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
        inputs, units = dense.kernel.shape
        if inputs % channels:
            raise ValueError("the Dense input is not positions x channels")
        self.units, self.channels, self.positions = units, channels, inputs // channels
        self.w1c = tf.reduce_sum(self.kernel_by_position(), 0)
        pool = next((op for op in chain if isinstance(op, (keras.layers.MaxPooling2D,
                                                             keras.layers.AveragePooling2D))), None)
        self.windows = _windows(pool, graph.tap(layer).shape[1:3], self.positions)
        flat = producer(graph.tap(dense_name))[1][0]  # the Dense's input
        flat_name = next((n for n, t in graph.taps.items() if t is flat), None)
        if flat_name is None:
            raise ValueError("the Dense layer's input is not a layer output")
        self.flat = graph.submodel((flat_name,), inputs=layer)

    def kernel(self):
        import tensorflow as tf

        return tf.cast(self.dense.kernel, tf.float32)

    def kernel_by_position(self):
        """W1 as (P, C, D): row (p, c) of the kernel at [p, c] (channels-last Flatten order)."""
        import tensorflow as tf

        return tf.reshape(self.kernel(), (self.positions, self.channels, self.units))

    def z_of(self, flat):
        import tensorflow as tf

        return self.with_bias(tf.matmul(flat, self.kernel()))

    def z(self, a):
        return self.z_of(self.flat(a, training=False))

    def scores(self, z):
        return self.rest(self.dense.activation(z), training=False)

    def sums_of(self, dz):
        import tensorflow as tf

        return tf.matmul(dz, self.w1c, transpose_b=True)

    def with_bias(self, z):
        return z + self.dense.bias if self.dense.use_bias else z

    def channel_terms(self, flat):
        """M (C, D): M[c] = sum_p P[p, c] W1[(p, c)], W1 read once, slice by slice (at most
        64 accumulations; a matmul cannot do it: c is not summed over)."""
        import tensorflow as tf

        f = tf.reshape(flat[0], (self.positions, self.channels, 1))
        w = self.kernel_by_position()
        chunk = -(-self.positions // 64)
        m = None
        for start in range(0, self.positions, chunk):
            part = (f[start] * w[start] if chunk == 1 else
                    tf.reduce_sum(f[start : start + chunk] * w[start : start + chunk], 0))
            m = part if m is None else m + part
        return m

    def position_terms(self, a):
        """N (P * sy * sx, D), rows in window order (``position_maps`` puts them back):
        sum_c A R W1 of each position of each window (see the module doc), one batched matmul
        over the windows; needs non-overlapping windows (``self.windows``)."""
        import tensorflow as tf

        sy, sx, ph, pw = self.windows
        with tf.GradientTape() as tape:
            tape.watch(a)
            flat = self.flat(a, training=False)
        routed = (a * tape.gradient(flat, a))[0, : ph * sy, : pw * sx]  # A * d sum(P) / d A
        routed = tf.reshape(routed, (ph, sy, pw, sx, self.channels))
        routed = tf.reshape(tf.transpose(routed, (0, 2, 1, 3, 4)), (ph * pw, sy * sx, self.channels))
        w = self.kernel_by_position()
        return tf.reshape(tf.matmul(routed, w), (self.positions * sy * sx, self.units))

    def position_maps(self, values, shape):
        """(k, P * sy * sx) values in window order -> (k, h, w) maps; 0 outside the windows."""
        import tensorflow as tf

        sy, sx, ph, pw = self.windows
        maps = tf.reshape(values, (-1, ph, pw, sy, sx))
        maps = tf.reshape(tf.transpose(maps, (0, 1, 3, 2, 4)), (-1, ph * sy, pw * sx))
        return tf.pad(maps, [[0, 0], [0, shape[0] - ph * sy], [0, shape[1] - pw * sx]])

    def grads_of(self, a, dz):
        """d score / d a (k, h, w, C) from d score / d z (k, D): W1 read once, then pooling."""
        import tensorflow as tf

        tiled = tf.repeat(a, tf.shape(dz)[0], axis=0)
        with tf.GradientTape() as tape:
            tape.watch(tiled)
            flat = self.flat(tiled, training=False)
        return tape.gradient(flat, tiled, output_gradients=tf.matmul(dz, self.kernel(), transpose_b=True))


def _windows(pool, hw, positions):
    """(sy, sx, ph, pw): the pooling windows when they tile the map without overlapping (no
    pooling: 1 x 1 windows), else None."""
    h, w = hw
    if h is None or w is None:
        return None
    if pool is None:
        sy = sx = 1
    else:
        (sy, sx), strides = tuple(pool.pool_size), tuple(pool.strides)
        if strides != (sy, sx) or (pool.padding == "same" and (h % sy or w % sx)):
            return None
    ph, pw = h // sy, w // sx
    return (sy, sx, ph, pw) if ph * pw == positions else None


def _class_total(tf, s, classes):
    """Sum over the batch of row i's score for classes[i]: its gradient is each row's own."""
    return tf.reduce_sum(tf.gather(s, classes, axis=1, batch_dims=1))


def _pick(tf, s, k):
    """Class ``k`` of a one-image score row, the top class when k < 0."""
    return tf.where(k < 0, tf.argmax(s[0], output_type=tf.int32), k)


class GradientExecutor:
    """Gradients of class scores w.r.t. the layer's maps by the fastest way the graph allows.

    ``forward(x) -> (features, scores)``; ``gradients(*features, classes) -> (a, g)`` for
    the cached features; ``first(x, k) -> (features, scores, a, g)`` for a new image. ``a`` is
    (1, h, w, C); ``g`` is what ``need`` names: (k, C) for GRADIENT_SUMS and WEIGHTED_SUMS,
    (k, h, w, C) for GRADIENTS, (k, h, w) for WEIGHTED_MAPS. All are plain TensorFlow code for
    the caller to compile.
    """

    def __init__(self, graph, layer: str, score: str, need: str):
        import tensorflow as tf

        if need not in GRADIENT_NEEDS:
            raise ValueError(f"need: expected one of {GRADIENT_NEEDS}, got {need!r}")
        self.need = need
        scores = "@" + score
        a_spec = tf.TensorSpec((None, *graph.tap(layer).shape[1:]), tf.float32)
        x_spec = tf.TensorSpec(graph.input.shape, tf.float32)
        try:
            self.body = graph.submodel((layer,))
            self.head = graph.submodel((scores,), inputs=layer)
        except ValueError:  # the layer is not a cut of the graph: no separate head
            self.body = self.head = None
        self.split = self.head is not None
        self.fold = None
        if self.split:
            try:
                self.fold = _DenseFold(graph, layer, scores)
            except ValueError:  # not a [pooling] -> Flatten -> Dense head
                pass
        # the fold's precontracted terms for the weighted needs: "channels" (M) or "positions" (N)
        self.terms = None
        if self.fold is not None:
            self.mode = "fold"
            fold = self.fold
            self.feature_specs = [a_spec, tf.TensorSpec((None, fold.units), tf.float32)]
            if need == WEIGHTED_SUMS:
                self.terms = "channels"
                rows = fold.channels
            elif need == WEIGHTED_MAPS and fold.windows is not None:
                self.terms = "positions"
                rows = fold.positions * fold.windows[0] * fold.windows[1]
            if self.terms:
                self.feature_specs.append(tf.TensorSpec((rows, fold.units), tf.float32))
        elif self.split:
            self.mode = "split"
            self.feature_specs = [a_spec]
        else:
            self.mode = "tape"
            self.full = graph.submodel((layer, scores))
            self.feature_specs = [x_spec]

    def _reduce(self, tf, a, g):
        """What the need names, from the per-position gradients g (k, h, w, C)."""
        if self.need == GRADIENT_SUMS:
            return tf.reduce_sum(g, axis=(1, 2))
        if self.need == WEIGHTED_SUMS:
            return tf.reduce_sum(a[:1] * g, axis=(1, 2))
        if self.need == WEIGHTED_MAPS:
            return tf.reduce_sum(a[:1] * g, axis=-1)
        return g

    def _fold_features(self, a):
        """(a, z[, terms]) of one image: the Dense's pre-activation z from the terms when the
        need has them (W1 read once), else from the Dense's own matmul."""
        import tensorflow as tf

        fold = self.fold
        if self.terms == "channels":
            t = fold.channel_terms(fold.flat(a, training=False))
        elif self.terms == "positions":
            t = fold.position_terms(a)
        else:
            return a, fold.z(a)
        return a, fold.with_bias(tf.reduce_sum(t, axis=0, keepdims=True)), t

    def _fold_out(self, tf, features, dz):
        """The need of the classes whose d score / d z are the rows of ``dz`` (k, D)."""
        a, _, *terms = features
        if self.terms == "channels":
            return tf.matmul(dz, terms[0], transpose_b=True)
        if self.terms == "positions":
            return self.fold.position_maps(tf.matmul(dz, terms[0], transpose_b=True), a.shape[1:3])
        if self.need == GRADIENT_SUMS:
            return self.fold.sums_of(dz)
        return self._reduce(tf, a, self.fold.grads_of(a, dz))

    def forward(self, x):
        if self.mode == "fold":
            features = self._fold_features(self.body(x, training=False))
            return features, self.fold.scores(features[1])
        if self.mode == "split":
            a = self.body(x, training=False)
            return (a,), self.head(a, training=False)
        _, s = self.full(x, training=False)
        return (x,), s

    def gradients(self, *args):
        import tensorflow as tf

        *features, classes = args
        n = tf.shape(classes)[0]
        if self.mode == "fold":
            tiled = tf.repeat(features[1], n, axis=0)
            with tf.GradientTape() as tape:
                tape.watch(tiled)
                total = _class_total(tf, self.fold.scores(tiled), classes)
            return features[0], self._fold_out(tf, features, tape.gradient(total, tiled))
        if self.mode == "split":
            (a,) = features
            tiled = tf.repeat(a, n, axis=0)
            with tf.GradientTape() as tape:
                tape.watch(tiled)
                total = _class_total(tf, self.head(tiled, training=False), classes)
            return a, self._reduce(tf, a, tape.gradient(total, tiled))
        (x,) = features
        tiled = tf.repeat(x, n, axis=0)
        with tf.GradientTape() as tape:
            tape.watch(tiled)
            a, s = self.full(tiled, training=False)
            total = _class_total(tf, s, classes)
        return a[:1], self._reduce(tf, a, tape.gradient(total, a))

    def first(self, x, k):
        """A new image and one class (k < 0: the top one) in ONE pass."""
        import tensorflow as tf

        if self.mode == "fold" and (self.need == GRADIENT_SUMS or self.terms):
            features = self._fold_features(self.body(x, training=False))
            z = features[1]
            with tf.GradientTape() as tape:
                tape.watch(z)
                s = self.fold.scores(z)
                score = s[0, _pick(tf, s, k)]
            return features, s, features[0], self._fold_out(tf, features, tape.gradient(score, z))
        if self.mode in ("fold", "split"):
            # body, head and gradient in one pass: the head runs forward once, not once for
            # the scores and once for the gradient
            a = self.body(x, training=False)
            with tf.GradientTape() as tape:
                tape.watch(a)
                if self.mode == "fold":
                    z = self.fold.z(a)
                    s = self.fold.scores(z)
                else:
                    s = self.head(a, training=False)
                score = s[0, _pick(tf, s, k)]
            g = self._reduce(tf, a, tape.gradient(score, a))
            return ((a, z) if self.mode == "fold" else (a,)), s, a, g
        with tf.GradientTape() as tape:
            tape.watch(x)
            a, s = self.full(x, training=False)
            score = s[0, _pick(tf, s, k)]
        return (x,), s, a, self._reduce(tf, a, tape.gradient(score, a))


class ForwardExecutor:
    """The layer's maps and the class scores in one pass; class probabilities of input batches
    (``precision="bfloat16"``: through the model's bfloat16 twin, see ``engines.precision``)."""

    def __init__(self, graph, layer: str, score: str, precision: str = "float32"):
        import tensorflow as tf

        from ..precision import bfloat16_twin

        self.split, self.fold = False, None
        self.mode = "forward"
        self.both = graph.submodel((layer, "@" + score))
        probabilities = graph.submodel(("@probability",))
        if precision == "bfloat16":
            probabilities = bfloat16_twin(probabilities)
        spec = tf.TensorSpec(graph.input.shape, tf.float32)
        # (n, H, W, 3) model inputs -> (n, classes) probabilities, compiled once for any n
        self.probabilities = Compiled(
            lambda x: tf.cast(probabilities(x, training=False), tf.float32), [spec])

    def forward(self, x):
        a, s = self.both(x, training=False)
        return (a,), s

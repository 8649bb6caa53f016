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
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvVizError
from .backend import require_tensorflow
from .batch import content_key, model_batch
from .compiled import Compiled
from .graph import flat_graph
from .models import default_preprocess, last_conv_layer, load_model, num_classes, resolve_layer

SCORES = ("logit", "probability")


def _cam_from(tf, feature_maps, grads):
    """(k, h, w) normalized heatmaps from feature maps (1 or k, h, w, c) and gradients (k, ...)."""
    weights = tf.reduce_mean(grads, axis=(1, 2))  # (k, c)
    cams = tf.nn.relu(tf.einsum("bhwc,kc->khw", feature_maps[:1], weights))
    peak = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(cams, peak)


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

        if self.split:

            def forward(x):
                a = body(x, training=False)
                return a, head(a, training=False)

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
                return a, s, _cam_from(tf, a, tape.gradient(score, a))

            self._maps = Compiled(maps, [a_spec, k_spec])
            self._first = Compiled(first, [x_spec, tf.TensorSpec((), tf.int32)])
        else:
            full = graph.submodel((self.layer, scores))

            def forward(x):
                a, s = full(x, training=False)
                return a, s

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
        self._features = None
        self._x = None
        self.scores = None  # class scores for the last image, numpy (classes,)

    def _prepare(self, img):
        """Run the model on ``img`` unless it is the image of the last call (cached by content)."""
        x = model_batch(self.model, img, self.preprocess)
        key = content_key(x)
        if key != self._key:
            a, s = self._forward(x)
            self._remember(x, key, a, s)

    def _remember(self, x, key, features, scores):
        self._x, self._key, self._features, self.scores = x, key, features, scores.numpy()[0]

    def _class_indices(self, class_indices) -> np.ndarray:
        out = []
        for k in class_indices:
            if isinstance(k, bool) or not isinstance(k, int | np.integer):
                raise ConvVizError(
                    f"class_index: expected an integer class index, got {type(k).__name__} {k!r}."
                )
            if not 0 <= int(k) < self.num_classes:
                raise ConvVizError(
                    f"class_index: expected 0..{self.num_classes - 1} "
                    f"({self.num_classes} classes), got {int(k)}."
                )
            out.append(int(k))
        return np.asarray(out, dtype=np.int32)

    def compute(self, img, class_index=None) -> np.ndarray:
        """The heatmap float32 (h, w) in 0..1 for ``class_index`` (default: the top class)."""
        x = model_batch(self.model, img, self.preprocess)
        key = content_key(x)
        if key != self._key:
            if self.split:  # a new image and one class: the fused first pass
                k = -1 if class_index is None else int(self._class_indices([class_index])[0])
                a, s, cams = self._first(x, np.int32(k))
                self._remember(x, key, a, s)
                return cams.numpy()[0].astype(np.float32)
            a, s = self._forward(x)
            self._remember(x, key, a, s)
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
        source = self._features if self.split else self._x
        return self._maps(source, classes).numpy().astype(np.float32)

    def top_classes(self, img, k: int = 5) -> list[int]:
        """The ``k`` highest-scoring classes for ``img``, best first."""
        self._prepare(img)
        return [int(i) for i in np.argsort(-self.scores, kind="stable")[:k]]

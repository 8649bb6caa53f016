"""Class patterns: the image that maximizes a class score (Simonyan et al. 2013)."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import ConvVizError
from ..backend import require_tensorflow
from ..gradcam import SCORES
from ..graph import flat_graph, free_size_extractor, iter_layers
from ..models import input_size, load_model, model_info, num_classes
from .ascent import PatternEngine


class ClassPatterns(PatternEngine):
    """One image per class, optimized to raise that class's score, all classes as one batch.

    ``score="logit"``: the score before the final softmax/sigmoid (Simonyan et al. use the
    unnormalized score: the probability can rise by lowering the other classes);
    ``"probability"``: after it. Images of any size are resized (bilinear, inside the step)
    to the model's input size when the model fixes one.

    When the class scores come from a global pooling layer (``GlobalAveragePooling2D`` or
    ``GlobalMaxPooling2D``, then the head), the engine also offers each class's evidence map
    (objectives that need a "map"): the score each cell of the pooled map would give alone,
    i.e. the head applied cell by cell. With an average pool and a linear head it is the CAM
    of Zhou et al. 2016, and its mean is the logit. The recommended recipe
    (``default_recipe``, what the CLI's ``render classes`` uses) is then
    "object" (``recipe.OBJECT``), which maximizes the map's centre cell: a class score averaged
    over positions is highest for a tiling of the class's object, the centre cell for one
    object (Olah et al. 2017's neuron objective). Without such a layer it is "fourier".
    ``generate``'s own default stays "fourier" (the API contract of DESIGN.md).
    """

    what = "classes"
    noun = "class"
    needs = "score"
    default_recipe = "object"

    def __init__(self, model, score: str = "logit"):
        require_tensorflow()
        import tensorflow as tf

        if score not in SCORES:
            raise ConvVizError(f"score: expected one of {SCORES}, got {score!r}.")
        self.model = load_model(model)
        self.score = score
        self.num_classes = self.num_targets = num_classes(self.model)
        self.preprocess = model_info(self.model).preprocess
        h, w = input_size(self.model)
        self.resize_to = (h, w) if h is not None and w is not None else None
        self.default_size = h or 150
        scores = flat_graph(self.model).submodel((f"@{score}",))

        def target(x, classes):  # (N,): image i's own class score
            return tf.gather(scores(x, training=False), classes, axis=1, batch_dims=1)

        self._scores = target
        self._evidence = self._evidence_map(score)
        self.offers = ("score", "map") if self._evidence is not None else ("score",)
        self.default_recipe = "object" if self._evidence is not None else "fourier"
        super().__init__()

    def _evidence_map(self, score):
        """(x, classes) -> (N, h, w): each image's own class's score per cell of the map that
        the model's one global pooling layer pools; None when there is no such layer."""
        import keras
        import tensorflow as tf

        pools = [name for name, layer in iter_layers(self.model) if isinstance(
            layer, keras.layers.GlobalAveragePooling2D | keras.layers.GlobalMaxPooling2D)
            and not getattr(layer, "keepdims", False)]  # its output: (N, C), the head's input
        if len(pools) != 1:
            return None
        features = free_size_extractor(self.model, pools[0], at="input")  # (N, h, w, C)
        head = flat_graph(self.model).submodel((f"@{score}",), inputs=pools[0])

        def evidence(x, classes):
            a = features(x, training=False)
            shape = tf.shape(a)
            per_cell = head(tf.reshape(a, [-1, shape[3]]), training=False)  # (N h w, classes)
            per_cell = tf.reshape(per_cell, tf.concat([shape[:3], [-1]], axis=0))
            return tf.gather(per_cell, classes, axis=3, batch_dims=1)

        return evidence

    def _target(self, x, indices, needs=None):
        if needs == "map":
            return self._evidence(x, indices)
        return self._scores(x, indices)

    def _describe_scores(self):
        if "map" in self.offers:
            return "class scores (batch, classes) and class evidence maps"
        return ("class scores (batch, classes), no channels; a class evidence map needs the "
                "scores to come from one global pooling layer (GlobalAveragePooling2D)")

    def _target_shape(self):
        return (self.num_classes,)

    def _describe_index_range(self):
        return f"the model has {self.num_classes} classes"

    def generate(self, classes, size: int | None = None, steps: int = 40,
                 step_size: float = 1.0, seed: int = 0, callback: Callable | None = None,
                 recipe="fourier"):
        """uint8 (N, size, size, 3): one image per class (``size`` default: the model's input).

        ``recipe``: "fourier" (default), "object" (one object per class; ``default_recipe``
        when the model has a class evidence map), "classic", a Recipe, or None for
        ``default_recipe``.

        ``callback(step, images_uint8)`` after each step; returning False stops at once.
        """
        size = self.default_size if size is None else size
        return super().generate(classes, size, steps, step_size, seed, callback, recipe)

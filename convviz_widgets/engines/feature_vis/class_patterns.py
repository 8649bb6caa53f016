"""Class patterns: the image that maximizes a class score (Simonyan et al. 2013)."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import ConvVizError
from ..backend import require_tensorflow
from ..gradcam import SCORES
from ..graph import flat_graph
from ..models import input_size, load_model, model_info, num_classes
from .ascent import PatternEngine


class ClassPatterns(PatternEngine):
    """One image per class, optimized to raise that class's score, all classes as one batch.

    ``score="logit"``: the score before the final softmax/sigmoid (Simonyan et al. use the
    unnormalized score: the probability can rise by lowering the other classes);
    ``"probability"``: after it. Images of any size are resized (bilinear, inside the step)
    to the model's input size when the model fixes one.
    """

    what = "classes"
    noun = "class"
    needs = "score"
    default_recipe = "fourier"

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
        super().__init__()

    def _target(self, x, indices):
        return self._scores(x, indices)

    def _target_shape(self):
        return (self.num_classes,)

    def _describe_index_range(self):
        return f"the model has {self.num_classes} classes"

    def generate(self, classes, size: int | None = None, steps: int = 40,
                 step_size: float = 1.0, seed: int = 0, callback: Callable | None = None,
                 recipe="fourier"):
        """uint8 (N, size, size, 3): one image per class (``size`` default: the model's input).

        ``callback(step, images_uint8)`` after each step; returning False stops at once.
        """
        size = self.default_size if size is None else size
        return super().generate(classes, size, steps, step_size, seed, callback, recipe)

"""The class activation map (CAM) family: one base, one small file per method.

    engine = cvw.cam(model, method="gradcam++")      # or cvw.GradCAMPlusPlus(model)
    heatmap = engine.compute(img, class_index=None)  # float32 (h, w), >= 0, max 1

``base.BaseCAM`` owns what every method shares: resolving the layer (default: the last conv
layer), preprocessing each image once, the per-image cache (by content), the one class-index
validator, ``.centres`` (where the map's cells sit in the image), ``.scores`` and
``.probabilities`` of the last image, ``top_classes``, ``compute`` and ``compute_many``.
``executors`` owns HOW the model is run: a method only says what it NEEDS and the base picks
the fastest executor that can give it.

| need (``executors``)   | what the method gets                 | executors, fastest first      |
|------------------------|--------------------------------------|-------------------------------|
| ``GRADIENT_SUMS``      | a (1,h,w,C), g (k,C) summed over y,x | fold, split, tape             |
| ``GRADIENTS``          | a (1,h,w,C), g (k,h,w,C)             | fold, split, tape             |
| ``WEIGHTED_SUMS``      | a, sum_yx A g (k,C)                  | fold (W1 contracted once per  |
|                        |                                      | image), split, tape           |
| ``WEIGHTED_MAPS``      | a, sum_c A g (k,h,w)                 | fold (the same), split, tape  |
| ``MASKED_PASSES``      | probabilities of any input batch     | compiled forward              |
| ``ACTIVATIONS``        | the layer's maps of the image        | compiled forward              |

Adding a CAM method (an eighth one, say "Grad-CAM-E"):

1. Write ``engines/cam/gradcam_e.py``, a subclass of ``BaseCAM`` that sets ``method`` (its
   registry name) and ``needs``, and overrides ONE of, in TensorFlow (``tf`` is passed in;
   the code runs compiled, so use tf ops, no numpy):
   - ``weights(self, tf, a, g) -> (k, C)``: channel weights; the map is ReLU(sum_c w_c A_c),
     and ``channel_weights`` works for it;
   - ``combine(self, tf, a, g) -> (k, h, w)``: the raw map, element-wise methods.
   A method linear in g asks for the weighted need instead of GRADIENTS (XGradCAM's
   numerator is WEIGHTED_SUMS, HiResCAM's map is WEIGHTED_MAPS): on a folded Flatten -> Dense
   head its class switch then costs what Grad-CAM's does.
   The ReLU and the division by the max are the base's. A method without gradients overrides
   ``_maps_of(classes, callback)`` instead (see ``eigencam.py``, ``scorecam.py``), and
   ``_check_layer()`` refuses a layer it cannot use, ``_forget_image()`` drops what it cached
   for the previous image. E.g.::

       class GradCAME(BaseCAM):
           method = "gradcam-e"
           needs = GRADIENTS
           def weights(self, tf, a, g):
               return tf.reduce_mean(tf.nn.relu(g), axis=(1, 2))

2. Add one line to ``_REGISTRY`` below: ``"gradcam-e": ("gradcam_e", "GradCAME"),``, and the
   class name to the ``_LAZY`` tables of ``engines/__init__.py`` and ``convviz_widgets/__init__.py``.
3. Nothing else: ``cvw.cam(model, "gradcam-e")`` works, and the contract test
   (``tests/engines/cam/test_contract.py``) runs the new method through every model it knows,
   because it is parametrized over ``CAM_METHODS``. Add its oracle and a hand-computed example
   beside the others' in ``tests/engines/cam/``.
"""

from __future__ import annotations

import inspect

from ..._lazy import lazy_exports
from ...errors import ConvVizError

# name -> (module in this package, class); the order is DESIGN.md's
_REGISTRY = {
    "gradcam": ("gradcam", "GradCAM"),
    "gradcam++": ("gradcam_plus_plus", "GradCAMPlusPlus"),
    "xgradcam": ("xgradcam", "XGradCAM"),
    "layercam": ("layercam", "LayerCAM"),
    "hirescam": ("hirescam", "HiResCAM"),
    "scorecam": ("scorecam", "ScoreCAM"),
    "eigencam": ("eigencam", "EigenCAM"),
}
CAM_METHODS = tuple(_REGISTRY)
_CLASSES = {cls: module for module, cls in _REGISTRY.values()}


def method_class(method: str):
    """The engine class of a registered method name (ConvVizError listing the names)."""
    if not isinstance(method, str) or method.lower() not in _REGISTRY:
        raise ConvVizError(
            f"method: expected one of {', '.join(CAM_METHODS)}, got {method!r}."
        )
    return __getattr__(_REGISTRY[method.lower()][1])


def cam(model, method: str = "gradcam", layer=None, preprocess=None, **options):
    """An engine of ``method`` (one of CAM_METHODS); ``options`` go to its class (e.g.
    ``score="probability"`` for the gradient methods, ``max_channels`` for Score-CAM)."""
    cls = method_class(method)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"][3:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConvVizError(
            f"options: {method!r} takes {', '.join(valid) or 'no options'}, got {', '.join(unknown)}."
        )
    return cls(model, layer=layer, preprocess=preprocess, **options)


__getattr__, __dir__ = lazy_exports(__name__, _CLASSES)


__all__ = ["CAM_METHODS", "cam", "method_class", *_CLASSES]

"""The three visualization engines and what they need: TensorFlow/Keras/numpy, no widgets.

``engines.cam`` is the CAM package (its factory is ``engines.cam.cam``, ``cvw.cam`` at the top
level). Names load on first use (PEP 562), so that the image helpers (``load_image``,
``sample_image``, ``sample_images``) work without importing TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "Activations": "activations",
    "CAM_METHODS": "cam",
    "EigenCAM": "cam",
    "GradCAMPlusPlus": "cam",
    "HiResCAM": "cam",
    "LayerCAM": "cam",
    "ScoreCAM": "cam",
    "XGradCAM": "cam",
    "CellCentres": "geometry",
    "ClassPatterns": "feature_vis",
    "Diverged": "feature_vis",
    "Recipe": "feature_vis",
    "RECIPES": "feature_vis",
    "parts": "feature_vis",
    "FilterPatterns": "filter_patterns",
    "GradCAM": "cam",
    "ModelSpec": "models",
    "cell_centres": "geometry",
    "class_names": "models",
    "conv_layers": "models",
    "load_image": "images",
    "load_model": "models",
    "model_spec": "models",
    "num_classes": "models",
    "predict_top": "predictions",
    "receptive_field": "geometry",
    "sample_image": "images",
    "sample_images": "images",
    "trained_samples": "models",
}

__all__ = sorted(_LAZY)


def _tensorflow_first(module: str) -> None:
    if module != "images":
        from .backend import import_tensorflow

        import_tensorflow()  # TensorFlow's native startup log filtered (backend.py)


# ``metrics``: the faithfulness metrics, a submodule loaded on first use
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, ("metrics",), before=_tensorflow_first)


if TYPE_CHECKING:  # for editors and type checkers: the names as they resolve at run time
    from . import metrics  # noqa: F401
    from .activations import Activations  # noqa: F401
    from .cam import (  # noqa: F401
        CAM_METHODS,
        EigenCAM,
        GradCAM,
        GradCAMPlusPlus,
        HiResCAM,
        LayerCAM,
        ScoreCAM,
        XGradCAM,
    )
    from .feature_vis import RECIPES, ClassPatterns, Diverged, Recipe, parts  # noqa: F401
    from .filter_patterns import FilterPatterns  # noqa: F401
    from .geometry import CellCentres, cell_centres, receptive_field  # noqa: F401
    from .images import load_image, sample_image, sample_images  # noqa: F401
    from .models import (  # noqa: F401
        ModelSpec,
        class_names,
        conv_layers,
        load_model,
        model_spec,
        num_classes,
        trained_samples,
    )
    from .predictions import predict_top  # noqa: F401

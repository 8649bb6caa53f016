"""convviz_widgets: what did my convnet learn? Live, in the notebook.

Engines (usable in scripts, no Jupyter needed): Activations, FilterPatterns, ClassPatterns
(feature visualization recipes: Recipe and its parts), the CAM family (GradCAM,
GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM, ScoreCAM, EigenCAM; ``cam(model, method)``)
and the faithfulness metrics (``metrics``).
Widgets (ipywidgets + ipycanvas): ActivationExplorer, FilterExplorer, CamExplorer, Dashboard.

Names are imported on first use: ``import convviz_widgets`` itself loads neither TensorFlow
nor OpenCV (and so sets none of the environment variables they set when imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__
from .errors import ConvVizError

_LAZY = {
    "Activations": "engines",
    "ClassPatterns": "engines",
    "Diverged": "engines",
    "RECIPES": "engines",
    "Recipe": "engines",
    "parts": "engines",
    "FilterPatterns": "engines",
    "GradCAM": "engines",
    "GradCAMPlusPlus": "engines",
    "XGradCAM": "engines",
    "LayerCAM": "engines",
    "HiResCAM": "engines",
    "ScoreCAM": "engines",
    "EigenCAM": "engines",
    "CAM_METHODS": "engines",
    "cam": "engines.cam",  # the factory (engines.cam is the package of the methods)
    "class_names": "engines",
    "conv_layers": "engines",
    "load_image": "engines",
    "load_model": "engines",
    "predict_top": "engines",
    "image_folder": "scan",
    "sample_image": "engines",
    "sample_images": "engines",
    "trained_samples": "engines",
    "ActivationExplorer": "widgets",
    "CamExplorer": "widgets",
    "ChannelInspector": "widgets",
    "Dashboard": "widgets",
    "DatasetExplorer": "widgets",
    "FilterExplorer": "widgets",
}
_SUBMODULES = ("datasets", "engines", "render", "scan", "widgets")
_SUBMODULE_PATHS = {"metrics": "engines.metrics"}  # cvw.metrics: the faithfulness metrics

__all__ = ["ConvVizError", "__version__", "datasets", "metrics", "scan", *_LAZY]


__getattr__, __dir__ = lazy_exports(
    __name__, _LAZY, {**{name: name for name in _SUBMODULES}, **_SUBMODULE_PATHS}
)


if TYPE_CHECKING:  # for editors and type checkers: the names as they resolve at run time
    from . import datasets, engines, render, scan, widgets  # noqa: F401
    from .engines import (  # noqa: F401
        CAM_METHODS,
        RECIPES,
        Activations,
        ClassPatterns,
        Diverged,
        EigenCAM,
        FilterPatterns,
        GradCAM,
        GradCAMPlusPlus,
        HiResCAM,
        LayerCAM,
        ScoreCAM,
        XGradCAM,
        class_names,
        conv_layers,
        load_image,
        load_model,
        metrics,  # noqa: F401
        parts,
        predict_top,
        sample_image,
        sample_images,
        trained_samples,
    )
    from .engines.cam import cam  # noqa: F401
    from .scan import image_folder  # noqa: F401
    from .widgets import (  # noqa: F401
        ActivationExplorer,
        CamExplorer,
        ChannelInspector,
        Dashboard,
        DatasetExplorer,
        FilterExplorer,
    )

"""convviz_widgets: what did my convnet learn? Live, in the notebook.

Engines (usable in scripts, no Jupyter needed): Activations, FilterPatterns, GradCAM.
Widgets (ipywidgets + ipycanvas): ActivationExplorer, FilterExplorer, CamExplorer, Dashboard.
"""

from . import datasets
from ._version import __version__
from .engines import (
    Activations,
    FilterPatterns,
    GradCAM,
    class_names,
    conv_layers,
    load_image,
    load_model,
    predict_top,
    sample_image,
    sample_images,
)
from .errors import ConvVizError
from .widgets import ActivationExplorer, CamExplorer, Dashboard, FilterExplorer

__all__ = [
    "ActivationExplorer",
    "Activations",
    "CamExplorer",
    "Dashboard",
    "FilterExplorer",
    "ConvVizError",
    "FilterPatterns",
    "GradCAM",
    "__version__",
    "class_names",
    "conv_layers",
    "datasets",
    "load_image",
    "load_model",
    "predict_top",
    "sample_image",
    "sample_images",
]

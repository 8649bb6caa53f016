"""The three visualization engines and what they need: TensorFlow/Keras/numpy, no widgets."""

from .activations import Activations
from .filter_patterns import FilterPatterns
from .geometry import CellCentres, cell_centres
from .gradcam import GradCAM
from .images import load_image, sample_image, sample_images
from .models import class_names, conv_layers, load_model, num_classes
from .predictions import predict_top

__all__ = [
    "Activations",
    "CellCentres",
    "FilterPatterns",
    "GradCAM",
    "cell_centres",
    "class_names",
    "conv_layers",
    "load_image",
    "load_model",
    "num_classes",
    "predict_top",
    "sample_image",
    "sample_images",
]

"""Loading models, naming their layers and classes, and checking they are usable."""

from __future__ import annotations

import functools
import json
import os
import socket
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConvVizError
from ..validation import check_index
from .backend import require_tensorflow

DEFAULT_MODEL = "default"

# keras.applications names users may pass to load_model: name -> (constructor, preprocess module).
APPLICATIONS = {
    "vgg16": ("VGG16", "vgg16"),
    "vgg19": ("VGG19", "vgg19"),
    "resnet50": ("ResNet50", "resnet"),
    "resnet101": ("ResNet101", "resnet"),
    "resnet152": ("ResNet152", "resnet"),
    "resnet50v2": ("ResNet50V2", "resnet_v2"),
    "inception_v3": ("InceptionV3", "inception_v3"),
    "xception": ("Xception", "xception"),
    "mobilenet": ("MobileNet", "mobilenet"),
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2"),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3"),
    "mobilenet_v3_large": ("MobileNetV3Large", "mobilenet_v3"),
    "densenet121": ("DenseNet121", "densenet"),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet"),
    "convnext_tiny": ("ConvNeXtTiny", "convnext"),
}
# The file Keras looks for in ~/.keras/models/ for the ImageNet weights (with the classifier top).
_WEIGHT_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
}
_WEIGHTS_HOST = ("storage.googleapis.com", 443)


def divide_by_255(x):
    """The default preprocessing: what the tutorial's small convnet was trained with."""
    return x / 255.0


@dataclass(frozen=True)
class ModelInfo:
    """What the package knows about a model beyond Keras: where it came from, its labels."""

    source: str
    preprocess: Callable
    class_names: tuple[str, ...] | None = None


_INFO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_info(model) -> ModelInfo:
    info = _INFO.get(model)
    if info is None:
        info = ModelInfo(source="keras.Model", preprocess=divide_by_255)
        _INFO[model] = info
    return info


def _register(model, info: ModelInfo):
    _INFO[model] = info
    return model


def load_model(source=None, *, weights="imagenet", safe_mode: bool = True, **kwargs):
    """Return a built keras.Model: the embedded default, a keras.applications name, a file or a model.

    ``weights`` and ``kwargs`` go to the keras.applications constructor; ``safe_mode`` to
    ``keras.models.load_model`` (keep it on for files you did not write yourself).
    """
    require_tensorflow()
    import keras

    if source is None or source == DEFAULT_MODEL:
        return _load_default()
    if isinstance(source, keras.Model):
        return check_model(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and (os.sep in source or Path(source).suffix)
    ):
        return _load_file(Path(source), safe_mode)
    if isinstance(source, str):
        key = source.lower().replace("-", "_")
        if key in APPLICATIONS:
            return _load_application(key, weights, kwargs)
        raise ConvVizError(
            f"model: unknown model name {source!r}. Expected 'default', a keras.applications "
            f"name ({', '.join(sorted(APPLICATIONS))}), a .keras/.h5 file path or a keras.Model."
        )
    raise ConvVizError(
        f"model: expected None, a name, a .keras/.h5 path or a keras.Model, "
        f"got {type(source).__name__}."
    )


def _data_path(name: str) -> Path:
    return Path(str(resources.files("convviz_widgets.data").joinpath(name)))


def _load_default():
    import keras

    path = _data_path("default_model.keras")
    if not path.exists():
        raise ConvVizError(
            f"model: the embedded default model is missing from the installation ({path}). "
            "Re-install convviz_widgets or re-create it with scripts/train_default_model.py."
        )
    meta = json.loads(_data_path("default_model.json").read_text())
    model = keras.models.load_model(path, compile=False, safe_mode=True)
    info = ModelInfo(DEFAULT_MODEL, divide_by_255, tuple(meta["class_names"]))
    return _register(check_model(model), info)


def _load_file(path: Path, safe_mode: bool):
    import keras

    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ConvVizError(
            f"model: expected a .keras, .h5 or .hdf5 file, got {str(path)!r}."
        )
    if not path.is_file():
        raise ConvVizError(f"model: no such file {str(path)!r}.")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ConvVizError(
                f"model: {str(path)!r} contains code (e.g. a Lambda layer) that Keras safe mode "
                "refuses to load. Pass safe_mode=False only if you trust the file's author."
            ) from exc
        raise ConvVizError(
            f"model: could not load {str(path)!r} as a Keras model "
            f"({type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}). "
            "Expected a complete .keras or .h5 file saved by model.save()."
        ) from exc
    if not isinstance(model, keras.Model):
        raise ConvVizError(f"model: {str(path)!r} holds a {type(model).__name__}, not a model.")
    return _register(check_model(model), ModelInfo(str(path), divide_by_255))


def _weights_reachable(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(_WEIGHTS_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _load_application(key: str, weights, kwargs: dict):
    import keras

    constructor, family = APPLICATIONS[key]
    if weights == "imagenet":
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        expected = _WEIGHT_FILES.get(key)
        cached = expected is not None and (cache / expected).is_file()
        if not cached and not _weights_reachable():
            name = expected or f"the {constructor} ImageNet weights file"
            raise ConvVizError(
                f"model: the ImageNet weights for {key!r} cannot be downloaded (no internet "
                f"access). Put {name} in {cache}/ or pass weights='/path/to/weights.h5'; or use "
                f"load_model({key!r}, weights=None) for the architecture with random weights, "
                "or load_model() for the embedded default model, which works offline."
            )
    try:
        model = getattr(keras.applications, constructor)(weights=weights, **kwargs)
    except Exception as exc:
        raise ConvVizError(
            f"model: keras.applications.{constructor}(weights={weights!r}) failed: {exc}"
        ) from exc
    module = getattr(keras.applications, family)
    names = imagenet_class_names() if model.outputs[0].shape[-1] == 1000 else None
    return _register(check_model(model), ModelInfo(key, module.preprocess_input, names))


def check_model(model):
    """Validate that ``model`` is a built, single-input image model; return it."""
    import keras

    if not isinstance(model, keras.Model):
        raise ConvVizError(f"model: expected a keras.Model, got {type(model).__name__}.")
    try:
        inputs = model.inputs
    except Exception:  # Keras 3 raises on a Sequential that was never built
        inputs = None
    if not inputs:
        raise ConvVizError(
            f"model: {model.name!r} is not built, so it has no input shape yet. Build it first, "
            "e.g. with keras.Input(shape=(150, 150, 3)) as its first layer or "
            "model.build((None, 150, 150, 3))."
        )
    if len(inputs) != 1:
        raise ConvVizError(
            f"model: expected a model with one image input, {model.name!r} has {len(inputs)} "
            f"inputs ({', '.join(str(tuple(t.shape)) for t in inputs)})."
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ConvVizError(
            f"model: expected an input of shape (batch, height, width, 3) (channels-last RGB "
            f"images), {model.name!r} takes {shape}."
        )
    return model


class ModelSpec:
    """One model resolved once: its layers, their output shapes, its classes and input size.

    Every question the package asks about a model's structure goes here (``model_spec`` keeps
    one per model); the graph is walked and replayed once, not by each helper again. The
    functions below (``conv_layers``, ``resolve_layer``, ...) are thin wrappers.
    """

    def __init__(self, model):
        self.model = model

    @functools.cached_property
    def graph(self):
        from .graph import flat_graph

        return flat_graph(self.model)

    @functools.cached_property
    def layers(self) -> tuple[tuple[str, object], ...]:
        """(qualified name, layer) of every layer, depth first, in model order."""
        from .graph import iter_layers

        return tuple(iter_layers(self.model))

    @property
    def input_size(self) -> tuple[int | None, int | None]:
        """The model's (height, width), None where it accepts any size."""
        shape = tuple(self.model.inputs[0].shape)
        return shape[1], shape[2]

    @functools.cached_property
    def conv_layers(self) -> tuple[str, ...]:
        """Names of the conv and pooling layers in model order; nested ones as "outer/inner"."""
        from .graph import is_spatial

        # dict.fromkeys: a layer renamed "a/conv" must not list twice
        return tuple(dict.fromkeys(name for name, layer in self.layers if is_spatial(layer)))

    @functools.cached_property
    def last_conv_layer(self) -> str:
        """The last convolution layer (Grad-CAM's default)."""
        from .graph import is_conv

        names = [name for name, layer in self.layers if is_conv(layer)]
        if not names:
            raise ConvVizError(
                f"model: {self.model.name!r} has no convolution layer; Grad-CAM and filter "
                "patterns need one (Conv2D, SeparableConv2D, DepthwiseConv2D or Conv2DTranspose)."
            )
        return names[-1]

    def resolve_layer(self, layer) -> str:
        """The qualified name of ``layer`` (a name, an unambiguous inner name, or a layer object).

        Raises a ConvVizError listing the valid names when it is unknown or has no spatial output.
        """
        taps = self.graph.taps
        if not isinstance(layer, str):
            matches = [name for name, obj in self.layers if obj is layer]
            if not matches:
                raise ConvVizError(
                    f"layer: expected a layer name (str) or a layer of this model, "
                    f"got {type(layer).__name__}."
                )
            layer = matches[0]
        name = layer
        if name not in taps:
            suffix = [n for n in taps if n.endswith("/" + name)]
            if len(suffix) != 1:
                valid = self.conv_layers
                shown = ", ".join(valid[:40]) + (
                    f" ... ({len(valid)} in all)" if len(valid) > 40 else ""
                )
                raise ConvVizError(
                    f"layer: {layer!r} is not a layer of {self.model.name!r}. Expected one of: {shown}."
                )
            name = suffix[0]
        if len(taps[name].shape) != 4:
            raise ConvVizError(
                f"layer: {name!r} has no spatial output (its output has shape "
                f"{tuple(taps[name].shape)}); expected a layer whose output is "
                "(batch, height, width, channels), such as a conv or pooling layer: "
                f"{', '.join(self.conv_layers[-5:])} ..."
            )
        return name

    def layer_shape(self, layer) -> tuple:
        """(height, width, channels) of a layer's output, None where the size is not fixed."""
        return tuple(self.graph.taps[self.resolve_layer(layer)].shape[1:])

    def channels(self, layer) -> int:
        """Number of channels of a layer's output."""
        return int(self.layer_shape(layer)[-1])

    def check_channel(self, layer, channel, name: str = "channel") -> int:
        """``channel`` as an int if ``layer`` has it, else a ConvVizError naming ``name``."""
        layer = self.resolve_layer(layer)
        return check_index(name, channel, self.channels(layer), f"a channel of layer {layer!r}")

    @functools.cached_property
    def num_classes(self) -> int:
        """Number of classes: the softmax width, or 2 for a single sigmoid unit."""
        graph = self.graph
        shape = tuple(graph.output.shape)
        if len(shape) != 2 or shape[-1] is None:
            raise ConvVizError(
                f"model: expected a classifier whose output is (batch, classes), "
                f"{self.model.name!r} outputs {shape}. Activations and filter patterns work with "
                "any model; class predictions and Grad-CAM need a classifier."
            )
        units = shape[-1]
        expected = "sigmoid" if units == 1 else "softmax"
        if graph.final_activation not in (expected, "linear", None):
            raise ConvVizError(
                f"model: expected a classifier ending in a softmax, a single sigmoid unit or raw "
                f"logits; {self.model.name!r} ends with {units} unit(s) with a "
                f"{graph.final_activation!r} activation."
            )
        return 2 if units == 1 else units

    @property
    def class_names(self) -> list[str]:
        """Human-readable labels for every class (read each time: labels are registered late)."""
        n = self.num_classes
        names = model_info(self.model).class_names
        if names is None and n == 1000:
            names = imagenet_class_names()
        if names is None or len(names) != n:
            names = [f"class {i}" for i in range(n)]
        return list(names)

    def check_class(self, class_index, name: str = "class_index") -> int:
        """``class_index`` as an int if the model has that class, else a ConvVizError."""
        return check_index(name, class_index, self.num_classes, "a class index")


_SPECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_spec(model) -> ModelSpec:
    """The :class:`ModelSpec` of a built keras.Model (made once per model)."""
    spec = _SPECS.get(model)
    if spec is None:
        spec = _SPECS[model] = ModelSpec(model)
    return spec


def input_size(model) -> tuple[int | None, int | None]:
    """The model's (height, width), None where it accepts any size."""
    return model_spec(model).input_size


def conv_layers(model) -> list[str]:
    """Names of the conv and pooling layers in model order; nested ones as "outer/inner"."""
    return list(model_spec(load_model(model)).conv_layers)


def last_conv_layer(model) -> str:
    """The last convolution layer (Grad-CAM's default)."""
    return model_spec(model).last_conv_layer


def resolve_layer(model, layer) -> str:
    """The qualified name of ``layer`` (see ``ModelSpec.resolve_layer``)."""
    return model_spec(model).resolve_layer(layer)


def layer_output_shape(model, layer) -> tuple:
    """(height, width, channels) of a layer's output, None where the size is not fixed."""
    return model_spec(model).layer_shape(layer)


def num_classes(model) -> int:
    """Number of classes: the softmax width, or 2 for a single sigmoid unit."""
    return model_spec(model).num_classes


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in Keras' class index order (shipped, offline)."""
    return tuple(name for _, name in json.loads(_data_path("imagenet_labels.json").read_text()))


def class_names(model) -> list[str]:
    """Human-readable labels for every class of ``model``."""
    return model_spec(model).class_names


def trained_samples(model) -> list[str]:
    """The sample images (``sample_images()`` names) of the kind ``model`` was trained on.

    The embedded default model: the generated shapes. A keras.applications ImageNet classifier:
    the photos. Any other model: none known (an empty list).
    """
    from ..datasets import SHAPE_CLASSES
    from .images import PHOTO_SAMPLES

    info = model_info(model)
    if info.source == DEFAULT_MODEL:
        return list(SHAPE_CLASSES)
    if info.source in APPLICATIONS and info.class_names is not None:
        return list(PHOTO_SAMPLES)
    return []


def default_preprocess(model, preprocess=None) -> Callable:
    """``preprocess`` if given, else the model family's preprocessing (x / 255 by default)."""
    if preprocess is None:
        return model_info(model).preprocess
    if not callable(preprocess):
        raise ConvVizError(
            f"preprocess: expected a callable applied to the float32 batch, got "
            f"{type(preprocess).__name__}."
        )
    return preprocess

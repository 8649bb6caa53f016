"""Reduced-precision twins of a model, for work that runs the same model many times.

``bfloat16_twin(model)`` is a copy of a Functional model (e.g. a ``FlatGraph`` sub-model) whose
convolutional body (every layer whose output keeps spatial axes, rank >= 3) computes in
bfloat16 with float32 variables (Keras' ``mixed_bfloat16`` policy), while the dense head and
the class scores stay float32, as Keras' mixed-precision guide recommends for the last layers.
On hardware with bfloat16 units (AVX512-BF16 or AMX CPUs, recent GPUs) a forward pass costs
about half (measured on this project's CPU: VGG16 at 224 px, 72 vs 142 ms per image); on
hardware without them it is slower. The twin holds a copy of the weights, taken when it is
made. bfloat16 keeps 8 significant bits: the class probabilities move by about 1% (relative).
"""

from __future__ import annotations

from ..errors import ConvVizError
from .backend import import_tensorflow

import_tensorflow()  # before Keras: TensorFlow's native startup log filtered (backend.py)
import keras  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def check_precision(precision) -> str:
    if precision not in PRECISIONS:
        raise ConvVizError(f"precision: expected one of {PRECISIONS}, got {precision!r}.")
    return precision


def _spatial(layer) -> bool:
    try:
        return len(layer.output.shape) >= 3
    except (AttributeError, ValueError):  # no single output
        return False


def bfloat16_twin(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with its spatial layers in ``mixed_bfloat16`` (see the module doc)."""

    def clone(layer):
        config = layer.get_config()
        if _spatial(layer):
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    try:
        twin = keras.models.clone_model(model, clone_function=clone)
        twin.set_weights(model.get_weights())
    except Exception as exc:  # a layer that cannot be rebuilt from its config
        raise ConvVizError(
            "precision='bfloat16': expected a model whose layers can be rebuilt from their "
            f"configs (keras.models.clone_model), but cloning failed: {type(exc).__name__}: {exc}"
        ) from exc
    return twin

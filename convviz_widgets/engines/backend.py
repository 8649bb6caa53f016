"""The engines run on Keras 3 with the TensorFlow backend; say so clearly otherwise."""

from __future__ import annotations

import functools

from ..errors import ConvVizError


@functools.cache
def _backend_name() -> str:
    import keras

    return keras.backend.backend()


def require_tensorflow() -> None:
    """Raise a ConvVizError at first use when Keras runs on another backend."""
    name = _backend_name()
    if name != "tensorflow":
        raise ConvVizError(
            f"Keras backend: convviz_widgets needs the 'tensorflow' backend, but Keras is "
            f"configured with {name!r}. Set KERAS_BACKEND=tensorflow before importing keras "
            f"(or edit ~/.keras/keras.json) and restart the kernel."
        )

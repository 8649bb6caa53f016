"""tf.function with a fixed signature, and an eager fallback for models TF cannot trace."""

from __future__ import annotations

from ..errors import ConvVizError


class Compiled:
    """Call ``fn`` compiled (traced once for ``input_signature``), or eagerly if tracing fails.

    TensorFlow's graph mode rejects some models that run fine eagerly: a layer name with
    non-ASCII characters is not a valid TF name scope. Those models still work, more slowly.
    """

    def __init__(self, fn, input_signature):
        import tensorflow as tf

        self._fn = fn
        self._compiled = tf.function(fn, input_signature=input_signature, autograph=False)
        self.eager = False

    def __call__(self, *args):
        import tensorflow as tf

        try:
            if not self.eager:
                try:
                    return self._compiled(*args)
                except ValueError as exc:
                    if "scope name" not in str(exc):
                        raise
                    self.eager = True
            return self._fn(*args)
        except tf.errors.InvalidArgumentError as exc:  # e.g. an input smaller than a kernel
            raise too_small(args[0].shape, exc.message.splitlines()[0]) from None

    def experimental_get_tracing_count(self) -> int:
        return self._compiled.experimental_get_tracing_count()


def too_small(shape, detail: str) -> ConvVizError:
    h, w = tuple(shape)[1:3]
    return ConvVizError(
        f"image: the model cannot process a {h}x{w} input ({detail}); expected an image "
        "large enough for every conv and pooling layer of the model."
    )


def check_outputs(model, x, outputs: dict) -> None:
    """Refuse layer outputs that do not have the layer's channels or are spatially empty.

    TensorFlow's CPU kernels may return a wrongly shaped map instead of an error when an
    image is smaller than a kernel; this catches that before it is shown as a result.
    """
    from .graph import flat_graph

    taps = flat_graph(model).taps
    for name, value in outputs.items():
        channels = taps[name].shape[-1]
        if value.ndim != 3 or min(value.shape[:2]) < 1 or value.shape[-1] != channels:
            raise too_small(x.shape, f"layer {name!r} gave shape {value.shape}")

"""tf.function with a fixed signature, and an eager fallback for models TF cannot trace."""

from __future__ import annotations


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
        if not self.eager:
            try:
                return self._compiled(*args)
            except ValueError as exc:
                if "scope name" not in str(exc):
                    raise
                self.eager = True
        return self._fn(*args)

    def experimental_get_tracing_count(self) -> int:
        return self._compiled.experimental_get_tracing_count()

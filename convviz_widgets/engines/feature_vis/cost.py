"""What a pattern run will cost before it runs: the target's FLOPs and this machine's rate."""

from __future__ import annotations

import functools
import time

import numpy as np

_CONV = ("Conv2D", "DepthwiseConv2dNative")
_MATMUL = ("MatMul", "BatchMatMulV2", "BatchMatMulV3")


def forward_flops(engine, size: int) -> float:
    """Multiply-adds x 2 of one image's forward pass to the engine's target, at ``size`` px.

    Counted on the traced graph (convolutions and matrix products, which are nearly all of
    it), so the own-filter shortcut and any architecture are counted as they run.
    """
    key = int(size)
    cache = engine.__dict__.setdefault("_flops", {})
    if key not in cache:
        import tensorflow as tf

        side = engine.resize_to or (key, key)
        spec = tf.TensorSpec((1, side[0], side[1], 3), tf.float32)
        fn = tf.function(lambda x: engine._target(x, tf.zeros([1], tf.int32)), autograph=False)
        total = 0.0
        for op in fn.get_concrete_function(spec).graph.get_operations():
            if op.type in _CONV + _MATMUL:
                out = op.outputs[0].shape
                inner = op.inputs[1].shape
                if op.type == "Conv2D":
                    per = inner[0] * inner[1] * inner[2]
                elif op.type == "DepthwiseConv2dNative":
                    per = inner[0] * inner[1]
                else:
                    per = op.inputs[0].shape[-1]
                total += 2.0 * float(np.prod([d or 1 for d in out])) * float(per or 1)
        cache[key] = total
    return cache[key]


@functools.cache
def matmul_rate(n: int = 384, repeats: int = 5) -> float:
    """FLOP/s of a compiled float32 matmul on this machine (best of ``repeats``), measured once."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((n, n), seed=(0, 0))
    f = tf.function(tf.linalg.matmul)
    f(a, a).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, a).numpy()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def estimate_seconds(engine, count: int, size: int, steps: int, rate: float | None = None) -> float:
    """Seconds for ``count`` patterns x ``steps`` steps: forward + backward ~ 3 forward passes."""
    rate = rate or matmul_rate()
    return 3.0 * forward_flops(engine, size) * count * steps / rate

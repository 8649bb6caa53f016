"""Interleaved timing, summaries and the FLOP count of gradient ascent in input space."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def summarize(samples: list[float]) -> dict:
    """Median, min, max and every sample (seconds)."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": list(samples),
    }


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmups: dict[str, Callable[[], object]] | None = None,
) -> dict[str, dict]:
    """Time every function ``repeats`` times, interleaved (A B C, C B A, A B C, ...).

    The machine's load drifts; interleaving spreads the drift over every contender, so the
    ratios between them stay meaningful. ``warmups`` (default: the functions themselves) run
    once each first, for tracing, oneDNN primitive creation and caches.
    """
    names = list(fns)
    for name in names:
        (warmups or {}).get(name, fns[name])()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: summarize(s) for name, s in samples.items()}


def ratio(a: dict, b: dict) -> dict:
    """a / b: the ratio of medians; the range of the repeat-by-repeat (paired) ratios; and the
    ratio of the minima (the least disturbed runs: a hint of the intrinsic ratio under load)."""
    paired = [x / y for x, y in zip(a["samples"], b["samples"])]
    return {
        "value": a["median"] / b["median"],
        "min": min(paired),
        "max": max(paired),
        "of_mins": a["min"] / b["min"],
    }


def scaled(stats: dict, factor: float) -> dict:
    """Stats of a subset run, scaled to the whole (e.g. 8 filters timed, 64 reported)."""
    out = {k: (v * factor if k in ("median", "min", "max") else v) for k, v in stats.items()}
    out["samples"] = [s * factor for s in stats["samples"]]
    out["scaled_by"] = factor
    return out


def gradient_ascent_flops(model, layer_name: str, size: int) -> dict:
    """FLOPs of one gradient-ascent step for ONE image of ``size`` px, up to ``layer_name``.

    For a chain of layers (VGG-style). Per conv layer with output (H, W, C_out), kernel k x k,
    C_in input channels: MACs = H * W * k * k * C_in * C_out, and for every conv BELOW the layer
      forward  = 2 * MACs
      backward = 2 * MACs   w.r.t. the conv's input (down to the first conv: the gradient must
                 reach the image),
    and for the layer itself 2 * MACs / C_out each way: the loss is one output channel's mean,
    so only that channel must be computed and differentiated. This is the least work the
    algorithm needs, so no shortcut can inflate a FLOP rate computed from it. No gradient w.r.t.
    the weights is needed (they are constants here). Bias, ReLU and pooling (element-wise, < 1%
    of the FLOPs) are not counted.
    """
    import keras

    shape = (1, size, size, int(model.inputs[0].shape[-1]))
    forward = backward = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out = tuple(layer.compute_output_shape(shape))
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            macs = float(out[1] * out[2] * kh * kw * shape[-1] * out[-1])
            share = 1.0 / out[-1] if layer.name == layer_name else 1.0
            forward += 2 * macs * share
            backward += 2 * macs * share
        shape = out
        if layer.name == layer_name:
            return {"forward": forward, "backward": backward, "total": forward + backward}
    raise ValueError(f"layer_name: {layer_name!r} not found in {model.name!r}")

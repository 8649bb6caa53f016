"""Engines vs the tutorial's algorithms and vs this machine's limit, side by side in ONE process.

    python -m benchmarks.run [--quick] [--json PATH] [--browser]

Each section checks first that engine and reference compute the same thing, then times them
interleaved (warm-up, then A B / B A repeats), and reports medians with min and max. The
table comes last; the JSON (default benchmarks/results/latest.json) holds every sample.
See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.timing import (  # noqa: E402
    gradient_ascent_flops,
    interleaved,
    ratio,
    scaled,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


@dataclass(frozen=True)
class Config:
    quick: bool
    grid_layers: tuple = ("block1_conv1", "block3_conv1")
    grid_size: int = 64  # px of each filter pattern
    grid_filters: int = 64
    grid_steps: int = 40
    eager_subset: int = 8  # filters timed one at a time in eager mode, scaled to grid_filters
    grid_repeats: int = 3
    check_filters: tuple = (0, 1, 2, 3)
    check_steps: int = 5  # steps compared level for level (see bench_filter_grid)
    cam_size: int = 224
    repeats: int = 15  # for everything that takes well under a second
    matmul_n: int = 2048
    memory_steps: int = 3  # the memory session's grid: memory does not depend on the step count


FULL = Config(quick=False)
QUICK = Config(
    quick=True,
    grid_size=32,
    grid_filters=4,
    grid_steps=3,
    eager_subset=2,
    grid_repeats=1,
    cam_size=32,
    repeats=2,
    matmul_n=512,
    memory_steps=2,
)


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    status: str = "info"  # "met", "MISSED" or "info"
    note: str = ""


@dataclass
class Report:
    config: Config
    rows: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # name -> {"passed": bool, ...}
    sections: dict = field(default_factory=dict)
    todo: list = field(default_factory=list)

    def row(self, section, name, value, unit, target=None, note="", higher_is_better=False):
        """Add a row; ``target`` is a bound (e.g. 1.2), met when value <= it (>= it if higher)."""
        if target is None:
            status, target_text = "info", ""
        else:
            ok = value >= target if higher_is_better else value <= target
            status = "met" if ok else "MISSED"
            target_text = f"{'>=' if higher_is_better else '<='} {_fmt(target)}"
        self.rows.append(Row(section, name, float(value), unit, target_text, status, note))

    def check(self, name: str, passed: bool, **details):
        self.checks[name] = {"passed": bool(passed), **details}
        print(f"  check {name}: {'OK' if passed else 'FAILED'} {details}", flush=True)


def _fmt(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return str(x)
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def _ms(stats: dict) -> str:
    return f"{stats['median'] * 1e3:.1f} ms [{stats['min'] * 1e3:.1f}-{stats['max'] * 1e3:.1f}]"


def _s(stats: dict) -> str:
    return f"{stats['median']:.2f} s [{stats['min']:.2f}-{stats['max']:.2f}]"


def _ratio_note(r: dict) -> str:
    return f"paired {r['min']:.2f}-{r['max']:.2f}, ratio of mins {r['of_mins']:.2f}"


def _vgg16(include_top: bool, size: int | None):
    import keras

    keras.utils.set_random_seed(0)
    shape = None if size is None else (size, size, 3)
    return keras.applications.VGG16(weights=None, include_top=include_top, input_shape=shape)


def _test_image(size: int) -> np.ndarray:
    import convviz_widgets as cvw

    return cvw.load_image(cvw.sample_image("cat"), target_size=(size, size))


def _variants(img: np.ndarray, n: int) -> list:
    """``n`` copies of ``img``, each one pixel different: a new image for every cached engine."""
    out = []
    for i in range(n):
        v = img.copy()
        v[i % v.shape[0], 0, 0] = float((int(v[i % v.shape[0], 0, 0]) + 1 + i // v.shape[0]) % 256)
        out.append(v)
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two patterns; 1.0 when both are flat and equal."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _cycler(items):
    state = {"i": 0}

    def nxt():
        state["i"] += 1
        return items[(state["i"] - 1) % len(items)]

    return nxt


# --------------------------------------------------------------------------- machine limit


def matmul_probe(n: int, per_call: int = 4):
    """() -> None running ``per_call`` compiled n x n float32 matmuls; and the FLOPs it does."""
    from benchmarks.reference import compiled_matmul

    fn, a, b, flops = compiled_matmul(n)
    fn(a, b).numpy()

    def run():
        for _ in range(per_call):
            c = fn(a, b)
        c.numpy()

    return run, flops * per_call


# --------------------------------------------------------------------------- 1. filter grid


def bench_filter_grid(cfg: Config, report: Report) -> None:
    import convviz_widgets as cvw
    from benchmarks import reference as ref

    print("== 1. filter grid", flush=True)
    model = _vgg16(include_top=False, size=None)
    probe, probe_flops = matmul_probe(cfg.matmul_n)
    section = report.sections["filter_grid"] = {}
    size, steps, n = cfg.grid_size, cfg.grid_steps, cfg.grid_filters
    filters = list(range(n))
    subset = filters[: cfg.eager_subset]
    for layer in cfg.grid_layers:
        print(f"-- {layer}", flush=True)
        engine = cvw.FilterPatterns(model, layer)
        extractor = ref.layer_model(model, layer)
        compiled = ref.CompiledFilterPattern(extractor)

        # Same patterns first (this also warms every path up at full step count). Gradient
        # ascent amplifies rounding: the engine computes only each image's own channel of the
        # layer (summed in another order), so patterns agree level for level for the first
        # steps and drift apart by a few levels by step 40, as they would between two BLAS
        # builds. Hence: exact-ish after `check_steps`, and highly correlated after all steps.
        checked = list(cfg.check_filters)
        short = min(cfg.check_steps, steps)
        worst = {"eager": 0, "compiled": 0}
        mean = {"eager": 0.0, "compiled": 0.0}
        corr = {"eager": 1.0, "compiled": 1.0}
        drift = {"eager": 0.0, "compiled": 0.0}
        dead = set()
        for n_steps in dict.fromkeys((short, steps)):
            ours = engine.generate(checked, size=size, steps=n_steps)
            for i, f in enumerate(checked):
                if ours[i].min() == ours[i].max():  # a dead filter: the engine shows flat gray,
                    dead.add(f)  # the book's code its starting noise (by design, see the engine)
                    continue
                for name, theirs in (
                    ("eager", ref.filter_pattern_eager(extractor, f, size, n_steps)),
                    ("compiled", compiled(f, size, n_steps)),
                ):
                    diff = np.abs(ours[i].astype(int) - theirs.astype(int))
                    if n_steps == short:
                        worst[name] = max(worst[name], int(diff.max()))
                        mean[name] = max(mean[name], float(diff.mean()))
                    if n_steps == steps:
                        drift[name] = max(drift[name], float(diff.mean()))
                        corr[name] = min(corr[name], _correlation(ours[i], theirs))
        report.check(
            f"filter_patterns.{layer}",
            len(dead) < len(checked)
            and all(worst[k] <= 2 and mean[k] <= 0.05 and corr[k] >= 0.98 and drift[k] <= 3.0
                    for k in worst),
            filters=checked,
            dead_filters_not_compared=sorted(dead),
            short_steps=short,
            short_max_abs_diff_uint8=worst,
            short_mean_abs_diff_uint8=mean,
            full_steps=steps,
            full_min_correlation=corr,
            full_mean_abs_diff_uint8=drift,
            tolerance=f"after {short} steps max <= 2, mean <= 0.05 (uint8 levels); after "
                      f"{steps} steps correlation >= 0.98 and mean <= 3 levels",
        )

        times = interleaved(
            {
                "engine": lambda: engine.generate(filters, size=size, steps=steps),
                "compiled": lambda: [compiled(f, size, steps) for f in filters],
                "eager_subset": lambda: [
                    ref.filter_pattern_eager(extractor, f, size, steps) for f in subset
                ],
                "matmul": probe,
            },
            repeats=cfg.grid_repeats,
            warmups={
                "engine": lambda: engine.generate(filters, size=size, steps=1),
                "compiled": lambda: compiled(0, size, 1),
                "eager_subset": lambda: ref.filter_pattern_eager(extractor, 0, size, 1),
            },
        )
        times["eager"] = scaled(times["eager_subset"], n / len(subset))
        matmul_rate = probe_flops / times["matmul"]["median"]
        flops = gradient_ascent_flops(model, layer, size)
        total = flops["total"] * n * steps
        eff = {k: total / times[k]["median"] / matmul_rate for k in ("engine", "compiled", "eager")}
        vs_eager = ratio(times["eager"], times["engine"])
        vs_compiled = ratio(times["compiled"], times["engine"])
        section[layer] = {
            "times": times,
            "flops_per_image_step": flops,
            "flops_total": total,
            "matmul_rate_flops": matmul_rate,
            "efficiency": eff,
            "speedup_vs_eager": vs_eager,
            "speedup_vs_compiled": vs_compiled,
        }
        what = f"{layer} {n}x{size}px {steps} steps"
        s = "1 filter grid"
        report.row(s, f"{what}: engine", times["engine"]["median"], "s", note=_s(times["engine"]))
        report.row(s, f"{what}: compiled one-at-a-time (b)", times["compiled"]["median"], "s",
                   note=_s(times["compiled"]))
        report.row(s, f"{what}: eager one-at-a-time (a)", times["eager"]["median"], "s",
                   note=f"{_s(times['eager'])}; {len(subset)} filters timed, x{n / len(subset):g}")
        report.row(s, f"{layer}: speed-up vs eager one-at-a-time", vs_eager["value"], "x", 4.0,
                   _ratio_note(vs_eager), higher_is_better=True)
        report.row(s, f"{layer}: speed-up vs compiled one-at-a-time", vs_compiled["value"], "x",
                   1.3, _ratio_note(vs_compiled), higher_is_better=True)
        report.row(s, f"{layer}: engine FLOP rate / matmul rate", eff["engine"] * 100, "%",
                   75.0 if layer == "block3_conv1" else None,
                   f"{total / times['engine']['median'] / 1e9:.0f} GFLOP/s of "
                   f"{matmul_rate / 1e9:.0f} (matmul {cfg.matmul_n}^2, same run); "
                   f"{flops['total'] / 1e9:.3g} GFLOP per image-step",
                   higher_is_better=True)
        report.row(s, f"{layer}: compiled / eager FLOP rate / matmul rate", eff["compiled"] * 100,
                   "%", note=f"eager {eff['eager'] * 100:.0f}%")


# --------------------------------------------------------------------------- 2. Grad-CAM


def bench_gradcam(cfg: Config, report: Report, model, img) -> None:
    import keras

    import convviz_widgets as cvw
    from benchmarks import reference as ref
    print("== 2. Grad-CAM", flush=True)
    preprocess = keras.applications.vgg16.preprocess_input
    x = preprocess(img[None].copy())
    cam = cvw.GradCAM(model, preprocess=preprocess, score="logit")
    cam_p = cvw.GradCAM(model, preprocess=preprocess, score="probability")
    gm_logit = ref.grad_model(model, cam.layer, logits=True)
    gm_prob = ref.grad_model(model, cam.layer, logits=False)

    # Same heatmaps first: logit vs the logit reference, probability vs the tutorial's code.
    top = cam.top_classes(img, k=5)
    classes = [top[0], top[1], int(np.argsort(cam.scores)[len(cam.scores) // 2])]
    worst = {"logit": 0.0, "probability": 0.0}
    nan_ref = 0
    for k in classes:
        for name, engine, gm in (("logit", cam, gm_logit), ("probability", cam_p, gm_prob)):
            theirs = ref.gradcam_eager(gm, x, k)
            if not np.all(np.isfinite(theirs)):  # the tutorial's 0/0 when the map is all <= 0
                nan_ref += 1
                theirs = np.nan_to_num(theirs)
            worst[name] = max(worst[name], float(np.abs(engine.compute(img, k) - theirs).max()))
    report.check("gradcam.same_heatmaps", max(worst.values()) <= 1e-3, classes=classes,
                 max_abs_diff=worst, tolerance=1e-3, reference_nan_maps=nan_ref)

    forward = ref.compiled_forward(model)
    xt = keras.ops.convert_to_tensor(x)
    variants = _variants(img, 2 * cfg.repeats + 4)
    new_image = _cycler(variants)
    times = interleaved(
        {
            "forward": lambda: forward(xt).numpy(),
            "engine_new_image": lambda: cam.compute(new_image()),
            "eager_reference": lambda: ref.gradcam_eager(gm_logit, x),
        },
        repeats=cfg.repeats,
    )
    # Same image, classes never asked before (the engine caches the features, not the maps).
    cam.compute(img)
    others = [int(k) for k in np.argsort(-cam.scores)[5:5 + 4 * cfg.repeats + 8]]
    other = _cycler(others)
    warm = interleaved(
        {
            "class_switch": lambda: cam.compute(img, other()),
            "one_map": lambda: cam.compute_many(img, [other()]),
            "top5": lambda: cam.compute_many(img, top),
        },
        repeats=max(cfg.repeats, 5),
    )
    parts = _gradcam_breakdown(cam, model, img, preprocess, xt, top, others[0], cfg)
    one_vs_fwd = ratio(times["engine_new_image"], times["forward"])
    eager_vs_fwd = ratio(times["eager_reference"], times["forward"])
    top5_vs_one = ratio(warm["top5"], warm["one_map"])
    report.sections["gradcam"] = {
        "times": times,
        "same_image": warm,
        "breakdown": parts,
        "one_class_vs_forward": one_vs_fwd,
        "eager_reference_vs_forward": eager_vs_fwd,
        "top5_vs_one": top5_vs_one,
        "layer": cam.layer,
        "size": cfg.cam_size,
    }
    s = "2 Grad-CAM"
    sz = f"{cfg.cam_size}px"
    report.row(s, f"compiled forward (d), {sz}", times["forward"]["median"] * 1e3, "ms",
               note=_ms(times["forward"]))
    report.row(s, "engine, one class, new image", times["engine_new_image"]["median"] * 1e3, "ms",
               note=_ms(times["engine_new_image"]))
    report.row(s, "one class / compiled forward", one_vs_fwd["value"], "x", 1.2,
               _ratio_note(one_vs_fwd))
    report.row(s, "eager grad_model reference (c) / forward", eager_vs_fwd["value"], "x",
               note=f"{_ms(times['eager_reference'])}; {_ratio_note(eager_vs_fwd)}")
    report.row(s, "class switch, same image", warm["class_switch"]["median"] * 1e3, "ms", 10.0,
               _ms(warm["class_switch"]))
    report.row(s, "top-5 maps, same image", warm["top5"]["median"] * 1e3, "ms",
               note=_ms(warm["top5"]))
    report.row(s, "top-5 maps / one map (same image)", top5_vs_one["value"], "x",
               note=f"top-5 {_ms(warm['top5'])}; one {_ms(warm['one_map'])}")
    for name, st in parts.items():
        report.row(s, f"  breakdown: {name}", st["median"] * 1e3, "ms", note=_ms(st))


def _gradcam_breakdown(cam, model, img, preprocess, xt, top, other, cfg) -> dict:
    """Where a Grad-CAM call's time goes, for the engine owner. Uses the engine's private
    compiled steps (``_forward``, ``_maps``, ``_features``); {} if they are not there."""
    import keras
    from tensorflow import nest

    from convviz_widgets.engines.batch import content_key, model_batch

    flatten = nest.flatten
    if not all(hasattr(cam, a) for a in ("_forward", "_maps", "_features")) or not getattr(
        cam, "split", False
    ):
        return {}
    cam.compute(img)
    feats = cam._features
    k_one = keras.ops.convert_to_tensor(np.asarray([other], np.int32))
    k_top = keras.ops.convert_to_tensor(np.asarray(top, np.int32))
    return interleaved(
        {
            "model_batch+content_key": lambda: content_key(model_batch(model, img, preprocess)),
            "engine_forward(body+head)": lambda: [t.numpy() for t in flatten(cam._forward(xt))],
            "head_maps_1_class": lambda: cam._maps(*feats, k_one).numpy(),
            "head_maps_5_classes": lambda: cam._maps(*feats, k_top).numpy(),
        },
        repeats=max(cfg.repeats, 5),
    )


# --------------------------------------------------------------------------- 3. activations


def bench_activations(cfg: Config, report: Report, model, img) -> None:
    import keras

    import convviz_widgets as cvw
    from benchmarks import reference as ref
    from convviz_widgets import render

    print("== 3. activations", flush=True)
    preprocess = keras.applications.vgg16.preprocess_input
    x = preprocess(img[None].copy())
    xt = keras.ops.convert_to_tensor(x)
    act = cvw.Activations(model, preprocess=preprocess)
    maps = act.compute(img)
    # Same values as a plain sub-model of the tutorial (model.inputs -> every layer's output).
    theirs = ref.compiled_forward(model, [model.get_layer(n).output for n in act.layers])(xt)
    worst = 0.0
    for name, t in zip(act.layers, theirs):
        t = t.numpy()[0]
        worst = max(worst, float(np.abs(maps[name] - t).max() / (np.abs(t).max() + 1e-12)))
    report.check("activations.same_values", worst <= 1e-5, layers=len(act.layers),
                 max_rel_diff=worst, tolerance=1e-5)

    last = act.layers[-1]
    forward_full = ref.compiled_forward(model)
    forward_body = ref.compiled_forward(model, model.get_layer(last).output)
    new_image = _cycler(_variants(img, 2 * cfg.repeats + 4))
    times = interleaved(
        {
            "forward_full": lambda: forward_full(xt).numpy(),
            "forward_to_last": lambda: forward_body(xt).numpy(),
            "engine_all_layers": lambda: act.compute(new_image()),
        },
        repeats=cfg.repeats,
    )
    vs_full = ratio(times["engine_all_layers"], times["forward_full"])
    vs_body = ratio(times["engine_all_layers"], times["forward_to_last"])

    # Switching layer or channel: no model call, frame + PNG exactly as ActivationExplorer does.
    maps = act.compute(img)
    frames = {}
    from convviz_widgets.render.activations import grid_cell_size
    from convviz_widgets.widgets.activation_explorer import ActivationExplorer

    png_filter = ActivationExplorer.png_filter
    for name, fmap in maps.items():
        h, w, c = fmap.shape
        cell = grid_cell_size(h, w)  # the explorer's grid view: 40..96 px cells
        chans = _cycler(list(range(c)))
        fr = interleaved(
            {
                "channel": lambda: render.encode_png(
                    render.channel_frame(fmap, chans(), size=320), png_filter=png_filter
                ),
                "grid": lambda: render.encode_png(
                    render.grid_frame(fmap, highlight=chans(), cell_size=cell)[0],
                    png_filter=png_filter,
                ),
            },
            repeats=max(cfg.repeats, 5),
        )
        grid_shape = render.grid_frame(fmap, cell_size=cell)[0].shape
        frames[name] = {"shape": list(fmap.shape), "grid_frame_shape": list(grid_shape), **fr}

    report.sections["activations"] = {
        "times": times,
        "vs_forward_full": vs_full,
        "vs_forward_to_last": vs_body,
        "frames": frames,
    }
    s = "3 activations"
    report.row(s, f"engine, all {len(act.layers)} conv/pool layers, new image",
               times["engine_all_layers"]["median"] * 1e3, "ms", note=_ms(times["engine_all_layers"]))
    report.row(s, f"all layers / compiled forward to {last}", vs_body["value"], "x", 1.3,
               f"forward to {last} {_ms(times['forward_to_last'])}; {_ratio_note(vs_body)}")
    report.row(s, "all layers / compiled full-model forward", vs_full["value"], "x",
               note=f"full forward {_ms(times['forward_full'])}; {_ratio_note(vs_full)}")
    worst_channel = max(frames, key=lambda n: frames[n]["channel"]["median"])
    report.row(s, "channel frame + PNG, slowest layer", frames[worst_channel]["channel"]["median"]
               * 1e3, "ms", 5.0, f"{worst_channel} {tuple(frames[worst_channel]['shape'])}, "
               f"{_ms(frames[worst_channel]['channel'])}; median over layers "
               f"{np.median([f['channel']['median'] for f in frames.values()]) * 1e3:.2f} ms")
    for name, f in frames.items():
        if f["shape"][2] == 64:
            gs = f["grid_frame_shape"]
            report.row(s, f"64-channel grid frame + PNG, {name}", f["grid"]["median"] * 1e3, "ms",
                       30.0, f"{gs[1]}x{gs[0]} px frame; {_ms(f['grid'])}")
    worst_grid = max(frames, key=lambda n: frames[n]["grid"]["median"])
    gs = frames[worst_grid]["grid_frame_shape"]
    report.row(s, f"grid frame + PNG, slowest layer ({worst_grid})",
               frames[worst_grid]["grid"]["median"] * 1e3, "ms",
               note=f"{frames[worst_grid]['shape'][2]} channels, {gs[1]}x{gs[0]} px")


# --------------------------------------------------------------------------- 4. browser


def bench_browser(cfg: Config, report: Report) -> None:
    from benchmarks.browser import measure_latency

    print("== 4. browser", flush=True)
    result = measure_latency(cfg)
    report.sections["browser"] = result
    s = "4 browser"
    if "skipped" in result:
        report.todo.append(f"browser latency not measured: {result['skipped']}")
        return
    targets = {"channel_switch": 60.0, "layer_switch_grid": 150.0, "class_switch": 100.0}
    for name, target in targets.items():
        st = result[name]
        report.row(s, f"key press -> pixels: {name.replace('_', ' ')}", st["median"] * 1e3, "ms",
                   target, _ms(st))


# --------------------------------------------------------------------------- 5. memory


def bench_memory(cfg: Config, report: Report) -> None:
    print("== 5. memory (child process)", flush=True)
    cmd = [
        sys.executable, "-m", "benchmarks.memory_session",
        "--size", str(cfg.cam_size),
        "--grid-size", str(cfg.grid_size),
        "--filters", str(cfg.grid_filters),
        "--steps", str(cfg.memory_steps),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory session failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    report.sections["memory"] = result
    s = "5 memory"
    stages = result["stages"]
    for stage in stages:
        report.row(s, f"peak RSS after {stage['stage']}", stage["peak_rss_mb"], "MB",
                   note=f"current {stage['rss_mb']:.0f} MB" if stage.get("rss_mb") else "")
    report.row(s, "session peak RSS (explore every layer + one grid)", result["peak_rss_mb"], "MB",
               note=f"VGG16 {cfg.cam_size}px, {result['layers']} layers, grid "
               f"{cfg.grid_filters}x{cfg.grid_size}px ({cfg.memory_steps} steps)")


# --------------------------------------------------------------------------- table & main


def _load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load1": one, "load5": five, "load15": fifteen, "cpus": os.cpu_count()}


def _meta(cfg: Config) -> dict:
    import keras
    import tensorflow as tf

    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        rev = ""
    return {
        "quick": cfg.quick,
        "config": asdict(cfg),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "git": rev,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_start": _load(),
    }


def table(report: Report, meta: dict) -> str:
    head = ("section", "measurement", "value", "target", "status", "notes")
    body = [
        (r.section, r.name, f"{_fmt(r.value)} {r.unit}", r.target, r.status, r.note)
        for r in report.rows
    ]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(5)]
    lines = []
    for line in [head, *body]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths)) + "  " + line[5])
        if line is head:
            lines.append("-" * (sum(widths) + 2 * 5 + 10))
    ls, le = meta["load_start"], meta["load_end"]
    lines.append("")
    lines.append(
        f"load average (1/5/15 min) at start {ls['load1']:.1f}/{ls['load5']:.1f}/{ls['load15']:.1f}, "
        f"at end {le['load1']:.1f}/{le['load5']:.1f}/{le['load15']:.1f} on {ls['cpus']} CPUs; "
        f"TF {meta['tensorflow']}, Keras {meta['keras']}, git {meta['git']}; "
        f"{'QUICK mode (tiny sizes, not the targets)' if meta['quick'] else 'full sizes'}"
    )
    failed = [k for k, v in report.checks.items() if not v["passed"]]
    lines.append(f"equality checks: {len(report.checks) - len(failed)}/{len(report.checks)} passed"
                 + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    missed = [r.name for r in report.rows if r.status == "MISSED"]
    lines.append(f"targets: {sum(r.status == 'met' for r in report.rows)} met, {len(missed)} MISSED")
    for item in report.todo:
        lines.append(f"TODO: {item}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"default: {DEFAULT_JSON}")
    parser.add_argument("--browser", action="store_true", help="also key-press-to-pixels latency")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["grid", "gradcam", "activations", "browser", "memory"],
                        help="run only these sections")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    only = set(args.only or ["grid", "gradcam", "activations", "memory"])
    if args.browser:
        only.add("browser")

    meta = _meta(cfg)
    report = Report(cfg)
    started = time.perf_counter()
    if "grid" in only:
        bench_filter_grid(cfg, report)
    if only & {"gradcam", "activations"}:
        model = _vgg16(include_top=True, size=None if cfg.cam_size == 224 else cfg.cam_size)
        img = _test_image(cfg.cam_size)
        if "gradcam" in only:
            bench_gradcam(cfg, report, model, img)
        if "activations" in only:
            bench_activations(cfg, report, model, img)
    if "browser" in only:
        bench_browser(cfg, report)
    else:
        report.todo.append("browser latency: run with --browser")
    if "memory" in only:
        bench_memory(cfg, report)
    meta["load_end"] = _load()
    meta["seconds"] = time.perf_counter() - started

    out = {
        "meta": meta,
        "checks": report.checks,
        "rows": [asdict(r) for r in report.rows],
        "todo": report.todo,
        **report.sections,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float))
    print()
    print(table(report, meta))
    print(f"\nJSON: {args.json}  ({meta['seconds']:.0f} s)")
    return 0 if all(v["passed"] for v in report.checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

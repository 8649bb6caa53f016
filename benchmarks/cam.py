"""The CAM family and the faithfulness metrics against a compiled forward pass, in ONE run.

    python -m benchmarks.cam [--quick] [--json PATH] [--tfkv PATH]

Same method as benchmarks/run.py (checks first, then interleaved timing, medians, ratios
taken in the same run). Model: VGG16(weights=None) with its Flatten -> Dense top, seeded; the
cat sample at 224 px, VGG16's preprocess_input. Rows (see benchmarks/README.md, "CAM family"):

- every gradient method's map of a NEW image / compiled forward (target <= 1.25x);
- a class switch on the same image / compiled forward (target <= 10% for split heads);
- Score-CAM over all 512 channels of block5_conv3 / 512 images through the compiled forward in
  batches of 32 (target <= 1.25x), and tf-keras-vis' Scorecam side by side when it can be
  imported (``--tfkv DIR`` puts DIR on sys.path for this benchmark only);
- deletion with 50 steps / 51 images through the compiled forward in the same batches (<= 1.25x).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.run import (  # noqa: E402
    Report,
    _cycler,
    _load,
    _meta,
    _ms,
    _ratio_note,
    _s,
    _test_image,
    _variants,
    _vgg16,
    table,
)
from benchmarks.timing import interleaved, ratio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "cam.json"
GRADIENT_METHODS = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam")


@dataclass(frozen=True)
class Config:
    quick: bool
    cam_size: int = 224
    repeats: int = 15
    score_repeats: int = 1  # Score-CAM over 512 channels: ~0.5 min per run on 2 cores
    score_batch: int = 32
    deletion_steps: int = 50
    deletion_batch: int = 16
    deletion_repeats: int = 3


FULL = Config(quick=False)
QUICK = Config(quick=True, cam_size=32, repeats=2, deletion_steps=5, deletion_repeats=1)


def _oracle_maps(model, layer, x, k):
    """Every gradient method's map from ONE eager tape through the whole model (numpy maths)."""
    import keras
    import tensorflow as tf

    final = model.layers[-1]
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, final.input])
    with tf.GradientTape() as tape:
        a, h = grad_model(x)
        score = (h @ final.kernel + final.bias)[0, k]
    g = tape.gradient(score, a).numpy()[0].astype(np.float64)
    a = a.numpy()[0].astype(np.float64)

    def finish(raw):
        raw = np.maximum(raw, 0)
        return raw / raw.max() if raw.max() > 0 else raw

    s = a.sum(axis=(0, 1))
    denominator = 2 * g**2 + s * g**3
    alpha = g**2 / np.where(denominator == 0, 1.0, denominator)
    weights = {
        "gradcam": g.mean(axis=(0, 1)),
        "gradcam++": (alpha * np.maximum(g, 0)).sum(axis=(0, 1)),
        "xgradcam": (a * g).sum(axis=(0, 1)) / (s + 1e-7),
    }
    maps = {m: finish(a @ w) for m, w in weights.items()}
    maps["layercam"] = finish((np.maximum(g, 0) * a).sum(-1))
    maps["hirescam"] = finish((g * a).sum(-1))
    return maps


def bench_gradient_methods(cfg, report, model, img, preprocess, forward, xt):
    import convviz_widgets as cvw

    print("== 1. gradient methods", flush=True)
    engines = {m: cvw.cam(model, m, preprocess=preprocess) for m in GRADIENT_METHODS}
    x = preprocess(img[None].copy())
    top = engines["gradcam"].top_classes(img, 3)
    worst = {}
    for k in top[:2]:
        want = _oracle_maps(model, engines["gradcam"].layer, x, k)
        for m, engine in engines.items():
            worst[m] = max(worst.get(m, 0.0), float(np.abs(engine.compute(img, k) - want[m]).max()))
    report.check("cam.gradient_methods_equal_the_tape", max(worst.values()) <= 1e-3,
                 classes=top[:2], max_abs_diff=worst, tolerance=1e-3,
                 executors={m: e.executor.mode for m, e in engines.items()})

    new_image = {m: _cycler(_variants(img, 2 * cfg.repeats + 4)) for m in engines}
    fns = {"forward": lambda: forward(xt).numpy()}
    fns.update({m: (lambda m=m: engines[m].compute(new_image[m]())) for m in engines})
    times = interleaved(fns, repeats=cfg.repeats)
    for e in engines.values():
        e.compute(img)
    others = [int(k) for k in np.argsort(-engines["gradcam"].scores)[3:3 + 4 * cfg.repeats + 8]]
    switch_fns = {"forward": lambda: forward(xt).numpy()}
    # the floor of a per-position switch: fc1's kernel times one vector (every g needs it)
    import tensorflow as tf

    kernel = engines["gradcam"].fold.dense.kernel if engines["gradcam"].fold else None
    if kernel is not None:
        dz = tf.constant(np.random.default_rng(0).standard_normal((1, kernel.shape[1])), tf.float32)
        matvec = tf.function(lambda v: tf.matmul(v, kernel, transpose_b=True))
        matvec(dz)
        switch_fns["fc1_kernel_times_vector"] = lambda: matvec(dz).numpy()
    cyclers = {m: _cycler(others) for m in engines}
    switch_fns.update({m: (lambda m=m: engines[m].compute(img, cyclers[m]())) for m in engines})
    switch = interleaved(switch_fns, repeats=max(cfg.repeats, 5))
    section = report.sections["cam_gradient"] = {"new_image": times, "class_switch": switch}
    s = "C1 gradient CAMs"
    report.row(s, f"compiled forward, {cfg.cam_size}px", times["forward"]["median"] * 1e3, "ms",
               note=_ms(times["forward"]))
    for m, engine in engines.items():
        r = ratio(times[m], times["forward"])
        sw = ratio(switch[m], switch["forward"])
        section[m] = {"new_image_vs_forward": r, "switch_vs_forward": sw, "executor": engine.executor.mode}
        report.row(s, f"{m}: new image / forward", r["value"], "x", 1.25,
                   f"{_ms(times[m])}; {_ratio_note(r)}; executor {engine.executor.mode}")
        report.row(s, f"{m}: class switch / forward", sw["value"] * 100, "%",
                   10.0 if engine.split else None, f"{_ms(switch[m])}; {_ratio_note(sw)}")
    if "fc1_kernel_times_vector" in switch:
        floor = ratio(switch["fc1_kernel_times_vector"], switch["forward"])
        section["fc1_kernel_times_vector_vs_forward"] = floor
        report.row(s, "floor of a per-position switch: fc1 kernel x vector / forward",
                   floor["value"] * 100, "%",
                   note=f"{_ms(switch['fc1_kernel_times_vector'])}; {_ratio_note(floor)}")


def _tfkv(path):
    """tf-keras-vis' Scorecam, or the reason it cannot be used here."""
    if path:
        sys.path.insert(0, str(path))
    try:
        import keras
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.scores import CategoricalScore

        keras.utils.disable_interactive_logging()  # its model.predict prints a progress bar
        return Scorecam, CategoricalScore, None
    except Exception as exc:  # not installed, or not working with this Keras
        return None, None, f"{type(exc).__name__}: {exc}"


def bench_scorecam(cfg, report, model, img, preprocess, forward, tfkv_path):
    import keras

    import convviz_widgets as cvw

    print("== 2. Score-CAM", flush=True)
    layer = "block5_conv3"
    engine = cvw.ScoreCAM(model, layer=layer, preprocess=preprocess, batch_size=cfg.score_batch)
    channels = engine.channels
    x = preprocess(img[None].copy())
    batches = [keras.ops.convert_to_tensor(np.repeat(x, min(cfg.score_batch, channels - i), 0))
               for i in range(0, channels, cfg.score_batch)]

    def reference():  # `channels` images through the compiled forward, in the same batches
        for b in batches:
            forward(b).numpy()

    # check: the engine's weights of 4 channels equal masked passes done by hand
    probe = cvw.ScoreCAM(model, layer=layer, preprocess=preprocess, max_channels=4)
    k = probe.top_classes(img, 1)[0]
    w = probe.channel_weights(img, k)
    a = keras.Model(model.inputs, model.get_layer(layer).output)(x).numpy()[0]
    chosen = np.flatnonzero(w)
    import cv2

    hand = []
    for c in chosen:
        up = cv2.resize(a[:, :, c], x.shape[1:3][::-1], interpolation=cv2.INTER_LINEAR)
        span = up.max() - up.min()
        mask = (up - up.min()) / span if span > 0 else np.zeros_like(up)
        hand.append(float(model(x * mask[None, :, :, None]).numpy()[0, k]))
    diff = float(np.abs(w[chosen] - np.array(hand)).max()) if len(chosen) else 0.0
    report.check("cam.scorecam_weights", len(chosen) > 0 and diff <= 1e-4, channels=chosen.tolist(),
                 max_abs_diff=diff, tolerance=1e-4)

    # the bfloat16 twin (precision="bfloat16"): its map and weights beside float32's
    fast = cvw.ScoreCAM(model, layer=layer, preprocess=preprocess, batch_size=cfg.score_batch,
                        precision="bfloat16")
    m32, m16 = engine.compute(img, k), fast.compute(img, k)
    w32, w16 = engine.channel_weights(img, k), fast.channel_weights(img, k)
    agreement = {"map_max_abs_diff": float(np.abs(m16 - m32).max()),
                 "map_correlation": float(np.corrcoef(m16.ravel(), m32.ravel())[0, 1]),
                 "weights_max_rel_diff": float((np.abs(w16 - w32) / np.maximum(np.abs(w32), 1e-12)).max())}
    report.check("cam.scorecam_bfloat16_agrees", agreement["map_correlation"] >= 0.99, **agreement)
    fast_probe = cvw.ScoreCAM(model, layer=layer, preprocess=preprocess, max_channels=4,
                              precision="bfloat16")

    new_image = _cycler(_variants(img, 8))
    fns = {"engine": lambda: engine.compute(new_image()), "forward_batches": reference,
           "engine_bfloat16": lambda: fast.compute(new_image())}
    warm = {"engine": lambda: probe.compute(new_image()), "forward_batches": lambda: forward(batches[0]),
            "engine_bfloat16": lambda: fast_probe.compute(new_image())}
    Scorecam, CategoricalScore, why = _tfkv(tfkv_path)
    if Scorecam is not None:
        theirs = Scorecam(model, clone=False)
        fns["tf_keras_vis"] = lambda: theirs(CategoricalScore([k]), x, penultimate_layer=layer,
                                             batch_size=cfg.score_batch)
        warm["tf_keras_vis"] = lambda: theirs(CategoricalScore([k]), x, penultimate_layer=layer,
                                              batch_size=cfg.score_batch, max_N=2)
    times = interleaved(fns, repeats=cfg.score_repeats, warmups=warm)
    r = ratio(times["engine"], times["forward_batches"])
    report.sections["cam_scorecam"] = {"times": times, "engine_vs_forward": r, "channels": channels,
                                       "tf_keras_vis": why or "ran"}
    s = "C2 Score-CAM"
    report.row(s, f"engine, {channels} channels of {layer}", times["engine"]["median"], "s",
               note=_s(times["engine"]))
    report.row(s, f"{channels} images through the compiled forward, batches of {cfg.score_batch}",
               times["forward_batches"]["median"], "s", note=_s(times["forward_batches"]))
    report.row(s, "engine / forward batches", r["value"], "x", 1.25, _ratio_note(r))
    b = ratio(times["engine_bfloat16"], times["forward_batches"])
    report.sections["cam_scorecam"].update(bfloat16_vs_forward=b, bfloat16_agreement=agreement)
    report.row(s, "engine, precision='bfloat16'", times["engine_bfloat16"]["median"], "s",
               note=f"{_s(times['engine_bfloat16'])}; map vs float32: correlation "
                    f"{agreement['map_correlation']:.4f}, max |diff| {agreement['map_max_abs_diff']:.3f}")
    report.row(s, "engine bfloat16 / float32 forward batches", b["value"], "x", note=_ratio_note(b))
    if Scorecam is not None:
        t = ratio(times["tf_keras_vis"], times["engine"])
        t16 = ratio(times["tf_keras_vis"], times["engine_bfloat16"])
        report.sections["cam_scorecam"].update(tf_keras_vis_vs_engine=t,
                                               tf_keras_vis_vs_engine_bfloat16=t16)
        report.row(s, "tf-keras-vis Scorecam", times["tf_keras_vis"]["median"], "s",
                   note=_s(times["tf_keras_vis"]))
        report.row(s, "speed-up vs tf-keras-vis Scorecam, float32", t["value"], "x", 2.0,
                   _ratio_note(t), higher_is_better=True)
        report.row(s, "speed-up vs tf-keras-vis Scorecam, precision='bfloat16'", t16["value"], "x",
                   2.0, _ratio_note(t16), higher_is_better=True)
    else:
        report.todo.append(f"tf-keras-vis Scorecam not run: {why}")


def bench_deletion(cfg, report, model, img, preprocess, forward):
    import keras

    import convviz_widgets as cvw

    print("== 3. deletion", flush=True)
    steps, b = cfg.deletion_steps, cfg.deletion_batch
    gradcam = cvw.GradCAM(model, preprocess=preprocess)
    heat = gradcam.compute(img)
    k = gradcam.top_classes(img, 1)[0]
    x = preprocess(img[None].copy())
    batches = [keras.ops.convert_to_tensor(np.repeat(x, min(b, steps + 1 - i), 0))
               for i in range(0, steps + 1, b)]

    def reference():
        for batch in batches:
            forward(batch).numpy()

    def engine():
        return cvw.metrics.deletion(model, img, heat, k, steps=steps, preprocess=preprocess,
                                    batch_size=b)

    curve = engine()
    report.check("cam.deletion_curve", curve.probabilities.shape == (steps + 1,)
                 and bool(np.all(np.isfinite(curve.probabilities))), auc=curve.auc)
    times = interleaved({"engine": engine, "forward_batches": reference}, repeats=cfg.deletion_repeats)
    r = ratio(times["engine"], times["forward_batches"])
    report.sections["cam_deletion"] = {"times": times, "engine_vs_forward": r}
    s = "C3 deletion"
    report.row(s, f"deletion, {steps} steps", times["engine"]["median"], "s", note=_s(times["engine"]))
    report.row(s, f"{steps + 1} images through the compiled forward, batches of {b}",
               times["forward_batches"]["median"], "s", note=_s(times["forward_batches"]))
    report.row(s, "deletion / forward batches", r["value"], "x", 1.25, _ratio_note(r))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cam", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"default: {DEFAULT_JSON}")
    parser.add_argument("--tfkv", type=Path, default=None,
                        help="a folder holding tf_keras_vis (pip install --target DIR tf-keras-vis)")
    parser.add_argument("--only", nargs="*", default=None, choices=["gradient", "scorecam", "deletion"])
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    only = set(args.only or ["gradient", "scorecam", "deletion"])

    import keras

    from benchmarks import reference as ref

    meta = _meta(cfg)
    report = Report(cfg)
    started = time.perf_counter()
    model = _vgg16(include_top=True, size=None if cfg.cam_size == 224 else cfg.cam_size)
    img = _test_image(cfg.cam_size)
    preprocess = keras.applications.vgg16.preprocess_input
    forward = ref.compiled_forward(model)
    xt = keras.ops.convert_to_tensor(preprocess(img[None].copy()))
    if "gradient" in only:
        bench_gradient_methods(cfg, report, model, img, preprocess, forward, xt)
    if "scorecam" in only:
        bench_scorecam(cfg, report, model, img, preprocess, forward, args.tfkv)
    if "deletion" in only:
        bench_deletion(cfg, report, model, img, preprocess, forward)
    meta["load_end"] = _load()
    meta["seconds"] = time.perf_counter() - started
    out = {"meta": meta, "checks": report.checks, "rows": [asdict(r) for r in report.rows],
           "todo": report.todo, **report.sections}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float))
    print()
    print(table(report, meta))
    print(f"\nJSON: {args.json}  ({meta['seconds']:.0f} s)")
    return 0 if all(v["passed"] for v in report.checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Which map should I believe? Every CAM method's faithfulness on the embedded default model.

    python -m benchmarks.faithfulness [--n 200] [--seed 9001] [--steps 50] [--json PATH]

On ``n`` fresh ``datasets.shapes`` images (seed 9001: training uses tuple seeds (seed, 1, epoch,
step) and (seed, 2), the training script's final evaluation seed 2024; 9001 is none of them),
for the labelled class of each image and every method of ``CAM_METHODS``: deletion AUC (lower
is better), insertion AUC (higher is better), average drop (lower is better) and how often the
masked image's probability increased, and the pointing game (the map's peak within 15 px of the
shape's mask). Prints a Markdown table (the README's) and writes the per-image numbers as JSON.
Rerun it after retraining the default model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "faithfulness.json"


def measure(n: int, seed: int, steps: int, methods=None) -> dict:
    import convviz_widgets as cvw
    from convviz_widgets import metrics

    model = cvw.load_model()
    images, labels, masks = cvw.datasets.shapes(n, seed=seed)
    rows = {}
    for method in methods or cvw.CAM_METHODS:
        engine = cvw.cam(model, method)
        started = time.perf_counter()
        per = {"deletion": [], "insertion": [], "average_drop": [], "increased": [],
               "pointing_game": [], "correct": []}
        for img, label, mask in zip(images, labels, masks):
            k = int(label)
            heat = engine.compute(img, k)
            per["correct"].append(bool(int(np.argmax(engine.scores)) == k))
            per["deletion"].append(metrics.deletion(model, img, heat, k, steps, batch_size=steps + 1).auc)
            per["insertion"].append(metrics.insertion(model, img, heat, k, steps, batch_size=steps + 1).auc)
            drop, increased = metrics.average_drop(model, img, heat, k)
            per["average_drop"].append(drop)
            per["increased"].append(increased)
            per["pointing_game"].append(metrics.pointing_game(heat, mask))
        per["seconds"] = time.perf_counter() - started
        rows[method] = per
        print(f"  {method}: {per['seconds']:.0f} s", file=sys.stderr, flush=True)
    return rows


def markdown(rows: dict, n: int, seed: int, steps: int) -> str:
    lines = [
        "| method | deletion AUC (lower: better) | insertion AUC (higher: better) | "
        "average drop (lower: better) | increase | pointing game |",
        "|---|---|---|---|---|---|",
    ]
    for method, per in rows.items():
        lines.append(
            f"| {method} | {np.mean(per['deletion']):.3f} | {np.mean(per['insertion']):.3f} | "
            f"{np.mean(per['average_drop']) * 100:.1f}% | {np.mean(per['increased']) * 100:.1f}% | "
            f"{np.mean(per['pointing_game']) * 100:.1f}% |"
        )
    accuracy = np.mean(next(iter(rows.values()))["correct"]) * 100
    lines.append("")
    lines.append(f"Default model, {n} images of `datasets.shapes({n}, seed={seed})`, the labelled "
                 f"class explained (model accuracy on them: {accuracy:.1f}%), {steps} steps, "
                 f"pointing game tolerance 15 px.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faithfulness",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=9001)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    rows = measure(args.n, args.seed, args.steps, args.methods)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"n": args.n, "seed": args.seed, "steps": args.steps,
                                     "methods": rows}, indent=1, default=float))
    print(markdown(rows, args.n, args.seed, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())

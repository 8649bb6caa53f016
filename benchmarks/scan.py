"""Data-set scans: throughput against a plain compiled forward pass, the cluster's overhead,
per-task costs and transfer sizes for the scaling model, and memory on a large folder.

    python -m benchmarks.scan [--images 512] [--repeats 3] [--json out.json]
    python -m benchmarks.scan --memory 10000      # peak RSS of a scan of a generated folder

Ratios are taken in one run, interleaved (benchmarks/timing.py), on the embedded default model
(150 px, 4 conv layers) and images of ``datasets.shapes``:

- ``in_process / forward``: images per second of ``scan.top_activations`` (last conv layer,
  client=None) over those of ``model(x)`` compiled, over the same uint8 images in batches of
  32 with x / 255 (target >= 0.8);
- ``local_cluster / in_process``: the same scan on a LocalCluster of ``--workers`` (default 2)
  single-threaded workers, started (and the model loaded) before the timing (target >= 0.7).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import interleaved

BATCH = 32


def _forward(model):
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), input_signature=[
        tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)])

    def run(images):
        for start in range(0, len(images), BATCH):
            fn(images[start : start + BATCH].astype(np.float32) / 255.0).numpy()

    return run


def throughput(n: int, repeats: int, workers: int) -> dict:
    import convviz_widgets as cvw
    from convviz_widgets.scan import cluster

    model = cvw.load_model()
    layer = cvw.conv_layers(model)[-1]
    images = cvw.datasets.shapes(n, seed=11)[0]
    forward = _forward(model)
    client = cluster.local_client(workers)
    try:
        def scan(c=None):
            return cvw.scan.top_activations(model, images, layer, batch_size=BATCH, client=c,
                                            progress=False)

        same = scan(client)
        here = scan()
        agree = bool((same.indices == here.indices).all() and (same.positions == here.positions).all())
        times = interleaved(
            {"forward": lambda: forward(images), "in_process": scan,
             "local_cluster": lambda: scan(client)},
            repeats,
            warmups={"forward": lambda: forward(images), "in_process": scan,
                     "local_cluster": lambda: None},  # the cluster ran two scans above
        )
        tasks = _task_costs(model, layer, images, client)
    finally:
        c = client.cluster
        client.close()
        c.close()
    med = {k: v["median"] for k, v in times.items()}
    return {
        "images": n,
        "workers": workers,
        "cores": cluster.machine_cores(),
        "seconds": times,
        "images_per_s": {k: n / v for k, v in med.items()},
        "ratios": {
            "in_process / forward": med["forward"] / med["in_process"],
            "local_cluster / in_process": med["in_process"] / med["local_cluster"],
        },
        "cluster_result_equals_in_process": agree,
        "tasks": tasks,
    }


def _task_costs(model, layer, images, client) -> dict:
    """Per-task overhead on the cluster (a batch of one image) and the bytes each task moves."""
    import convviz_widgets as cvw
    from convviz_widgets.scan.cluster import model_bytes
    from convviz_widgets.scan.top import channel_maxima

    one = images[:8]
    start = time.perf_counter()
    cvw.scan.top_activations(model, one, layer, batch_size=1, client=client, progress=False)
    per_task_cluster = (time.perf_counter() - start) / len(one)
    start = time.perf_counter()
    cvw.scan.top_activations(model, one, layer, batch_size=1, progress=False)
    per_task_here = (time.perf_counter() - start) / len(one)
    from convviz_widgets.engines.models import default_preprocess, layer_output_shape

    settings = {"layer": layer, "channels": int(layer_output_shape(model, layer)[-1])}
    result = channel_maxima(model, default_preprocess(model), settings, list(images[:BATCH]))
    return {
        "seconds_per_1_image_task_cluster": per_task_cluster,
        "seconds_per_1_image_task_in_process": per_task_here,
        "payload_bytes_per_batch_of_arrays": int(len(pickle.dumps(list(images[:BATCH])))),
        "payload_bytes_per_batch_of_paths": int(len(pickle.dumps(
            [f"/data/images/{i:08d}.png" for i in range(BATCH)]))),
        "result_bytes_per_batch": int(sum(v.nbytes for v in result.values())),
        "model_bytes": len(model_bytes(model)),
    }


def memory(n: int) -> dict:
    """Peak RSS of a top_activations scan over a generated folder of n PNG files (a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="scan-mem-") as tmp:
        code = f"""
import resource, json, time
from PIL import Image
import convviz_widgets as cvw
folder = {tmp!r}
for start in range(0, {n}, 500):  # generated in chunks: the folder, not this loop, is big
    images = cvw.datasets.shapes(min(500, {n} - start), seed=start)[0]
    for i, image in enumerate(images):
        Image.fromarray(image).save(f"{{folder}}/{{start + i:06d}}.png", compress_level=1)
del images
model = cvw.load_model()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
top = cvw.scan.top_activations(model, folder, cvw.conv_layers(model)[0], k=9, progress=False)
print(json.dumps({{"images": {n}, "seconds": time.perf_counter() - t, "complete": top.complete,
                  "peak_rss_mb_before_scan": before / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True, cwd=Path(__file__).resolve().parents[1])
        return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", type=int, nargs="*", default=None, metavar="N",
                        help="instead: peak RSS of scans of generated folders of N images")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = os.getloadavg()[0]
    if args.memory is not None:
        results = {"memory": [memory(n) for n in (args.memory or [1000, 10000])]}
    else:
        results = throughput(args.images, args.repeats, args.workers)
    results["load_average"] = [load, os.getloadavg()[0]]
    results["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = json.dumps(results, indent=2, default=float)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

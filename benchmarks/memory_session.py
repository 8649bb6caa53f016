"""Peak resident memory of a user session, in its own process (run by benchmarks.run).

The session: VGG16 (weights=None), the activations of every conv/pool layer for one image,
a channel frame and a grid frame (PNG-encoded, as the explorer draws them) for every layer,
then one filter-pattern grid. Prints one JSON line: peak RSS after each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _peak_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux: VmHWM of /proc/self/status, the high-water mark of this program's own address space.
    ``ru_maxrss`` is not used there: it survives fork + exec, so a child started by a 1 GB
    parent reports at least 1 GB. Elsewhere: ru_maxrss (KiB on Linux/BSD, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _rss_mb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--grid-layer", default="block3_conv1")
    parser.add_argument("--grid-size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    stages = []

    def stage(name: str):
        stages.append({"stage": name, "peak_rss_mb": _peak_mb(), "rss_mb": _rss_mb()})

    import keras

    import convviz_widgets as cvw
    from convviz_widgets import render

    stage("import tensorflow + convviz_widgets")
    keras.utils.set_random_seed(0)
    shape = None if args.size == 224 else (args.size, args.size, 3)
    model = keras.applications.VGG16(weights=None, include_top=True, input_shape=shape)
    stage("VGG16 built")
    img = cvw.load_image(cvw.sample_image("cat"), target_size=(args.size, args.size))
    act = cvw.Activations(model, preprocess=keras.applications.vgg16.preprocess_input)
    maps = act.compute(img)
    stage(f"activations of {len(maps)} layers")
    png_bytes = 0
    for fmap in maps.values():
        h, w, c = fmap.shape
        png_bytes += len(render.encode_png(render.channel_frame(fmap, c // 2, size=320)))
        grid, _ = render.grid_frame(fmap, highlight=0, cell_size=render.grid_cell_size(h, w))
        png_bytes += len(render.encode_png(grid))
    stage("a channel frame and a grid frame per layer")
    patterns = cvw.FilterPatterns(model, args.grid_layer)
    patterns.generate(list(range(args.filters)), size=args.grid_size, steps=args.steps)
    stage(f"filter grid {args.grid_layer} {args.filters}x{args.grid_size}px")
    print(json.dumps({
        "stages": stages,
        "peak_rss_mb": _peak_mb(),
        "layers": len(maps),
        "png_bytes": png_bytes,
        "psutil": _rss_mb() is not None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``convviz-widgets scan top|audit|atlas``: data-set scans from the shell, PNG sheets and CSV.

    convviz-widgets scan top --images photos/ --out report/ --layer conv2d_2 --k 9
    convviz-widgets scan audit --images photos/ --out report/ --methods gradcam layercam
    convviz-widgets scan atlas --out report/ --workers 2

``--workers N`` runs on a LocalCluster of N worker processes (127.0.0.1 only); without it,
in this process. ``--cache DIR`` keeps results between runs.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def add_parser(commands, _parents=None) -> None:
    scan = commands.add_parser(
        "scan",
        help="scan a folder of images or a whole model (top activations, CAM audit, atlas)",
        description="Data-set scans: the top-activating images of every channel, a CAM "
        "faithfulness audit, or every filter's pattern. Writes PNG sheets and CSV files "
        "and prints their paths.",
    )
    kinds = scan.add_subparsers(dest="kind", metavar="SCAN", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", default="default", metavar="NAME|PATH",
                        help="'default', a keras.applications name or a .keras/.h5 file")
    common.add_argument("--out", default=Path("."), type=Path, metavar="DIR",
                        help="directory for the outputs, created if missing")
    common.add_argument("--workers", type=int, default=None, metavar="N",
                        help="run on a LocalCluster of N worker processes; default: in this process")
    common.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="keep results in DIR: a rerun computes only what is missing")
    images = argparse.ArgumentParser(add_help=False)
    images.add_argument("--images", required=True, type=Path, metavar="DIR",
                        help="folder of images (searched recursively)")
    images.add_argument("--batch-size", type=int, default=32, metavar="N")

    top = kinds.add_parser("top", parents=[common, images], help="top-k images of every channel",
                           description="For every channel of --layer, the k images where it "
                           "fires most: one PNG sheet (a row of receptive-field crops per "
                           "channel) and top_activations.csv.")
    top.add_argument("--layer", default=None, help="default: the last convolution layer")
    top.add_argument("--k", type=int, default=9, metavar="K")
    top.add_argument("--channels", type=int, default=16, metavar="N",
                     help="channels drawn on the sheet (the CSV has all); default: 16")

    audit = kinds.add_parser("audit", parents=[common, images], help="CAM faithfulness audit",
                             description="CAM maps of every image and their deletion, "
                             "insertion and average-drop scores: audit.csv.")
    audit.add_argument("--methods", nargs="+", default=["gradcam"], metavar="M")
    audit.add_argument("--steps", type=int, default=50, metavar="N")

    atlas = kinds.add_parser("atlas", parents=[common], help="every filter's pattern",
                             description="The pattern of every filter of every convolution "
                             "layer (or --layer): one PNG sheet per layer.")
    atlas.add_argument("--layer", action="append", default=None, metavar="L")
    atlas.add_argument("--size", type=int, default=None, metavar="PX")
    atlas.add_argument("--steps", type=int, default=40, metavar="N")
    atlas.add_argument("--recipe", default="classic")


def _client(workers):
    from ..errors import ConvVizError

    if workers is None:
        return None
    if workers < 1:
        raise ConvVizError(f"--workers: expected a positive integer, got {workers}.")
    from .cluster import local_client

    return local_client(workers)


def _images(path: Path):
    from .images import image_folder

    return image_folder(path.expanduser())


def run(args, save, out_dir, slug) -> list[Path]:
    """Run one scan; ``save(rgba, path)`` writes a PNG. Returns the paths written."""
    import convviz_widgets as cvw

    model = cvw.load_model(args.model)
    folder = _images(args.images) if args.kind != "atlas" else None
    client = _client(args.workers)
    out = out_dir(args.out)
    try:
        if args.kind == "top":
            return _top(args, model, folder, client, out, save, slug)
        if args.kind == "audit":
            return _audit(args, model, folder, client, out)
        return _atlas(args, model, client, out, save, slug)
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            cluster.close()


def _top(args, model, folder, client, out, save, slug) -> list[Path]:
    import numpy as np

    from ..engines.models import last_conv_layer
    from ..render import pattern_grid
    from .top import top_activations

    layer = args.layer or last_conv_layer(model)
    result = top_activations(model, folder, layer, k=args.k, client=client,
                             cache_dir=args.cache, batch_size=args.batch_size)
    table = out / "top_activations.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["channel", "rank", "image", "value", "y", "x"])
        for c in range(result.channels):
            for r, (i, v, (y, x)) in enumerate(zip(result.indices[c], result.values[c], result.positions[c], strict=True)):
                writer.writerow([c, r, result.names[i], f"{v:.6g}", int(y), int(x)])
    rows = [result.crops(c) for c in range(min(args.channels, result.channels))]
    written = [table]
    if rows and rows[0].shape[0]:
        side = max(64, rows[0].shape[1])
        import cv2

        cells = [cv2.resize(crop, (side, side), interpolation=cv2.INTER_NEAREST) for r in rows for crop in r]
        sheet, _ = pattern_grid(np.stack(cells), cols=rows[0].shape[0], pad=2)
        written.append(save(sheet, out / f"top_{slug(result.layer)}.png"))
    _errors(folder, out, written)
    return written


def _audit(args, model, folder, client, out) -> list[Path]:
    from .audit import cam_audit

    df = cam_audit(model, folder, methods=tuple(args.methods), client=client,
                   cache_dir=args.cache, steps=args.steps, batch_size=args.batch_size)
    table = out / "audit.csv"
    df.to_csv(table, index=False)
    written = [table]
    _errors(folder, out, written)
    return written


def _atlas(args, model, client, out, save, slug) -> list[Path]:
    from ..render import pattern_grid
    from .atlas import filter_atlas

    atlas = filter_atlas(model, args.layer, recipe=args.recipe, client=client,
                         cache_dir=args.cache, size=args.size, steps=args.steps)
    written = []
    for layer, patterns in atlas.items():
        sheet, _ = pattern_grid(patterns, cols=min(16, len(patterns)), pad=2)
        written.append(save(sheet, out / f"atlas_{slug(layer)}.png"))
    return written


def _errors(folder, out: Path, written: list) -> None:
    """errors.csv: the files that were left out and why (only when there were some)."""
    if folder is not None and folder.errors:
        path = out / "errors.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "reason"])
            writer.writerows(sorted(folder.errors.items()))
        written.append(path)

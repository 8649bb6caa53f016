"""The ``convviz-widgets`` command: PNG figures for slides and reports, and the Voilà demo.

    convviz-widgets render activations --image cat --out figures/
    convviz-widgets render filters --layer conv2d --size 64 --steps 40
    convviz-widgets render filters --layer conv2d_4 --recipe fourier
    convviz-widgets render classes --steps 100
    convviz-widgets render gradcam --image photo.jpg --model vgg16 --class 281
    convviz-widgets render gradcam --method all --metrics
    convviz-widgets demo --port 8866

This module is the one place where errors become a single line on stderr and an exit status:
a ConvVizError, an unreadable file or a bad option exits with 1 (2 for usage errors),
never with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

PROG = "convviz-widgets"
DEFAULT_PORT = 8866  # Voilà's own default
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class CommandError(Exception):
    """A failure the command reports in one line (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is ONE line on stderr (exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- arguments


def _recipe_argument(parser, default: str | None, default_text: str = "%(default)s") -> None:
    from .engines.feature_vis.recipe import RECIPES

    parser.add_argument(
        "--recipe", choices=sorted(RECIPES), default=default,
        help="classic: the book's gradient ascent on pixels; fourier: a decorrelated Fourier "
        "basis, random jitter/scale/rotation and Adam (Olah et al. 2017); object: fourier in a "
        f"centred window, for the centre unit (one object, not a tiling); default: {default_text}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Visualize what a convnet learned: intermediate activations, filter "
        "patterns (gradient ascent) and Grad-CAM, as PNG figures or a live dashboard.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="write PNG figures (activation grids, filter and class patterns, Grad-CAM overlay)",
        description="Write PNG figures for slides and reports. Prints the paths it wrote.",
    )
    kinds = render.add_subparsers(dest="kind", metavar="FIGURE", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--image",
        default="cat",
        metavar="PATH|NAME",
        help="image file, or the name of a shipped sample image (cat, coffee, astronaut, "
        "rocket, or a shape name such as circle); default: %(default)s",
    )
    common.add_argument(
        "--model",
        default="default",
        metavar="NAME|PATH",
        help="'default' (the embedded model, works offline), a keras.applications name "
        "(vgg16, resnet50, ...; needs the ImageNet weights) or a .keras/.h5 file; "
        "default: %(default)s",
    )
    common.add_argument(
        "--out",
        default=".",
        type=Path,
        metavar="DIR",
        help="directory for the PNG files, created if missing; default: the current directory",
    )

    act = kinds.add_parser(
        "activations",
        parents=[common],
        help="one grid of every channel per conv/pool layer",
        description="Render the intermediate activations of one image: for each conv and "
        "pooling layer (or just --layer), every channel of its feature map, normalized per "
        "channel and tiled into one grid PNG (the classic figure).",
    )
    act.add_argument(
        "--layer",
        action="append",
        metavar="L",
        help="only this layer (repeat for several); default: every conv and pooling layer",
    )
    act.add_argument(
        "--cols", type=int, default=16, metavar="N", help="channels per row; default: 16"
    )
    act.add_argument(
        "--cell-size",
        type=int,
        default=64,
        metavar="PX",
        help="minimum side of each channel's cell in pixels (small maps are enlarged by an "
        "integer factor, nearest neighbour; larger maps keep their size); default: 64",
    )

    fil = kinds.add_parser(
        "filters",
        parents=[common],
        help="the 8x8 grid of filter patterns of one layer",
        description="Render the input patterns that maximally activate the first filters of "
        "one layer (gradient ascent in input space), tiled 8 per row. --image is not used. "
        "Deeper layers take longer: a 64-filter grid at 64 px takes seconds for the first "
        "VGG16 block and about half a minute for block 5 on 2 CPU cores.",
    )
    fil.add_argument(
        "--layer", metavar="L", help="a conv layer; default: the first convolution layer"
    )
    fil.add_argument(
        "--count",
        type=int,
        default=64,
        metavar="N",
        help="how many filters, from filter 0 (at most the layer's filters); default: 64",
    )
    fil.add_argument(
        "--size",
        type=int,
        metavar="PX",
        help="side of each pattern in pixels; default: 64, or the model's input size when "
        "it only accepts that size",
    )
    fil.add_argument(
        "--steps", type=int, default=40, metavar="N", help="gradient ascent steps; default: 40"
    )
    fil.add_argument(
        "--step-size", type=float, default=1.0, metavar="S", help="step size; default: 1.0"
    )
    fil.add_argument("--seed", type=int, default=0, help="seed of the starting noise; default: 0")
    _recipe_argument(fil, "classic")

    cls = kinds.add_parser(
        "classes",
        parents=[common],
        help="one pattern per class: the image that maximizes each class score",
        description="Render class patterns (Simonyan et al. 2013): for each class, the image "
        "optimized to raise its score, all classes as one batch, tiled 8 per row. --image is "
        "not used.",
    )
    cls.add_argument(
        "--class", dest="classes", action="append", metavar="K|NAME",
        help="only this class (index or name; repeat for several); default: every class",
    )
    cls.add_argument(
        "--size", type=int, metavar="PX",
        help="side of each pattern in pixels; default: the model's input size (else 150)",
    )
    cls.add_argument(
        "--steps", type=int, default=100, metavar="N", help="optimization steps; default: 100"
    )
    cls.add_argument(
        "--step-size", type=float, default=1.0, metavar="S",
        help="multiplies the recipe's learning rate; default: 1.0",
    )
    cls.add_argument("--seed", type=int, default=0, help="seed of the start; default: 0")
    cls.add_argument(
        "--score", choices=("logit", "probability"), default="logit",
        help="the class score maximized: before or after the final softmax; default: logit",
    )
    _recipe_argument(cls, None, "object (fourier when the class scores do not come from a "
                     "global pooling layer)")

    from .engines.cam import CAM_METHODS

    cam = kinds.add_parser(
        "gradcam",
        parents=[common],
        help="a class activation map (Grad-CAM or another --method) over the image",
        description="Print the top-3 predictions and render the class activation map of one "
        "class: superimposed on the image, and the raw low-resolution map; with --method all, "
        "one figure with every method side by side. --metrics prints how faithful each map is "
        "(deletion and insertion AUC, average drop).",
    )
    cam.add_argument(
        "--method",
        choices=(*CAM_METHODS, "all"),
        default="gradcam",
        metavar="NAME",
        help=f"{', '.join(CAM_METHODS)}, or 'all' for one figure comparing them; "
        "default: %(default)s",
    )
    cam.add_argument(
        "--metrics",
        action="store_true",
        help="print the faithfulness of each map: deletion AUC (lower is better), insertion "
        "AUC (higher is better), average drop",
    )
    cam.add_argument(
        "--metric-steps",
        type=int,
        default=50,
        metavar="N",
        help="steps of the deletion and insertion curves; default: %(default)s",
    )
    cam.add_argument(
        "--class",
        dest="class_",
        metavar="K",
        help="class index or class name; default: the top predicted class",
    )
    cam.add_argument(
        "--layer", metavar="L", help="layer to explain; default: the last convolution layer"
    )
    cam.add_argument(
        "--alpha",
        type=float,
        default=0.4,
        help="heatmap opacity in the overlay, 0..1; default: 0.4",
    )
    cam.add_argument(
        "--colormap", default="jet", help="matplotlib colormap of the heatmap; default: jet"
    )
    cam.add_argument(
        "--blend",
        choices=("alpha", "additive"),
        default="alpha",
        help="'alpha': image * (1 - alpha) + heatmap * alpha; 'additive': the tutorial's "
        "exact recipe (heatmap * alpha + image, rescaled to 0..255); default: alpha",
    )
    cam.add_argument(
        "--score",
        choices=("logit", "probability"),
        default="logit",
        help="differentiate the class logit (the Grad-CAM paper) or its probability "
        "(the tutorial's code); default: logit (gradient methods only)",
    )
    cam.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="Score-CAM's masked passes in float32 or through a bfloat16 copy of the model "
        "(about 2x faster on CPUs with bfloat16 units, slower on others); default: float32",
    )

    demo = commands.add_parser(
        "demo",
        help="serve the interactive dashboard with Voilà",
        description="Serve the dashboard (activations, filter patterns, Grad-CAM on the "
        "embedded default model and a sample image) as a web app with Voilà. Ctrl-C stops it. "
        "Needs the 'demo' extra: pip install convviz_widgets[demo].",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help="port to listen on (0: any free port); default: %(default)s",
    )
    demo.add_argument(
        "--ip",
        default="127.0.0.1",
        help="address to listen on; default: %(default)s (this machine only)",
    )
    demo.add_argument(
        "--no-browser", action="store_true", help="do not open a web browser at the URL"
    )
    from .scan.command import add_parser as add_scan_parser

    add_scan_parser(commands)
    return parser


# --------------------------------------------------------------------------- render


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def _looks_like_path(source: str) -> bool:
    return bool(Path(source).suffix) or os.sep in source


def _check_image_path(source: str) -> None:
    if _looks_like_path(source) and not Path(source).expanduser().is_file():
        raise CommandError(f"--image: no such file {source!r}")


def _load_image(source: str):
    """(image, short name): an existing file first, else a sample image name."""
    import convviz_widgets as cvw

    path = Path(source).expanduser()
    if path.is_file():
        return cvw.load_image(path), path.stem
    if source in cvw.sample_images():
        return cvw.sample_image(source), source
    if _looks_like_path(source):
        raise CommandError(f"--image: no such file {source!r}")
    raise CommandError(
        f"--image: {source!r} is neither a file nor a sample image; expected a path or one of "
        f"{', '.join(cvw.sample_images())}"
    )


def _save(rgba, path: Path) -> Path:
    from .render import encode_png

    path.write_bytes(encode_png(rgba, compress_level=6, png_filter="adaptive"))
    return path


def _out_dir(out: Path) -> Path:
    out = out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    return out


def render_activations(args, model, image, name: str) -> list[Path]:
    import convviz_widgets as cvw

    from .render import grid_frame

    if args.cols < 1 or args.cell_size < 1:
        raise CommandError("--cols and --cell-size: expected positive integers")
    layers = args.layer or cvw.conv_layers(model)
    if not layers:
        raise CommandError(f"--model: {model.name!r} has no conv or pooling layer")
    maps = cvw.Activations(model, layers=layers).compute(image)
    out = _out_dir(args.out)
    written = []
    for layer, fmap in maps.items():
        longest = max(fmap.shape[:2])
        cell = longest * max(1, -(-args.cell_size // longest))  # integer upscale, >= cell-size
        frame, _ = grid_frame(fmap, cols=min(args.cols, fmap.shape[2]), cell_size=cell)
        written.append(_save(frame, out / f"{name}_activations_{_slug(layer)}.png"))
    return written


def render_filters(args, model) -> list[Path]:
    import convviz_widgets as cvw

    from .render import pattern_grid

    layer = args.layer or _first_conv_layer(model)
    engine = cvw.FilterPatterns(model, layer)
    if args.count < 1:
        raise CommandError(f"--count: expected a positive integer, got {args.count}")
    count = min(args.count, engine.num_filters)
    size = args.size if args.size is not None else (engine.fixed_size or 64)
    progress = _Progress(f"{engine.layer}: {count} filters", args.steps)
    patterns = engine.generate(
        list(range(count)),
        size=size,
        steps=args.steps,
        step_size=args.step_size,
        seed=args.seed,
        callback=progress,
        recipe=args.recipe,
    )
    progress.done()
    grid, _ = pattern_grid(patterns, cols=8, pad=2)
    out = _out_dir(args.out)
    suffix = "" if args.recipe == "classic" else f"_{args.recipe}"
    return [_save(grid, out / f"filters_{_slug(engine.layer)}{suffix}.png")]


def render_classes(args, model) -> list[Path]:
    import convviz_widgets as cvw

    from .render import pattern_grid

    names = cvw.class_names(model)
    engine = cvw.ClassPatterns(model, score=args.score)
    classes = (list(range(len(names))) if not args.classes
               else [_class_index(value, names) for value in args.classes])
    progress = _Progress(f"{len(classes)} classes", args.steps)
    recipe = args.recipe or engine.default_recipe
    patterns = engine.generate(
        classes, size=args.size, steps=args.steps, step_size=args.step_size, seed=args.seed,
        callback=progress, recipe=recipe,
    )
    progress.done()
    grid, _ = pattern_grid(patterns, cols=min(8, len(classes)), pad=2)
    out = _out_dir(args.out)
    print("classes: " + ", ".join(f"{k} {names[k]}" for k in classes))
    return [_save(grid, out / f"classes_{recipe}.png")]


def _first_conv_layer(model) -> str:
    from .engines.graph import is_conv, iter_layers

    for name, layer in iter_layers(model):
        if is_conv(layer):
            return name
    raise CommandError(f"--model: {model.name!r} has no convolution layer")


class _Progress:
    """Step counter on stderr while filter patterns optimize (only on a terminal)."""

    def __init__(self, what: str, steps: int):
        self.what, self.steps = what, steps
        self.active = sys.stderr.isatty() and steps > 0

    def __call__(self, step, *_):
        if self.active:
            sys.stderr.write(f"\r{self.what}, step {step}/{self.steps}")
            sys.stderr.flush()

    def done(self):
        if self.active:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class _MapProgress(_Progress):
    """Batches done on stderr while a map computes (Score-CAM's masked passes)."""

    def __init__(self, what: str):
        super().__init__(what, 1)

    def __call__(self, done, total, _partial):
        if self.active:
            sys.stderr.write(f"\r{self.what}: {done}/{total}")
            sys.stderr.flush()


def _class_index(value: str | None, names: list[str]) -> int | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        index = int(value)
        if not 0 <= index < len(names):
            raise CommandError(
                f"--class: expected a class index in 0..{len(names) - 1} or a class name, got {index}"
            )
        return index
    matches = [i for i, n in enumerate(names) if n.lower() == value.lower()]
    if len(matches) == 1:
        return matches[0]
    close = [n for n in names if value.lower() in n.lower()][:8]
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise CommandError(f"--class: {value!r} is neither a class index nor a class name{hint}")


def _method_slug(method: str) -> str:
    return method.replace("+", "p")  # gradcam++ -> gradcampp


def _takes(method: str, option: str) -> bool:
    """Whether the CAM method's constructor has the keyword ``option``."""
    import inspect

    from .engines.cam import method_class

    return option in inspect.signature(method_class(method).__init__).parameters


def _cam_engine(model, method: str, args):
    import convviz_widgets as cvw

    options = {}
    if _takes(method, "score"):
        options["score"] = args.score
    if _takes(method, "precision"):
        options["precision"] = args.precision
    return cvw.cam(model, method, layer=args.layer, **options)


def render_gradcam(args, model, image, name: str) -> list[Path]:
    import convviz_widgets as cvw

    from .render import compare_frame, heatmap_frame, method_label, overlay, superimpose_additive

    names = cvw.class_names(model)
    k = _class_index(args.class_, names)
    if args.metrics and args.metric_steps < 1:
        raise CommandError(f"--metric-steps: expected an integer >= 1, got {args.metric_steps}")
    if args.method == "all" and args.blend == "additive":
        raise CommandError("--blend additive: only for one --method; the comparison alpha-blends")
    if args.precision != "float32" and args.method != "all" and not _takes(args.method, "precision"):
        raise CommandError(
            f"--precision {args.precision}: only Score-CAM's masked passes have a precision; "
            f"expected --method scorecam (or all), got --method {args.method}"
        )
    methods = list(cvw.CAM_METHODS) if args.method == "all" else [args.method]
    engines = [_cam_engine(model, method, args) for method in methods]
    first = engines[0]
    # The first map comes with the scores of its own forward pass: the top predictions.
    heatmaps = []
    for i, (method, engine) in enumerate(zip(methods, engines, strict=True)):
        progress = _MapProgress(method_label(method))
        heatmaps.append(engine.compute(image, class_index=k, callback=progress))
        progress.done()
        if i == 0:
            top = first.top_classes(image, k=min(3, len(names)))
            k = top[0] if k is None else k
    out = _out_dir(args.out)
    stem = f"{_slug(names[k])}"
    if args.method == "all":
        figure, _ = compare_frame(
            image, heatmaps, [method_label(m) for m in methods], alpha=args.alpha,
            colormap=args.colormap, centres=[e.centres for e in engines],
            size=max(image.shape[:2]), pad=4,
        )  # fmt: skip
        written = [_save(figure, out / f"{name}_cam-compare_{k}-{stem}.png")]
    else:
        heatmap, method = heatmaps[0], methods[0]
        if args.blend == "additive":
            figure = superimpose_additive(image, heatmap, alpha=args.alpha)
        else:
            figure = overlay(
                image, heatmap, alpha=args.alpha, colormap=args.colormap, centres=first.centres
            )
        raw = heatmap_frame(heatmap, colormap=args.colormap, size=max(image.shape[:2]))
        base = f"{name}_{_method_slug(method)}_{k}-{stem}"
        written = [_save(figure, out / f"{base}.png"), _save(raw, out / f"{base}_heatmap.png")]
    print("top predictions:")
    for rank, index in enumerate(top, 1):
        print(f"  {rank}. {names[index]} (class {index}): {float(first.probabilities[index]):.1%}")
    shown = ", ".join(method_label(m) for m in methods)
    print(f"{shown} of class {k} ({names[k]}) at layer {first.layer}")
    if args.metrics:
        print(f"faithfulness of class {k} ({names[k]}), {args.metric_steps} steps:")
        for method, heatmap in zip(methods, heatmaps, strict=True):
            print(f"  {method_label(method)}: {faithfulness_line(model, image, heatmap, k, args.metric_steps)}")
    return written


def faithfulness_line(model, image, heatmap, class_index: int, steps: int) -> str:
    """The printed figures of one map: deletion AUC, insertion AUC, average drop."""
    from .engines import metrics

    deletion = metrics.deletion(model, image, heatmap, class_index, steps=steps)
    insertion = metrics.insertion(model, image, heatmap, class_index, steps=steps)
    drop, increased = metrics.average_drop(model, image, heatmap, class_index)
    rose = " (the probability rose)" if increased else ""
    return (
        f"deletion AUC {deletion.auc:.4f}, insertion AUC {insertion.auc:.4f}, "
        f"average drop {100 * drop:.2f}%{rose}"
    )


def run_render(args) -> int:
    import convviz_widgets as cvw

    uses_image = args.kind not in ("filters", "classes")
    if uses_image:
        _check_image_path(args.image)  # a typo in a path fails at once, before TensorFlow loads
    from .engines.backend import import_tensorflow

    import_tensorflow()  # its native startup log would bury the one line that matters
    image, name = _load_image(args.image) if uses_image else (None, None)
    model = cvw.load_model(args.model)
    if args.kind == "activations":
        written = render_activations(args, model, image, name)
    elif args.kind == "filters":
        written = render_filters(args, model)
    elif args.kind == "classes":
        written = render_classes(args, model)
    else:
        written = render_gradcam(args, model, image, name)
    for path in written:
        print(path)
    return 0


# --------------------------------------------------------------------------- scan


def run_scan(args) -> int:
    from .scan.command import run

    images = getattr(args, "images", None)
    if images is not None and not images.expanduser().is_dir():
        raise CommandError(f"--images: expected a folder of images, got {str(images)!r}")
    from .engines.backend import import_tensorflow

    import_tensorflow()
    for path in run(args, _save, _out_dir, _slug):
        print(path)
    return 0


# --------------------------------------------------------------------------- demo


def demo_notebook() -> Path:
    """The shipped notebook that the demo serves."""
    return Path(str(resources.files("convviz_widgets.data").joinpath("demo.ipynb")))


def _bind_check(ip: str, port: int) -> int:
    """``port`` (any free one for 0) if it can be bound on ``ip``; else a CommandError."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((ip, port))
            return sock.getsockname()[1]
    except OSError as exc:
        if port and exc.errno == errno.EADDRINUSE:
            raise CommandError(f"--port: port {port} is already in use; choose another or --port 0") from None
        raise CommandError(f"--ip/--port: cannot listen on {ip}:{port} ({exc.strerror or exc})") from None


def _listening(ip: str, port: int) -> bool:
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(ip, ip)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def voila_command(notebook: Path, ip: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "voila", str(notebook),
        "--no-browser",
        f"--Voila.ip={ip}",
        "--Voila.port_retries=0",
        f"--port={port}",
    ]  # fmt: skip


def voila_available() -> bool:
    return importlib.util.find_spec("voila") is not None


def run_demo(args) -> int:
    if not voila_available():
        raise CommandError(
            "the demo needs Voilà, which is not installed: pip install convviz_widgets[demo]"
        )
    source = demo_notebook()
    if not source.is_file():
        raise CommandError(f"the demo notebook is missing from the installation ({source})")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port: expected 0..65535, got {args.port}")
    port = _bind_check(args.ip, args.port)
    workdir = Path(tempfile.mkdtemp(prefix="convviz-demo-"))
    try:
        notebook = workdir / "convviz_widgets_demo.ipynb"
        shutil.copyfile(source, notebook)
        return _serve(notebook, args.ip, port, open_browser=not args.no_browser)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(notebook: Path, ip: str, port: int, open_browser: bool) -> int:
    """Run Voilà until it exits or we get SIGINT/SIGTERM, which we forward to it."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Its own session: a terminal's Ctrl-C reaches only us, and Jupyter's "Shutdown this
    # server (y/[n])?" prompt never appears; we stop Voilà with one SIGTERM.
    stopping = []
    child = None

    def forward(signum, _frame):
        stopping.append(signum)
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(
            voila_command(notebook, ip, port),
            cwd=notebook.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if stopping:  # a signal came before the child existed
            child.send_signal(signal.SIGTERM)
        url = f"http://{ip if ':' not in ip else f'[{ip}]'}:{port}/"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not stopping and child.poll() is None and not _listening(ip, port):
            if time.monotonic() > deadline:
                raise CommandError(f"Voilà did not listen on {url} within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.1)
        if child.poll() is not None and not stopping:
            raise CommandError(
                f"Voilà exited with status {child.returncode} before serving {url} "
                "(is the port already in use? try --port 0)"
            )
        if not stopping:
            print(f"Serving the convviz_widgets dashboard at {url}  (Ctrl-C to stop)", flush=True)
            if open_browser:
                import webbrowser

                webbrowser.open(url)
        while child.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.5)
        if stopping:
            print("Stopped.", flush=True)
            return 0
        if child.returncode != 0:
            raise CommandError(f"Voilà stopped with status {child.returncode}")
        return 0
    finally:
        if child is not None:
            _stop(child)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # its own session: Voilà and its kernels
        child.wait()


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    """Entry point of ``convviz-widgets``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0)
    from .errors import ConvVizError

    try:
        if args.command == "demo":
            return run_demo(args)
        if args.command == "scan":
            return run_scan(args)
        return run_render(args)
    except (ConvVizError, CommandError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # unwritable --out, disk full, ...
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message holds
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

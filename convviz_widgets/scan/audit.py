"""A CAM audit: every image's maps by one or more CAM methods, and how faithful they are.

Each row is what the single-image functions give, because each task calls exactly them:
``cvw.cam(model, method).compute(img, class_index)`` (``class_index`` None when no label is
given, so the map is of the top class, as a user would call it), then ``cvw.metrics.deletion``
/ ``insertion`` / ``average_drop`` on that heatmap and ``pointing_game`` against the mask.
Tasks are (batch of images, method) pairs: adding a method to a cached audit computes only
that method.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import ConvVizError
from .execution import Task, execute
from .fingerprint import callable_key, model_fingerprint, settings_key
from .images import Source
from .top import batches, check_count

METRICS = ("deletion", "insertion", "average_drop", "pointing_game")
COLUMNS = (
    "image", "method", "label", "top_class", "correct", "deletion", "insertion", "average_drop",
    "increased", "pointing_game",
)
_VERSION = 1
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _engine(model, method: str, layer, preprocess):
    per_model = _ENGINES.setdefault(model, {})
    key = (method, layer, preprocess)
    if key not in per_model:
        from ..engines.cam import cam

        per_model[key] = cam(model, method, layer=layer, preprocess=preprocess)
    return per_model[key]


def audit_batch(model, preprocess, settings: dict, payload) -> dict:
    """One task: one method over a batch of images; NaN / -1 where a metric was not asked for."""
    from ..engines import metrics as m
    from ..engines.images import load_image

    items, labels, masks = payload
    engine = _engine(model, settings["method"], settings["layer"], preprocess)
    wanted = settings["metrics"]
    n = len(items)
    out = {
        "top_class": np.full(n, -1, np.int64),
        "deletion": np.full(n, np.nan),
        "insertion": np.full(n, np.nan),
        "average_drop": np.full(n, np.nan),
        "increased": np.full(n, -1, np.int8),
        "pointing_game": np.full(n, -1, np.int8),
        "ok": np.zeros(n, bool),
    }
    errors = {}
    for i, item in enumerate(items):
        try:
            img = load_image(item)
        except ConvVizError as exc:
            errors[i] = str(exc).removeprefix("image: ")
            continue
        label = None if labels is None else int(labels[i])
        heatmap = engine.compute(img, label)
        top = int(np.argmax(engine.scores))
        explained = top if label is None else label
        out["top_class"][i] = top
        steps = settings["steps"]
        if "deletion" in wanted:
            out["deletion"][i] = m.deletion(model, img, heatmap, explained, steps, preprocess).auc
        if "insertion" in wanted:
            out["insertion"][i] = m.insertion(model, img, heatmap, explained, steps, preprocess).auc
        if "average_drop" in wanted:
            drop, increased = m.average_drop(model, img, heatmap, explained, preprocess)
            out["average_drop"][i], out["increased"][i] = drop, int(increased)
        if "pointing_game" in wanted and masks is not None:
            hit = m.pointing_game(heatmap, masks[i], settings["tolerance"])
            out["pointing_game"][i] = int(hit)
        out["ok"][i] = True
    out["error_at"] = np.asarray(sorted(errors), np.int64)
    out["error"] = np.asarray([errors[p] for p in sorted(errors)], dtype=str)
    return out


def _names(values, allowed: tuple, what: str) -> tuple:
    items = (values,) if isinstance(values, str) else tuple(values)
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ConvVizError(
            f"{what}: expected a non-empty list of {', '.join(allowed)}, got {list(items)!r}."
        )
    return tuple(dict.fromkeys(items))


def _per_image(values, n: int, what: str):
    if values is None:
        return None
    array = np.asarray(values)
    if len(array) != n:
        raise ConvVizError(f"{what}: expected one per image ({n}), got {len(array)}.")
    return array


def cam_audit(
    model,
    images,
    labels=None,
    masks=None,
    methods=("gradcam",),
    metrics=METRICS,
    client=None,
    cache_dir=None,
    *,
    layer=None,
    steps: int = 50,
    tolerance: float = 15,
    batch_size: int = 8,
    preprocess=None,
    progress: bool = True,
    callback=None,
):
    """A pandas DataFrame, one row per (image, method), in image order then ``methods`` order.

    Columns: image (its name in a folder, else its index), method, label, top_class,
    correct (top_class == label), deletion and insertion (the curves' AUC with ``steps``
    steps), average_drop, increased, pointing_game (with ``masks`` only; ``tolerance`` px).
    The class explained is the label when given, else the top class. ``images`` may be
    ``datasets.shapes(n)`` output: its labels and masks are then used unless given.
    Unreadable images are left out and listed in ``df.attrs["errors"]``.
    """
    import pandas as pd

    from ..engines.cam import CAM_METHODS
    from ..engines.models import default_preprocess, load_model, num_classes

    model = load_model(model)
    methods = _names(methods, CAM_METHODS, "methods")
    metrics = _names(metrics, METRICS, "metrics")
    steps = check_count(steps, "steps")
    batch_size = check_count(batch_size, "batch_size")
    preprocess = default_preprocess(model, preprocess)
    source = Source(images)
    n = len(source)
    labels = _per_image(source.labels if labels is None else labels, n, "labels")
    masks = _per_image(source.masks if masks is None else masks, n, "masks")
    if labels is not None:
        classes = num_classes(model)
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= classes:
            raise ConvVizError(
                f"labels: expected integer class indices 0..{classes - 1}, got "
                f"{labels.dtype} values {labels.min()!r}..{labels.max()!r}."
            )
    fingerprint = model_fingerprint(model)
    rows: dict[tuple[int, str], dict] = {}
    errors = source.errors
    tasks = []
    for group in batches(n, batch_size):
        batch_labels = None if labels is None else labels[group]
        batch_masks = None if masks is None else masks[group]
        image_keys = source.keys(group)
        extra = [
            None if batch_labels is None else batch_labels.tolist(),
            None if batch_masks is None else settings_key(np.packbits(batch_masks).tobytes().hex()),
        ]
        for method in methods:
            settings = {
                "method": method, "layer": layer, "metrics": list(metrics), "steps": steps,
                "tolerance": float(tolerance),
            }
            key_settings = {**settings, "preprocess": callable_key(preprocess), "version": _VERSION}
            key = settings_key("cam_audit", fingerprint, key_settings, image_keys, extra)
            payload = (source.payload(group), batch_labels, batch_masks)
            tasks.append(Task(key, (settings, payload), (group, method)))

    def on_result(task, result):
        group, method = task.meta
        for position, reason in zip(result["error_at"], result["error"], strict=True):
            errors[source.names[group[int(position)]]] = str(reason)
        for i, index in enumerate(group):
            if not result["ok"][i]:
                continue
            label = None if labels is None else int(labels[index])
            top = int(result["top_class"][i])
            rows[(index, method)] = {
                "image": source.names[index] if source.folder is not None else index,
                "method": method,
                "label": label,
                "top_class": top,
                "correct": None if label is None else top == label,
                "deletion": float(result["deletion"][i]),
                "insertion": float(result["insertion"][i]),
                "average_drop": float(result["average_drop"][i]),
                "increased": None if result["increased"][i] < 0 else bool(result["increased"][i]),
                "pointing_game": None
                if result["pointing_game"][i] < 0
                else bool(result["pointing_game"][i]),
            }

    run = execute(
        model,
        fingerprint,
        preprocess,
        _audit_task,
        {},
        tasks,
        on_result,
        client=client,
        cache_dir=cache_dir,
        desc="CAM audit",
        progress=progress,
        callback=callback,
    )
    order = sorted(rows, key=lambda key: (key[0], methods.index(key[1])))
    df = pd.DataFrame([rows[key] for key in order], columns=list(COLUMNS))
    df = df.astype(
        {"label": "Int64", "top_class": "int64", "correct": "boolean", "increased": "boolean",
         "pointing_game": "boolean"}
    )
    df.attrs["errors"] = errors
    df.attrs["complete"] = run.complete
    df.attrs["run"] = run
    return df


def _audit_task(model, preprocess, _settings, payload) -> dict:
    """The task function: its settings travel with the task (methods differ between tasks)."""
    settings, batch = payload
    return audit_batch(model, preprocess, settings, batch)

"""A filter atlas: the pattern of every filter of every (chosen) conv layer of a model.

Tasks are (layer, batch of filters); each runs ``FilterPatterns(model, layer).generate`` on
its batch, so every pattern is what the single-layer engine gives for it (the starting noise
of filter f depends only on (seed, f), whatever the batch). ``recipe`` is passed through to
``generate`` ("classic": the book's algorithm).
"""

from __future__ import annotations

import inspect
import weakref

import numpy as np

from ..errors import ConvVizError
from .execution import Task, execute
from .fingerprint import model_fingerprint, settings_key
from .top import batches, check_count

_VERSION = 1
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _engine(model, layer: str):
    per_model = _ENGINES.setdefault(model, {})
    if layer not in per_model:
        from ..engines.filter_patterns import FilterPatterns

        per_model[layer] = FilterPatterns(model, layer)
    return per_model[layer]


def _recipe_kwargs(engine, recipe) -> dict:
    """``{"recipe": recipe}`` when ``generate`` takes one (a name or a Recipe object, checked by
    the engine); this installation's classic only otherwise."""
    if "recipe" in inspect.signature(engine.generate).parameters:
        return {"recipe": recipe}
    if recipe != "classic":
        raise ConvVizError(
            f"recipe: this installation's FilterPatterns has only the 'classic' recipe, got {recipe!r}."
        )
    return {}


def pattern_batch(model, _preprocess, settings: dict, payload) -> dict:
    """One task: the patterns of a batch of one layer's filters."""
    layer, filters = payload
    engine = _engine(model, layer)
    patterns = engine.generate(
        filters,
        size=settings["size"],
        steps=settings["steps"],
        step_size=settings["step_size"],
        seed=settings["seed"],
        **_recipe_kwargs(engine, settings["recipe"]),
    )
    return {"patterns": patterns}


def filter_atlas(
    model,
    layers=None,
    recipe="classic",
    client=None,
    cache_dir=None,
    *,
    size: int | None = None,
    steps: int = 40,
    step_size: float = 1.0,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
    callback=None,
) -> dict:
    """{layer: uint8 (channels, size, size, 3)}: every filter's pattern, for ``layers``
    (default: every convolution layer). ``size`` defaults to 64 px (or the model's input size
    when a layer needs it). A stopped atlas holds the finished layers' filters; the others
    stay flat mid-gray (128) and ``atlas.complete`` is False.
    """
    from ..engines.graph import is_conv, iter_layers
    from ..engines.models import load_model, resolve_layer

    model = load_model(model)
    if layers is None:
        layers = [name for name, layer in iter_layers(model) if is_conv(layer)]
    elif isinstance(layers, str):
        layers = [layers]
    layers = [resolve_layer(model, name) for name in layers]
    if not layers:
        raise ConvVizError(f"layers: {model.name!r} has no convolution layers to draw.")
    batch_size = check_count(batch_size, "batch_size")
    engines = {name: _engine(model, name) for name in layers}
    sizes = {e.fixed_size for e in engines.values() if e.fixed_size is not None}
    if size is None:
        size = sizes.pop() if len(sizes) == 1 else 64
    _recipe_kwargs(next(iter(engines.values())), recipe)  # refuse an unknown recipe up front
    settings = {"size": size, "steps": steps, "step_size": float(step_size), "seed": seed,
                "recipe": recipe}
    key_settings = {**settings, "recipe": recipe if isinstance(recipe, str) else repr(recipe)}
    fingerprint = model_fingerprint(model)
    atlas = AtlasDict()
    tasks = []
    for name, engine in engines.items():
        atlas[name] = np.full((engine.num_filters, size, size, 3), 128, np.uint8)
        for group in batches(engine.num_filters, batch_size):
            key = settings_key("filter_atlas", fingerprint, key_settings, name, group, _VERSION)
            tasks.append(Task(key, (name, group), (name, group)))
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ConvVizError(f"steps: expected a non-negative integer, got {steps!r}.")
    engines[layers[0]].generate([0], size=size, steps=0, step_size=step_size)  # its own checks

    def on_result(task, result):
        name, group = task.meta
        atlas[name][group] = result["patterns"]

    atlas.run = execute(
        model, fingerprint, None, pattern_batch, settings, tasks, on_result,
        client=client, cache_dir=cache_dir, desc="filter atlas", progress=progress,
        callback=callback,
    )
    return atlas


class AtlasDict(dict):
    """{layer: patterns}, with ``.run`` (tasks done, cached) and ``.complete``."""

    run = None

    @property
    def complete(self) -> bool:
        return self.run is not None and self.run.complete

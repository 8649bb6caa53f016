"""FilterExplorer: the input pattern each filter (or class) responds to most, optimized live."""

from __future__ import annotations

import time

import ipywidgets as widgets
from traitlets import Enum, Float, Int, observe, validate

from ..engines.feature_vis.recipe import RECIPES
from ..render.frames import fit_size
from ..render.patterns import caption, pattern_grid
from ._base import Explorer
from ._canvas import DRAW_LOCK
from ._controls import as_model, clamp
from .pattern_runner import CLASSES, Job, PatternRunner, Settings

GRID = 64  # filters per grid page
GRID_COLS = 8


class FilterExplorer(Explorer):
    """Filter (or class) patterns by gradient ascent, one large or a grid page of 64 filling in live.

    ``run()`` optimizes in a daemon thread (a ``PatternRunner``); the canvas shows the
    patterns every ``live_interval`` seconds while the kernel stays free; ``stop()`` ends the
    run within one step. Finished patterns are cached per (``Settings``, index): the target,
    steps, step size, size, seed and the whole recipe; coming back to a computed pattern is
    instant and runs only optimize what is missing. The canvas is never empty: a view whose
    run is estimated at most ``autorun_seconds`` starts at once when the explorer opens, any
    other uncomputed view says what Run will do and about how long it will take.

    Traits: ``layer``, ``filter_index``, ``steps``, ``step_size``, ``size``, ``mode``
    ("single" | "grid"), ``page`` (grid page, 64 each), ``seed``, ``recipe`` ("classic" |
    "fourier"), ``target`` ("filters" of the layer | "classes" of the model, all of them).
    """

    filter_index = Int(0)
    steps = Int(40)
    step_size = Float(1.0)
    size = Int(64)
    mode = Enum(("single", "grid"), default_value="single")
    page = Int(0)
    seed = Int(0)
    recipe = Enum(tuple(RECIPES), default_value="classic")
    target = Enum(("filters", "classes"), default_value="filters")

    MAX_STEPS = 1000
    SIZES = (16, 512)
    AUTORUN_SECONDS = 3.0  # a first view estimated at most this long runs when the explorer opens

    def __init__(self, model, layer=None, preprocess=None, *, display_size=300, live_interval=0.15,
                 autorun_seconds=None):
        from ..engines import conv_layers
        from ..engines.models import num_classes, resolve_layer
        from ..errors import ConvVizError

        super().__init__()
        self.model = as_model(model)
        # Patterns are optimized in the model's input space (the original method), so no
        # preprocessing is applied; the argument is accepted for a uniform signature.
        self.preprocess = preprocess
        self.display_size = display_size
        self.live_interval = live_interval
        self.autorun_seconds = self.AUTORUN_SECONDS if autorun_seconds is None else autorun_seconds
        self.layout_grid = None
        self.runner = PatternRunner(self._engine, self._on_step, self._on_end)
        self._last_draw = 0.0
        self._rate = None  # FLOP/s observed in finished runs (the estimate's rate once known)
        self._engines = {}  # layer (or CLASSES) -> FilterPatterns (or ClassPatterns)
        self._channels = {}  # layer -> number of filters
        try:
            self._classes = num_classes(self.model)
        except ConvVizError:  # not a classifier: filter patterns only
            self._classes = None

        layers = list(conv_layers(self.model))
        # The engine optimizes at any size, even when the model's top fixes its input size;
        # only a model whose early layers need a fixed size pins it.
        self._fixed_size = self._engine(layers[0]).fixed_size if layers else None
        self.layer_dropdown = widgets.Dropdown(options=[(n, n) for n in layers], description="layer")
        self.filter_slider = widgets.IntSlider(min=0, max=0, description="filter")
        self.mode_toggle = widgets.ToggleButtons(
            options=[("single", "single"), ("grid", "grid")], description="mode"
        )
        self.page_slider = widgets.IntSlider(min=0, max=0, description="grid page")
        self.recipe_dropdown = widgets.Dropdown(
            options=[(name, name) for name in RECIPES], description="recipe"
        )
        targets = [("filters", "filters")] + ([("classes", "classes")] if self._classes else [])
        self.target_toggle = widgets.ToggleButtons(options=targets, description="target")
        self.steps_box = widgets.BoundedIntText(min=1, max=self.MAX_STEPS, description="steps")
        self.step_size_box = widgets.BoundedFloatText(
            min=1e-3, max=100.0, step=0.1, description="step size"
        )
        self.size_box = widgets.BoundedIntText(
            min=self.SIZES[0], max=max(self.SIZES[1], self._fixed_size or 0), description="size",
            disabled=self._fixed_size is not None,
        )
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(min=0, max=1, value=0, description="idle")
        self.children = [
            widgets.HBox([self.target_toggle, self.layer_dropdown, self.mode_toggle]),
            widgets.HBox([self.filter_slider, self.page_slider]),
            widgets.HBox([self.recipe_dropdown, self.steps_box, self.step_size_box, self.size_box]),
            widgets.HBox([self.run_button, self.stop_button, self.progress]),
            self.canvas,
            self.status,
        ]

        with self.batch():
            if self._fixed_size is not None:
                self.size = self._fixed_size
            self.layer = layers[0] if layer is None else resolve_layer(self.model, layer)
            for name, control in (
                ("layer", self.layer_dropdown),
                ("filter_index", self.filter_slider),
                ("mode", self.mode_toggle),
                ("page", self.page_slider),
                ("steps", self.steps_box),
                ("step_size", self.step_size_box),
                ("size", self.size_box),
                ("recipe", self.recipe_dropdown),
                ("target", self.target_toggle),
            ):
                widgets.link((self, name), (control, "value"))
            self.request_redraw()
        self.run_button.on_click(lambda _: self._on_run())
        self.stop_button.on_click(lambda _: self.stop())
        self.canvas.on_mouse_down(self._on_mouse_down)
        if layers and self.autorun_seconds > 0 and self._estimate() <= self.autorun_seconds:
            self.run()  # a cheap first view fills in at once

    # -- state -------------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        return [value for _, value in self.layer_dropdown.options]

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def cache(self) -> dict:
        """Finished patterns: ``Settings.key(index)`` -> uint8 (size, size, 3)."""
        return self.runner.cache

    @property
    def partial(self) -> dict:
        """Patterns of stopped (or diverged) runs, same keys, shown until computed again."""
        return self.runner.partial

    def settings(self) -> Settings:
        """What the shown patterns depend on besides their index (the cache key's first half)."""
        target = CLASSES if self.target == "classes" else self.layer
        return Settings(target, self.steps, self.step_size, self.size, self.seed,
                        RECIPES[self.recipe])

    def key(self, index: int) -> tuple:
        """The cache key of pattern ``index`` in the current settings."""
        return self.settings().key(index)

    def count(self) -> int:
        """How many patterns the current target has (the layer's filters, or the classes)."""
        return self._classes if self.target == "classes" else self.channels()

    def channels(self, layer=None) -> int:
        """Number of filters (output channels) of ``layer``."""
        from ..engines.models import layer_output_shape

        layer = self.layer if layer is None else layer
        if layer not in self._channels:
            self._channels[layer] = int(layer_output_shape(self.model, layer)[-1])
        return self._channels[layer]

    def page_filters(self) -> tuple:
        """The filters of the current grid page."""
        start = self.page * GRID
        return tuple(range(start, min(start + GRID, self.count())))

    @validate("filter_index")
    def _clamp_filter(self, proposal):
        return clamp(int(proposal["value"]), 0, self.count() - 1) if self.layer else 0

    @validate("page")
    def _clamp_page(self, proposal):
        pages = -(-self.count() // GRID) if self.layer else 1
        return clamp(int(proposal["value"]), 0, pages - 1)

    @validate("steps")
    def _clamp_steps(self, proposal):
        return clamp(int(proposal["value"]), 1, self.MAX_STEPS)

    @validate("step_size")
    def _clamp_step_size(self, proposal):
        return clamp(float(proposal["value"]), 1e-3, 100.0)

    @validate("size")
    def _clamp_size(self, proposal):
        if self._fixed_size is not None:
            return self._fixed_size
        return clamp(int(proposal["value"]), *self.SIZES)

    @observe("layer", "target")
    def _on_layer(self, change):
        with self.batch():
            channels = self.count()
            self.layer_dropdown.disabled = self.target == "classes"
            self.filter_slider.description = "class" if self.target == "classes" else "filter"
            with self.filter_slider.hold_sync():
                self.filter_slider.max = channels - 1
            with self.page_slider.hold_sync():
                self.page_slider.max = -(-channels // GRID) - 1
            self.filter_index = self.filter_index
            self.page = self.page
            self.request_redraw()

    @observe("filter_index")
    def _on_filter(self, change):
        with self.batch():
            if self.mode == "grid" and change["new"] not in self.page_filters():
                self.page = change["new"] // GRID  # the grid follows the slider
            self.request_redraw()

    @observe("mode", "page", "steps", "step_size", "size", "seed", "recipe")
    def _on_state(self, change):
        self.request_redraw()

    # -- running -----------------------------------------------------------------------------

    def _current_job(self) -> Job:
        shown = self.page_filters() if self.mode == "grid" else (self.filter_index,)
        return self.runner.job_for(self.settings(), shown)

    def run(self):
        """Optimize the shown patterns that are not cached yet, in a daemon thread (non-blocking).

        A run already going is stopped first. Returns the thread (None when all is cached).
        """
        self.stop()
        self.wait()
        job = self._current_job()
        self.clear_error()
        if not job.todo:
            self.redraw()
            return None
        self._set_running(True, job)
        self._last_draw = 0.0
        return self.runner.start(job)

    def run_sync(self) -> None:
        """``run()`` and wait for it to finish."""
        self.run()
        self.wait()

    def stop(self) -> None:
        """Ask the running optimization to stop; it ends after the step in progress."""
        self.runner.stop()

    def wait(self, timeout=None) -> bool:
        """Wait for the running optimization; returns True when none is running any more."""
        return self.runner.wait(timeout)

    def _on_run(self):
        self.run()

    def _engine(self, target):
        from ..engines import ClassPatterns, FilterPatterns

        if target not in self._engines:
            self._engines[target] = (
                ClassPatterns(self.model) if target == CLASSES else FilterPatterns(self.model, target)
            )
        return self._engines[target]

    def _estimate(self, job: Job | None = None) -> float:
        """Seconds the job (default: the current view's) will take: its FLOPs at the rate
        measured on this machine (a matmul at first, then what finished runs achieved)."""
        from ..engines.feature_vis.cost import estimate_seconds

        job = job or self._current_job()
        s = job.settings
        return estimate_seconds(self._engine(s.target), len(job.todo), s.size, s.steps, self._rate)

    def _on_step(self, job: Job, step: int):
        """Worker thread, after each step: progress, and a live frame every ``live_interval``."""
        with DRAW_LOCK:
            self.progress.value = min(step, job.settings.steps)
            self.progress.description = f"step {step}/{job.settings.steps}"
        now = time.monotonic()
        if now - self._last_draw >= self.live_interval:
            self._last_draw = now
            self._draw_live(job)

    def _on_end(self, job: Job, stopped: bool, error, seconds: float):
        """Worker thread, when the run is over: the final frame, the status, the buttons."""
        from ..engines.feature_vis import Diverged

        if error is None or isinstance(error, Diverged):
            self._draw_live(job)
        if error is not None:
            self.show_error(error)
        elif not stopped and seconds > 0:
            from ..engines.feature_vis.cost import forward_flops

            s = job.settings
            flops = forward_flops(self._engine(s.target), s.size)
            self._rate = 3.0 * flops * len(job.todo) * s.steps / seconds
        self._set_running(False, job, stopped=stopped)

    def _set_running(self, running: bool, job: Job, stopped: bool = False):
        steps = job.settings.steps
        with DRAW_LOCK:
            with self.progress.hold_sync():
                if running:
                    self.progress.max = steps
                    self.progress.value = 0
                    self.progress.description = f"step 0/{steps}"
                else:
                    self.progress.description = "stopped" if stopped else "done"
                    if not stopped:
                        self.progress.value = self.progress.max
            self.run_button.disabled = running
            self.stop_button.disabled = not running

    # -- rendering ---------------------------------------------------------------------------

    def _draw_live(self, job: Job):
        """Draw the running job's frame, if the user still looks at it (else it stays cached)."""
        with DRAW_LOCK:
            generation = self.next_generation()
            current = self._current_job()
            if (current.settings, current.shown) != (job.settings, job.shown):
                return
            try:
                frame = self._render()
            except Exception:  # noqa: BLE001 - a state mid-change; the main thread redraws
                return
            self.draw(frame, generation)

    def _render(self):
        job = self._current_job()
        images = [self.runner.image(job.settings, f) for f in job.shown]
        if self.mode == "single":
            frame, self.layout_grid = pattern_grid(images, cols=1, pad=0, size=self.size)
            frame = fit_size(frame, self.display_size)
        else:
            first = job.shown[0] if job.shown else 0
            highlight = self.filter_index - first if self.filter_index in job.shown else None
            frame, self.layout_grid = pattern_grid(
                images, cols=GRID_COLS, pad=2, highlight=highlight, size=self.size
            )
        if all(image is None for image in images):  # nothing to show yet: say what Run does
            frame = caption(frame, self._plan(job))
        return frame

    def _plan(self, job: Job) -> list[str]:
        """What Run will do, and about how long it will take (the uncomputed view's caption)."""
        s = job.settings
        n = len(job.todo)
        if s.target == CLASSES:
            what = f"{n} class pattern{'s' * (n != 1)}"
        else:
            what = f"{n} filter{'s' * (n != 1)} of {s.target}"
        seconds = self._estimate(job)
        took = f"about {seconds:.0f} s" if seconds >= 1.5 else "about a second or less"
        return [f"Run: {what}", f"{s.steps} steps, {s.size} px, {self.recipe}", took]

    def _on_mouse_down(self, x, y):
        if self.mode != "grid" or self.layout_grid is None:
            return
        index = self.layout_grid.index_at(x, y)
        if index is not None:
            self.filter_index = self.page * GRID + index

"""FilterExplorer: the input pattern each filter responds to most, optimized live in the background."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import ipywidgets as widgets
from traitlets import Enum, Float, Int, observe, validate

from ..render.frames import fit_size
from ..render.patterns import pattern_grid
from ._base import Explorer
from ._canvas import DRAW_LOCK
from ._controls import as_model, clamp

GRID = 64  # filters per grid page
GRID_COLS = 8


@dataclass(frozen=True)
class _Job:
    """One optimization: these filters of this layer with these settings."""

    layer: str
    filters: tuple  # the filters shown (a page, or one)
    todo: tuple  # those not in the cache, optimized as one batch
    steps: int
    step_size: float
    size: int
    seed: int
    mode: str

    def key(self, f):
        return (self.layer, f, self.steps, self.step_size, self.size, self.seed)


class FilterExplorer(Explorer):
    """Filter patterns by gradient ascent, one filter large or a grid page of 64 filling in live.

    ``run()`` optimizes in a daemon thread; the canvas shows the patterns every
    ``live_interval`` seconds while the kernel stays free; ``stop()`` ends the run within one
    step. Finished patterns are cached per (layer, filter, steps, step_size, size, seed), so
    coming back to a computed filter is instant and runs only optimize what is missing.

    Traits: ``layer``, ``filter_index``, ``steps``, ``step_size``, ``size``, ``mode``
    ("single" | "grid"), ``page`` (grid page, 64 filters each), ``seed``.
    """

    filter_index = Int(0)
    steps = Int(40)
    step_size = Float(1.0)
    size = Int(64)
    mode = Enum(("single", "grid"), default_value="single")
    page = Int(0)
    seed = Int(0)

    MAX_STEPS = 1000
    SIZES = (16, 512)

    def __init__(self, model, layer=None, preprocess=None, *, display_size=300, live_interval=0.15):
        from ..engines import conv_layers
        from ..engines.models import resolve_layer

        super().__init__()
        self.model = as_model(model)
        # Patterns are optimized in the model's input space (the original method), so no
        # preprocessing is applied; the argument is accepted for a uniform signature.
        self.preprocess = preprocess
        self.display_size = display_size
        self.live_interval = live_interval
        self.layout_grid = None
        self.cache = {}  # (layer, filter, steps, step_size, size, seed) -> uint8 (size, size, 3)
        self._engines = {}  # layer -> FilterPatterns
        self._channels = {}  # layer -> number of filters
        self._thread = None
        self._stop_event = threading.Event()
        self._job = None  # the job of the running (or last) optimization
        self._live = None  # (job, {filter: image}) of the running optimization
        self.partial = {}  # same keys as cache: patterns of stopped runs, shown until redone

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
            widgets.HBox([self.layer_dropdown, self.mode_toggle]),
            widgets.HBox([self.filter_slider, self.page_slider]),
            widgets.HBox([self.steps_box, self.step_size_box, self.size_box]),
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
            ):
                widgets.link((self, name), (control, "value"))
            self.request_redraw()
        self.run_button.on_click(lambda _: self._on_run())
        self.stop_button.on_click(lambda _: self.stop())
        self.canvas.on_mouse_down(self._on_mouse_down)

    # -- state -------------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        return [value for _, value in self.layer_dropdown.options]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
        return tuple(range(start, min(start + GRID, self.channels())))

    @validate("filter_index")
    def _clamp_filter(self, proposal):
        return clamp(int(proposal["value"]), 0, self.channels() - 1) if self.layer else 0

    @validate("page")
    def _clamp_page(self, proposal):
        pages = -(-self.channels() // GRID) if self.layer else 1
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

    @observe("layer")
    def _on_layer(self, change):
        with self.batch():
            channels = self.channels()
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

    @observe("mode", "page", "steps", "step_size", "size", "seed")
    def _on_state(self, change):
        self.request_redraw()

    # -- running -----------------------------------------------------------------------------

    def _current_job(self) -> _Job:
        filters = self.page_filters() if self.mode == "grid" else (self.filter_index,)
        job = _Job(self.layer, filters, (), self.steps, self.step_size, self.size, self.seed,
                   self.mode)
        todo = tuple(f for f in filters if job.key(f) not in self.cache)
        return _Job(job.layer, filters, todo, job.steps, job.step_size, job.size, job.seed,
                    job.mode)

    def run(self) -> threading.Thread | None:
        """Optimize the shown filters that are not cached yet, in a daemon thread (non-blocking).

        A run already going is stopped first. Returns the thread (None when all is cached).
        """
        self.stop()
        self.wait()
        job = self._current_job()
        self.clear_error()
        if not job.todo:
            self.redraw()
            return None
        self._stop_event = threading.Event()
        self._job = job
        self._set_running(True, job)
        thread = threading.Thread(
            target=self._work, args=(job, self._stop_event), name="convviz-filter-patterns",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        return thread

    def run_sync(self) -> None:
        """``run()`` and wait for it to finish."""
        self.run()
        self.wait()

    def stop(self) -> None:
        """Ask the running optimization to stop; it ends after the step in progress."""
        self._stop_event.set()

    def wait(self, timeout=None) -> bool:
        """Wait for the running optimization; returns True when none is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _on_run(self):
        self.run()

    def _engine(self, layer):
        from ..engines import FilterPatterns

        if layer not in self._engines:
            self._engines[layer] = FilterPatterns(self.model, layer)
        return self._engines[layer]

    def _work(self, job: _Job, stop_event: threading.Event):
        """Worker thread: the engine's callback draws live frames; results go to the cache."""
        last_draw = [time.monotonic()]
        live = {}
        self._live = (job, live)
        stopped = False

        def callback(step, images):
            if stop_event.is_set():
                return False
            for f, image in zip(job.todo, images, strict=True):
                live[f] = image
            with DRAW_LOCK:
                self.progress.value = min(step, job.steps)
                self.progress.description = f"step {step}/{job.steps}"
            now = time.monotonic()
            if now - last_draw[0] >= self.live_interval:
                last_draw[0] = now
                self._draw_live(job)
            return not stop_event.is_set()

        try:
            images = self._engine(job.layer).generate(
                list(job.todo), size=job.size, steps=job.steps, step_size=job.step_size,
                seed=job.seed, callback=callback,
            )
            stopped = stop_event.is_set()
            if not stopped:
                for f, image in zip(job.todo, images, strict=True):
                    self.cache[job.key(f)] = image
            else:
                for f, image in zip(job.todo, images, strict=True):
                    live[f] = image
                    self.partial[job.key(f)] = image
            self._draw_live(job)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            stopped = True
            self.show_error(exc)
        finally:
            self._live = None
            self._set_running(False, job, stopped=stopped)

    def _set_running(self, running: bool, job: _Job, stopped: bool = False):
        with DRAW_LOCK:
            with self.progress.hold_sync():
                if running:
                    self.progress.max = job.steps
                    self.progress.value = 0
                    self.progress.description = f"step 0/{job.steps}"
                else:
                    self.progress.description = "stopped" if stopped else "done"
                    if not stopped:
                        self.progress.value = self.progress.max
            self.run_button.disabled = running
            self.stop_button.disabled = not running

    # -- rendering ---------------------------------------------------------------------------

    def _draw_live(self, job: _Job):
        """Draw the running job's frame, if the user still looks at it (else it stays cached)."""
        with DRAW_LOCK:
            generation = self.next_generation()
            current = self._current_job()
            if (current.layer, current.filters, current.steps, current.step_size, current.size,
                    current.seed, current.mode) != (job.layer, job.filters, job.steps,
                                                    job.step_size, job.size, job.seed, job.mode):
                return
            try:
                frame = self._render()
            except Exception:  # noqa: BLE001 - a state mid-change; the main thread redraws
                return
            self.draw(frame, generation)

    def _render(self):
        live = self._live
        job = self._current_job()
        running = {}
        if live is not None and (live[0].layer, live[0].steps, live[0].step_size, live[0].size,
                                 live[0].seed) == (job.layer, job.steps, job.step_size, job.size,
                                                   job.seed):
            running = live[1]
        # finished patterns first, then the running optimization's, then a stopped run's
        images = [
            self.cache.get(job.key(f), running.get(f, self.partial.get(job.key(f))))
            for f in job.filters
        ]
        if self.mode == "single":
            frame, self.layout_grid = pattern_grid(images, cols=1, pad=0, size=self.size)
            return fit_size(frame, self.display_size)
        first = job.filters[0] if job.filters else 0
        highlight = self.filter_index - first if self.filter_index in job.filters else None
        frame, self.layout_grid = pattern_grid(
            images, cols=GRID_COLS, pad=2, highlight=highlight, size=self.size
        )
        return frame

    def _on_mouse_down(self, x, y):
        if self.mode != "grid" or self.layout_grid is None:
            return
        index = self.layout_grid.index_at(x, y)
        if index is not None:
            self.filter_index = self.page * GRID + index

"""CamExplorer: where in the image is class k? One CAM method, or several side by side, with a
faithfulness readout computed in the background."""

from __future__ import annotations

import html
import inspect
import threading
import time
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Enum, Float, Int, Tuple, Unicode, observe, validate

from ..errors import ConvVizError
from ..render.compare import compare_frame, method_label
from ..render.curves import CURVE_SIZE, curve_plot
from ..render.frames import CAM_COLORMAP, COLORMAPS, encode_png, fit_size, tile, upscale
from ..render.overlay import heatmap_frame, overlay
from ._base import ImageExplorer, shows_errors
from ._canvas import DRAW_LOCK
from ._controls import as_image, as_model, check_choice, clamp

TOP_K = 5

#: Methods whose map takes many forward passes: computed in a background thread, drawn as it
#: fills in, stoppable.
PROGRESSIVE = frozenset({"scorecam"})


@dataclass(frozen=True)
class Faithfulness:
    """The readout of one map: ``engines.metrics`` deletion and insertion curves, average drop."""

    deletion: object  # metrics.Curve: .fractions, .probabilities, .auc
    insertion: object
    average_drop: float
    increased: bool


@dataclass(frozen=True)
class _MapJob:
    """One progressive map: this method at this layer for this class of this image."""

    image_id: int
    method: str
    layer: str
    class_index: int

    @property
    def key(self):
        return (self.method, self.layer, self.class_index)


class CamExplorer(ImageExplorer):
    """Class activation map of one class over the image, and the raw low-resolution map beside
    it; or, in the compare view, one captioned overlay per method in one row.

    The class dropdown lists the top predictions with their probabilities first (from the
    scores of the CAM engine's own forward pass: a new image runs the model once), then every
    class; the search box finds any class by typing. Switching class or layer reuses the
    forward pass; maps already computed for this image are kept. Score-CAM runs in a
    background thread and its map is drawn as its masked batches finish; Stop ends it after
    the batch in progress (its partial map stays shown), Run resumes.

    Below the map, the faithfulness readout of the shown map (``engines.metrics``: deletion and
    insertion curves with their AUC, average drop) is computed in a background thread after
    the map is on screen; a result is only ever shown for the state it was computed for.

    Traits: ``method`` (one of ``CAM_METHODS``), ``class_index``, ``layer`` (default: the last
    conv layer), ``alpha`` (heatmap opacity, 0..1), ``colormap``, ``view`` ("single" |
    "compare"), ``compare`` (the methods of the compare view), ``readout`` (compute the
    faithfulness readout), ``readout_steps`` (steps of the deletion / insertion curves).

    ``options``: extra engine options per method, e.g. ``{"scorecam": {"max_channels": 64}}``;
    ``score`` goes to every method that takes one. ``wait()`` blocks until the background work
    is done (scripts, tests); ``stop()`` / ``run()`` are the Stop and Run buttons.
    """

    method = Unicode("gradcam")
    class_index = Int(0)
    alpha = Float(0.4)
    colormap = Unicode(CAM_COLORMAP)
    view = Enum(("single", "compare"), default_value="single")
    compare = Tuple()
    readout = Bool(True)
    readout_steps = Int(50)

    MAX_READOUT_STEPS = 500

    def __init__(self, model, img, layer=None, preprocess=None, *, method="gradcam",
                 score="logit", size=300, pad=4, compare_size=200, live_interval=0.15,
                 readout=True, options=None):  # fmt: skip
        from ..engines import CAM_METHODS, conv_layers
        from ..engines.models import class_names, last_conv_layer, resolve_layer

        super().__init__()
        self.model = as_model(model)
        self.size = size  # longest side of the overlay, px
        self.compare_size = compare_size  # longest side of each compare panel, px
        self.pad = pad
        self.live_interval = live_interval  # s between progressive Score-CAM frames
        self.methods = tuple(CAM_METHODS)
        self.layout_frame = None  # GridLayout of the panels (single: 0 overlay, 1 raw map)
        self._preprocess = preprocess
        self._score = score
        self._options = dict(options or {})  # method -> extra engine options, e.g. max_channels
        self._engines = {}  # (method, layer) -> engine
        self._heatmaps = {}  # (method, layer, class_index) -> (heatmap, centres), current image
        self._image_id = 0  # counts images: background results carry the id they were made for
        self.class_names = list(class_names(self.model))
        self.top = []  # [(class_index, label, probability)] for the current image

        # Progressive maps (Score-CAM): one worker thread at a time.
        self._map_thread = None
        self._map_job = None
        self._map_stop = threading.Event()
        self._user_stopped = False
        self._live = None  # (job, partial map, centres) while a progressive map runs
        self._partial = {}  # key -> (map, centres) of stopped runs, current image
        self._stopped = set()  # keys the user stopped: not restarted until Run
        self._missing = []  # progressive keys the last render showed incomplete
        self._halting = False  # a new image is being prepared: start no worker

        # Faithfulness readout: one worker thread, the latest request wins.
        self._readouts = {}  # readout key -> Faithfulness, current image
        self._readout_cond = threading.Condition()
        self._readout_wanted = None  # (key, image, heatmap) the worker does next
        self._readout_inflight = None  # the key it is computing
        self._readout_busy = False
        self.curve_frame = None  # the RGBA curve plot shown, None when none is

        layers = list(conv_layers(self.model))
        layer = last_conv_layer(self.model) if layer is None else resolve_layer(self.model, layer)

        self.method_dropdown = widgets.Dropdown(
            options=[(method_label(m), m) for m in self.methods], description="method"
        )
        self.class_dropdown = widgets.Dropdown(description="class")
        self.class_search = widgets.Combobox(
            options=self._all_class_labels(),
            ensure_option=True,
            placeholder="type to find a class",
            description="find",
        )
        self.layer_dropdown = widgets.Dropdown(options=[(n, n) for n in layers], description="layer")
        self.alpha_slider = widgets.FloatSlider(
            min=0.0, max=1.0, step=0.05, description="opacity", readout_format=".2f"
        )
        cmaps = list(COLORMAPS) if CAM_COLORMAP in COLORMAPS else [CAM_COLORMAP, *COLORMAPS]
        self.colormap_dropdown = widgets.Dropdown(
            options=[(n, n) for n in cmaps], description="colormap"
        )
        self.view_toggle = widgets.ToggleButtons(
            options=[("single", "single"), ("compare", "compare")], description="view"
        )
        self.compare_select = widgets.SelectMultiple(
            options=[(method_label(m), m) for m in self.methods], rows=len(self.methods),
            description="compare",
        )
        self.run_button = widgets.Button(description="Run", icon="play", disabled=True)
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(min=0, max=1, value=0, description="idle")
        self.readout_checkbox = widgets.Checkbox(description="faithfulness", indent=False)
        self.readout_html = widgets.HTML()
        self.curve_image = widgets.Image(format="png", width=CURVE_SIZE[1], height=CURVE_SIZE[0])
        self.info = widgets.HTML()
        self.children = [
            widgets.HBox([self.class_dropdown, self.class_search]),
            widgets.HBox([self.method_dropdown, self.layer_dropdown]),
            widgets.HBox([self.colormap_dropdown, self.view_toggle]),
            self.alpha_slider,
            widgets.HBox([self.run_button, self.stop_button, self.progress]),
            self.info,
            self.canvas,
            widgets.HBox([self.curve_image, widgets.VBox([self.readout_checkbox, self.readout_html])]),
            self.compare_select,
            self.status,
        ]

        with self.batch():
            self.compare = self.methods
            self.compare_select.layout.display = "none"  # shown in the compare view
            self.readout = bool(readout)
            self.method = method
            self.layer = layer
            self._set_image(img)
            for name, control in (
                ("method", self.method_dropdown),
                ("class_index", self.class_dropdown),
                ("layer", self.layer_dropdown),
                ("alpha", self.alpha_slider),
                ("colormap", self.colormap_dropdown),
                ("view", self.view_toggle),
                ("compare", self.compare_select),
                ("readout", self.readout_checkbox),
            ):
                widgets.link((self, name), (control, "value"))
            self.request_redraw()
        self.class_search.observe(self._on_search, "value")
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.canvas.on_mouse_down(self._on_mouse_down)

    # -- state -------------------------------------------------------------------------------

    @property
    def heatmap(self):
        """The map of the current method, class and layer (float32 (h, w), 0..1); None while
        a progressive map is still being computed."""
        entry = self._heatmaps.get((self.method, self.layer, self.class_index))
        if entry is None and self.method not in PROGRESSIVE:
            entry = self._heatmap(self.method, self.layer, self.class_index)
        return None if entry is None else entry[0]

    @property
    def centres(self):
        """Where the map's cells sit in the image (the engine's ``centres``; None: stretched)."""
        return self._engine(self.layer).centres

    @property
    def running(self) -> bool:
        """Whether a progressive map (Score-CAM) is being computed."""
        return self._map_thread is not None and self._map_thread.is_alive()

    @property
    def faithfulness(self) -> Faithfulness | None:
        """The readout of the shown map, when it has been computed (else None)."""
        result = self._readouts.get(self._readout_key())
        return result if isinstance(result, Faithfulness) else None

    def _all_class_labels(self) -> list[str]:
        return [f"[{i}] {name}" for i, name in enumerate(self.class_names)]

    def _prepare_image(self, img):
        """Everything a new image needs, computed without changing the explorer (may fail).

        The current method's engine runs the model once: its scores give the top predictions,
        and (for the one-pass methods) the map of the top class comes with them.
        """
        image = as_image(img, self.model)
        self._halt_map_worker()  # the engines are not shared with a running worker
        engine = self._engine(self.layer)
        heat = None
        if self.method not in PROGRESSIVE:
            heat = engine.compute(image)  # the top class, fused with the forward pass
        top = engine.top_classes(image, k=min(TOP_K, len(self.class_names)))
        probabilities = np.asarray(engine.probabilities)
        top = [(int(i), self.class_names[i], float(probabilities[i])) for i in top]
        entry = None if heat is None else (self.method, self.layer, top[0][0], heat, engine.centres)
        return image, top, entry

    def _apply_image(self, prepared) -> None:
        image, top, entry = prepared
        self._halt_map_worker()  # never while holding DRAW_LOCK: the worker needs it to end
        with DRAW_LOCK:
            self._image = image
            self._image_id += 1
            self._heatmaps, self._partial, self._stopped, self._readouts = {}, {}, set(), {}
            self._live = None
            if entry is not None:
                method, layer, k, heat, centres = entry
                self._heatmaps[(method, layer, k)] = heat, centres
        self.top = list(top)
        options = [(f"{label} ({prob:.2f})", int(idx)) for idx, label, prob in self.top]
        options += [(text, i) for i, text in enumerate(self._all_class_labels())]
        with self.class_dropdown.hold_sync():
            self.class_dropdown.options = options
            self.class_dropdown.index = 0
        self.class_index = int(self.top[0][0]) if self.top else 0
        self.info.value = "top: " + ", ".join(
            f"{html.escape(label)} {prob:.2f}" for _, label, prob in self.top
        )

    @validate("method")
    def _check_method(self, proposal):
        try:
            check_choice("method", proposal["value"], self.methods)
        except Exception as exc:
            self.show_error(exc)
            raise
        return proposal["value"]

    @validate("compare")
    def _check_compare(self, proposal):
        value = tuple(proposal["value"])
        try:
            if not value:
                raise ConvVizError(
                    f"compare: expected at least one of {', '.join(self.methods)}; got none"
                )
            for m in value:
                check_choice("compare", m, self.methods)
        except Exception as exc:
            self.show_error(exc)
            raise
        return tuple(dict.fromkeys(value))  # each method once, in the order given

    @validate("class_index")
    def _clamp_class(self, proposal):
        return clamp(int(proposal["value"]), 0, max(len(self.class_names) - 1, 0))

    @validate("alpha")
    def _clamp_alpha(self, proposal):
        return clamp(float(proposal["value"]), 0.0, 1.0)

    @validate("readout_steps")
    def _clamp_steps(self, proposal):
        return clamp(int(proposal["value"]), 1, self.MAX_READOUT_STEPS)

    @validate("colormap")
    def _check_colormap(self, proposal):
        from ..render.frames import colormap_lut

        try:
            colormap_lut(proposal["value"])  # a ConvVizError naming the choices if unknown
        except Exception as exc:
            self.show_error(exc)
            raise
        return proposal["value"]

    @observe("method", "class_index", "layer", "alpha", "colormap", "view", "compare")
    def _on_state(self, change):
        self.request_redraw()

    @observe("view")
    def _on_view(self, change):
        self.compare_select.layout.display = None if change["new"] == "compare" else "none"

    @observe("readout", "readout_steps")
    def _on_readout_state(self, change):
        self._update_readout()

    @shows_errors
    def _on_search(self, change):
        text = change["new"]
        if not text:
            return
        labels = self._all_class_labels()
        check_choice("class", text, labels)
        self.class_index = labels.index(text)

    @shows_errors
    def _on_mouse_down(self, x, y):
        if self.view != "compare" or self.layout_frame is None:
            return
        index = self.layout_frame.index_at(x, y)
        if index is not None:
            self.method = self.compare[index]

    # -- engines and maps ----------------------------------------------------------------------

    def _engine(self, layer, method=None):
        from ..engines.cam import cam, method_class

        method = self.method if method is None else method
        engine = self._engines.get((method, layer))
        if engine is None:
            options = dict(self._options.get(method, {}))
            if "score" in inspect.signature(method_class(method).__init__).parameters:
                options.setdefault("score", self._score)
            engine = cam(self.model, method, layer=layer, preprocess=self._preprocess, **options)
            self._engines[(method, layer)] = engine
        return engine

    def _heatmap(self, method, layer, class_index):
        """(map, centres) of a one-pass method, computed on first use (main thread only)."""
        key = (method, layer, class_index)
        if key not in self._heatmaps:
            engine = self._engine(layer, method)
            heatmap = engine.compute(self._image, class_index=class_index)
            self._heatmaps[key] = heatmap, engine.centres
        return self._heatmaps[key]

    def _map_for(self, method, compute: bool, missing: list):
        """(map, centres, complete) for the current layer and class; map None: nothing yet."""
        key = (method, self.layer, self.class_index)
        if key in self._heatmaps:
            return (*self._heatmaps[key], True)
        if method not in PROGRESSIVE:
            if not compute:
                raise _NotReady
            return (*self._heatmap(*key), True)
        missing.append(key)  # shown incomplete: wanted from the worker
        live = self._live
        if live is not None and live[0].key == key and live[0].image_id == self._image_id:
            return live[1], live[2], False
        if key in self._partial:
            return (*self._partial[key], False)
        return None, None, False

    # -- rendering ---------------------------------------------------------------------------

    def _redraw(self) -> None:
        super()._redraw()
        self._after_draw()

    def _render(self):
        self._missing = []  # a failed render starts nothing
        frame, self.layout_frame, self._missing = self._render_frame(compute=True)
        return frame

    def _render_frame(self, compute: bool):
        """(frame, layout, progressive keys shown incomplete) of the current state; ``compute``:
        whether one-pass maps may be computed (only the main thread computes them)."""
        missing = []
        if self.view == "compare":
            methods = list(self.compare)
            entries = [self._map_for(m, compute, missing) for m in methods]
            frame, layout = compare_frame(
                self._image, [e[0] for e in entries], [method_label(m) for m in methods],
                alpha=self.alpha, colormap=self.colormap, centres=[e[1] for e in entries],
                size=self.compare_size, pad=self.pad,
                highlight=methods.index(self.method) if self.method in methods else None,
            )  # fmt: skip
            return frame, layout, missing
        heatmap, centres, _ = self._map_for(self.method, compute, missing)
        if heatmap is None:  # a progressive map not started yet: the layer's size, all zero
            from ..engines.models import layer_output_shape

            heatmap = np.zeros(tuple(layer_output_shape(self.model, self.layer)[1:3]), np.float32)
        left = overlay(self._image, heatmap, self.alpha, self.colormap, centres=centres)
        left = fit_size(left, self.size)
        right = upscale(heatmap_frame(heatmap, self.colormap), left.shape[:2])
        frame, layout = tile([left, right], cols=2, pad=self.pad)
        return frame, layout, missing

    @shows_errors
    def _after_draw(self) -> None:
        """Start what the frame just drawn still lacks: a progressive map, the readout."""
        with DRAW_LOCK:
            self._schedule_maps()
            self._update_readout()

    def _draw_live(self, job: _MapJob) -> None:
        """Draw from the worker thread, if the state still shows the job's map."""
        with DRAW_LOCK:
            generation = self.next_generation()
            if job.image_id != self._image_id or job.layer != self.layer or (
                job.class_index != self.class_index
            ):
                return
            if job.method != self.method and (self.view != "compare" or job.method not in self.compare):
                return
            try:
                frame, layout, _ = self._render_frame(compute=False)
            except Exception:  # noqa: BLE001 - a state mid-change; the main thread redraws
                return
            if self.draw(frame, generation):
                self.layout_frame = layout

    # -- progressive maps (Score-CAM) ----------------------------------------------------------

    def run(self) -> threading.Thread | None:
        """Compute the progressive maps the current state shows and lacks (also after Stop)."""
        with DRAW_LOCK:
            self._stopped.clear()
            self._partial.clear()
        self.redraw()
        return self._map_thread if self.running else None

    def stop(self) -> None:
        """Stop the progressive map being computed after its batch in progress."""
        self._user_stopped = True
        self._map_stop.set()

    def wait(self, timeout=None) -> bool:
        """Wait for the background work (progressive map, then readout); True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            thread = self._map_thread
            if thread is not None and thread.is_alive():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            with self._readout_cond:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._readout_cond.wait_for(lambda: not self._readout_busy, left)
            if not self.running and not self._readout_busy:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _halt_map_worker(self) -> None:
        """Stop the worker (not as the user's Stop: the job restarts when shown again) and wait."""
        self._halting = True
        try:  # a worker ending right now may have started the next one: stop that one too
            while (thread := self._map_thread) is not None and thread.is_alive():
                self._map_stop.set()
                thread.join()
        finally:
            self._halting = False

    def _schedule_maps(self) -> None:
        """Start the worker on the first progressive map the last render left blank."""
        wanted = [k for k in self._missing if k not in self._stopped and k not in self._heatmaps]
        if self.running and self._map_thread is not threading.current_thread():
            job = self._map_job
            if job.image_id != self._image_id or job.key not in wanted:
                self._map_stop.set()  # superseded: its thread starts the next one as it ends
            return
        if not wanted or self._halting:
            return
        method, layer, k = wanted[0]
        engine = self._engine(layer, method)  # bad options: a ConvVizError here, in the status
        job = _MapJob(self._image_id, method, layer, k)
        self._map_stop = threading.Event()
        self._user_stopped = False
        self._map_job = job
        self._set_running(True, method)
        self._map_thread = threading.Thread(
            target=self._map_work, args=(job, engine, self._image, self._map_stop),
            name="convviz-cam-map", daemon=True,
        )  # fmt: skip
        self._map_thread.start()

    def _map_work(self, job: _MapJob, engine, image, stop_event: threading.Event) -> None:
        """Worker thread: the engine's callback draws the partial map; the result is cached."""
        last_draw = [0.0]
        stopped = False

        def callback(done, total, partial):
            if stop_event.is_set():
                return False
            with DRAW_LOCK:
                self._live = (job, partial, engine.centres)
                with self.progress.hold_sync():
                    self.progress.max, self.progress.value = max(int(total), 1), int(done)
                    self.progress.description = f"{done}/{total}"
            now = time.monotonic()
            if now - last_draw[0] >= self.live_interval:
                last_draw[0] = now
                self._draw_live(job)
            return not stop_event.is_set()

        try:
            heatmap = engine.compute(image, class_index=job.class_index, callback=callback)
            stopped = stop_event.is_set()
            with DRAW_LOCK:
                self._live = None
                if job.image_id == self._image_id:
                    if not stopped:
                        self._heatmaps[job.key] = heatmap, engine.centres
                    elif self._user_stopped:
                        self._partial[job.key] = heatmap, engine.centres
                        self._stopped.add(job.key)
            self._draw_live(job)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            stopped = True
            with DRAW_LOCK:
                self._live = None
                self._stopped.add(job.key)  # not retried in a loop; Run retries
            self.show_error(exc)
        finally:
            self._set_running(False, job.method, stopped=stopped)
        if job.image_id == self._image_id and not self._halting:
            self._after_draw()  # the next missing map, or the readout of this one

    def _set_running(self, running: bool, method: str, stopped: bool = False) -> None:
        with DRAW_LOCK:
            with self.progress.hold_sync():
                if running:
                    self.progress.value = 0
                    self.progress.description = f"{method_label(method)}…"
                else:
                    self.progress.description = "stopped" if stopped else "done"
                    if not stopped:
                        self.progress.value = self.progress.max
            self.stop_button.disabled = not running
            self.run_button.disabled = running or not self._stopped

    # -- faithfulness readout ------------------------------------------------------------------

    def _readout_key(self):
        return (self._image_id, self.method, self.layer, self.class_index, self.readout_steps)

    def _update_readout(self) -> None:
        """Show the readout of the current map, or ask the worker for it."""
        with DRAW_LOCK:
            if not self.readout:
                self._show_readout(None, "")
                return
            key = self._readout_key()
            result = self._readouts.get(key)
            if result is not None:
                self._show_readout(result)
                return
            entry = self._heatmaps.get(key[1:4])
            if entry is None:
                text = ""
                if key[1:4] in self._stopped:
                    text = "faithfulness: not computed for a stopped map (Run completes it)"
                elif key[1] in PROGRESSIVE:
                    text = "faithfulness: waiting for the map"
                self._show_readout(None, text)
                return
            self._show_readout(None, "faithfulness: computing…")
            request = (key, self._image, entry[0])
        with self._readout_cond:
            if key == self._readout_inflight:
                self._readout_wanted = None  # that one is being computed (a redraw, e.g. alpha)
                return
            self._readout_wanted = request
            if not self._readout_busy:
                self._readout_busy = True
                threading.Thread(
                    target=self._readout_work, name="convviz-cam-readout", daemon=True
                ).start()

    def _readout_work(self) -> None:
        """Worker thread: compute the latest request; drop a request whose state has passed."""
        while True:
            with self._readout_cond:
                request, self._readout_wanted = self._readout_wanted, None
                self._readout_inflight = None if request is None else request[0]
                if request is None:
                    self._readout_busy = False
                    self._readout_cond.notify_all()
                    return
            key, image, heatmap = request
            try:
                result = faithfulness_of(
                    self.model, image, heatmap, key[3], steps=key[4], preprocess=self._preprocess,
                    wanted=lambda key=key: key == self._readout_key(),
                )  # fmt: skip
                if result is None:
                    continue  # the state moved on: not worth finishing
                with DRAW_LOCK:
                    if key[0] == self._image_id:
                        self._readouts[key] = result
                    if key == self._readout_key() and self.readout:
                        self._show_readout(result)
            except Exception as exc:  # noqa: BLE001 - shown in the status line
                with DRAW_LOCK:
                    if key == self._readout_key():
                        self._show_readout(None, "faithfulness: failed (see the status line)")
                        self.show_error(exc)

    def _show_readout(self, result: Faithfulness | None, text: str = "") -> None:
        with DRAW_LOCK:
            if result is None:
                self.curve_frame = None
                self.curve_image.layout.display = "none"  # no empty image box
                self.curve_image.value = b""
                self.readout_html.value = html.escape(text)
                return
            self.curve_frame = readout_plot(result)
            self.curve_image.value = encode_png(self.curve_frame)
            self.curve_image.layout.display = None
            self.readout_html.value = readout_text(result)


def faithfulness_of(model, image, heatmap, class_index, steps=50, preprocess=None,
                    wanted=lambda: True) -> Faithfulness | None:  # fmt: skip
    """The readout of ``heatmap``: ``engines.metrics`` deletion, insertion, average drop.

    ``wanted()`` is asked before each metric; None when it said no (the result is stale).
    """
    from ..engines import metrics

    if not wanted():
        return None
    deletion = metrics.deletion(model, image, heatmap, class_index, steps=steps,
                                preprocess=preprocess)  # fmt: skip
    if not wanted():
        return None
    insertion = metrics.insertion(model, image, heatmap, class_index, steps=steps,
                                  preprocess=preprocess)  # fmt: skip
    if not wanted():
        return None
    drop, increased = metrics.average_drop(model, image, heatmap, class_index, preprocess=preprocess)
    return Faithfulness(deletion, insertion, float(drop), bool(increased))


class _NotReady(Exception):
    """A worker-thread render found a map that only the main thread may compute."""


def readout_plot(result: Faithfulness):
    """The readout's curve plot (render.curve_plot of the deletion and insertion curves)."""
    return curve_plot(
        [
            (f"deletion AUC {result.deletion.auc:.3f}", result.deletion.fractions,
             result.deletion.probabilities),
            (f"insertion AUC {result.insertion.auc:.3f}", result.insertion.fractions,
             result.insertion.probabilities),
        ]
    )  # fmt: skip


def readout_text(result: Faithfulness) -> str:
    """The readout's numbers, as the HTML beside the plot shows them."""
    rose = " (the probability rose)" if result.increased else ""
    return (
        f"deletion AUC <b>{result.deletion.auc:.3f}</b> (lower is better)<br>"
        f"insertion AUC <b>{result.insertion.auc:.3f}</b> (higher is better)<br>"
        f"average drop <b>{100 * result.average_drop:.1f}%</b>{rose}"
    )

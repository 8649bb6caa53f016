"""ChannelInspector: one channel seen from every side."""

from __future__ import annotations

import time

import ipywidgets as widgets
from traitlets import Int, observe, validate

from ..render.inspector import inspector_frame
from ._base import ImageExplorer
from ._canvas import DRAW_LOCK
from ._controls import as_image, as_model, clamp
from .pattern_runner import Job, PatternRunner, Settings

TOP_K = 5


class ChannelInspector(ImageExplorer):
    """A layer's channel: its activation over the image, the channel itself, its filter
    pattern, its Grad-CAM weight for the current class and its rank among the layer's
    channels, and, with a data set, the crops where it fires most.

    Switching layer, channel or class re-renders from what the image already computed (all
    layers' activations in one forward pass; one Grad-CAM weight vector per layer and class),
    so the activation and the weight are on screen at once. The pattern follows: optimized in
    a background thread (live while it runs, ``stop()`` ends it within a step), cached per
    layer and channel. ``auto_pattern=False``: only when ``pattern()`` (or the button) asks.

    ``top``: a ``cvw.scan.top_activations(...)`` result (or {layer: result}); ``images``: a data
    set (anything ``top_activations`` takes), scanned per layer the first time it is shown.

    Traits: ``layer``, ``channel``, ``class_index``.
    """

    channel = Int(0)
    class_index = Int(0)

    def __init__(self, model, img, layer=None, preprocess=None, *, top=None, images=None, k=9,
                 size=160, pattern_size=64, pattern_steps=40, auto_pattern=True,
                 live_interval=0.15):
        from ..engines import Activations, conv_layers
        from ..engines.feature_vis.recipe import RECIPES
        from ..engines.models import class_names, model_spec

        super().__init__()
        self.model = as_model(model)
        self.spec = model_spec(self.model)
        self.size = size
        self.preprocess = preprocess
        self.auto_pattern = auto_pattern
        self.live_interval = live_interval
        self.layout_frame = None  # GridLayout of the top row: 0 overlay, 1 channel, 2 pattern
        self._settings = lambda layer: Settings(layer, int(pattern_steps), 1.0, int(pattern_size),
                                                0, RECIPES["classic"])  # fmt: skip
        self.runner = PatternRunner(self._pattern_engine, self._on_step, self._on_end)
        self._pattern_engines = {}
        self._last_draw = 0.0
        self._cams = {}  # layer -> Grad-CAM engine
        self._weights = {}  # (layer, class) -> float32 (C,), current image
        self._geometry = {}  # (layer, image size) -> CellCentres or None
        self._tops = dict(top) if isinstance(top, dict) else ({top.layer: top} if top else {})
        self._images, self._k = images, k
        self.class_names = list(class_names(self.model))
        self.top = []

        names = list(conv_layers(self.model))
        self._activations = Activations(self.model, layers=names, preprocess=preprocess)
        self._maps = {}
        self.layer_dropdown = widgets.Dropdown(options=[(n, n) for n in names], description="layer")
        self.channel_slider = widgets.IntSlider(min=0, max=0, description="channel")
        self.class_dropdown = widgets.Dropdown(description="class")
        self.pattern_button = widgets.Button(description="Pattern", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(min=0, max=int(pattern_steps), description="pattern")
        self.info = widgets.HTML()
        self.children = [
            widgets.HBox([self.layer_dropdown, self.channel_slider]),
            widgets.HBox([self.class_dropdown, self.pattern_button, self.stop_button,
                          self.progress]),  # fmt: skip
            self.info,
            self.canvas,
            self.status,
        ]
        with self.batch():
            self._set_image(img)
            self.layer = names[0] if layer is None else self.spec.resolve_layer(layer)
            widgets.link((self, "layer"), (self.layer_dropdown, "value"))
            widgets.link((self, "channel"), (self.channel_slider, "value"))
            widgets.link((self, "class_index"), (self.class_dropdown, "value"))
            self.request_redraw()
        self.pattern_button.on_click(lambda _: self.pattern())
        self.stop_button.on_click(lambda _: self.stop())

    # -- state -------------------------------------------------------------------------------

    def _prepare_image(self, img):
        """The activations of every layer and the class scores (one forward pass each)."""
        image = as_image(img, self.model)
        maps = self._activations.compute(image)
        cam = self._cam(self.spec.last_conv_layer)
        top = cam.top_classes(image, k=min(TOP_K, len(self.class_names)))
        probs = cam.probabilities
        return image, maps, [(i, self.class_names[i], float(probs[i])) for i in top]

    def _apply_image(self, prepared) -> None:
        self._image, self._maps, self.top = prepared
        self._weights = {}
        options = [(f"{label} ({p:.2f})", int(i)) for i, label, p in self.top]
        options += [(f"[{i}] {name}", i) for i, name in enumerate(self.class_names)]
        with self.class_dropdown.hold_sync():
            self.class_dropdown.options = options
            self.class_dropdown.index = 0
        self.class_index = int(self.top[0][0]) if self.top else 0

    @validate("channel")
    def _clamp_channel(self, proposal):
        fmap = self._maps.get(self.layer)
        return clamp(int(proposal["value"]), 0, fmap.shape[-1] - 1 if fmap is not None else 0)

    @validate("class_index")
    def _clamp_class(self, proposal):
        return clamp(int(proposal["value"]), 0, max(len(self.class_names) - 1, 0))

    @observe("layer")
    def _on_layer(self, change):
        with self.batch():
            with self.channel_slider.hold_sync():
                self.channel_slider.max = self._maps[self.layer].shape[-1] - 1
            self.channel = self.channel
            self.request_redraw()

    @observe("channel", "class_index")
    def _on_state(self, change):
        self.request_redraw()

    def weights(self, layer=None, class_index=None):
        """Grad-CAM channel weights float32 (C,) of ``layer`` for ``class_index`` (current ones)."""
        layer = self.layer if layer is None else layer
        k = self.class_index if class_index is None else class_index
        key = (layer, k)
        if key not in self._weights:
            self._weights[key] = self._cam(layer).channel_weights(self._image, class_index=k)
        return self._weights[key]

    @property
    def weight(self) -> float:
        """The Grad-CAM weight of the current channel for the current class."""
        return float(self.weights()[self.channel])

    @property
    def rank(self) -> int:
        """1 + how many channels of the layer weigh more than this one for the class."""
        w = self.weights()
        return 1 + int((w > w[self.channel]).sum())

    def crops(self):
        """uint8 (k, s, s, 3) top-activating crops of the current channel, or None (no data)."""
        top = self._tops.get(self.layer)
        if top is None and self._images is not None:
            from ..scan import top_activations

            top = self._tops[self.layer] = top_activations(
                self.model, self._images, self.layer, k=self._k, preprocess=self.preprocess,
                progress=False,
            )
        return None if top is None else top.crops(self.channel)

    def _cam(self, layer):
        if layer not in self._cams:
            from ..engines.cam import cam

            self._cams[layer] = cam(self.model, "gradcam", layer=layer, preprocess=self.preprocess)
        return self._cams[layer]

    # -- the pattern -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.runner.running

    def pattern_image(self, layer=None, channel=None):
        """The pattern of (layer, channel) there is so far (finished, running or stopped), or None."""
        layer = self.layer if layer is None else layer
        channel = self.channel if channel is None else channel
        return self.runner.image(self._settings(layer), channel)

    def pattern(self):
        """Optimize the current channel's pattern in the background (nothing if cached)."""
        job = self.runner.job_for(self._settings(self.layer), (self.channel,))
        if not job.todo:
            return None
        with DRAW_LOCK:
            self.pattern_button.disabled, self.stop_button.disabled = True, False
            self.progress.value = 0
        return self.runner.start(job)

    def stop(self) -> None:
        """Stop the running pattern optimization (it ends after the step in progress)."""
        self.runner.stop()

    def wait(self, timeout=None) -> bool:
        return self.runner.wait(timeout)

    def _pattern_engine(self, layer):
        from ..engines import FilterPatterns

        if layer not in self._pattern_engines:
            self._pattern_engines[layer] = FilterPatterns(self.model, layer)
        return self._pattern_engines[layer]

    def _on_step(self, job: Job, step: int):
        with DRAW_LOCK:
            self.progress.value = min(step, job.settings.steps)
        now = time.monotonic()
        if now - self._last_draw >= self.live_interval:
            self._last_draw = now
            self._draw_for(job)

    def _on_end(self, job: Job, stopped: bool, error, seconds: float):
        if error is not None:
            self.show_error(error)
        with DRAW_LOCK:
            self.pattern_button.disabled, self.stop_button.disabled = False, True
        self._draw_for(job)

    def _draw_for(self, job: Job):
        """Draw the frame from a worker thread, if the user still looks at the job's channel."""
        with DRAW_LOCK:
            if (job.settings.target, job.shown) != (self.layer, (self.channel,)):
                return
            generation = self.next_generation()
            try:
                frame = self._render()
            except Exception:  # noqa: BLE001 - a state mid-change; the main thread redraws
                return
            self.draw(frame, generation)

    # -- rendering ---------------------------------------------------------------------------

    def _redraw(self):
        super()._redraw()
        # The activation and the weight are on screen; the pattern follows in the background.
        if self.auto_pattern and self.pattern_image() is None and not self._pattern_running():
            self.pattern()

    def _pattern_running(self) -> bool:
        """Whether the running optimization is the current channel's."""
        job = self.runner.job
        return self.runner.running and job is not None and (
            (job.settings.target, job.shown) == (self.layer, (self.channel,))
        )

    def _render(self):
        fmap = self._maps[self.layer]
        w = self.weights()
        label = self.class_names[self.class_index]
        self.info.value = (
            f"<b>{self.layer}</b> channel <b>{self.channel}</b> of {fmap.shape[-1]}: "
            f"Grad-CAM weight <b>{w[self.channel]:+.4g}</b> for class <b>{label}</b>, rank "
            f"<b>{self.rank}</b> of {w.size}; activation max {fmap[..., self.channel].max():.3g}"
        )
        lines = ("filter pattern", "optimizing..." if self._pattern_running() else "press Pattern")
        frame, self.layout_frame = inspector_frame(
            self._image, fmap, self.channel, self.pattern_image(), self.crops(), size=self.size,
            centres=self._centres(self.layer), pattern_lines=lines,
        )
        return frame

    def _centres(self, layer):
        """Where the layer's cells sit in the image (``engines.geometry``), once per layer."""
        from ..engines.geometry import cell_centres

        key = (layer, self._image.shape[:2])
        if key not in self._geometry:
            self._geometry[key] = cell_centres(self.model, layer, self._image.shape[:2])
        return self._geometry[key]

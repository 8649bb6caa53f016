"""DatasetExplorer: what does a channel do across a data set, and where do CAM maps fail?

Top view: for the chosen layer and channel, the channel's filter pattern (first cell, ringed)
beside the receptive-field crops of its top-k images (``scan.top_activations``, run once per
layer and kept). Audit view: ``scan.cam_audit`` of the images, listed sorted by a metric;
"open" shows the selected image in a CamExplorer below.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from traitlets import Int, Unicode, observe, validate

from ..render.frames import draw_highlight, tile, upscale
from ._base import Explorer, shows_errors
from ._controls import as_model, check_choice, clamp

VIEWS = ("top", "audit")
SORTABLE = ("deletion", "insertion", "average_drop")
AUDIT_SHOWN = 10  # images drawn in the audit view (the list below has them all)


class DatasetExplorer(Explorer):
    """Top-k crops of a channel beside its filter pattern; an audit sorted by a metric.

    Traits: ``layer``, ``channel``, ``view`` ("top" | "audit"), ``metric`` (the audit's sort
    key; the least faithful maps first: deletion and average_drop highest first, insertion
    lowest first), ``selected``
    (the row of the sorted audit that "open" shows in ``cam_explorer``).
    """

    channel = Int(0)
    view = Unicode("top")
    metric = Unicode("deletion")
    selected = Int(0)

    def __init__(self, model, images, layer=None, *, k: int = 9, cell: int = 72, steps: int = 20,
                 audit_steps: int = 20, preprocess=None):
        from ..engines import conv_layers
        from ..engines.models import last_conv_layer, resolve_layer
        from ..scan.images import Source

        super().__init__()
        self.model = as_model(model)
        self.source = Source(images)
        self.k, self.cell, self.steps, self.audit_steps = k, cell, steps, audit_steps
        self._preprocess = preprocess
        self._tops = {}  # layer -> TopActivations
        self._patterns = {}  # (layer, channel) -> uint8 pattern
        self.audit = None  # the cam_audit DataFrame, sorted by ``metric``, once computed
        self.cam_explorer = None
        self.layout_frame = None

        self.layer_dropdown = widgets.Dropdown(
            options=[(n, n) for n in conv_layers(self.model)], description="layer"
        )
        self.channel_slider = widgets.IntSlider(min=0, max=0, description="channel")
        self.view_toggle = widgets.ToggleButtons(options=list(VIEWS), description="view")
        self.metric_dropdown = widgets.Dropdown(options=list(SORTABLE), description="sort by")
        self.rows = widgets.Select(options=[], rows=8, description="images")
        self.open_button = widgets.Button(description="open in CamExplorer")
        self.cam_box = widgets.VBox([])
        self.children = [
            widgets.HBox([self.layer_dropdown, self.channel_slider]),
            self.view_toggle,
            self.canvas,
            widgets.HBox([self.metric_dropdown, self.open_button]),
            self.rows,
            self.cam_box,
            self.status,
        ]
        with self.batch():
            self.layer = resolve_layer(self.model, layer or last_conv_layer(self.model))
            widgets.link((self, "layer"), (self.layer_dropdown, "value"))
            widgets.link((self, "channel"), (self.channel_slider, "value"))
            widgets.link((self, "view"), (self.view_toggle, "value"))
            widgets.link((self, "metric"), (self.metric_dropdown, "value"))
            self._follow_layer()
            self.request_redraw()
        self.rows.observe(self._on_row, "index")
        self.open_button.on_click(lambda _button: self.open_selected())

    # -- state -------------------------------------------------------------------------------

    @property
    def top(self):
        """The TopActivations of the current layer (scanned on first use)."""
        from ..scan.top import top_activations

        if self.layer not in self._tops:
            self._set_status(f"scanning {len(self.source)} images for {self.layer} ...")
            top = top_activations(
                self.model, self.source_images(), self.layer, k=self.k,
                preprocess=self._preprocess, progress=False,
            )
            if not top.complete:  # interrupted: show what finished, scan again next time
                self._set_status(f"stopped after {top.run.done} of {top.run.total} batches")
                return top
            self._set_status("")
            self._tops[self.layer] = top
        return self._tops[self.layer]

    def source_images(self):
        src = self.source
        return src.folder if src.folder is not None else src.array if src.array is not None else src.items

    @validate("channel")
    def _clamp_channel(self, proposal):
        return clamp(int(proposal["value"]), 0, max(self.channel_slider.max, 0))

    @validate("selected")
    def _clamp_selected(self, proposal):
        n = 0 if self.audit is None else len(self.audit)
        return clamp(int(proposal["value"]), 0, max(n - 1, 0))

    @validate("view", "metric")
    def _check_choice(self, proposal):
        name = proposal["trait"].name
        try:
            check_choice(name, proposal["value"], VIEWS if name == "view" else SORTABLE)
        except Exception as exc:
            self.show_error(exc)
            raise
        return proposal["value"]

    @observe("layer")
    def _on_layer(self, change):
        self._follow_layer()
        self.request_redraw()

    def _follow_layer(self):
        from ..engines.models import layer_output_shape

        channels = int(layer_output_shape(self.model, self.layer)[-1])
        with self.channel_slider.hold_sync():
            self.channel_slider.max = channels - 1
        self.channel = min(self.channel, channels - 1)

    @observe("channel", "view", "selected")
    def _on_state(self, change):
        self.request_redraw()

    @observe("metric")
    def _on_metric(self, change):
        if self.audit is not None:
            self._sort_audit()

    @shows_errors
    def _on_row(self, change):
        if change["new"] is not None:
            self.selected = int(change["new"])

    # -- audit -------------------------------------------------------------------------------

    @shows_errors
    def run_audit(self):
        """Compute the CAM audit (Grad-CAM; deletion, insertion, average drop) of every image."""
        from ..scan.audit import cam_audit

        self._set_status(f"auditing {len(self.source)} images ...")
        labels = self.source.labels
        masks = self.source.masks
        self.audit = cam_audit(
            self.model, self.source_images(), labels=labels, masks=masks,
            metrics=("deletion", "insertion", "average_drop", "pointing_game"),
            steps=self.audit_steps, preprocess=self._preprocess, progress=False,
        )
        self._set_status("")
        self._sort_audit()

    def _sort_audit(self):
        self.audit = self.audit.sort_values(  # the least faithful maps first
            self.metric, ascending=self.metric == "insertion", kind="stable"
        ).reset_index(drop=True)
        self.rows.options = [
            (f"{row.image}: {self.metric} {getattr(row, self.metric):.3f}", i)
            for i, row in enumerate(self.audit.itertuples())
        ]
        self.selected = 0
        self.request_redraw()

    @shows_errors
    def open_selected(self):
        """Show the selected audit row's image in a CamExplorer (for its label, else top class)."""
        import pandas as pd

        from .cam_explorer import CamExplorer

        if self.audit is None:
            self.run_audit()
        row = self.audit.iloc[clamp(self.selected, 0, len(self.audit) - 1)]
        names = self.source.names
        index = names.index(row["image"]) if isinstance(row["image"], str) else int(row["image"])
        image = self.source.image(index)
        self.cam_explorer = CamExplorer(self.model, image, preprocess=self._preprocess)
        if not pd.isna(row["label"]):
            self.cam_explorer.class_index = int(row["label"])
        self.cam_box.children = [self.cam_explorer]
        return self.cam_explorer

    # -- rendering ---------------------------------------------------------------------------

    def pattern(self, channel=None):
        """The filter pattern of ``channel`` (default: the current one), uint8 (s, s, 3)."""
        from ..engines.filter_patterns import FilterPatterns

        c = self.channel if channel is None else int(channel)
        key = (self.layer, c)
        if key not in self._patterns:
            engine = FilterPatterns(self.model, self.layer)
            size = engine.fixed_size or 64
            self._patterns[key] = engine.generate([c], size=size, steps=self.steps)[0]
        return self._patterns[key]

    def _render(self):
        if self.view == "audit":
            return self._render_audit()
        cells = [upscale(self.pattern(), (self.cell, self.cell))]
        cells += [upscale(crop, (self.cell, self.cell)) for crop in self.top.crops(self.channel)]
        frame, self.layout_frame = tile(np.stack(cells), cols=min(len(cells), 5), pad=3)
        return draw_highlight(frame, self.layout_frame, 0)

    def _render_audit(self):
        """The first AUDIT_SHOWN images in the audit's order, the selected one ringed."""
        from ..engines.batch import model_image

        if self.audit is None:
            self.run_audit()
        shown = self.audit.iloc[:AUDIT_SHOWN]
        cells = []
        for image in shown["image"]:
            index = self.source.names.index(image) if isinstance(image, str) else int(image)
            pixels = np.round(model_image(self.model, self.source.image(index))).astype(np.uint8)
            cells.append(upscale(pixels, (self.cell, self.cell)))
        frame, self.layout_frame = tile(np.stack(cells), cols=min(len(cells), 5), pad=3)
        if self.selected < len(cells):
            draw_highlight(frame, self.layout_frame, self.selected)
        return frame

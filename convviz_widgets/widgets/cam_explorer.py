"""CamExplorer: where in the image is class k? Grad-CAM over the image, raw heatmap beside it."""

from __future__ import annotations

import ipywidgets as widgets
from traitlets import Float, Int, Unicode, observe, validate

from ..render.frames import CAM_COLORMAP, COLORMAPS, fit_size, tile, upscale
from ..render.overlay import heatmap_frame, overlay
from ._base import ImageExplorer, shows_errors
from ._controls import as_image, as_model, check_choice, clamp

TOP_K = 5


class CamExplorer(ImageExplorer):
    """Grad-CAM heatmap of one class over the image, and the raw low-resolution map beside it.

    The class dropdown lists the top predictions with their probabilities first, then every
    class; the search box finds any class by typing. Switching class or layer reuses the
    forward pass; heatmaps already computed for this image are kept.

    Traits: ``class_index``, ``layer`` (default: the last conv layer), ``alpha`` (heatmap
    opacity, 0..1), ``colormap``.
    """

    class_index = Int(0)
    alpha = Float(0.4)
    colormap = Unicode(CAM_COLORMAP)

    def __init__(self, model, img, layer=None, preprocess=None, *, score="logit", size=300, pad=4):
        from ..engines import GradCAM, conv_layers
        from ..engines.models import class_names, resolve_layer

        super().__init__()
        self.model = as_model(model)
        self.size = size  # longest side of the overlay, px
        self.pad = pad
        self.layout_frame = None  # GridLayout of the two panels: 0 overlay, 1 raw heatmap
        self._preprocess = preprocess
        self._score = score
        self._gradcam_cls = GradCAM
        self._cams = {}  # layer -> GradCAM engine
        self._heatmaps = {}  # (layer, class_index) -> (heatmap, cell centres), current image
        self.class_names = list(class_names(self.model))
        self.top = []  # [(class_index, label, probability)] for the current image

        layers = list(conv_layers(self.model))
        if layer is None:
            default_cam = GradCAM(self.model, None, preprocess=preprocess, score=score)
            layer = default_cam.layer
            self._cams[layer] = default_cam
        else:
            layer = resolve_layer(self.model, layer)

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
        self.info = widgets.HTML()
        self.children = [
            widgets.HBox([self.class_dropdown, self.class_search]),
            widgets.HBox([self.layer_dropdown, self.colormap_dropdown]),
            self.alpha_slider,
            self.info,
            self.canvas,
            self.status,
        ]

        with self.batch():
            self._set_image(img)
            self.layer = layer
            widgets.link((self, "class_index"), (self.class_dropdown, "value"))
            widgets.link((self, "layer"), (self.layer_dropdown, "value"))
            widgets.link((self, "alpha"), (self.alpha_slider, "value"))
            widgets.link((self, "colormap"), (self.colormap_dropdown, "value"))
            self.request_redraw()
        self.class_search.observe(self._on_search, "value")

    # -- state -------------------------------------------------------------------------------

    @property
    def heatmap(self):
        """The heatmap of the current class and layer (float32 (h, w), 0..1)."""
        return self._heatmap(self.layer, self.class_index)[0]

    @property
    def centres(self):
        """Where the heatmap's cells sit in the image (``GradCAM.centres``; None: stretched)."""
        return self._heatmap(self.layer, self.class_index)[1]

    def _all_class_labels(self) -> list[str]:
        return [f"[{i}] {name}" for i, name in enumerate(self.class_names)]

    def _prepare_image(self, img):
        """Everything a new image needs, computed without changing the explorer (may fail)."""
        from ..engines import predict_top

        image = as_image(img, self.model)
        top = predict_top(
            self.model, image, k=min(TOP_K, len(self.class_names)), preprocess=self._preprocess
        )
        return image, top

    def _apply_image(self, prepared) -> None:
        image, top = prepared
        self._image = image
        self._heatmaps = {}
        self.top = list(top)
        options = [(f"{label} ({prob:.2f})", int(idx)) for idx, label, prob in self.top]
        options += [(text, i) for i, text in enumerate(self._all_class_labels())]
        with self.class_dropdown.hold_sync():
            self.class_dropdown.options = options
            self.class_dropdown.index = 0
        self.class_index = int(self.top[0][0]) if self.top else 0
        self.info.value = "top: " + ", ".join(
            f"{label} {prob:.2f}" for _, label, prob in self.top
        )

    @validate("class_index")
    def _clamp_class(self, proposal):
        return clamp(int(proposal["value"]), 0, max(len(self.class_names) - 1, 0))

    @validate("alpha")
    def _clamp_alpha(self, proposal):
        return clamp(float(proposal["value"]), 0.0, 1.0)

    @validate("colormap")
    def _check_colormap(self, proposal):
        from ..render.frames import colormap_lut

        try:
            colormap_lut(proposal["value"])  # a ConvVizError naming the choices if unknown
        except Exception as exc:
            self.show_error(exc)
            raise
        return proposal["value"]

    @observe("class_index", "layer", "alpha", "colormap")
    def _on_state(self, change):
        self.request_redraw()

    @shows_errors
    def _on_search(self, change):
        text = change["new"]
        if not text:
            return
        labels = self._all_class_labels()
        check_choice("class", text, labels)
        self.class_index = labels.index(text)

    # -- rendering ---------------------------------------------------------------------------

    def _engine(self, layer):
        cam = self._cams.get(layer)
        if cam is None:
            cam = self._gradcam_cls(
                self.model, layer, preprocess=self._preprocess, score=self._score
            )
            self._cams[layer] = cam
        return cam

    def _heatmap(self, layer, class_index):
        key = (layer, class_index)
        if key not in self._heatmaps:
            engine = self._engine(layer)
            heatmap = engine.compute(self._image, class_index=class_index)
            self._heatmaps[key] = heatmap, getattr(engine, "centres", None)
        return self._heatmaps[key]

    def _render(self):
        heatmap, centres = self._heatmap(self.layer, self.class_index)
        left = overlay(self._image, heatmap, self.alpha, self.colormap, centres=centres)
        left = fit_size(left, self.size)
        right = upscale(heatmap_frame(heatmap, self.colormap), left.shape[:2])
        frame, self.layout_frame = tile([left, right], cols=2, pad=self.pad)
        return frame

"""Dashboard: the three explorers in tabs, sharing one model and one image."""

from __future__ import annotations

import html

import ipywidgets as widgets
from traitlets import HasTraits, Int, Unicode

from ..engines.images import checked_image, sample_image
from ..errors import ConvVizError
from ._base import ImageExplorer, error_message
from ._canvas import DRAW_LOCK
from ._controls import as_model, check_choice
from .activation_explorer import ActivationExplorer
from .cam_explorer import CamExplorer
from .channel_inspector import ChannelInspector
from .filter_explorer import FilterExplorer

MODEL_CHOICES = ("default", "vgg16", "vgg19", "resnet50", "mobilenet_v2", "xception")
#: The tabs, in order: name -> title. Explorers are looked up by name, never by position.
TABS = {"activations": "Activations", "filters": "Filter patterns", "cam": "Grad-CAM",
        "inspector": "Channel"}  # fmt: skip
#: How each tab's traits join the shared selection: (selection trait, explorer trait).
SHARED = {
    "activations": (("layer", "layer"), ("channel", "channel")),
    "filters": (("layer", "layer"), ("channel", "filter_index")),
    "cam": (("class_index", "class_index"),),
    "inspector": (("layer", "layer"), ("channel", "channel"), ("class_index", "class_index")),
}
TITLES = tuple(TABS.values())
FALLBACK_SAMPLE = "cat"  # for a model whose training data is unknown


def sample_options(model) -> tuple[list, str]:
    """(options, default) of the image chooser: the samples ``model`` was trained on first,
    labelled so, and the sample to open on (the first of those, else the cat)."""
    from ..engines import sample_images, trained_samples

    trained = trained_samples(model)
    others = [name for name in sample_images() if name not in trained]
    options = [(f"{name} (like its training data)", name) for name in trained]
    options += [(f"{name} (not what it was trained on)" if trained else name, name) for name in others]
    return [("(your image)", None), *options], trained[0] if trained else FALLBACK_SAMPLE


class Selection(HasTraits):
    """What the Dashboard's tabs share: the layer and channel looked at, the class explained."""

    layer = Unicode()
    channel = Int(0)
    class_index = Int(0)


class Dashboard(widgets.VBox):
    """Activations, filter patterns, Grad-CAM and the channel inspector in tabs, for one model
    and one image.

    The tabs share one ``selection`` (layer, channel, class; traitlets links, not copies):
    choosing a layer and channel in one tab, or clicking a cell of the activation grid, moves
    the others (the Grad-CAM tab shares the class; its layer stays its own).

    The image chooser lists the sample images, those like the model's training data first
    (the default model opens on a shape, an ImageNet model on the cat); the upload takes the
    user's own. The model chooser takes "default", a keras.applications name or a .keras/.h5
    path. A tab's explorer is built the first time the tab is shown; a failed load or a bad
    upload shows its error in the status line and changes nothing else. A new image is decoded
    and validated once, then given to every explorer.
    """

    def __init__(self, model=None, img=None):
        super().__init__()
        self.model = as_model(model)
        options, default = sample_options(self.model)
        self._image = checked_image(sample_image(default) if img is None else img)
        self._explorers = dict.fromkeys(TABS)
        self._new_selection()
        self.last_error: BaseException | None = None

        self.image_dropdown = widgets.Dropdown(
            options=options, value=default if img is None else None, description="image"
        )
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.model_text = widgets.Combobox(
            value="default" if model is None else "",
            options=list(MODEL_CHOICES),
            placeholder="default, vgg16, or a .keras path",
            description="model",
        )
        self.load_button = widgets.Button(description="Load model")
        self.status = widgets.HTML()
        self.tabs = widgets.Tab(children=[widgets.VBox() for _ in TABS])
        for i, title in enumerate(TITLES):
            self.tabs.set_title(i, title)
        self.children = [
            widgets.HBox([self.image_dropdown, self.upload]),
            widgets.HBox([self.model_text, self.load_button]),
            self.status,
            self.tabs,
        ]
        self.explorer("activations")
        self.tabs.observe(self._on_tab, "selected_index")
        self.image_dropdown.observe(self._on_sample, "value")
        self.upload.observe(self._on_upload, "value")
        self.load_button.on_click(lambda _: self._on_load_model())
        self.model_text.observe(self._on_model_submit, "value")

    # -- explorers ---------------------------------------------------------------------------

    @property
    def image(self):
        """The image shown, as decoded: float32 (H, W, 3) 0..255 (explorers resize it to the model)."""
        return self._image

    @property
    def activations(self) -> ActivationExplorer:
        return self.explorer("activations")

    @property
    def filters(self) -> FilterExplorer:
        return self.explorer("filters")

    @property
    def cam(self) -> CamExplorer:
        return self.explorer("cam")

    @property
    def explorers(self) -> list:
        """The explorers built so far, in tab order (None for a tab not shown yet)."""
        return list(self._explorers.values())

    @property
    def inspector(self) -> ChannelInspector:
        return self.explorer("inspector")

    def explorer(self, name: str):
        """The explorer of tab ``name`` (one of ``TABS``), built the first time it is asked for."""
        check_choice("tab", name, list(TABS))
        explorer = self._explorers[name]
        if explorer is None:
            explorer = self._make(name)
            self._explorers[name] = explorer
            self._share(name, explorer)
            self.tabs.children[list(TABS).index(name)].children = [explorer]
        return explorer

    def _new_selection(self):
        for link in getattr(self, "_links", ()):
            link.unlink()
        self.selection = Selection()
        self._links = []
        self._seeded = set()  # selection traits that took a value from a tab yet

    def _share(self, name: str, explorer) -> None:
        """Link the explorer's layer / channel / class to the selection (traitlets links)."""
        with explorer.batch():
            for shared, own in SHARED[name]:
                if shared not in self._seeded:  # the first tab with it gives its value
                    setattr(self.selection, shared, getattr(explorer, own))
                    self._seeded.add(shared)
                self._links.append(widgets.link((self.selection, shared), (explorer, own)))

    def _make(self, name: str):
        if name == "activations":
            return ActivationExplorer(self.model, self._image)
        if name == "filters":
            return FilterExplorer(self.model)
        if name == "inspector":
            return ChannelInspector(self.model, self._image)
        return CamExplorer(self.model, self._image)

    def _image_explorers(self) -> list:
        return [e for e in self._explorers.values() if isinstance(e, ImageExplorer)]

    # -- user actions ------------------------------------------------------------------------

    def set_image(self, img) -> None:
        """Show ``img`` (anything ``load_image`` takes) in every explorer that uses an image."""
        image = checked_image(img)  # decoded and validated once, for every explorer
        explorers = self._image_explorers()
        # Compute for every explorer first: a failure in any of them changes none of them.
        prepared = [explorer.prepare_image(image) for explorer in explorers]
        for explorer, state in zip(explorers, prepared, strict=True):
            explorer.apply_image(state)
        self._image = image

    def set_model(self, model) -> None:
        """Load ``model`` and rebuild the explorers for it (the image stays)."""
        new = as_model(model)
        for explorer in self._explorers.values():
            if hasattr(explorer, "stop"):  # a pattern optimization running in the background
                explorer.stop()
        options, _ = sample_options(new)
        self.model = new
        self._explorers = dict.fromkeys(TABS)
        self._new_selection()
        for box in self.tabs.children:
            box.children = []
        with self.image_dropdown.hold_trait_notifications():
            value = self.image_dropdown.value
            self.image_dropdown.options = options
            self.image_dropdown.value = value
        self.explorer(list(TABS)[self.tabs.selected_index or 0])

    def _repr_mimebundle_(self, **kwargs):
        """The widget view plus the shown tab's PNG fallback (nbconvert, widget-less viewers)."""
        data = super()._repr_mimebundle_(**kwargs)
        shown = self._explorers[list(TABS)[self.tabs.selected_index or 0]]
        png = shown._repr_mimebundle_(**kwargs).get("image/png") if shown is not None else None
        if png is not None:
            data["image/png"] = png
        return data

    def _report(self, exc: BaseException | None) -> None:
        if exc is None:
            text = ""
        else:
            text = f'<span style="color:#b00020">{html.escape(error_message(exc))}</span>'
        with DRAW_LOCK:
            self.status.value = text
        self.last_error = exc

    def _attempt(self, action, *args):
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            self._report(exc)
        else:
            self._report(None)

    def _on_tab(self, change):
        if change["new"] is not None:
            self._attempt(self.explorer, list(TABS)[change["new"]])

    def _on_sample(self, change):
        if change["new"] is not None:
            self._attempt(lambda name: self.set_image(sample_image(name)), change["new"])

    def _on_upload(self, change):
        files = change["new"]
        if not files:
            return

        def use(item):
            content = item.get("content") if isinstance(item, dict) else None
            if content is None:
                raise ConvVizError("upload: expected an image file, got an empty upload")
            self.set_image(bytes(content))
            self.image_dropdown.value = None

        self._attempt(use, files[0])

    def _on_load_model(self):
        name = self.model_text.value.strip() or "default"
        self._attempt(self.set_model, name)

    def _on_model_submit(self, change):
        # Choosing one of the listed names loads it; a typed path waits for the button.
        if change["new"] in MODEL_CHOICES and change["new"] != change["old"]:
            self._on_load_model()

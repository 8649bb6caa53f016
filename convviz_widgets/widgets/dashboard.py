"""Dashboard: the three explorers in tabs, sharing one model and one image."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..errors import ConvVizError
from ._base import error_message
from ._canvas import DRAW_LOCK
from ._controls import as_model
from .activation_explorer import ActivationExplorer
from .cam_explorer import CamExplorer
from .filter_explorer import FilterExplorer

MODEL_CHOICES = ("default", "vgg16", "vgg19", "resnet50", "mobilenet_v2", "xception")
TITLES = ("Activations", "Filter patterns", "Grad-CAM")


class Dashboard(widgets.VBox):
    """Activations, filter patterns and Grad-CAM in tabs, for one model and one image.

    The image chooser lists the sample images; the upload takes the user's own. The model
    chooser takes "default", a keras.applications name or a .keras/.h5 path. A tab's explorer
    is built the first time the tab is shown; a failed load or a bad upload shows its error
    in the status line and changes nothing else.
    """

    def __init__(self, model=None, img=None):
        from ..engines import sample_image, sample_images

        super().__init__()
        self.model = as_model(model)
        self.image = sample_image("cat") if img is None else img
        self._explorers = [None, None, None]
        self.last_error: BaseException | None = None

        samples = list(sample_images())
        self.image_dropdown = widgets.Dropdown(
            options=[("(your image)", None)] + [(n, n) for n in samples],
            value="cat" if img is None and "cat" in samples else None,
            description="image",
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
        self.tabs = widgets.Tab(children=[widgets.VBox(), widgets.VBox(), widgets.VBox()])
        for i, title in enumerate(TITLES):
            self.tabs.set_title(i, title)
        self.children = [
            widgets.HBox([self.image_dropdown, self.upload]),
            widgets.HBox([self.model_text, self.load_button]),
            self.status,
            self.tabs,
        ]
        self._build(0)
        self.tabs.observe(self._on_tab, "selected_index")
        self.image_dropdown.observe(self._on_sample, "value")
        self.upload.observe(self._on_upload, "value")
        self.load_button.on_click(lambda _: self._on_load_model())
        self.model_text.observe(self._on_model_submit, "value")

    # -- explorers ---------------------------------------------------------------------------

    @property
    def activations(self) -> ActivationExplorer:
        return self._build(0)

    @property
    def filters(self) -> FilterExplorer:
        return self._build(1)

    @property
    def cam(self) -> CamExplorer:
        return self._build(2)

    @property
    def explorers(self) -> list:
        """The explorers built so far (None for a tab not shown yet)."""
        return list(self._explorers)

    def _build(self, index: int):
        explorer = self._explorers[index]
        if explorer is None:
            if index == 0:
                explorer = ActivationExplorer(self.model, self.image)
            elif index == 1:
                explorer = FilterExplorer(self.model)
            else:
                explorer = CamExplorer(self.model, self.image)
            self._explorers[index] = explorer
            self.tabs.children[index].children = [explorer]
        return explorer

    # -- user actions ------------------------------------------------------------------------

    def set_image(self, img) -> None:
        """Show ``img`` (anything ``load_image`` takes) in every explorer that uses an image."""
        from ..engines import load_image

        image = load_image(img)
        explorers = [e for e in (self._explorers[0], self._explorers[2]) if e is not None]
        # Compute for every explorer first: a failure in any of them changes none of them.
        prepared = [explorer._prepare_image(image) for explorer in explorers]
        for explorer, state in zip(explorers, prepared, strict=True):
            with explorer.batch():
                explorer._apply_image(state)
                explorer.request_redraw()
        self.image = image

    def set_model(self, model) -> None:
        """Load ``model`` and rebuild the explorers for it (the image stays)."""
        new = as_model(model)
        for explorer in self._explorers:
            if isinstance(explorer, (FilterExplorer, CamExplorer)):
                explorer.stop()  # background work (filter patterns, Score-CAM) ends
        self.model = new
        self._explorers = [None, None, None]
        for box in self.tabs.children:
            box.children = []
        self._build(self.tabs.selected_index or 0)

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
            self._attempt(self._build, change["new"])

    def _on_sample(self, change):
        if change["new"] is not None:
            from ..engines import sample_image

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

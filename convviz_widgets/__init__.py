"""convviz_widgets: what did my convnet learn? Live, in the notebook."""

from ._version import __version__
from .errors import ConvVizError

__all__ = ["ConvVizError", "__version__"]

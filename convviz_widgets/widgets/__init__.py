"""Live Jupyter widgets (ipywidgets + ipycanvas) over the three engines."""

from .activation_explorer import ActivationExplorer
from .cam_explorer import CamExplorer
from .dashboard import Dashboard
from .dataset_explorer import DatasetExplorer
from .filter_explorer import FilterExplorer

__all__ = ["ActivationExplorer", "CamExplorer", "Dashboard", "DatasetExplorer", "FilterExplorer"]

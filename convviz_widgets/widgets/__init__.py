"""Live Jupyter widgets (ipywidgets + ipycanvas) over the three engines."""

from .activation_explorer import ActivationExplorer
from .cam_explorer import CamExplorer
from .channel_inspector import ChannelInspector
from .dashboard import Dashboard
from .dataset_explorer import DatasetExplorer
from .filter_explorer import FilterExplorer

__all__ = ["ActivationExplorer", "CamExplorer", "ChannelInspector", "Dashboard", "DatasetExplorer", "FilterExplorer"]

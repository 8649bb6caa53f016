"""Data-set scans: whole folders of images, whole layers of filters; dask.distributed on request.

``top_activations`` (the images where each channel fires most), ``cam_audit`` (CAM maps and
their faithfulness metrics over a data set) and ``filter_atlas`` (every filter's pattern) run
in this process with a progress bar (``client=None``), on a LocalCluster (``client="local"``)
or on any dask.distributed cluster (a ``Client``). Results can be cached on disk
(``cache_dir=``). Names load on first use; dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "ImageFolder": "images",
    "TopActivations": "top",
    "cam_audit": "audit",
    "filter_atlas": "atlas",
    "forget_models": "cluster",
    "image_folder": "images",
    "local_client": "cluster",
    "top_activations": "top",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for editors and type checkers: the names as they resolve at run time
    from .atlas import filter_atlas  # noqa: F401
    from .audit import cam_audit  # noqa: F401
    from .cluster import forget_models, local_client  # noqa: F401
    from .images import ImageFolder, image_folder  # noqa: F401
    from .top import TopActivations, top_activations  # noqa: F401

"""Data-set scans: whole folders of images, whole layers of filters; dask.distributed on request.

``top_activations`` (the images where each channel fires most), ``cam_audit`` (CAM maps and
their faithfulness metrics over a data set) and ``filter_atlas`` (every filter's pattern) run
in this process with a progress bar (``client=None``), on a LocalCluster (``client="local"``)
or on any dask.distributed cluster (a ``Client``). Results can be cached on disk
(``cache_dir=``). Names load on first use; dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


if TYPE_CHECKING:  # for editors and type checkers: the names as they resolve at run time
    from .atlas import filter_atlas  # noqa: F401
    from .audit import cam_audit  # noqa: F401
    from .cluster import forget_models, local_client  # noqa: F401
    from .images import ImageFolder, image_folder  # noqa: F401
    from .top import TopActivations, top_activations  # noqa: F401

"""Running a scan's tasks: in this process, or on dask.distributed; cached; stoppable.

A scan is a list of tasks (batches of images, of filters), each ``function(model, preprocess,
settings, payload) -> {name: numpy array}``, a module-level function so that dask sends it by
reference. ``client=None`` runs them here, one after the other; ``client="local"`` starts a
LocalCluster for the scan and shuts it down afterwards; a ``distributed.Client`` runs them on
that cluster. On a cluster the model travels ONCE per worker, as ``.keras`` bytes in a worker
plugin (see :mod:`.cluster`), never with the tasks. Results arrive as tasks finish
(``as_completed``) and are handed to ``on_result`` at once, so the progress bar moves, the
cache fills, and a scan that is stopped (``callback`` returning False, or Ctrl-C / the
notebook's Stop button) keeps everything that finished. At most a few tasks per worker are in
flight at any time: a scan of any length holds a bounded number of images in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import ConvVizError
from .cache import ResultCache


@dataclass
class Task:
    key: str  # unique per (model, settings, inputs): the cache key
    payload: object  # what the task function receives besides model, preprocess and settings
    meta: object = None  # kept here, never sent (e.g. the image indices of a batch)


@dataclass
class Run:
    """How a scan went: tasks done out of total, whether it finished, what the cache did."""

    total: int
    done: int = 0
    computed: int = 0
    cached: int = 0
    stopped: bool = False
    corrupt: int = 0  # cache files found damaged (and computed again)

    @property
    def complete(self) -> bool:
        return self.done == self.total


def check_callback(callback):
    if callback is not None and not callable(callback):
        raise ConvVizError(
            f"callback: expected a callable callback(done, total) or None, got {type(callback).__name__}."
        )


def execute(
    model,
    fingerprint: str,
    preprocess,
    function: Callable,
    settings: dict,
    tasks: list[Task],
    on_result: Callable[[Task, dict], None],
    *,
    client=None,
    cache_dir=None,
    desc: str = "scan",
    progress: bool = True,
    callback: Callable | None = None,
) -> Run:
    """Run every task (or take it from the cache) and give each result to ``on_result``."""
    check_callback(callback)
    cache = ResultCache(cache_dir) if cache_dir is not None else None
    run = Run(total=len(tasks))
    bar = _progress_bar(len(tasks), desc, progress)

    def finish(task, result, computed):
        if computed and cache is not None:
            cache.put(task.key, result)
        on_result(task, result)
        run.done += 1
        if computed:
            run.computed += 1
        else:
            run.cached += 1
        bar.update(1)
        if callback is not None and callback(run.done, run.total) is False:
            run.stopped = True
        return run.stopped

    def todo() -> Iterable[Task]:  # cached results are handed on as the tasks come up
        for task in tasks:
            result = cache.get(task.key) if cache is not None else None
            if result is None:
                yield task
            elif finish(task, result, computed=False):
                return

    try:
        if client is None:
            for task in todo():
                if finish(task, function(model, preprocess, settings, task.payload), True):
                    break
        else:
            with _cluster_client(client) as dask_client:
                from .cluster import run_on_cluster

                run_on_cluster(
                    dask_client, model, fingerprint, preprocess, function, settings, todo(), finish
                )
    except KeyboardInterrupt:
        run.stopped = True
        warnings.warn(
            f"{desc}: interrupted after {run.done} of {run.total} tasks; returning the partial "
            "result" + (" (the finished tasks are cached: rerun to resume)." if cache else "."),
            stacklevel=3,
        )
    finally:
        bar.close()
        if cache is not None:
            run.corrupt = cache.corrupt
    return run


class _NoBar:
    def update(self, _n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, desc: str, enabled: bool):
    """tqdm.auto: a widget in a notebook, text in a terminal (none without tqdm installed)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="batch", disable=not enabled, leave=False)


class _cluster_client:
    """``"local"``: a LocalCluster for this scan, closed afterwards; a Client: used as given."""

    def __init__(self, client):
        self.client = client
        self.owned = None

    def __enter__(self):
        try:
            import distributed
        except ImportError:
            raise ConvVizError(
                "client: running on a cluster needs dask.distributed; install it with "
                "pip install 'convviz_widgets[scale]', or pass client=None to run in this process."
            ) from None
        if isinstance(self.client, str) and self.client == "local":
            from .cluster import local_client

            self.owned = local_client()
            return self.owned
        if isinstance(self.client, distributed.Client):
            return self.client
        raise ConvVizError(
            "client: expected None (this process), 'local' (a LocalCluster on this machine) or a "
            f"dask.distributed.Client, got {self.client!r}."
        )

    def __exit__(self, *exc):
        if self.owned is not None:
            cluster = self.owned.cluster
            self.owned.close()
            cluster.close()
        return False

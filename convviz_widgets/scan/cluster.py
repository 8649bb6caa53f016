"""dask.distributed: a LocalCluster bound to 127.0.0.1, and the model sent once per worker.

The model goes to the workers as ``.keras`` bytes inside a :class:`ModelPlugin`. The scheduler
keeps registered plugins and runs them on every worker that joins, including a worker the
nanny restarts after it died, so a task rescheduled onto a fresh worker finds the model there.
Each worker loads it once (cached by fingerprint); tasks carry only the fingerprint, the
settings and their images.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path

import distributed
from distributed import WorkerPlugin

from ..errors import ConvVizError
from .fingerprint import callable_key, settings_key

_PLUGINS: dict[str, ModelPlugin] = {}
_LOADED: dict[str, object] = {}  # fingerprint -> model, the most recently used last
_KEEP_LOADED = 2  # models kept loaded per worker
LOADS: dict[str, int] = {}  # how many times this process loaded each model (once, normally)
_LOCK = threading.Lock()


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_client(workers: int | None = None) -> distributed.Client:
    """A Client of a new LocalCluster: worker processes on 127.0.0.1, no dashboard.

    ``workers`` processes (default: half the cores, at least one), each running one task at a
    time with a TensorFlow thread pool of cores // workers threads.
    """
    cores = machine_cores()
    if workers is None:
        workers = max(1, cores // 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConvVizError(f"workers: expected a positive integer, got {workers!r}.")
    threads = str(max(1, cores // workers))
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,  # no dashboard; the scheduler's small HTTP server (health,
        # metrics) on a free port of 127.0.0.1, not 8787, which another cluster may hold
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        env={
            "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": "1",
            "OMP_NUM_THREADS": threads,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        },
    )
    return distributed.Client(cluster)


def model_bytes(model) -> bytes:
    """The model as a ``.keras`` file's bytes (architecture and weights)."""
    with tempfile.TemporaryDirectory(prefix="convviz-") as tmp:
        path = Path(tmp, "model.keras")
        model.save(path)
        return path.read_bytes()


class ModelPlugin(WorkerPlugin):
    """Carries one model (``.keras`` bytes) and its preprocessing to every worker."""

    idempotent = True

    def __init__(self, key: str, fingerprint: str, data: bytes, preprocess, class_names):
        self.key = key  # the model's fingerprint and the preprocessing's key
        self.fingerprint = fingerprint
        self.data = data
        self.preprocess = preprocess
        self.class_names = class_names

    def setup(self, worker=None):
        _PLUGINS[self.key] = self

    def teardown(self, worker=None):
        _PLUGINS.pop(self.key, None)
        _LOADED.pop(self.fingerprint, None)


def worker_model(key: str):
    """(model, preprocess) on this worker; the model is loaded from the plugin's bytes once."""
    with _LOCK:
        plugin = _PLUGINS.get(key)
        if plugin is None:
            raise ConvVizError(f"model: this worker was sent no model {key!r}.")
        fingerprint = plugin.fingerprint
        if fingerprint not in _LOADED:
            import keras

            from ..engines.models import ModelInfo, _register

            with tempfile.TemporaryDirectory(prefix="convviz-") as tmp:
                path = Path(tmp, "model.keras")
                path.write_bytes(plugin.data)
                model = keras.models.load_model(path, compile=False, safe_mode=True)
            _register(model, ModelInfo("scan", plugin.preprocess, plugin.class_names))
            while len(_LOADED) >= _KEEP_LOADED:
                _LOADED.pop(next(iter(_LOADED)))
            LOADS[fingerprint] = LOADS.get(fingerprint, 0) + 1
        else:
            model = _LOADED.pop(fingerprint)
        _LOADED[fingerprint] = model
        return model, plugin.preprocess


def remote(key: str, function, settings: dict, payload):
    """What a worker runs for one task."""
    model, preprocess = worker_model(key)
    return function(model, preprocess, settings, payload)


def run_on_cluster(client, model, fingerprint, preprocess, function, settings, tasks, finish):
    """Submit ``tasks`` with a bounded number in flight; ``finish(task, result, True)`` each
    result as it arrives (True from it stops the scan: the rest is cancelled)."""
    from ..engines.models import model_info

    tasks = iter(tasks)
    first = next(tasks, None)
    if first is None:
        return
    key = f"{fingerprint}-{settings_key(callable_key(preprocess))[:12]}"
    name = f"convviz-model-{key}"
    if not client.run_on_scheduler(_has_plugin, name=name):  # sent once per cluster and model
        info = model_info(model)
        plugin = ModelPlugin(key, fingerprint, model_bytes(model), preprocess, info.class_names)
        client.register_plugin(plugin, name=name)
    in_flight = 2 * max(1, sum(client.nthreads().values())) + 1
    futures: dict = {}
    done = distributed.as_completed()
    run_id = uuid.uuid4().hex[:8]

    def submit(task):
        future = client.submit(
            remote,
            key,
            function,
            settings,
            task.payload,
            key=f"convviz-{task.key[:20]}-{run_id}",
            pure=False,
        )
        futures[future] = task
        done.add(future)

    def refill():
        while len(futures) < in_flight:
            task = next(tasks, None)
            if task is None:
                return
            submit(task)

    try:
        submit(first)
        refill()
        for future in done:
            task = futures.pop(future)
            if finish(task, future.result(), True):
                return
            refill()
    finally:
        if futures:
            client.cancel(list(futures))


def _has_plugin(dask_scheduler=None, name=""):
    return name in dask_scheduler.worker_plugins


def forget_models(client) -> None:
    """Remove every model this package sent to ``client``'s workers (they keep them otherwise,
    so that the next scan of the same model on that cluster starts at once)."""
    names = client.run_on_scheduler(
        lambda dask_scheduler: [n for n in dask_scheduler.worker_plugins if n.startswith("convviz-model-")]
    )
    for name in names:
        client.unregister_worker_plugin(name)

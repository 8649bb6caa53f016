"""The background optimization a pattern explorer drives: jobs, a cache, a thread, Stop.

No widgets here: ``PatternRunner`` takes an engine per target and two callbacks (a step
happened; the run ended) and keeps what each pattern depends on in ONE frozen ``Settings``
value (the recipe object included), so the cache key is that value and the index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..engines.feature_vis.ascent import Diverged
from ..engines.feature_vis.recipe import Recipe

#: The target name of class patterns (a layer name otherwise).
CLASSES = "@classes"


@dataclass(frozen=True)
class Settings:
    """Everything a pattern depends on besides its index."""

    target: str  # a layer name, or CLASSES
    steps: int
    step_size: float
    size: int
    seed: int
    recipe: Recipe

    def key(self, index: int) -> tuple:
        return (self, index)


@dataclass(frozen=True)
class Job:
    """One optimization: ``todo`` (the shown indices not cached yet) as one batch."""

    settings: Settings
    shown: tuple
    todo: tuple

    def key(self, index: int) -> tuple:
        return self.settings.key(index)


class PatternRunner:
    """Runs a Job in a daemon thread; finished patterns go to ``cache``, a stopped run's to
    ``partial``, the running one's to ``live``.

    ``engine_of(target)`` -> an engine with ``generate``; ``on_step(job, step)`` runs in the
    worker after each step; ``on_end(job, stopped, error, seconds)`` when the run is over.
    """

    def __init__(self, engine_of: Callable, on_step: Callable, on_end: Callable):
        self.engine_of, self.on_step, self.on_end = engine_of, on_step, on_end
        self.cache = {}  # key -> uint8 (size, size, 3)
        self.partial = {}  # same keys: patterns of stopped or diverged runs, shown until redone
        self.live = None  # (job, {index: image}) of the running optimization
        self.job = None  # the running (or last) job
        self._thread = None
        self._stop_event = threading.Event()

    def job_for(self, settings: Settings, shown: tuple) -> Job:
        return Job(settings, shown, tuple(i for i in shown if settings.key(i) not in self.cache))

    def image(self, settings: Settings, index: int):
        """The best pattern there is for (settings, index): finished, running, stopped, or None."""
        key = settings.key(index)
        if key in self.cache:
            return self.cache[key]
        live = self.live
        if live is not None and live[0].settings == settings and index in live[1]:
            return live[1][index]
        return self.partial.get(key)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, job: Job) -> threading.Thread:
        self.stop()
        self.wait()
        self._stop_event = threading.Event()
        self.job = job
        self.live = (job, {})
        thread = threading.Thread(
            target=self._work, args=(job, self._stop_event), name="convviz-patterns", daemon=True
        )
        self._thread = thread
        thread.start()
        return thread

    def stop(self) -> None:
        """Ask the running optimization to stop; it ends after the step in progress."""
        self._stop_event.set()

    def wait(self, timeout=None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _work(self, job: Job, stop_event: threading.Event):
        live = self.live[1]
        s = job.settings
        stopped, error = False, None

        def callback(step, images):
            if stop_event.is_set():
                return False
            live.update(zip(job.todo, images, strict=True))
            self.on_step(job, step)
            return not stop_event.is_set()

        started = time.monotonic()
        try:
            images = self.engine_of(s.target).generate(
                list(job.todo), size=s.size, steps=s.steps, step_size=s.step_size, seed=s.seed,
                callback=callback, recipe=s.recipe,
            )
            stopped = stop_event.is_set()
            store = self.partial if stopped else self.cache
            for i, image in zip(job.todo, images, strict=True):
                live[i] = store[job.key(i)] = image
        except Diverged as exc:  # the last finite patterns stay on the canvas
            stopped, error = True, exc
            for i, image in zip(job.todo, exc.images, strict=True):
                live[i] = self.partial[job.key(i)] = image
        except Exception as exc:  # noqa: BLE001 - reported by on_end, in the status line
            stopped, error = True, exc
        finally:
            try:
                self.on_end(job, stopped, error, time.monotonic() - started)
            finally:
                self.live = None

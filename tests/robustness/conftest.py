"""Robustness suite: shared fixtures (reused from the widget tests) and the figures it reports.

The canvas recorder, the tiny 32x32 model and the images come from ``tests/widgets/conftest.py``;
a module-scoped recorder lets one Dashboard live through a whole corpus of uploads.
"""

from __future__ import annotations

import datetime
import html
import itertools
import os
import re
from collections import defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
from ipycanvas import canvas as ipycanvas_canvas

from tests.widgets.conftest import (  # noqa: F401 - fixtures re-exported for this directory
    SIZE,
    CanvasRecorder,
    image,
    image2,
    keras,
    model,
    no_autorun,
    recorder,
)


@pytest.fixture(scope="module")
def module_recorder():
    """Like the widget tests' ``recorder``, for widgets that live through a whole module."""
    rec = CanvasRecorder()
    manager = ipycanvas_canvas._CANVAS_MANAGER
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manager, "_send_custom", rec.record)
        patch.setattr(manager, "_current_canvas", None)
        yield rec
    assert manager._caching is False, "a draw left the canvas manager caching"


_upload_clock = itertools.count()


def upload(dash, content: bytes, name: str):
    """What the front end sends: one file as FileUpload's value (a new value every time)."""
    stamp = datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=next(_upload_clock))
    dash.upload.value = (
        {"name": name, "type": "", "size": len(content), "content": memoryview(content),
         "last_modified": stamp},
    )


def status_text(widget) -> str:
    """The status line as the user reads it (tags stripped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.status.value))


def rss_bytes() -> int:
    """Resident set size of this process now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- figures -------------------------------------------------------------------------------------
# Every corpus test is parametrized by the input's id; an input counts as "handled correctly"
# when every test it went through passed. The figures are printed at the end of the run
# (and the burst and memory tests add theirs through ``record_figure``).

_CORPUS = defaultdict(dict)  # input id -> {test name: passed}
_FIGURES: dict[str, str] = {}


def record_figure(name: str, value) -> None:
    _FIGURES[name] = str(value)


def pytest_runtest_logreport(report):
    if "test_bad_inputs.py" not in report.nodeid:
        return
    match = re.search(r"::(test_\w+)\[(.+)\]$", report.nodeid)
    if not match:
        return
    test, case = match.groups()
    if report.when == "call" or report.failed or report.skipped:
        passed = report.passed and report.when == "call"
        _CORPUS[case][test] = _CORPUS[case].get(test, True) and passed


def pytest_terminal_summary(terminalreporter):
    if not _CORPUS and not _FIGURES:
        return
    terminalreporter.section("robustness figures")
    if _CORPUS:
        ok = sorted(c for c, tests in _CORPUS.items() if all(tests.values()))
        bad = sorted(c for c, tests in _CORPUS.items() if not all(tests.values()))
        runs = sum(len(tests) for tests in _CORPUS.values())
        terminalreporter.write_line(
            f"bad-input corpus: {len(_CORPUS)} inputs tried ({runs} runs through the API, the bomb check and the Dashboard), "
            f"{len(ok)} handled correctly"
        )
        if bad:
            terminalreporter.write_line("  not handled correctly: " + ", ".join(bad))
    for name, value in _FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")

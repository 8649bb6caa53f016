"""Fixtures for the end-to-end browser tests: Voila servers, one headless Chromium, fresh pages.

Policy: without Chromium, Playwright or Voila these tests FAIL when CI is set (CI=true) and
skip, with the reason, everywhere else. Every test here needs the ``browser`` marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.harness import (
    VoilaServer,
    browser_unavailable_reason,
    close_page,
    launch_chromium,
    page_log,
    running_in_ci,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)  # `-m "not browser"` deselects all of them


@pytest.fixture(scope="session", autouse=True)
def browser_requirements() -> None:
    reason = browser_unavailable_reason()
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def voila_url(
    browser_requirements, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str | Path], str]]:
    """``voila_url(notebook) -> url``: one Voila server per notebook, for the whole session."""
    servers: dict[Path, VoilaServer] = {}

    def serve(notebook: str | Path) -> str:
        path = Path(notebook).resolve()
        if path not in servers:
            workdir = tmp_path_factory.mktemp(f"voila-{path.stem}")
            servers[path] = VoilaServer(path, workdir).start()
        return servers[path].url

    yield serve
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def chromium(browser_requirements, tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium (persistent context on a fresh profile) for the session."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(chromium):
    """A fresh tab; closed with beforeunload so Voila shuts the page's kernel down."""
    tab = chromium.new_page()
    page_log(tab)
    yield tab
    close_page(tab)

"""The dashboard tests' browser (Debian's Chromium, driven by Playwright) and server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningBerth, require, running_berth
from tests.ui.browser import TIMEZONE

CHROMIUM = "/usr/bin/chromium"
# The network is closed: no first-run fetches, no QUIC probes, no sandbox as root in CI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the dashboard tests; each test gets a fresh context (no cookies).

    Package scope: Playwright's sync API keeps an event loop running in the main thread
    until it stops, and pytest-asyncio cannot run the async tests of later folders beside it."""
    require(Path(CHROMIUM).exists(), "chromium is not installed (make test installs it as root)")
    require(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBerth]:
    """A real Berth process (SQLite: the pages only see the API) for the dashboard tests."""
    with running_berth(Path(tmp_path_factory.mktemp("berth-ui"))) as berth:
        yield berth


@pytest.fixture
def page(browser: Any, server: RunningBerth) -> Iterator[Any]:
    """A new browser tab with no session, its relative URLs on the server."""
    context = browser.new_context(
        base_url=server.url, accept_downloads=True, timezone_id=TIMEZONE, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()

"""Browser tests: Playwright for Python driving Debian's ``chromium`` (never a browser download).

* :data:`BROWSER_TEST`: the marks for a browser test module (``pytestmark = BROWSER_TEST``):
  ``browser``, a skip with one clear line when ``chromium`` or ``playwright`` is missing, and
  a time bound per test.
* :func:`launch`: one headless Chromium, started from ``executable_path`` (``$PATH``'s
  ``chromium``, i.e. ``/usr/bin/chromium`` on Debian); the ``browser`` fixture in
  ``tests/conftest.py`` starts one per session and closes it at the end.
* :func:`open_page`: a fresh context and page of a given size whose console errors and
  warnings, uncaught page errors and failed requests are recorded in ``Tab.errors`` (and
  every console line, of any level, in ``Tab.console``).

Playwright talks to Chromium through its own driver (a Node.js binary inside the wheel); with
``executable_path`` it never looks for, nor downloads, a browser of its own. Every wait is
bounded (:data:`TIMEOUT_MS`, and :data:`TEST_TIMEOUT_S` per test) so a stuck page fails its test
instead of hanging the suite.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the dev extra is not installed
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium")
MISSING = (
    "needs Debian's chromium on PATH (`apt-get install chromium`, giving /usr/bin/chromium)"
    if CHROMIUM is None
    else "needs playwright (`pip install -e '.[dev]'`); chromium is used as installed"
    if sync_playwright is None
    else None
)
TIMEOUT_MS = 20_000  # every launch, navigation, click and wait (not page.evaluate: see below)
# page.evaluate has no timeout of its own: a script stuck in a loop would block its test, so each
# browser test has a bound (pytest-timeout, SIGALRM: the test fails, the session's browser
# lives on). It covers the test's fixtures too (a tiny training run), hence the margin.
TEST_TIMEOUT_S = 300
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
    pytest.mark.timeout(TEST_TIMEOUT_S, method="signal"),
]
# Playwright adds --headless, --no-sandbox (no chromium_sandbox) and its own automation flags;
# these keep a shared 2-core machine quiet: no GPU process, no network chatter, one renderer.
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--renderer-process-limit=2",
]


@contextmanager
def launch() -> Iterator[Browser]:
    """One headless Debian Chromium under Playwright; closed on exit."""
    if MISSING is not None:
        pytest.skip(MISSING)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page, what went wrong on it so far (one line per problem) and every console line."""

    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def _console(tab: Tab, msg: ConsoleMessage) -> None:
    tab.console.append(f"console.{msg.type}: {msg.text}")
    if msg.type in ("error", "warning", "assert"):
        tab.errors.append(f"console.{msg.type}: {msg.text}")


def _failed(tab: Tab, request: Request) -> None:
    tab.errors.append(f"request failed: {request.url} ({request.failure})")


@contextmanager
def open_page(browser: Browser, width: int = 1280, height: int = 900) -> Iterator[Tab]:
    """A fresh context (no shared cache or storage) with one ``width`` x ``height`` page."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page())
    tab.page.on("console", lambda msg: _console(tab, msg))
    tab.page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
    tab.page.on("requestfailed", lambda req: _failed(tab, req))
    try:
        yield tab
    finally:
        context.close()

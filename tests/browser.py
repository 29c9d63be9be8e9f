"""Headless Chromium for the browser tests (a pytest plugin).

Playwright for Python drives the system browser from Debian's ``chromium`` package
(``executable_path``; Playwright never downloads one). Where the browser is missing, the browser
tests skip loudly; under ``CI=true`` they fail instead (``.ci/run`` installs the package). They
run in the SQLite legs only (see ``pytest_collection_modifyitems``).

``CHROMIUM`` names another binary. Playwright's sync API runs an event loop in the test's thread,
which makes Django's ORM refuse to run there (the tests only touch the database between browser
steps, so ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set while it runs) and ``async_to_sync`` fail. So the
browser lives for one test module, not the session: other tests in the same process (the async
GraphQL view, boto3) never see Playwright's loop.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Where screenshots of failing browser tests go (CI keeps the workspace).
ARTIFACTS = Path(__file__).resolve().parent.parent / ".browser-artifacts"


def on_sqlite() -> bool:
    return (os.environ.get("DATABASE_URL") or "sqlite").startswith("sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests in the SQLite legs only.

    They drive the JavaScript clients (the widget, the demo page, Uppy); the server side they reach
    is the same code the HTTP-level tests run on every database. The PostgreSQL and MariaDB legs
    would repeat them at the price of minutes per leg (``make test``, ``scripts/ci-matrix.sh``).
    """
    if on_sqlite():
        return
    skip = pytest.mark.skip(reason="browser tests run in the SQLite legs (the same server code runs here without one)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    message = f"!!! BROWSER TESTS NOT RUN: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true requires them)")
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium shared by one module's browser tests."""
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium binary (Debian: apt-get install chromium; or set CHROMIUM=/path/to/chrome)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (make install)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                yield instance
            finally:
                instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; console errors and failed requests are collected on
    ``page.console_errors``; a failing test leaves a screenshot in ``.browser-artifacts/``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        # A page without a favicon makes Chromium log the 404 of /favicon.ico: not the page's error.
        if msg.type == "error" and not (msg.location or {}).get("url", "").endswith("/favicon.ico"):
            errors.append(f"{msg.text} ({(msg.location or {}).get('url', '')})")

    new_page.on("console", on_console)
    new_page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    new_page.console_errors = errors
    yield new_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            new_page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        except Exception as e:  # the page may be gone; the failure itself matters more
            warnings.warn(f"no screenshot of {request.node.name}: {e}", stacklevel=1)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

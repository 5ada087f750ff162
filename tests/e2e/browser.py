"""A real browser for the UI tests: Playwright for Python driving Debian's chromium.

Nothing is downloaded: Playwright's bundled driver starts ``/usr/bin/chromium``
(``executable_path``) headless. One browser per test module; each test gets
a fresh context (its own cookies). :func:`shoot` writes a desktop and a
phone-width PNG of the page to ``<pytest tmp>/screenshots/``; with
``REGAUTH_UPDATE_SCREENSHOTS=1`` (``make screenshots``) the desktop and phone
pictures named in :data:`COMMITTED` are also copied to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The pictures the README shows (refreshed by `make screenshots`).
COMMITTED = frozenset(
    {
        "signin-oidc",
        "my-access",
        "what-can-i-do",
        "token-created",
        "admin-users",
        "admin-rules",
        "admin-keys",
        "admin-audit",
        "check-access",
        "setup",
        "access-requests",
        "admin-access",
    }
)


# Module scope, not session: while Playwright's sync API is started, its event loop counts
# as running in the main thread, and every later test that runs one of its own would fail.
# Only the browser test module uses them, so this is still one browser per test run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def only_loopback(route: Route) -> None:
    """Nothing leaves the machine (the test IdP's login page names a web font, for one)."""
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


def new_context(browser: Browser) -> BrowserContext:
    ctx = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    ctx.set_default_timeout(15_000)
    ctx.route("**/*", only_loopback)
    return ctx


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots", numbered=False)


def shoot(page: Page, folder: Path, name: str) -> tuple[Path, Path]:
    """Desktop and phone-width full-page PNGs of the current page."""
    desktop, phone = folder / f"{name}-desktop.png", folder / f"{name}-phone.png"
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    page.screenshot(path=str(desktop), full_page=True)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=str(phone), full_page=True)
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    if os.environ.get("REGAUTH_UPDATE_SCREENSHOTS") == "1" and name in COMMITTED:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(desktop, DOCS / desktop.name)
        shutil.copyfile(phone, DOCS / phone.name)
    return desktop, phone

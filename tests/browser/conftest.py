"""The browser fixtures: Debian's Chromium driven by Playwright's sync API (no browser download),
one per session; the app served in-process on a free port; fresh browser contexts as phones or
desktops. The non-fixture helpers are in ``browser_kit.py``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from werkzeug.serving import make_server

from browser_kit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session (a launch costs about a second); each test opens fresh contexts."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(headless=True, executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app):
    """The app on a free local port; message links point at it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["REMINDER"]["server.base_url"] = url  # before any message is created
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    yield url
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def open_browser(browser, live_server):
    """Open a fresh browser context (no cookies) as ``device`` (``PHONE`` or ``DESKTOP``); returns its page."""
    contexts = []

    def open_as(device: dict) -> Page:
        context = browser.new_context(base_url=live_server, **device)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def phone(open_browser):
    """Open a new phone: a fresh browser context at 360x640 with touch; returns its page."""
    return lambda: open_browser(PHONE)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

"""The browser-test harness shared by the browser test modules: Debian's Chromium driven by
Playwright's sync API (no browser download), the app served in-process on a free port, fresh
phone contexts, and the phone-layout check (no sideways scrolling, 44 px tap targets)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "en-US",
}
MIN_TAP_TARGET = 44  # px, the height every button, button-like link and form field must reach
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
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
def phone(browser, live_server):
    """Open a new phone: a fresh browser context (no cookies) at 360x640 with touch; returns its page."""
    contexts = []

    def open_phone() -> Page:
        context = browser.new_context(base_url=live_server, **PHONE)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_phone
    for context in contexts:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


LAYOUT_PROBLEMS = (
    """() => {
  const width = window.innerWidth;
  const problems = [];
  const controls = 'button, a.button, input, select, textarea, nav a, summary';
  for (const el of document.querySelectorAll(controls)) {
    if (el.type === 'hidden') continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    // A checkbox is tapped through its label, which toggles it: the label is the target.
    const target = (el.type === 'checkbox' || el.type === 'radio') && el.closest('label') ? el.closest('label') : el;
    const box = target.getBoundingClientRect();
    const field = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (field ? '[' + el.type + ']' : '')
      + (field ? '' : ' "' + el.innerText.trim().slice(0, 40) + '"');
    if (box.height < MIN_TAP) problems.push(name + ' is ' + box.height.toFixed(1) + 'px high');
    if (box.left < -0.5 || box.right > width + 0.5) problems.push(name + ' sticks out: ' + box.left.toFixed(1) + '..' + box.right.toFixed(1));
  }
  return problems;
}"""
).replace("MIN_TAP", str(MIN_TAP_TARGET))


def assert_fits_phone(page: Page) -> None:
    """No sideways scrolling at 360px, and every tap target at least 44px high."""
    page.wait_for_load_state()
    width = page.evaluate("window.innerWidth")
    assert width == 360, f"{page.url}: the layout viewport is {width}px, not the phone's 360px"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways: {scroll_width}px of content on a {width}px screen"
    assert page.evaluate(LAYOUT_PROBLEMS) == [], f"{page.url} has tap targets that don't fit a phone"

"""What the browser test modules share besides fixtures (those are in ``conftest.py`` beside it):
the Chromium and device settings, logging in, the dev outbox, and the phone-layout check (no
sideways scrolling, 44 px tap targets)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from builders import PASSWORD

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
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US"}
MIN_TAP_TARGET = 44  # px, the height every button, button-like link and form field must reach
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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


def log_in(page: Page, email: str, heading: str, password: str = PASSWORD) -> None:
    """Log in through the form (a phone taps, a desktop clicks) and wait for the page headed ``heading``."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    button = page.get_by_role("button", name="Log in")
    button.tap() if page.evaluate("navigator.maxTouchPoints > 0") else button.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^{heading}"))


def outbox_link(page: Page, kind: str) -> str:
    """The link in the newest ``kind`` message of the dev outbox."""
    page.goto("/dev/outbox")
    message = page.locator(f'.message[data-kind="{kind}"]').first
    expect(message).to_be_visible()
    return message.get_by_role("link").first.get_attribute("href")  # its action; a Safety link may follow


def menu(page: Page, name: str, role: str = "link") -> None:
    """Open the header's menu (a ``<details>``, no script) and tap the link or button ``name`` in it."""
    header_menu = page.locator("details.menu")
    touch = page.evaluate("navigator.maxTouchPoints > 0")
    if not header_menu.evaluate("element => element.open"):
        summary = header_menu.locator("summary")
        summary.tap() if touch else summary.click()
    target = header_menu.get_by_role(role, name=name, exact=True)
    target.tap() if touch else target.click()

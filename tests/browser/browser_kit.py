"""What the browser test modules share besides fixtures (those are in ``conftest.py`` beside it):
the Chromium and device settings, logging in, the dev outbox, and the phone-layout check (no
sideways scrolling, 44 px tap targets)."""

from __future__ import annotations

import re
from pathlib import Path

import axe_playwright_python
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
MIN_TEXT = 16  # px, the smallest text a patient reads a dose in (issue 14 §2)
# axe-core as the axe-playwright-python package bundles it: offline, no CDN.
AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


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


SMALL_TEXT = (
    """() => {
  const small = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || el.closest('svg')) continue;  // a chart has its own text alternative
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < MIN_TEXT - 0.01) small.push(el.tagName.toLowerCase() + '.' + el.className + ' "' + node.textContent.trim().slice(0, 30) + '" is ' + size.toFixed(1) + 'px');
  }
  return small;
}"""
).replace("MIN_TEXT", str(MIN_TEXT))


def assert_text_readable(page: Page) -> None:
    """Every visible word on the page (charts aside) at 16 px or more."""
    assert page.evaluate(SMALL_TEXT) == [], f"{page.url} has text under {MIN_TEXT}px"


def serious_accessibility_problems(page: Page) -> list[str]:
    """What axe-core finds serious or critical on the page, one line each (rule: where)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # evaluate, not a script tag: the CSP allows no inline script
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
        for node in violation["nodes"]
    ]


def assert_phone_page(page: Page) -> None:
    """The 360 px checks every page passes: no sideways scroll, 44 px targets, one h1, axe clean."""
    assert_fits_phone(page)
    assert page.locator("h1").count() == 1, f"{page.url} has {page.locator('h1').count()} h1 headings"
    assert serious_accessibility_problems(page) == [], f"{page.url}: axe-core finds serious problems"

"""Browser tests: the patient's pages and the phone link in real headless Chromium at a phone's size.

The app is served in-process by Werkzeug on a free port; the worker does not run, so each test
moves time by calling ``tick``. Chromium is Debian's (``/usr/bin/chromium``), driven by
Playwright's sync API. Screenshots for review go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from reminder import accounts

from browser_kit import assert_fits_phone, log_in, menu
from builders import START, doses, make_medication, make_patient, messages

pytestmark = pytest.mark.browser


ONE_PM_DOSE = "2026-03-07T18:00:00Z"  # 13:00 in New York (EST, the day before the DST switch)
ONE_PM_WINDOW_CLOSED = "2026-03-07T20:31:00Z"  # its window closes at 15:30 New York = 20:30Z


# ---------------------------------------------------------------- helpers


def reminder_link(page: Page, time_label: str = "1:00 PM") -> str:
    """Open /dev/outbox and return the link of the newest reminder for ``time_label``."""
    page.goto("/dev/outbox")
    message = page.locator('.message[data-kind="reminder"]').filter(has_text=f"Time for your {time_label} dose:").first
    expect(message).to_be_visible()
    return message.get_by_role("link").get_attribute("href")


def dose_card(page: Page, time_label: str):
    """The card on Today for the dose due at ``time_label``."""
    return page.locator(".card.dose").filter(
        has=page.locator(".dose-time", has_text=re.compile(rf"^{re.escape(time_label)}$"))
    )


def set_up_patient_with_reminder(db, tick, email="pat@example.com") -> int:
    """A New York patient on Baclofen 08:00 13:00 18:00, reminded of the 1:00 PM dose. Returns its id."""
    patient = make_patient(db, email=email, name="Pat Example")
    make_medication(db, patient)
    tick(ONE_PM_DOSE)
    return doses(db, patient_id=patient, local_date="2026-03-07", local_time="13:00")[0]["id"]


def dose_row(db, dose_id: int) -> dict:
    return doses(db, id=dose_id)[0]


def taken_events(db, dose_id: int) -> int:
    return db.execute("SELECT count(*) FROM dose_events WHERE dose_id = ? AND kind = 'taken'", [dose_id]).fetchone()[0]


# ---------------------------------------------------------------- tests


def test_a_new_patient_registers_adds_baclofen_and_confirms_the_1pm_reminder_from_the_link(phone, db, tick):
    page = phone()
    page.goto("/register")
    page.get_by_label("Your name").fill("Rosa Diaz")
    page.get_by_label("Email").fill("rosa@example.com")
    page.get_by_label("Password").fill("baclofen-2026")
    page.get_by_label("Time zone").select_option("America/New_York")
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    page.get_by_role("button", name="Create account").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    (confirmation,) = messages(db, "confirm_signup")
    page.goto(re.search(r"/register/confirm/[\w-]+", confirmation["body"]).group(0))
    page.get_by_role("button", name="Create my account").tap()

    expect(page.get_by_role("heading", level=1)).to_have_text("Add a medication")
    expect(page.get_by_role("status")).to_have_text("Welcome! Add your first medication.")
    page.get_by_label("Name", exact=True).fill("Baclofen")
    page.get_by_label("Amount per dose").fill("10")
    page.get_by_label("Times of day").fill("08:00 13:00 18:00")
    page.get_by_role("button", name="Add medication").tap()

    # Added: the Safety page shows once (issue 10 section 2), then the Medications page lists it.
    expect(page.get_by_role("heading", level=1)).to_have_text("Baclofen: what to know")
    expect(page.get_by_role("status")).to_contain_text("Baclofen added.")
    menu(page, "Medications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Medications")
    medication = page.locator(".card").filter(has_text="Baclofen")
    expect(medication).to_have_count(1)
    expect(medication).to_contain_text("10 mg at 8:00 AM, 1:00 PM, 6:00 PM")

    # The worker's tick at 13:00 New York sends the reminder; the dev outbox shows it with its link.
    tick(ONE_PM_DOSE)
    page.goto("/dev/outbox")
    reminder = page.locator('.message[data-kind="reminder"]')
    expect(reminder).to_have_count(1)
    expect(reminder).to_contain_text("Time for your 1:00 PM dose: 10 mg.")  # no strength given: no tablets
    link = reminder.get_by_role("link")
    expect(link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_-]+$"))
    href = link.get_attribute("href")

    # The phone opens the SMS link: a fresh browser, not logged in.
    sms = phone()
    sms.goto(href)
    expect(sms.locator(".big")).to_have_text("1:00 PM dose")
    expect(sms.locator(".card").first).to_contain_text("Baclofen")
    expect(sms.locator("#dose-status")).to_have_text("to take")
    sms.get_by_role("button", name="Taken", exact=True).tap()
    expect(sms.locator("#result")).to_have_text("Recorded: taken at 1:00 PM.")
    expect(sms.locator("#dose-status")).to_have_text("taken")
    expect(sms.get_by_role("button", name="Taken", exact=True)).to_have_count(0)

    # Back in the first browser: log out, log in again, and Today shows the dose as taken.
    page.goto("/")
    menu(page, "Log out", role="button")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    log_in(page, "rosa@example.com", "Today ", "baclofen-2026")
    expect(page.get_by_role("heading", level=1)).to_have_text("Today Sat 07 Mar")
    card = dose_card(page, "1:00 PM")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-status", "taken")
    expect(card.locator(".status")).to_have_text("taken at 1:00 PM")
    expect(card.get_by_role("button", name="Taken", exact=True)).to_have_count(0)


def test_the_pages_and_the_dose_link_fit_a_360px_phone_with_44px_tap_targets(phone, db, tick, artifacts):
    set_up_patient_with_reminder(db, tick)
    page = phone()

    page.goto("/register")
    assert_fits_phone(page)
    page.goto("/login")
    assert_fits_phone(page)

    log_in(page, "pat@example.com", "Today ")
    expect(dose_card(page, "1:00 PM").get_by_role("button", name="Taken", exact=True)).to_be_visible()
    expect(dose_card(page, "8:00 AM").get_by_role("link", name="I took it earlier")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "today.png"), full_page=True)

    page.goto("/medications")
    assert_fits_phone(page)
    page.goto("/medications/new")
    assert_fits_phone(page)
    pat = db.execute("SELECT id FROM users WHERE email = 'pat@example.com'").fetchone()[0]
    accounts.create_token(db, pat, START, "the kitchen tablet script", START + timedelta(days=30))
    page.goto("/settings")
    assert_fits_phone(page)
    page.goto("/password/forgot")
    assert_fits_phone(page)

    link = reminder_link(page)
    sms = phone()
    sms.goto(link)
    expect(sms.get_by_role("button", name="Taken", exact=True)).to_be_visible()
    assert_fits_phone(sms)
    sms.screenshot(path=str(artifacts / "dose-page.png"), full_page=True)

    # After the window closes the page offers "I already took it at ..." with a time field.
    tick(ONE_PM_WINDOW_CLOSED)
    sms.reload()
    expect(sms.get_by_label("Time you took it")).to_be_visible()
    assert_fits_phone(sms)
    sms.screenshot(path=str(artifacts / "dose-page-window-closed.png"), full_page=True)


def test_a_second_taken_on_the_same_link_says_when_it_was_recorded_and_changes_nothing(phone, db, tick):
    dose_id = set_up_patient_with_reminder(db, tick)
    first = phone()
    link = reminder_link(first)
    # The link is open twice (two taps on the SMS): both pages show the Taken button.
    first.goto(link)
    second = first.context.new_page()
    second.goto(link)
    expect(second.get_by_role("button", name="Taken", exact=True)).to_be_visible()

    tick("2026-03-07T18:05:00Z")
    first.get_by_role("button", name="Taken", exact=True).tap()
    expect(first.locator("#result")).to_have_text("Recorded: taken at 1:05 PM.")

    tick("2026-03-07T18:20:00Z")
    second.get_by_role("button", name="Taken", exact=True).tap()
    expect(second.locator("#result")).to_have_text(
        "Already recorded at 1:05 PM on Sat 07 Mar: taken at 1:05 PM. Don't take another. Nothing changed."
    )
    expect(second.locator("#dose-status")).to_have_text("taken")
    expect(second.locator(".card").first).to_contain_text("Status: taken at 1:05 PM")
    expect(second.get_by_role("button", name="Taken", exact=True)).to_have_count(0)

    row = dose_row(db, dose_id)
    assert (row["status"], row["taken_at"], row["confirmed_at"]) == (
        "taken",
        "2026-03-07T18:05:00Z",
        "2026-03-07T18:05:00Z",
    )
    assert taken_events(db, dose_id) == 1


def test_a_taken_tap_after_the_window_closed_is_not_recorded_and_an_earlier_time_can_be_given(phone, db, tick):
    dose_id = set_up_patient_with_reminder(db, tick)
    page = phone()
    page.goto(reminder_link(page))
    expect(page.get_by_role("button", name="Taken", exact=True)).to_be_visible()

    # The page stays open past 3:30 PM, when the 1:00 PM dose's window closes.
    tick(ONE_PM_WINDOW_CLOSED)
    page.get_by_role("button", name="Taken", exact=True).tap()
    result = page.locator("#result")
    expect(result).to_contain_text("It's too close to your next dose to take this one now.")
    expect(result).to_contain_text("Skip this dose and take your next dose at its usual time, 6:00 PM.")
    expect(result).to_contain_text("Don't take two doses.")
    expect(page.locator("#dose-status")).to_have_text("missed")
    expect(page.get_by_role("button", name="Taken", exact=True)).to_have_count(0)
    assert dose_row(db, dose_id)["taken_at"] is None
    assert taken_events(db, dose_id) == 0

    expect(page.locator("details").filter(has_text="I already took it at")).to_have_attribute("open", "")
    expect(page.locator("details summary").first).to_have_text("I already took it at …")
    page.get_by_label("Time you took it").fill("13:20")
    page.get_by_role("button", name="Record that time").tap()
    expect(page.locator("#result")).to_have_text("Recorded: taken at 1:20 PM.")
    expect(page.locator("#dose-status")).to_have_text("taken")
    expect(page.locator(".card").first).to_contain_text("Status: taken at 1:20 PM")

    row = dose_row(db, dose_id)
    assert (row["status"], row["taken_at"]) == ("taken", "2026-03-07T18:20:00Z")
    assert taken_events(db, dose_id) == 1


def test_after_midnight_a_late_link_advises_skipping_and_accepts_last_evenings_time(phone, db, tick):
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    tick("2026-03-07T23:00:00Z")  # the 6:00 PM reminder; its window closes at 00:30 New York
    dose_id = doses(db, local_date="2026-03-07", local_time="18:00")[0]["id"]
    tick("2026-03-08T05:45:00Z")  # 00:45 the next day: the dose was missed
    page = phone()
    page.goto(reminder_link(page, "6:00 PM"))
    expect(page.locator("#advice")).to_contain_text(
        "Skip this dose and take your next dose at its usual time, 8:00 AM."
    )
    expect(page.locator("#dose-status")).to_have_text("missed")
    page.get_by_label("Time you took it").fill("19:15")
    page.get_by_role("button", name="Record that time").tap()
    expect(page.locator("#result")).to_have_text("Recorded: taken at 7:15 PM (late).")
    assert (dose_row(db, dose_id)["status"], dose_row(db, dose_id)["taken_at"]) == ("taken", "2026-03-08T00:15:00Z")


def test_the_app_has_a_valid_web_app_manifest(phone):
    page = phone()
    page.goto("/login")
    manifest_link = page.locator('link[rel="manifest"]')
    expect(manifest_link).to_have_count(1)
    href = manifest_link.get_attribute("href")
    assert href == "/manifest.webmanifest"

    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())
    assert manifest["name"]
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["icons"], "the manifest lists no icons"
    for icon in manifest["icons"]:
        assert {"src", "sizes", "type"} <= icon.keys()
        icon_response = page.request.get(icon["src"])
        assert icon_response.status == 200, f"icon {icon['src']} answers {icon_response.status}"
        assert icon_response.headers["content-type"].startswith(icon["type"])

    # Chromium itself reads the manifest without errors.
    session = page.context.new_cdp_session(page)
    parsed = session.send("Page.getAppManifest")
    session.detach()
    assert parsed["url"].endswith("/manifest.webmanifest")
    assert parsed["errors"] == []

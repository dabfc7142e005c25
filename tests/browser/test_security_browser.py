"""In Chromium, under the Content-Security-Policy: a medication name is only ever text (the stored
XSS of issue 11, finding 2, is gone), a name with an apostrophe can be ended on its confirmation
page, and the one script the pages use (the time-zone preselect) still runs from /static."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser_kit import PHONE, assert_fits_phone, log_in, outbox_link
from builders import make_medication, make_patient

pytestmark = pytest.mark.browser

XSS_NAME = "Vit'+alert(4)+'"


def end_from_the_list(page, name: str) -> None:
    card = page.locator(".card.medication").filter(has_text=name)
    card.get_by_role("link", name="End").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"End {name}?")
    page.get_by_role("button", name=f"End {name}").tap()
    expect(page.get_by_role("status")).to_have_text(f"{name} ended. Its history is kept.")


def test_a_name_written_as_script_does_nothing_and_st_johns_wort_can_be_ended(open_browser, db):
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient, name=XSS_NAME, withdrawal_risk=False, max_daily_amount=None)
    make_medication(db, patient, name="St. John's Wort", withdrawal_risk=False, max_daily_amount=None)
    page = open_browser(PHONE)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, "pat@example.com", "Today ")
    page.goto("/medications")
    expect(page.locator(".card.medication").filter(has_text=XSS_NAME)).to_have_count(1)

    end_from_the_list(page, XSS_NAME)
    end_from_the_list(page, "St. John's Wort")

    assert dialogs == []
    expect(page.locator(".card.medication")).to_have_count(0)


def test_the_time_zone_is_preselected_by_a_script_from_static_under_the_policy(open_browser):
    page = open_browser({**PHONE, "timezone_id": "America/Chicago"})
    response = page.goto("/register")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_label(re.compile("Time zone"))).to_have_value("America/Chicago")


def test_the_reset_by_text_and_the_sign_up_confirmation_pages_fit_a_phone(phone, db):
    make_patient(db, name="Pat Example")
    page = phone()
    page.goto("/password/forgot")
    assert_fits_phone(page)
    page.get_by_label("Your account's email").fill("pat@example.com")
    page.get_by_label("A code by text, to my verified phone").check()
    page.get_by_role("button", name="Send").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code we texted")
    assert_fits_phone(page)
    page.goto("/register")
    page.get_by_label("Email").fill("rosa@example.com")
    page.get_by_label("Password").fill("baclofen-2026")
    page.get_by_role("button", name="Create account").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_fits_phone(page)
    page.goto(outbox_link(page, "confirm_signup"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Finish signing up")
    assert_fits_phone(page)

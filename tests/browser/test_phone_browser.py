"""The phone pages at 360 px (issue 14 §2): the compact menu, Today above the fold at 200 % text,
16 px text, dark mode, History by month, Messages paged, Progress, the report on a phone, forms
that keep what was typed, and axe-core on every page.

Set up like ``test_browser.py``: the app in-process, time moved by ``tick``, Debian's Chromium.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from reminder import clinics

from browser_kit import (
    PHONE,
    assert_fits_phone,
    assert_phone_page,
    assert_text_readable,
    log_in,
    menu,
    serious_accessibility_problems,
)
from builders import (
    DOCTOR,
    START,
    doses,
    link_caregiver,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    make_user,
)

pytestmark = pytest.mark.browser

ONE_PM_DOSE = "2026-03-07T18:00:00Z"  # 13:00 in New York


def pat_on_baclofen(db, tick) -> int:
    """Pat in New York on Baclofen 15 mg of 10 mg tablets at 08:00, 13:00 and 18:00, at 1 PM."""
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient, amount=15, strength="10 mg tablet", max_daily_amount=60)
    tick(ONE_PM_DOSE)
    return patient


def first_dose_card_in_view(page: Page) -> bool:
    scroll, bottom, height = first_dose_card_place(page)
    assert scroll == 0 and bottom <= height, f"the first dose card ends at {bottom}px of {height}px"
    return True


def first_dose_card_place(page: Page) -> list:
    """Whether Today's first dose card, its time and its first button, is on screen without scrolling."""
    return page.evaluate(
        """() => {
      const card = document.querySelector('.card.dose');
      const button = card.querySelector('button, a.button') || card;
      return [window.scrollY, button.getBoundingClientRect().bottom, window.innerHeight];
    }"""
    )


def test_todays_first_dose_is_above_the_fold_on_a_phone_and_at_200_percent_text(phone, db, tick, artifacts):
    pat_on_baclofen(db, tick)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    expect(page.locator(".card.dose").first).to_contain_text("Take 1½ tablets (15 mg)")
    page.screenshot(path=str(artifacts / "today-phone.png"))
    assert first_dose_card_in_view(page)
    assert_phone_page(page)
    assert_text_readable(page)
    header = page.locator("header").bounding_box()["height"]
    assert header <= 60, f"the header takes {header}px"
    page.evaluate("document.documentElement.style.fontSize = '200%'")  # the phone's text size at 200 %
    page.screenshot(path=str(artifacts / "today-200-percent.png"))
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.dose-amount')).fontSize)") >= 32
    assert first_dose_card_in_view(page)
    assert page.locator("header").bounding_box()["height"] <= 2 * 60
    assert_fits_phone(page)


def test_the_menu_opens_without_script_and_reaches_every_patient_page(phone, db, tick, artifacts):
    pat_on_baclofen(db, tick)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    expect(page.get_by_role("link", name="Medications")).to_be_hidden()  # folded away until asked for
    page.locator("details.menu summary").tap()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "menu-open.png"))
    for name, heading in (
        ("Medications", "Medications"),
        ("Progress", "Your progress"),
        ("History", "History"),
        ("Messages", "Messages sent to you"),
        ("Settings", "Settings"),
        ("Today", "Today"),
    ):
        menu(page, name)
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^{heading}"))
        assert_phone_page(page)
        assert_text_readable(page)


def test_the_skip_link_is_the_first_stop_and_jumps_to_the_page(phone, db, tick):
    pat_on_baclofen(db, tick)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_dark_mode_follows_the_phone(open_browser, db, tick, artifacts):
    pat_on_baclofen(db, tick)
    page = open_browser({**PHONE, "color_scheme": "dark"})
    log_in(page, "pat@example.com", "Today ")
    page.wait_for_load_state("load")  # the stylesheet applied (the service worker may serve it a moment later)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    page.screenshot(path=str(artifacts / "today-dark.png"), full_page=True)
    for path in ("/", "/medications", "/adherence", "/history", "/messages", "/settings", "/caregivers"):
        page.goto(path)
        assert serious_accessibility_problems(page) == [], path  # contrast included


def test_a_time_typed_on_the_dose_page_is_recorded_and_a_refused_one_stays_with_its_reason(phone, db, tick):
    pat_on_baclofen(db, tick)
    morning = next(d["id"] for d in doses(db) if d["local_time"] == "08:00")
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    page.goto(f"/doses/{morning}")
    assert_phone_page(page)
    page.get_by_label("Time you took it").fill("06:00")  # before the 8:00 AM dose could be taken
    page.get_by_role("button", name="Record that time").tap()
    field = page.get_by_label("Time you took it")
    expect(field).to_have_value("06:00")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#taken_at-error")).to_contain_text("before this dose was due")
    assert_phone_page(page)
    field.fill("08:10")
    page.get_by_role("button", name="Record that time").tap()
    expect(page.locator("#dose-status")).to_have_text("taken")
    expect(page.locator("main")).to_contain_text("8:10 AM")


def test_a_refused_refill_keeps_the_quantity_on_a_phone(phone, db, tick):
    pat_on_baclofen(db, tick)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "Medications")
    card = page.locator(".card.medication").filter(has_text="Baclofen")
    card.locator("summary", has_text="Record a refill").tap()
    card.get_by_label("How many").fill("-4")
    card.get_by_role("button", name="Record refill").tap()
    field = page.locator(".card.medication").filter(has_text="Baclofen").get_by_label("How many")
    expect(field).to_have_value("-4")
    expect(field).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    assert_phone_page(page)


def test_history_is_a_month_a_page_and_fits_a_phone(phone, db, tick, tick_until):
    pat_on_baclofen(db, tick)
    tick_until("2026-04-01T17:00:00Z", step=6 * 3600)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "History")
    expect(page.get_by_role("heading", level=1)).to_have_text("History April 2026")
    assert_phone_page(page)
    assert_text_readable(page)
    page.get_by_role("link", name="← March").first.tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("History March 2026")
    expect(page.locator(".day").first).to_contain_text("Tue 31 Mar")
    assert_phone_page(page)


def test_progress_shows_the_week_the_month_the_streak_and_the_calendar(phone, db, tick, artifacts):
    pat_on_baclofen(db, tick)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "Progress")
    expect(page.locator("#this-week")).to_contain_text("of")
    expect(page.locator("#streak")).to_contain_text("streak")
    expect(page.locator('.month-grid td[data-day="2026-03-07"]')).to_contain_text("0/3")
    assert_phone_page(page)
    assert_text_readable(page)
    page.screenshot(path=str(artifacts / "progress.png"), full_page=True)


def test_the_report_fits_a_phone_prints_and_keeps_a_bad_range(open_browser, db, artifacts):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    page = open_browser(PHONE)
    log_in(page, DOCTOR, "Patients")
    page.goto(f"/panel/patients/{patient}/report")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    assert_phone_page(page)
    page.screenshot(path=str(artifacts / "report-phone.png"), full_page=True)
    page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    page.get_by_role("button", name="Print").tap()
    assert page.evaluate("document.body.dataset.printed") == "yes"

    page.get_by_label("From").fill("2026-03-09")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_role("button", name="Show").tap()
    expect(page.get_by_label("From")).to_have_value("2026-03-09")
    expect(page.get_by_label("To")).to_have_value("2026-03-01")
    expect(page.locator("#from-error")).to_contain_text("from must not be after to")
    assert_phone_page(page)


def test_the_caregiver_and_clinician_pages_pass_the_phone_checks_and_axe(phone, db, tick):
    patient = pat_on_baclofen(db, tick)
    link_caregiver(db, patient)
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    clinics.join(db, patient, code, START)
    carol = phone()
    log_in(carol, "carol@example.com", "My patients")
    for path in ("/patients", f"/patients/{patient}", "/alerts", "/settings"):
        carol.goto(path)
        assert_phone_page(carol)
    doctor = phone()
    log_in(doctor, DOCTOR, "Patients")
    for path in ("/panel", f"/panel/patients/{patient}/report", "/settings"):
        doctor.goto(path)
        assert_phone_page(doctor)


def test_an_admin_lands_on_the_admin_page(phone, db):
    make_user(db, "admin@example.com", "admin")
    page = phone()
    log_in(page, "admin@example.com", "Clinics")
    assert page.url.endswith("/admin/")
    assert_phone_page(page)


def test_every_patient_page_passes_the_phone_checks_and_axe(phone, db, tick):
    """One walk over the pages a patient opens, and the pages before a login."""
    pat_on_baclofen(db, tick)
    page = phone()
    for path in ("/login", "/register", "/password/forgot"):
        page.goto(path)
        assert_phone_page(page)
        assert_text_readable(page)
    log_in(page, "pat@example.com", "Today ")
    medication = db.execute("SELECT id FROM medications").fetchone()[0]
    dose = doses(db)[0]["id"]
    for path in (
        "/",
        f"/doses/{dose}",
        "/medications",
        "/medications/new",
        f"/medications/{medication}/edit",
        f"/medications/{medication}/end",
        "/pumps",
        "/caregivers",
        "/clinics",
        "/alerts",
        "/audit",
        "/adherence",
        "/history",
        "/messages",
        "/settings",
        "/delete-account",
        "/safety/baclofen",
    ):
        page.goto(path)
        assert_phone_page(page)

"""Browser tests for issue 4 on a 360x640 phone: inviting a caregiver, the caregiver's view of a
patient (with an alert to acknowledge and a dose to give), recording a refill, and the taper and
pump pages.

Set up like ``test_browser.py`` (copied here, not imported, so each file reads on its own):
Werkzeug serves the app in-process on a free port, the worker does not run and each test moves
time with ``tick``, Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright. Screenshots
for review go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reminder import caregivers, pumps, supply

from browser_kit import assert_fits_phone, log_in, menu, outbox_link
from builders import PASSWORD, START, doses, link_caregiver, make_medication, make_patient

pytestmark = pytest.mark.browser


BOTH_WINDOWS_CLOSED = "2026-03-07T20:31:00Z"  # the 08:00 and 13:00 New York doses closed as missed
SIX_PM_DOSE = "2026-03-07T23:00:00Z"  # 18:00 in New York


# ---------------------------------------------------------------- helpers


def pat_with_baclofen(db) -> tuple[int, int]:
    """Pat in New York on baclofen 10 mg at 08:00, 13:00 and 18:00: (patient id, medication id)."""
    patient = make_patient(db, name="Pat Example")
    return patient, make_medication(db, patient)


# ---------------------------------------------------------------- tests


def test_a_patient_invites_a_caregiver_who_accepts_on_their_phone_with_a_new_account(phone, db, artifacts):
    patient, _ = pat_with_baclofen(db)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "Caregivers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Caregivers")
    assert_fits_phone(page)
    page.get_by_label("Their email").fill("carol@example.com")
    page.get_by_role("button", name="Send invitation").tap()
    expect(page.get_by_role("status")).to_have_text(
        "Invitation sent to carol@example.com. The link in it works for 14 days."
    )
    invited = page.locator(".caregiver").filter(has_text="carol@example.com")
    expect(invited).to_have_attribute("data-status", "invited")
    expect(invited).to_contain_text("waiting for them to accept")
    expect(invited.get_by_role("button", name="Withdraw invitation")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "caregivers-invited.png"), full_page=True)

    # Carol opens the link from the invitation email on her own phone, with no account yet.
    link = outbox_link(page, "invitation")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/invitations/[A-Za-z0-9_-]{22,}", link)
    carol = phone()
    carol.goto(link)
    expect(carol.get_by_role("heading", level=1)).to_have_text("Be Pat Example's caregiver")
    expect(carol.get_by_label("Email")).to_have_value("carol@example.com")
    expect(carol.get_by_role("link", name="Log in to accept")).to_be_visible()
    assert_fits_phone(carol)
    carol.screenshot(path=str(artifacts / "invitation.png"), full_page=True)
    carol.get_by_label("Your name").fill("Carol Care")
    carol.get_by_label("Password").fill("carol-cares")
    carol.get_by_label("Time zone").select_option("America/Chicago")
    carol.get_by_role("button", name="Create account and accept").tap()

    expect(carol.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Pat Example "))
    expect(carol.get_by_role("status")).to_contain_text("You are now Pat Example's caregiver.")
    expect(carol.locator(".card.dose")).to_have_count(3)
    carol.locator("details.menu summary").tap()
    expect(carol.get_by_role("link", name="My patients")).to_be_visible()
    expect(carol.get_by_role("link", name="Medications")).to_have_count(0)  # a caregiver's own menu

    page.goto("/caregivers")
    accepted = page.locator(".caregiver").filter(has_text="Carol Care")
    expect(accepted).to_have_attribute("data-status", "active")
    expect(accepted.get_by_role("button", name="Revoke")).to_be_visible()
    page.screenshot(path=str(artifacts / "caregivers-accepted.png"), full_page=True)
    assert (
        caregivers.active_link(
            db, db.execute("SELECT id FROM users WHERE email = 'carol@example.com'").fetchone()[0], patient
        )
        is not None
    )


def test_the_caregivers_phone_shows_the_alert_the_patients_day_and_records_i_gave_it(phone, db, tick, artifacts):
    patient, medication = pat_with_baclofen(db)
    carol_id = link_caregiver(db, patient)
    supply.record_refill(db, medication, 20, "Main St Pharmacy", patient, START)
    pumps.create_pump(db, patient, medication, "2026-03-20", None, patient, START)
    for at in ("2026-03-07T13:00:00Z", "2026-03-07T18:00:00Z", BOTH_WINDOWS_CLOSED):
        tick(at)  # the 08:00 and 13:00 doses go unanswered: Carol is alerted

    # The alert's acknowledge link, opened on a phone with no session.
    link_page = phone()
    link_page.goto(outbox_link(link_page, "alert"))
    expect(link_page.get_by_role("heading", level=1)).to_have_text("Alert")
    expect(link_page.locator("#summary")).to_contain_text("Pat Example has missed 2 doses in a row of Baclofen.")
    expect(link_page.locator("#summary")).to_contain_text("contact their prescriber")
    assert_fits_phone(link_page)
    link_page.screenshot(path=str(artifacts / "alert-link.png"), full_page=True)
    link_page.get_by_role("button", name="I have seen this").tap()
    expect(link_page.get_by_role("status")).to_have_text("Thank you: acknowledged. The alert stops repeating.")
    expect(link_page.locator("#state")).to_have_text("You acknowledged this at Sat 07 Mar 2:31 PM.")
    expect(link_page.get_by_role("button", name="I have seen this")).to_have_count(0)

    # Carol's own phone at 18:00 New York: the evening dose is due.
    tick(SIX_PM_DOSE)
    page = phone()
    log_in(page, "carol@example.com", "My patients", password=PASSWORD)
    row = page.get_by_role("link", name=re.compile("Pat Example"))
    expect(row).to_contain_text("Today: 0 of 3 doses taken, 2 not taken")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "my-patients.png"), full_page=True)
    row.tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pat Example Sat 07 Mar")
    alert = page.locator(".alert")
    expect(alert).to_have_attribute("data-status", "acknowledged")
    expect(alert.locator(".acknowledged")).to_contain_text("Acknowledged by Carol Care at")
    expect(page.locator(".misses .miss")).to_have_count(2)
    expect(page.locator(".supply-line")).to_contain_text("Baclofen: 20 in stock")  # none taken yet
    expect(page.locator(".pump")).to_contain_text("Refill by Sun 15 Mar (in 8 days)")
    evening = page.locator(".card.dose").filter(has_text="6:00 PM")
    expect(evening.locator(".status")).to_have_text("to take")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "caregiver-patient-view.png"), full_page=True)

    evening.get_by_role("button", name="I gave it").tap()
    expect(page.locator("#result")).to_have_text("Recorded: taken at 6:00 PM.")
    expect(page.locator(".card.dose").filter(has_text="6:00 PM").locator(".status")).to_have_text("taken at 6:00 PM")
    expect(page.locator(".card.dose").filter(has_text="6:00 PM")).to_contain_text("Recorded by a caregiver")
    assert_fits_phone(page)
    dose = doses(db, patient_id=patient, local_date="2026-03-07", local_time="18:00")[0]
    assert (dose["status"], dose["source"], dose["actor_id"]) == ("taken", "caregiver", carol_id)

    # The run of misses has ended: the next tick resolves the alert, and the alerts page says so.
    tick("2026-03-07T23:01:00Z")
    menu(page, "Alerts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    past = page.locator(".alert[data-status=resolved]")
    expect(past).to_contain_text("Told: Carol Care at Sat 07 Mar 2:31 PM")
    expect(past).to_contain_text("Acknowledged by Carol Care at Sat 07 Mar 2:31 PM")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "caregiver-alerts.png"), full_page=True)


def test_a_patient_records_a_refill_on_a_phone_and_today_shows_the_days_left(phone, db, artifacts):
    pat_with_baclofen(db)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    expect(page.locator(".supply-line")).to_have_count(0)
    menu(page, "Medications")
    card = page.locator(".card.medication").filter(has_text="Baclofen")
    expect(card).to_contain_text("Stock not counted: record a refill to start.")
    card.locator("summary", has_text="Record a refill").tap()
    card.get_by_label("How many").fill("30")
    card.get_by_label("Pharmacy").fill("Main St Pharmacy")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "refill-form.png"), full_page=True)
    card.get_by_role("button", name="Record refill").tap()

    expect(page.get_by_role("status")).to_have_text("Refill recorded for Baclofen: 30 in stock, about 10 days left.")
    expect(page.locator(".card.medication .supply-line")).to_have_text("Baclofen: 30 in stock, about 10 days left")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "medications-after-refill.png"), full_page=True)
    assert db.execute("SELECT quantity, pharmacy FROM refills").fetchall() == [(30, "Main St Pharmacy")]

    menu(page, "Today")
    expect(page.locator(".supply .supply-line")).to_have_text("Baclofen: 30 in stock, about 10 days left")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "today-supply.png"), full_page=True)


def test_ending_baclofen_leads_to_a_taper_and_the_pump_page_fits_a_phone(phone, db, artifacts):
    pat_with_baclofen(db)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "Medications")
    page.locator(".card.medication").filter(has_text="Baclofen").get_by_role("button", name="End").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ending Baclofen")
    expect(page.locator("#refusal")).to_contain_text("Baclofen must not be stopped suddenly")
    for number, (first, last, amount) in enumerate(
        (("2026-03-08", "2026-03-12", "10"), ("2026-03-13", "2026-03-17", "5"), ("2026-03-18", "2026-03-21", "5")), 1
    ):  # the suggested plan, one row per step (issue 14 §2)
        expect(page.locator(f"#start_date-{number}")).to_have_value(first)
        expect(page.locator(f"#end_date-{number}")).to_have_value(last)
        expect(page.locator(f"#amount-{number}")).to_have_value(amount)
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "taper.png"), full_page=True)
    page.get_by_role("button", name="Start this taper").tap()
    expect(page.get_by_role("status")).to_contain_text("Taper plan saved: 3 steps from Sun 08 Mar.")
    expect(page.locator(".card.medication .taper")).to_have_text("Tapering: ends after Sat 21 Mar")

    page.get_by_role("link", name="Pump refills").tap()
    page.get_by_label("Medication").select_option(label="Baclofen")
    page.get_by_label("Low-reservoir alarm date").fill("2026-04-10")
    page.get_by_role("button", name="Record pump").tap()
    expect(page.get_by_role("status")).to_contain_text("Pump recorded.")
    pump = page.locator(".card.pump")
    expect(pump).to_contain_text("Refill by Sun 05 Apr (in 29 days)")
    pump.locator("summary", has_text="Refill done").tap()
    expect(pump.get_by_label("New low-reservoir alarm date")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "pumps.png"), full_page=True)

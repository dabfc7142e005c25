"""Browser test (issue 9): on a 360 px phone, a dose reported after a too-soon refusal is recorded,
flagged, and the advice shows. Debian's Chromium through Playwright; the worker does not run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from reminder import ledger
from reminder.times import parse_instant

from browser_kit import assert_fits_phone
from builders import doses, make_medication, make_patient

pytestmark = pytest.mark.browser
SNOOZE = timedelta(minutes=15)


def test_yes_i_already_took_it_after_a_too_soon_refusal_records_a_flagged_intake_with_advice(
    db, tick, clock, phone, artifacts
):
    patient = make_patient(db, email="pat@example.com", name="Pat Example")
    make_medication(db, patient, amount=20, min_gap_fraction=0.6)  # her own, stricter: 3 h
    tick("2026-03-07T13:00:00Z")  # 08:00 in New York
    morning, noon = doses(db, patient_id=patient, local_date="2026-03-07")[:2]
    late = parse_instant("2026-03-07T15:25:00Z")  # the 08:00 dose taken late, at 10:25
    ledger.answer_dose(db, morning["id"], ledger.Answer("taken", "web", patient), late, SNOOZE)
    tick("2026-03-07T18:00:00Z")  # 13:00: reminded, 2 h 35 after the last intake
    link = db.execute("SELECT body FROM messages WHERE kind = 'reminder' ORDER BY id DESC").fetchone()[0]
    path = link[link.index("/d/") :].split()[0]

    page = phone()
    page.goto(path)
    page.get_by_role("button", name="Taken").tap()
    expect(page.locator("#result")).to_contain_text("Not recorded")
    expect(page.locator("#already-taken")).to_contain_text("Have you already taken it?")
    assert_fits_phone(page)
    assert doses(db, id=noon["id"])[0]["status"] == "pending"

    page.get_by_role("button", name="Yes, I already took it").tap()
    expect(page.locator("#flagged")).to_contain_text("Recorded: taken at 1:00 PM")
    expect(page.locator("#flagged")).to_contain_text("emergency services")
    expect(page.locator("#dose-status")).to_have_text("taken")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "flagged-intake.png"), full_page=True)
    row = doses(db, id=noon["id"])[0]
    assert row["status"] == "taken" and row["flags"] == '["too_soon"]' and row["flag_alert_due"] == 1


def test_no_i_have_not_records_nothing_and_says_why(db, tick, clock, phone):
    patient = make_patient(db, email="pat@example.com", name="Pat Example")
    make_medication(db, patient, amount=20, min_gap_fraction=0.6)  # her own, stricter: 3 h
    tick("2026-03-07T13:00:00Z")
    morning, noon = doses(db, patient_id=patient, local_date="2026-03-07")[:2]
    late = parse_instant("2026-03-07T15:25:00Z")
    ledger.answer_dose(db, morning["id"], ledger.Answer("taken", "web", patient), late, SNOOZE)
    tick("2026-03-07T18:00:00Z")
    link = db.execute("SELECT body FROM messages WHERE kind = 'reminder' ORDER BY id DESC").fetchone()[0]
    page = phone()
    page.goto(link[link.index("/d/") :].split()[0])
    page.get_by_role("button", name="Taken").tap()
    page.get_by_role("link", name="No, I have not").tap()
    expect(page.locator("#advice")).to_contain_text("don't take it now")
    assert doses(db, id=noon["id"])[0]["status"] == "pending"

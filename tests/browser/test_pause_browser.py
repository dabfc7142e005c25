"""A clinician's pause from the patient's report on a 360x640 phone (issue 10 §5): the button, a
page with the last paused day and the reason, one h1, no sideways scroll, 44 px targets."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reminder import clinics

from browser_kit import assert_fits_phone, log_in
from builders import DOCTOR, START, make_clinic, make_clinician, make_medication, make_patient

pytestmark = pytest.mark.browser


def test_a_clinician_pauses_reminders_with_a_reason_from_the_report_on_a_phone(phone, db, artifacts):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic, DOCTOR, "Dr. Lin")
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    page = phone()
    log_in(page, DOCTOR, "Patients")
    page.goto(f"/panel/patients/{patient}/report")
    page.get_by_role("link", name="Pause reminders").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pause reminders: Baclofen for Pat Example")
    assert page.locator("h1").count() == 1
    assert_fits_phone(page)
    page.get_by_role("button", name="Pause reminders").tap()
    expect(page.get_by_role("status")).to_contain_text("Give the reason")
    assert_fits_phone(page)
    page.locator("#until").fill("2026-03-08")
    page.get_by_label("Reason").fill("admitted to hospital")
    page.get_by_role("button", name="Pause reminders").tap()
    expect(page.get_by_role("status")).to_contain_text("Reminders for Baclofen paused until Sun 08 Mar")
    page.screenshot(path=str(artifacts / "clinician-pause.png"), full_page=True)
    assert db.execute("SELECT count(*) FROM pauses").fetchone()[0] == 2

"""The step editor on a 360x640 phone (issue 14 §2): a patient's taper plan found from the
medication card, one row per step, "Add a step", the error beside its step with what was typed
kept; a clinician's titration plan from the patient's report; the card then shows the current step
and the next. Every page fits the phone (no sideways scroll, 44 px targets, one h1)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reminder import clinics

from browser_kit import assert_fits_phone, log_in, menu
from builders import DOCTOR, START, make_clinic, make_clinician, make_medication, make_patient

pytestmark = pytest.mark.browser


def one_h1_and_16px_plan_text(page) -> None:
    assert page.locator("h1").count() == 1
    for size in page.locator(".plan-steps li").evaluate_all("els => els.map(e => getComputedStyle(e).fontSize)"):
        assert float(size.removesuffix("px")) >= 16, size


def test_a_patient_edits_a_taper_as_steps_on_a_phone_and_the_card_shows_now_and_next(phone, db, artifacts):
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    menu(page, "Medications")
    page.locator(".card.medication").filter(has_text="Baclofen").get_by_role("link", name="Taper plan").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Taper plan: Baclofen")
    expect(page.locator("fieldset.step")).to_have_count(4)  # the suggested three steps and a blank one
    expect(page.locator("#amount-1")).to_have_value("10")
    one_h1_and_16px_plan_text(page)
    assert_fits_phone(page)

    page.get_by_role("button", name="Add a step").tap()
    expect(page.locator("fieldset.step")).to_have_count(5)
    expect(page.locator("#end_date-3")).to_have_value("2026-03-21")  # what was there is kept
    page.locator("#amount-3").fill("7.5")  # ¾ of a 10 mg tablet: not a dose tablets can give
    page.get_by_role("button", name="Start this taper").tap()
    expect(page.locator("#step-3-error")).to_contain_text("whole or half tablets")
    expect(page.locator("#amount-3")).to_have_value("7.5")
    expect(page.locator("#start_date-3")).to_have_value("2026-03-18")
    one_h1_and_16px_plan_text(page)
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "taper-steps-error.png"), full_page=True)

    page.locator("#amount-3").fill("5")
    page.get_by_role("button", name="Start this taper").tap()
    expect(page.get_by_role("status")).to_contain_text("Taper plan saved: 3 steps from Sun 08 Mar.")
    card = page.locator(".card.medication").filter(has_text="Baclofen")
    expect(card.locator(".plan-now")).to_have_text("Now: 10 mg (1 tablet) at 08:00, 13:00, 18:00")
    expect(card.locator(".plan-next")).to_have_text("From Sun 08 Mar: 10 mg (1 tablet) at 08:00, 18:00")
    one_h1_and_16px_plan_text(page)
    assert_fits_phone(page)


def test_a_clinician_writes_a_titration_plan_on_a_phone(phone, db, artifacts):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic, DOCTOR, "Dr. Lin")
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    page = phone()
    log_in(page, DOCTOR, "Patients")
    page.goto(f"/panel/patients/{patient}/report")
    page.get_by_role("link", name="Titration plan").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Titration plan: Baclofen for Pat Example")
    assert_fits_phone(page)
    page.locator("#start_date-1").fill("2026-03-09")
    page.locator("#amount-1").fill("15")
    page.get_by_role("button", name="Add a step").tap()
    page.locator("#start_date-2").fill("2026-03-10")  # one day after the first: too short
    page.locator("#amount-2").fill("20")
    page.get_by_label("Reason").fill("walking still limited by spasticity")
    page.get_by_role("button", name="Save this plan").tap()
    expect(page.locator("#step-1-error")).to_contain_text("each step lasts at least 3 days")
    expect(page.get_by_label("Reason")).to_have_value("walking still limited by spasticity")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "titration-error.png"), full_page=True)
    page.locator("#start_date-2").fill("2026-03-12")
    page.get_by_role("button", name="Save this plan").tap()
    expect(page.get_by_role("status")).to_contain_text("Titration plan saved for Baclofen: 2 steps from Mon 09 Mar.")

"""Forms that keep what was typed, the error beside its field, on a 360 px phone (issue 14 §2);
the report's charts readable in dark mode."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reminder import clinics

from browser_kit import DESKTOP, PHONE, assert_phone_page, log_in
from builders import DOCTOR, START, live_through, make_clinic, make_clinician, make_medication, make_patient

pytestmark = pytest.mark.browser


def test_a_refused_sign_up_and_a_refused_clinic_code_keep_the_input_on_a_phone(phone, db):
    page = phone()
    page.goto("/register")
    page.get_by_label("Your name").fill("Robin New")
    page.get_by_label("Email").fill("robin@example.com")
    page.get_by_label("Password").fill("short1")
    page.get_by_label("Password").evaluate("field => field.removeAttribute('minlength')")  # as an old browser would
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Create account").tap()
    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_value("")  # a password is never sent back
    expect(page.locator("#password-error")).to_contain_text("at least 8 characters")
    expect(page.get_by_label("Your name")).to_have_value("Robin New")
    expect(page.get_by_label("Email")).to_have_value("robin@example.com")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    assert_phone_page(page)

    make_patient(db, name="Pat Example")
    log_in(page, "pat@example.com", "Today ")
    page.goto("/clinics")
    page.get_by_label("Clinic code").fill("NOPE1234")
    page.get_by_role("button", name="Join").tap()
    code = page.get_by_label("Clinic code")
    expect(code).to_have_value("NOPE1234")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code-error")).to_contain_text("No clinic has this code")
    assert_phone_page(page)


def a_few_days(dose: dict):
    """Mostly on time; a midday skipped and an evening missed."""
    if dose["local_time"] == "13:00" and dose["local_date"] == "2026-03-08":
        return "skip"
    if dose["local_time"] == "18:00" and dose["local_date"] == "2026-03-09":
        return None
    return 0 if dose["local_time"] != "18:00" else 45


CHART_COLOURS = """() => {
  const chart = document.querySelector('.chronology svg.chart');
  const label = [...chart.querySelectorAll('text')].find(t => /^\\d\\d:00$/.test(t.textContent));
  const legend = chart.querySelector('.legend text');
  const plot = chart.querySelector('rect');
  return [getComputedStyle(chart).backgroundColor, getComputedStyle(label).fill,
          getComputedStyle(legend).fill, getComputedStyle(plot).fill];
}"""


def luminance(css: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css)[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_reports_charts_are_dark_with_light_words_in_dark_mode_and_unchanged_in_light(
    open_browser, db, clock, tick, artifacts
):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    live_through(db, clock, tick, patient, "2026-03-11T03:00:00Z", a_few_days)
    report = f"/panel/patients/{patient}/report?from=2026-03-07&to=2026-03-10"

    page = open_browser({**DESKTOP, "color_scheme": "dark"})
    log_in(page, DOCTOR, "Patients")
    page.goto(report)
    page.wait_for_load_state("load")
    background, hour_label, legend, plot = page.evaluate(CHART_COLOURS)
    page.screenshot(path=str(artifacts / "report-dark.png"), full_page=True)
    assert luminance(background) < 0.05 and luminance(plot) < 0.05
    assert contrast(hour_label, plot) >= 4.5 and contrast(legend, background) >= 4.5

    light = open_browser({**DESKTOP, "color_scheme": "light"})
    log_in(light, DOCTOR, "Patients")
    light.goto(report)
    light.wait_for_load_state("load")
    background, hour_label, legend, plot = light.evaluate(CHART_COLOURS)
    assert (background, hour_label, legend, plot) == (
        "rgb(255, 255, 255)",
        "rgb(87, 96, 106)",
        "rgb(27, 31, 35)",
        "rgb(255, 255, 255)",
    )


def test_a_refused_egfr_keeps_the_value_beside_its_error_on_a_phone(open_browser, db):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    page = open_browser(PHONE)
    log_in(page, DOCTOR, "Patients")
    page.goto(f"/panel/patients/{patient}/report")
    page.get_by_label("eGFR").fill("lots")
    page.get_by_label("Blood test date").fill("2026-03-01")
    page.get_by_role("button", name="Record eGFR").tap()
    egfr = page.get_by_label("eGFR")
    expect(egfr).to_have_value("lots")
    expect(egfr).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#egfr-error")).to_contain_text("egfr must be a number")
    expect(page.get_by_label("Blood test date")).to_have_value("2026-03-01")


def test_a_refused_side_effect_comes_back_as_tapped_on_its_own_page_on_a_phone(phone, db):
    make_patient(db, name="Pat Example")
    page = phone()
    log_in(page, "pat@example.com", "Today ")
    page.locator("#side-effects summary").tap()
    page.locator(".tap", has_text="Dizziness").tap()
    note = page.get_by_label("Note")
    note.evaluate("field => field.removeAttribute('maxlength')")  # as an old browser would
    note.fill("x" * 501)
    page.get_by_role("button", name="Log side effect").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log a side effect")
    note = page.get_by_label("Note")
    expect(note).to_have_value("x" * 501)
    expect(note).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#side-effect-note-error")).to_contain_text("at most 500 characters")
    expect(page.get_by_role("radio", name="Dizziness")).to_be_checked()
    assert_phone_page(page)

"""Browser tests for issue 5: the clinician's panel and a month's report on a desktop, its print
version, and the patient's side-effect taps and clinic pages on a 360x640 phone.

Set up like ``test_browser.py`` (copied here, not imported, so each file reads on its own):
Werkzeug serves the app in-process on a free port, the worker does not run and each test moves
time with ``tick``, Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright. The report's
screenshot and its print-to-PDF go to ``test-artifacts/`` (git-ignored) for a reviewer to look at.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from reminder import clinics, escalation, medications
from reminder.db import immediate
from reminder.times import parse_instant, to_iso

from browser_kit import DESKTOP, PHONE, assert_fits_phone, log_in, menu
from builders import DOCTOR, START, doses, live_through, make_clinic, make_clinician, make_medication, make_patient

pytestmark = pytest.mark.browser

MONTH_END = "2026-04-06T03:00:00Z"  # 23:00 on Sun 5 Apr in New York: the report's 30 days are 7 Mar to 5 Apr


# ---------------------------------------------------------------- helpers


def clinic_with_doctor(db) -> tuple[int, str]:
    """Clinic "Neurology" and its clinician, Dr. Lin: (clinic id, join code)."""
    clinic_id, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic_id, DOCTOR, "Dr. Lin")
    return clinic_id, code


def a_month_of_baclofen(dose: dict):
    """Mostly on time; four days with nothing taken (17 to 20 March, a drug holiday), some
    middays skipped, some evenings 100 minutes late and some mornings missed."""
    day = (date.fromisoformat(dose["local_date"]) - date(2026, 3, 7)).days
    if 10 <= day <= 13:
        return None
    if dose["local_time"] == "13:00" and day % 6 == 2:
        return "skip"
    if dose["local_time"] == "18:00" and day % 5 == 1:
        return 100
    if dose["local_time"] == "08:00" and day % 7 == 4:
        return None
    return 0


def log_side_effect(db, patient_id: int, local_date: str, local_time: str, kind: str, severity: int, note: str = ""):
    """A side effect tapped 20 minutes after the dose of ``local_date`` at ``local_time``."""
    dose = doses(db, patient_id=patient_id, local_date=local_date, local_time=local_time)[0]
    at = to_iso(parse_instant(dose["scheduled_at"]) + timedelta(minutes=20))
    db.execute(
        "INSERT INTO side_effects (patient_id, medication_id, dose_id, kind, severity, note, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [patient_id, dose["medication_id"], dose["id"], kind, severity, note, at],
    )


def simulate_month(db, clock, tick, code: str) -> int:
    """Pat, linked to the clinic, through a month of baclofen: the dose raised from 10 to 15 mg
    on 21 March, the clinician acknowledging the urgent alert of the holiday, and side effects
    after the raise. Returns Pat's id."""
    pat = make_patient(db, name="Pat Example")
    medication = make_medication(db, pat)
    clinics.join(db, pat, code, START)
    live_through(db, clock, tick, pat, "2026-03-19T12:00:00Z", a_month_of_baclofen)
    doctor = db.execute("SELECT id FROM users WHERE email = ?", [DOCTOR]).fetchone()[0]
    with immediate(db):
        for alert in escalation.alerts_for(db, [pat]):
            if alert["status"] == "open" and alert["level"] == 3:
                escalation.acknowledge_by(db, alert["id"], doctor, clock.now())
    live_through(db, clock, tick, pat, "2026-03-21T04:00:00Z", a_month_of_baclofen)
    medications.update(db, medication, {"amount": 15}, date(2026, 3, 21), clock.now(), timedelta(hours=72))
    live_through(db, clock, tick, pat, MONTH_END, a_month_of_baclofen)
    for local_date, local_time, kind, severity, note in (
        ("2026-03-22", "13:00", "drowsiness", 2, "sleepy all afternoon"),
        ("2026-03-24", "08:00", "dizziness", 3, "nearly fell"),
        ("2026-03-29", "18:00", "weakness", 1, ""),
    ):
        log_side_effect(db, pat, local_date, local_time, kind, severity, note)
    return pat


def a_month_at_the_clinic(db, clock, tick) -> int:
    """Dr. Lin's clinic and Pat's month there (``simulate_month``); returns Pat's id."""
    _, code = clinic_with_doctor(db)
    return simulate_month(db, clock, tick, code)


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


# ---------------------------------------------------------------- tests


def test_the_clinician_opens_the_panel_and_a_months_report_with_charts_and_prints_it(
    open_browser, db, clock, tick, artifacts, scenario
):
    pat = scenario("a month at the clinic", lambda: a_month_at_the_clinic(db, clock, tick))
    page = open_browser(DESKTOP)
    log_in(page, DOCTOR, "Patients")  # a clinician starts on the panel

    row = page.locator(f'tr[data-patient="{pat}"]')
    expect(row).to_contain_text("Pat Example")
    expect(row).to_contain_text("at risk")  # baclofen doses missed this week
    expect(row).to_contain_text("Baclofen")
    page.screenshot(path=str(artifacts / "panel.png"), full_page=True)
    row.get_by_role("link", name="Pat Example").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Adherence report: Pat Example")
    expect(page.locator(".report-head")).to_contain_text("Sat 07 Mar 2026 to Sun 05 Apr 2026")
    summary = page.locator("section.summary")
    expect(summary.locator('[data-count="scheduled"]')).to_have_text("90")
    expect(summary.locator('tr[data-metric="drug_holidays"] td')).to_have_text("1 (longest 4 days)")
    expect(summary.locator('[data-count="skipped"]')).to_contain_text("too drowsy")
    expect(page.locator(".footnotes li")).to_have_count(10)

    charts = page.locator("section.charts svg.chart")
    expect(charts).to_have_count(3)
    for index in range(3):
        box = charts.nth(index).bounding_box()
        assert box["width"] > 800 and box["height"] > 150, box
    calendar, chronology, steps = (charts.nth(n) for n in range(3))
    expect(calendar).to_have_accessible_name("Baclofen: doses taken each day")
    expect(calendar).to_have_accessible_description(re.compile(r"4 drug-holiday days \(17 Mar–20 Mar\)\.$"))
    expect(chronology.locator("desc")).to_contain_text("Scheduled at 08:00, 13:00, 18:00.")
    expect(steps.locator("desc")).to_contain_text(
        "10 mg at 08:00, 13:00, 18:00 from Sat 07 Mar 2026 to Fri 20 Mar 2026; "
        "15 mg at 08:00, 13:00, 18:00 from Sat 21 Mar 2026"
    )
    expect(steps.locator("desc")).to_contain_text("3 side effects: drowsiness (moderate) on Sun 22 Mar 13:20")

    alerts = page.locator("#alerts tbody tr")
    assert alerts.count() >= 2
    expect(page.locator("#alerts td.ack").filter(has_text="Dr. Lin")).not_to_have_count(0)
    expect(page.locator("#side-effects tbody tr")).to_have_count(3)
    expect(page.locator("#side-effects")).to_contain_text("nearly fell")
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Dose ledger (CSV)").click()
    assert download.value.suggested_filename == f"doses-{pat}-2026-03-07-2026-04-05.csv"
    with page.expect_download() as download:
        page.get_by_role("link", name="FHIR R4 Bundle (JSON)").click()
    assert download.value.suggested_filename == f"fhir-{pat}-2026-03-07-2026-04-05.json"
    assert [
        row["action"] for row in db.query("SELECT action FROM audit_log WHERE patient_id = ? ORDER BY id", [pat])
    ] == ["viewed report", "exported CSV", "exported FHIR"]

    # Printed: no navigation, period form or buttons; two A4 pages, no chart cut across them.
    page.emulate_media(media="print")
    expect(page.locator("header")).to_be_hidden()
    expect(page.get_by_role("button", name="Show")).to_be_hidden()
    expect(page.get_by_role("link", name="Dose ledger (CSV)")).to_be_hidden()
    expect(charts.first).to_be_visible()
    pdf = page.pdf(path=str(artifacts / "report.pdf"), format="A4", print_background=True)
    assert pdf_pages(pdf) == 2


def test_a_narrower_period_redraws_the_report(open_browser, db, clock, tick, scenario):
    pat = scenario("a month at the clinic", lambda: a_month_at_the_clinic(db, clock, tick))
    page = open_browser(DESKTOP)
    log_in(page, DOCTOR, "Patients")
    page.goto(f"/panel/patients/{pat}/report")
    page.get_by_label("From", exact=True).fill("2026-03-16")
    page.get_by_label("To", exact=True).fill("2026-03-22")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".report-head")).to_contain_text("Mon 16 Mar 2026 to Sun 22 Mar 2026")
    expect(page.locator("section.charts svg.chart").first.locator("desc")).to_contain_text(
        "7 days from Mon 16 Mar 2026 to Sun 22 Mar 2026"
    )
    assert page.url.endswith(f"/panel/patients/{pat}/report?from=2026-03-16&to=2026-03-22")


def test_a_patient_logs_side_effects_with_taps_on_a_phone(open_browser, db, tick, artifacts):
    pat = make_patient(db, name="Pat Example")
    make_medication(db, pat)
    tick("2026-03-07T18:05:00Z")  # 1:05 PM in New York: the 1:00 PM dose is due
    one_pm = doses(db, local_date="2026-03-07", local_time="13:00")[0]
    page = open_browser(PHONE)
    log_in(page, "pat@example.com", "Today")

    # Taken from Today: the dose page answers, with the side-effect taps open below.
    card = page.locator(f"#dose-{one_pm['id']}")
    card.get_by_role("button", name="Taken", exact=True).tap()
    expect(page.locator("#result")).to_have_text("Recorded: taken at 1:05 PM.")
    form = page.locator("details.side-effects")
    expect(form).to_have_attribute("open", "")
    expect(form).to_contain_text("After your 1:00 PM dose of Baclofen on Sat 07 Mar.")
    expect(form.locator("label.tap")).to_have_count(11)  # 8 kinds, 3 severities
    assert_fits_phone(page)
    form.locator("label.tap", has_text="Drowsiness").tap()
    form.locator("label.tap", has_text="2 · moderate").tap()
    expect(form.get_by_role("radio", name="Drowsiness")).to_be_checked()
    expect(form.get_by_role("radio", name="2 · moderate")).to_be_checked()
    form.get_by_label("Note").fill("heavy eyelids")
    page.screenshot(path=str(artifacts / "side-effects-dose-page.png"), full_page=True)
    form.get_by_role("button", name="Log side effect").tap()
    expect(page.get_by_role("status").filter(has_text="Noted")).to_have_text(
        "Noted: drowsiness, moderate."
    )  # no clinic: nobody else sees it
    assert page.url.endswith(f"/doses/{one_pm['id']}")

    # From Today: closed until tapped open; it follows the last dose taken.
    page.goto("/")
    form = page.locator("details.side-effects")
    expect(form).not_to_have_attribute("open", "")
    form.locator("summary").tap()
    expect(form).to_contain_text("After your 1:00 PM Baclofen dose, taken at 1:05 PM.")
    assert_fits_phone(page)
    form.locator("label.tap", has_text="Headache").tap()  # severity stays 1, mild
    page.screenshot(path=str(artifacts / "side-effects-today.png"), full_page=True)
    form.get_by_role("button", name="Log side effect").tap()
    expect(page.get_by_role("status").filter(has_text="Noted")).to_have_text("Noted: headache, mild.")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Today"))

    rows = [
        (r["kind"], r["severity"], r["note"], r["dose_id"], r["at"])
        for r in db.query("SELECT * FROM side_effects ORDER BY id")
    ]
    assert rows == [
        ("drowsiness", 2, "heavy eyelids", one_pm["id"], "2026-03-07T18:05:00Z"),
        ("headache", 1, "", one_pm["id"], "2026-03-07T18:05:00Z"),
    ]


def test_a_patient_joins_a_clinic_on_a_phone_and_reads_who_looked(open_browser, db, tick, artifacts):
    _, code = clinic_with_doctor(db)
    pat = make_patient(db, name="Pat Example")
    make_medication(db, pat)
    page = open_browser(PHONE)
    log_in(page, "pat@example.com", "Today")
    menu(page, "Clinics")
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinics")
    assert_fits_phone(page)
    page.get_by_label("Clinic code").fill(code.lower())
    page.get_by_role("button", name="Join").tap()
    expect(page.get_by_role("status")).to_contain_text("You are now linked to Neurology.")
    expect(page.locator(".card.clinic")).to_contain_text("Neurology")
    assert_fits_phone(page)

    doctor = open_browser(DESKTOP)
    log_in(doctor, DOCTOR, "Patients")
    doctor.get_by_role("link", name="Pat Example").click()
    expect(doctor.get_by_role("heading", level=1)).to_have_text("Adherence report: Pat Example")

    page.get_by_role("link", name="Who looked at my data").tap()
    entry = page.locator(".card.audit")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Dr. Lin")
    expect(entry).to_contain_text("Viewed report · Neurology")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "audit-phone.png"), full_page=True)

    page.goto("/clinics")
    page.get_by_role("button", name="Leave Neurology").tap()
    # on baclofen with no caregiver: the web explains who would no longer hear, and asks
    expect(page.locator("#last-safety-contact")).to_contain_text("nobody else hears from us")
    assert_fits_phone(page)
    page.get_by_role("button", name="Leave Neurology anyway").tap()
    expect(page.get_by_role("status")).to_have_text("You left Neurology. Its clinicians can no longer see your data.")
    doctor.reload()
    expect(doctor.get_by_role("heading", level=1)).to_have_text("Not Found")

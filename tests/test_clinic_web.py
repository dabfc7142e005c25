"""Clinics on the web over HTTP: the clinician's panel and a patient's report with its charts and
downloads, who may see them (clinic A's clinician never sees clinic B's patient), the audit log
the patient reads, joining and leaving a clinic, and the side-effect taps."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from reminder import charts, clinics, links, metrics, reports
from reminder.times import to_iso

from builders import (
    DOCTOR,
    START,
    csrf,
    doses,
    live_through,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    make_patients,
    page_text,
)

SVG = "{http://www.w3.org/2000/svg}"
FOUR_DAYS_LATER = "2026-03-11T03:00:00Z"  # 23:00 on Tue 10 Mar in New York


@pytest.fixture
def two_clinics(db):
    """Clinic A with its clinician and a linked patient on baclofen; clinic B with its own patient."""
    clinic_a, code_a = make_clinic(db, "Neurology A")
    clinic_b, code_b = make_clinic(db, "Neurology B")
    doctor = make_clinician(db, clinic_a)
    ours = make_patient(db, name="Pat Ours")
    theirs = make_patient(db, email="other@example.com", name="Olive Theirs")
    for patient, code in ((ours, code_a), (theirs, code_b)):
        make_medication(db, patient)
        clinics.join(db, patient, code, START)
    return {"doctor": doctor, "ours": ours, "theirs": theirs, "clinic_a": clinic_a, "code_a": code_a, "code_b": code_b}


def some_misses(dose: dict):
    """Sat 7 Mar: the 13:00 dose skipped, the 18:00 one taken two hours late; Mon 9 Mar: nothing
    taken at 08:00 (missed); every other dose taken on time."""
    if dose["local_date"] == "2026-03-07" and dose["local_time"] == "13:00":
        return "skip"
    if dose["local_date"] == "2026-03-07" and dose["local_time"] == "18:00":
        return 120
    if dose["local_date"] == "2026-03-09" and dose["local_time"] == "08:00":
        return None
    return 0


def report_path(patient_id: int, suffix: str = "report") -> str:
    return f"/panel/patients/{patient_id}/{suffix}"


def audit_rows(db, patient_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM audit_log WHERE patient_id = ? ORDER BY id", [patient_id]))


def side_effects(db) -> list[dict]:
    return list(db.query("SELECT * FROM side_effects ORDER BY id"))


# ---------------------------------------------------------------- the panel


def test_a_clinician_sees_their_clinics_linked_patient_on_the_panel_and_not_another_clinics(client, login, two_clinics):
    login(DOCTOR)
    response = client.get("/panel")
    assert response.status_code == 200
    body = page_text(response)
    assert "Pat Ours" in body and f'href="/panel/patients/{two_clinics["ours"]}/report"' in body
    assert "Olive Theirs" not in body and "other@example.com" not in body
    assert "1 patient." in body


def test_a_clinician_gets_404_for_a_patient_of_another_clinic_on_every_page(client, db, login, two_clinics):
    login(DOCTOR)
    theirs = two_clinics["theirs"]
    for suffix in ("report", "report.csv", "fhir"):
        response = client.get(report_path(theirs, suffix))
        assert response.status_code == 404, suffix
        assert "Olive" not in response.get_data(as_text=True)
    assert client.get(report_path(999_999)).status_code == 404
    assert audit_rows(db, theirs) == []


def test_after_the_patient_leaves_the_clinic_its_clinician_gets_404(client, db, login, two_clinics):
    assert clinics.leave(db, two_clinics["ours"], two_clinics["clinic_a"], two_clinics["ours"], START)
    login(DOCTOR)
    assert client.get(report_path(two_clinics["ours"])).status_code == 404
    assert "Pat Ours" not in page_text(client.get("/panel"))


@pytest.mark.parametrize("email", ["pat@example.com", "carer@example.com"])
def test_the_panel_and_reports_are_404_for_patients_and_caregivers(client, db, login, two_clinics, email):
    make_patient(db, email="carer@example.com", role="caregiver")
    login(email)
    assert client.get("/panel").status_code == 404
    for suffix in ("report", "report.csv", "fhir"):
        assert client.get(report_path(two_clinics["ours"], suffix)).status_code == 404
    assert audit_rows(db, two_clinics["ours"]) == []


def test_a_clinician_starts_on_the_panel_and_the_nav_offers_it(client, login, two_clinics):
    login(DOCTOR)
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/panel")
    body = client.get("/panel").get_data(as_text=True)
    assert '<a href="/panel">Panel</a>' in body and '<a href="/clinics">Clinics</a>' not in body


def test_the_panel_puts_patients_at_risk_first_and_sorts_by_name(client, db, login, two_clinics):
    calm = make_patient(db, email="aaron@example.com", name="Aaron Calm")
    clinics.join(db, calm, two_clinics["code_a"], START)
    # An open level-3 alert puts Pat first, although Aaron comes first by name.
    db.execute(
        "INSERT INTO alerts (patient_id, kind, level, run_key, for_clinician, summary, created_at) "
        "VALUES (?, 'missed_run', 3, 'k', 1, 'URGENT', ?)",
        [two_clinics["ours"], to_iso(START)],
    )
    login(DOCTOR)
    by_risk = re.findall(r'data-patient="(\d+)"', client.get("/panel").get_data(as_text=True))
    assert by_risk == [str(two_clinics["ours"]), str(calm)]
    by_name = re.findall(r'data-patient="(\d+)"', client.get("/panel?sort=name").get_data(as_text=True))
    assert by_name == [str(calm), str(two_clinics["ours"])]
    body = page_text(client.get("/panel?sort=name"))
    assert '<strong aria-current="true">name</strong>' in body and 'href="/panel?sort=risk"' in body


def test_the_panel_searches_and_pages_through_many_patients(client, db, login, two_clinics):
    bulk = make_patients(db, 60)
    db.conn.executemany(
        "INSERT INTO clinic_links (patient_id, clinic_id, created_at) VALUES (?, ?, ?)",
        [[patient, two_clinics["clinic_a"], to_iso(START)] for patient in bulk],
    )
    db.conn.commit()
    login(DOCTOR)
    first = page_text(client.get("/panel?sort=name"))
    assert "61 patients." in first and "Page 1 of 2" in first
    assert len(re.findall(r'data-patient="', first)) == 50
    assert 'href="/panel?sort=name&amp;page=2"' in client.get("/panel?sort=name").get_data(as_text=True)
    second = page_text(client.get("/panel?sort=name&page=2"))
    assert len(re.findall(r'data-patient="', second)) == 11 and "Page 2 of 2" in second
    found = page_text(client.get("/panel?q=ours"))
    assert "1 patient matching “ours”." in found and "Pat Ours" in found and "bulk1@" not in found
    assert client.get("/panel?page=banana&sort=nonsense").status_code == 200


# ---------------------------------------------------------------- the report


def test_viewing_the_report_writes_an_audit_row_that_the_patient_reads(client, db, login, two_clinics):
    login(DOCTOR)
    assert client.get(report_path(two_clinics["ours"]) + "?from=2026-03-07&to=2026-03-08").status_code == 200
    rows = audit_rows(db, two_clinics["ours"])
    assert [(r["actor_id"], r["action"], r["detail"]) for r in rows] == [
        (two_clinics["doctor"], "viewed report", f"{report_path(two_clinics['ours'])}?from=2026-03-07&to=2026-03-08")
    ]
    assert rows[0]["at"] == to_iso(START)

    client.post("/logout", data={"csrf_token": csrf(client, "/panel")})
    login("pat@example.com")
    body = page_text(client.get("/audit"))
    assert "Dr. Lin" in body and "Viewed report" in body and "Neurology A" in body
    assert f'data-audit="{rows[0]["id"]}"' in body


def test_every_view_and_download_is_audited(client, db, login, two_clinics):
    login(DOCTOR)
    for suffix in ("report", "report.csv", "fhir", "report"):
        assert client.get(report_path(two_clinics["ours"], suffix)).status_code == 200
    assert [r["action"] for r in audit_rows(db, two_clinics["ours"])] == [
        "viewed report",
        "exported CSV",
        "exported FHIR",
        "viewed report",
    ]


@pytest.mark.parametrize(
    "query", ["?from=2026-03-09&to=2026-03-07", "?from=07/03/2026", "?to=2026-02-30", "?from=2025-01-01&to=2026-03-07"]
)
def test_a_bad_period_is_refused_and_nothing_is_audited(client, db, login, two_clinics, query):
    login(DOCTOR)
    response = client.get(report_path(two_clinics["ours"]) + query)
    assert response.status_code == 400
    assert "Please check" in response.get_data(as_text=True)
    assert audit_rows(db, two_clinics["ours"]) == []


def test_the_report_shows_every_metric_with_its_definition_as_a_footnote(client, db, clock, tick, login, two_clinics):
    live_through(db, clock, tick, two_clinics["ours"], FOUR_DAYS_LATER, some_misses)
    login(DOCTOR)
    response = client.get(report_path(two_clinics["ours"]) + "?from=2026-03-07&to=2026-03-10")
    assert response.status_code == 200
    body = page_text(response)

    footnotes = dict(re.findall(r'<li id="def-(\d+)">([^<]*)</li>', body))
    definitions = metrics.definitions(metrics.Parameters(on_time_minutes=60, adherent_cutoff=0.8))
    assert sorted(footnotes.values()) == sorted(definitions.values())
    section = body[body.index('<section class="summary"') : body.index('<section class="footnotes"')]
    rows = dict(re.findall(r'<tr data-metric="(\w+)"><th>[^<]*<sup><a href="#def-(\d+)">', section))
    assert set(rows) == set(definitions) - {"counts"}  # the counts' footnote is on the counts table
    for key, number in rows.items():
        assert footnotes[number] == definitions[key], key
    assert (
        footnotes[re.search(r'Doses in the window<sup><a href="#def-(\d+)">', section).group(1)]
        == definitions["counts"]
    )

    # The values are the report's: 12 doses in 4 days, 10 taken (one 2 h late), 1 skipped, 1 missed.
    expected = reports.build(
        db, two_clinics["ours"], date(2026, 3, 7), date(2026, 3, 10), clock.now(), {"reports.adherent_cutoff": 0.8}
    )["medications"][0]["metrics"]
    assert expected["counts"] | {"pending": 0} == {
        "scheduled": 12,
        "taken": 10,
        "taken_on_time": 9,
        "taken_late": 1,
        "skipped": 1,
        "missed": 1,
        "unknown": 0,
        "pending": 0,
    }
    for key, count in (("scheduled", 12), ("taken_on_time", 9), ("taken_late", 1), ("skipped", 1), ("missed", 1)):
        assert re.search(rf'<td data-count="{key}">{count}\b', section), key
    assert "too drowsy" in section  # the skip's reason
    assert f"{expected['taking_adherence'] * 100:.1f} % (10 of 12)" in section
    assert f"{expected['timing_adherence'] * 100:.1f} % (9 of 12)" in section
    assert f"{expected['correct_dosing_days'] * 100:.1f} % (2 of 4 days)" in section
    assert f"{expected['longest_gap_hours']:.1f} h" in section
    assert "not computed: no refills recorded" in section
    assert expected["adherent"] is True and "yes (≥ 80 %)" in section  # 10 of 12 is 83 %


def test_the_report_lists_the_periods_alerts_and_who_acknowledged(client, db, login, two_clinics):
    ours, doctor = two_clinics["ours"], two_clinics["doctor"]
    db.execute(
        "INSERT INTO alerts (patient_id, medication_id, kind, level, run_key, for_clinician, status, summary, "
        "created_at, acknowledged_at, acknowledged_by) VALUES (?, NULL, 'missed_run', 3, 'a', 1, 'acknowledged', "
        "'URGENT: three doses missed', '2026-03-08T14:00:00Z', '2026-03-08T15:30:00Z', ?)",
        [ours, doctor],
    )
    db.execute(
        "INSERT INTO alerts (patient_id, kind, level, run_key, summary, created_at) "
        "VALUES (?, 'missed_run', 2, 'old', 'Before the period', '2026-02-01T14:00:00Z')",
        [ours],
    )
    login(DOCTOR)
    body = page_text(client.get(report_path(ours) + "?from=2026-03-07&to=2026-03-10"))
    alerts = body[body.index('id="alerts"') : body.index('id="side-effects"')]
    assert "URGENT: three doses missed" in alerts and "Before the period" not in alerts
    assert re.search(r'<td class="ack">Dr\. Lin, Sun 08 Mar 11:30</td>', alerts)  # 15:30Z in New York (EDT)


def test_the_report_charts_are_valid_svg_with_text_alternatives_and_legends(
    client, db, clock, tick, login, two_clinics
):
    live_through(db, clock, tick, two_clinics["ours"], FOUR_DAYS_LATER, some_misses)
    login(DOCTOR)
    body = client.get(report_path(two_clinics["ours"]) + "?from=2026-03-07&to=2026-03-10").get_data(as_text=True)
    svgs = re.findall(r"<svg\b.*?</svg>", body, flags=re.S)
    assert len(svgs) == 3
    for text in svgs:
        root = ET.fromstring(text)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("viewBox")
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert list(root)[0] is title, "the title comes first"
        assert title.text.strip() and len(desc.text) > 40
        assert root.get("aria-labelledby") == title.get("id") and root.get("aria-describedby") == desc.get("id")
        legend = root.find(f".//{SVG}g[@class='legend']")
        assert legend is not None and len(legend.findall(f"{SVG}text")) >= 3
    calendar, chronology, steps = (ET.fromstring(text) for text in svgs)
    cells = [t.text for t in calendar.iter(f"{SVG}text") if t.text and "/" in t.text]
    assert cells == ["2/3", "3/3", "2/3", "3/3"]  # Sat 7 (a skip), Sun 8, Mon 9 (a miss), Tue 10
    assert "every dose taken on 2 days, some on 2, none on 0" in calendar.find(f"{SVG}desc").text
    assert chronology.find(f"{SVG}desc").text.startswith(
        "10 doses taken, 1 of them more than 60 min from the scheduled time; 1 skipped, 1 missed, 0 not confirmed."
    )
    assert "10 mg at 08:00, 13:00, 18:00 from Sat 07 Mar 2026" in steps.find(f"{SVG}desc").text


def test_the_calendar_marks_a_drug_holiday_and_the_steps_strip_lines_up_with_the_chronology():
    days = [
        {"date": f"2026-03-{d:02d}", "taken": 0 if 10 <= d <= 12 else 3, "prescribed": 3, "holiday": 10 <= d <= 12}
        for d in range(7, 15)
    ]
    medication = {
        "id": 1,
        "name": "Baclofen",
        "unit": "mg",
        "calendar": days,
        "chronology": [],
        "metrics": {"parameters": {"on_time_minutes": 60}},
        "steps": [
            {
                "start_date": "2026-03-07",
                "end_date": "2026-03-10",
                "amount": 10.0,
                "times": ["08:00", "13:00", "18:00"],
            },
            {"start_date": "2026-03-11", "end_date": None, "amount": 7.5, "times": ["08:00", "13:00", "18:00"]},
        ],
    }
    calendar = ET.fromstring(charts.calendar_heatmap(medication, "c"))
    assert "3 drug-holiday days (10 Mar–12 Mar)" in calendar.find(f"{SVG}desc").text
    assert len(calendar.findall(f".//{SVG}rect[@fill='url(#c-hatch)']")) == 3 + 1  # and one in the legend

    first, last = date(2026, 3, 7), date(2026, 3, 14)
    effect = {"at": "2026-03-11T17:00:00Z", "kind": "dizziness", "severity": 3, "medication_id": None}
    strip = ET.fromstring(charts.steps_strip(medication, [effect], [], first, last, "America/New_York", "s"))
    axis = charts.Axis(first, last)
    bars = [r for r in strip.iter(f"{SVG}rect") if r.get("fill") == "#b6e3ff" and r.get("stroke") == "#1f5f8b"][:2]
    assert [float(b.get("x")) for b in bars] == pytest.approx([axis.x(first), axis.x(date(2026, 3, 11))], abs=0.05)
    assert float(bars[1].get("height")) == pytest.approx(float(bars[0].get("height")) * 0.75, abs=0.1)
    circle = next(c for c in strip.iter(f"{SVG}circle") if c.get("r") == "7")
    assert float(circle.get("cx")) == pytest.approx(axis.x(date(2026, 3, 11), 13), abs=0.05)  # 13:00 in New York
    assert "dizziness (severe) on Wed 11 Mar 13:00" in strip.find(f"{SVG}desc").text


def test_an_intake_after_midnight_is_plotted_where_it_happened_and_judged_by_its_real_delay():
    medication = {
        "id": 1,
        "name": "Clonidine",
        "unit": "mg",
        "metrics": {"parameters": {"on_time_minutes": 60}},
        "steps": [{"start_date": "2026-03-07", "end_date": None, "amount": 0.1, "times": ["23:30"]}],
        "chronology": [
            {"local_date": "2026-03-07", "local_time": "23:30", "status": "taken", "taken_local": "00:15"},
            {"local_date": "2026-03-08", "local_time": "23:30", "status": "taken", "taken_local": "02:00"},
            {"local_date": "2026-03-09", "local_time": "23:30", "status": "pending", "taken_local": None},
        ],
    }
    first, last = date(2026, 3, 7), date(2026, 3, 9)
    plot = ET.fromstring(charts.chronology_plot(medication, first, last, "p"))
    assert plot.find(f"{SVG}desc").text.startswith("2 doses taken, 1 of them more than 60 min from the scheduled time")
    axis = charts.Axis(first, last)
    [dot] = [
        c for c in plot.iter(f"{SVG}circle") if c.get("fill") == charts.ON_TIME and c.get("cx") != "7"
    ]  # not the legend's
    assert (float(dot.get("cx")), float(dot.get("cy"))) == pytest.approx(
        (axis.x(date(2026, 3, 8), 12), charts.PLOT_TOP + 0.25 * charts.HOUR_H), abs=0.05
    )  # 00:15 on Sun 8


def test_the_ledger_downloads_as_csv_from_the_report_page(client, db, clock, tick, login, two_clinics):
    live_through(db, clock, tick, two_clinics["ours"], FOUR_DAYS_LATER, some_misses)
    login(DOCTOR)
    page = client.get(report_path(two_clinics["ours"]) + "?from=2026-03-07&to=2026-03-10").get_data(as_text=True)
    link = html.unescape(re.search(r'href="([^"]*report\.csv[^"]*)"', page).group(1))
    assert link == f"{report_path(two_clinics['ours'], 'report.csv')}?from=2026-03-07&to=2026-03-10"
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="doses-{two_clinics["ours"]}-2026-03-07-2026-03-10.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == reports.CSV_COLUMNS
    assert len(rows) - 1 == 12 and {row[5] for row in rows[1:]} == {"taken", "skipped", "missed"}


def test_the_fhir_bundle_downloads_from_the_report_page(client, db, clock, tick, login, two_clinics):
    live_through(db, clock, tick, two_clinics["ours"], FOUR_DAYS_LATER, some_misses)
    login(DOCTOR)
    page = client.get(report_path(two_clinics["ours"]) + "?from=2026-03-07&to=2026-03-10").get_data(as_text=True)
    link = html.unescape(re.search(r'href="([^"]*/fhir\?[^"]*)"', page).group(1))
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    bundle = json.loads(response.get_data(as_text=True))
    assert bundle["resourceType"] == "Bundle"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert "Patient" in kinds and "MedicationRequest" in kinds and kinds.count("MedicationAdministration") == 12


# ---------------------------------------------------------------- the patient's side


def test_a_patient_joins_a_clinic_by_code_and_leaves_it(client, db, login, two_clinics):
    patient = make_patient(db, email="new@example.com", name="Nina New")
    login("new@example.com")
    assert '<a href="/clinics">Clinics</a>' in client.get("/clinics").get_data(as_text=True)
    response = client.post(
        "/clinics", data={"csrf_token": csrf(client, "/clinics"), "code": f" {two_clinics['code_a'].lower()} "}
    )
    assert response.status_code == 302
    body = page_text(client.get("/clinics"))
    assert "You are now linked to Neurology A." in body and 'data-clinic="' in body
    assert clinics.clinician_sees(db, {"role": "clinician", "clinic_id": two_clinics["clinic_a"]}, patient)

    again = client.post("/clinics", data={"csrf_token": csrf(client, "/clinics"), "code": two_clinics["code_a"]})
    assert again.status_code == 409 and "already linked" in again.get_data(as_text=True)

    response = client.post(f"/clinics/{two_clinics['clinic_a']}/leave", data={"csrf_token": csrf(client, "/clinics")})
    assert response.status_code == 302
    assert "You left Neurology A." in page_text(client.get("/clinics"))
    assert not clinics.clinician_sees(db, {"role": "clinician", "clinic_id": two_clinics["clinic_a"]}, patient)
    gone = client.post(f"/clinics/{two_clinics['clinic_a']}/leave", data={"csrf_token": csrf(client, "/clinics")})
    assert gone.status_code == 404


def test_a_wrong_clinic_code_is_refused_with_a_message(client, db, login):
    make_patient(db)
    login()
    response = client.post("/clinics", data={"csrf_token": csrf(client, "/clinics"), "code": "NOPE2345"})
    assert response.status_code == 404 and "No clinic has this code" in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM clinic_links").fetchone()[0] == 0


def test_clinicians_have_no_clinics_or_audit_pages_of_their_own(client, login, two_clinics):
    login(DOCTOR)
    assert client.get("/clinics").status_code == 404 and client.get("/audit").status_code == 404


def test_a_side_effect_tapped_on_today_follows_the_last_dose_taken_and_shows_on_the_report(
    client, db, clock, tick, login, two_clinics
):
    live_through(db, clock, tick, two_clinics["ours"], "2026-03-07T18:10:00Z", lambda dose: 0)
    login()
    today = client.get("/").get_data(as_text=True)
    last_taken = doses(db, local_date="2026-03-07", local_time="13:00")[0]
    assert f'name="dose_id" value="{last_taken["id"]}"' in today
    assert "After your 1:00 PM Baclofen dose, taken at 1:00 PM." in today
    response = client.post(
        "/side-effects",
        data={
            "csrf_token": csrf(client, "/"),
            "kind": "drowsiness",
            "severity": "2",
            "note": "after lunch",
            "dose_id": str(last_taken["id"]),
            "next": "/",
        },
    )
    assert response.status_code == 302 and response.location == "/"
    assert "Noted: drowsiness, moderate. Your clinic sees it on your report." in page_text(client.get("/"))
    [row] = side_effects(db)
    assert (
        row["patient_id"],
        row["dose_id"],
        row["medication_id"],
        row["kind"],
        row["severity"],
        row["note"],
        row["at"],
    ) == (
        two_clinics["ours"],
        last_taken["id"],
        last_taken["medication_id"],
        "drowsiness",
        2,
        "after lunch",
        "2026-03-07T18:10:00Z",
    )

    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    login(DOCTOR)
    body = page_text(client.get(report_path(two_clinics["ours"])))
    table = body[body.index('id="side-effects"') :]
    assert re.search(
        r"<td class=\"when\">Sat 07 Mar 13:10</td><td>Drowsiness</td><td>2 \(moderate\)</td>"
        r"<td>Baclofen</td><td>after lunch</td>",
        table,
    )
    assert "<title>Sat 07 Mar 13:10: drowsiness, moderate</title>" in body  # its marker on the steps strip


def test_the_dose_page_offers_the_side_effect_taps_to_its_patient_only(client, db, clock, tick, login, two_clinics):
    live_through(db, clock, tick, two_clinics["ours"], "2026-03-07T13:30:00Z", lambda dose: 0)
    dose = doses(db, local_date="2026-03-07", local_time="08:00")[0]
    login()
    page = client.get(f"/doses/{dose['id']}").get_data(as_text=True)
    assert '<details class="card side-effects" id="side-effects" open>' in page  # open: the dose was taken
    assert f'name="dose_id" value="{dose["id"]}"' in page and f'name="next" value="/doses/{dose["id"]}"' in page
    assert page.count('name="kind"') == 8 and page.count('name="severity"') == 3
    response = client.post(
        "/side-effects",
        data={
            "csrf_token": csrf(client, "/"),
            "kind": "dizziness",
            "severity": "3",
            "dose_id": str(dose["id"]),
            "next": f"/doses/{dose['id']}",
        },
    )
    assert response.status_code == 302 and response.location == f"/doses/{dose['id']}"
    assert [(r["kind"], r["severity"], r["dose_id"]) for r in side_effects(db)] == [("dizziness", 3, dose["id"])]

    # The phone link's page, opened without logging in, posts its taps to the link itself: the
    # token says whose dose it is, never the logged-in route.
    token = links.issue(db, dose["id"], clock.now() + timedelta(hours=24), clock.now())
    anonymous = client.application.test_client()
    page = anonymous.get(f"/d/{token}")
    html = page.get_data(as_text=True)
    assert (
        page.status_code == 200 and f'action="/d/{token}/side-effects"' in html and 'action="/side-effects"' not in html
    )


@pytest.mark.parametrize(
    "fields, status, message",
    [
        ({"kind": "itching"}, 400, "kind must be one of"),
        ({"kind": ""}, 400, "kind must be one of"),
        ({"severity": "4"}, 400, "severity must be 1"),
        ({"severity": "0"}, 400, "severity must be 1"),
        ({"severity": ""}, 400, "severity must be 1"),
        ({"severity": "²"}, 400, "severity must be 1"),
        ({"severity": "1.5"}, 400, "severity must be 1"),
        ({"note": "x" * 501}, 400, "at most 500 characters"),
        ({"note": "bell\x07"}, 400, "plain text"),
        ({"dose_id": "999999"}, 404, "No such dose"),
        ({"dose_id": "abc"}, 404, "No such dose"),
        ({"dose_id": "²"}, 404, "No such dose"),
        ({"dose_id": "0"}, 404, "No such dose"),
    ],
)
def test_bad_side_effect_input_is_refused_with_a_message_and_nothing_is_written(
    client, db, login, fields, status, message
):
    make_patient(db)
    login()
    data = {"csrf_token": csrf(client, "/"), "kind": "headache", "severity": "1", "note": "", **fields}
    response = client.post("/side-effects", data=data)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert side_effects(db) == []


def test_a_side_effect_for_another_patients_dose_or_without_csrf_is_refused(client, db, login, two_clinics):
    their_dose = doses(db, patient_id=two_clinics["theirs"])[0]
    login()
    response = client.post(
        "/side-effects",
        data={"csrf_token": csrf(client, "/"), "kind": "headache", "severity": "1", "dose_id": str(their_dose["id"])},
    )
    assert response.status_code == 404
    response = client.post("/side-effects", data={"kind": "headache", "severity": "1"})
    assert response.status_code == 400 and "form has expired" in response.get_data(as_text=True)
    assert side_effects(db) == []


def test_an_outside_next_address_goes_back_to_today(client, db, login):
    make_patient(db)
    login()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post(
            "/side-effects", data={"csrf_token": csrf(client, "/"), "kind": "other", "severity": "1", "next": target}
        )
        assert response.status_code == 302 and response.location == "/"


def test_clinicians_and_caregivers_cannot_post_side_effects(client, db, login, two_clinics):
    login(DOCTOR)
    response = client.post(
        "/side-effects", data={"csrf_token": csrf(client, "/panel"), "kind": "other", "severity": "1"}
    )
    assert response.status_code == 404
    assert side_effects(db) == []

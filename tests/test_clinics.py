"""Clinics through the API: joining, the panel, the report and its exports, side effects,
the audit log, and clinicians' changes; a clinician of clinic A never reaches clinic B's patients."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from reminder import ledger
from reminder.times import parse_instant

from builders import (
    bearer,
    csrf,
    doses,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    messages,
)

SNOOZE = timedelta(minutes=15)


@pytest.fixture
def clinic(db, client, patient, clock):
    """Clinic A with a clinician and the patient (baclofen) linked by code; clinic B with its own."""
    make_medication(db, patient)
    a_id, a_code = make_clinic(db, "Clinic A")
    b_id, _ = make_clinic(db, "Clinic B")
    doctor = make_clinician(db, a_id, "doc@a.example", "Dr A")
    stranger = make_clinician(db, b_id, "doc@b.example", "Dr B")
    patient_api = bearer(db, patient)
    joined = client.post("/api/v1/me/clinics", json={"code": a_code.lower()}, headers=patient_api)
    assert joined.status_code == 201 and joined.json["name"] == "Clinic A"
    return {
        "a": a_id,
        "code": a_code,
        "doctor": doctor,
        "doctor_api": bearer(db, doctor),
        "stranger_api": bearer(db, stranger),
        "patient": patient,
        "patient_api": patient_api,
    }


def simulate(db, patient, clock, tick_until, until="2026-03-10T12:00:00Z"):
    """Take the 08:00 doses on time, the 18:00 ones 90 minutes late, miss the 13:00 ones."""
    current = clock.now()
    end = parse_instant(until)
    while current < end:
        current += timedelta(minutes=30)
        tick_until(current.strftime("%Y-%m-%dT%H:%M:%SZ"), step=1800)
        for dose in doses(db, status="pending"):
            due = parse_instant(dose["scheduled_at"])
            late = {"08:00": timedelta(0), "18:00": timedelta(minutes=90)}.get(dose["local_time"])
            if late is not None and due + late == current:
                ledger.answer_dose(db, dose["id"], ledger.Answer("taken", "web", patient), current, SNOOZE)


def test_joining_twice_or_with_a_bad_code_is_refused(client, clinic):
    again = client.post("/api/v1/me/clinics", json={"code": clinic["code"]}, headers=clinic["patient_api"])
    assert again.status_code == 409
    assert client.post("/api/v1/me/clinics", json={"code": "NOPE"}, headers=clinic["patient_api"]).status_code == 404
    assert client.post("/api/v1/me/clinics", json={}, headers=clinic["patient_api"]).status_code == 400
    assert [c["name"] for c in client.get("/api/v1/me/clinics", headers=clinic["patient_api"]).json["clinics"]] == [
        "Clinic A"
    ]


def test_the_panel_lists_the_clinics_patients_with_their_summary(db, client, clinic, clock, tick_until):
    simulate(db, clinic["patient"], clock, tick_until)
    panel = client.get("/api/v1/patients", headers=clinic["doctor_api"]).json
    assert panel["total"] == 1
    [row] = panel["patients"]
    assert row["id"] == clinic["patient"] and row["withdrawal_risk_medications"] == "Baclofen"
    assert 0 < row["adherence_7d"] < 1 and row["last_taken_at"]
    assert client.get("/api/v1/patients", headers=clinic["stranger_api"]).json["total"] == 0
    assert client.get("/api/v1/patients?sort=shoe", headers=clinic["doctor_api"]).status_code == 400
    assert client.get("/api/v1/patients?q=nobody", headers=clinic["doctor_api"]).json["total"] == 0


def test_the_report_has_every_metric_with_its_definition_and_is_audited(db, client, clinic, clock, tick_until):
    simulate(db, clinic["patient"], clock, tick_until)
    url = f"/api/v1/patients/{clinic['patient']}/report?from=2026-03-07&to=2026-03-09"
    report = client.get(url, headers=clinic["doctor_api"]).json
    [baclofen] = report["medications"]
    m = baclofen["metrics"]
    for key in ("taking_adherence", "timing_adherence", "correct_dosing_days", "drug_holidays", "longest_gap_hours"):
        assert key in m
    assert report["definitions"] and all(report["definitions"].values())
    # 08:00 on time, 13:00 missed, 18:00 late: 2 of 3 taken, 1 of 3 on time
    assert m["counts"]["taken_on_time"] >= 2 and m["counts"]["taken_late"] >= 2 and m["counts"]["missed"] >= 2
    assert baclofen["calendar"][0]["date"] == "2026-03-07"
    audit = client.get("/api/v1/me/audit", headers=clinic["patient_api"]).json["audit"]
    assert audit[0]["action"] == "viewed report" and audit[0]["actor_email"] == "doc@a.example"
    assert client.get(url, headers=clinic["stranger_api"]).status_code == 404
    assert (
        client.get(
            f"/api/v1/patients/{clinic['patient']}/report?from=2026-03-09&to=2026-03-01", headers=clinic["doctor_api"]
        ).status_code
        == 400
    )


def test_the_csv_export_is_the_ledger_of_the_period(db, client, clinic, clock, tick_until):
    simulate(db, clinic["patient"], clock, tick_until)
    response = client.get(
        f"/api/v1/patients/{clinic['patient']}/report.csv?from=2026-03-08&to=2026-03-08", headers=clinic["doctor_api"]
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["local_time"], r["status"]) for r in rows] == [
        ("08:00", "taken"),
        ("13:00", "missed"),
        ("18:00", "taken"),
    ]
    assert (
        client.get(f"/api/v1/patients/{clinic['patient']}/report.csv", headers=clinic["stranger_api"]).status_code
        == 404
    )


def test_every_patient_route_is_closed_to_another_clinics_clinician(db, client, clinic):
    patient, dose = clinic["patient"], doses(db)[0]["id"]
    medication = doses(db)[0]["medication_id"]
    for method, path in (
        ("get", f"/api/v1/patients/{patient}/doses"),
        ("get", f"/api/v1/patients/{patient}/medications"),
        ("get", f"/api/v1/patients/{patient}/report"),
        ("get", f"/api/v1/patients/{patient}/report.csv"),
        ("get", f"/api/v1/patients/{patient}/fhir"),
        ("post", f"/api/v1/patients/{patient}/doses/{dose}/confirm"),
        ("patch", f"/api/v1/patients/{patient}/medications/{medication}"),
        ("delete", f"/api/v1/patients/{patient}/medications/{medication}?reason=x"),
    ):
        kwargs = {"json": {"action": "taken", "reason": "x"}} if method in ("post", "patch") else {}
        assert getattr(client, method)(path, headers=clinic["stranger_api"], **kwargs).status_code == 404, path
    assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_side_effects_are_logged_with_their_dose_and_bad_ones_refused(db, client, clinic):
    dose = doses(db)[0]["id"]
    logged = client.post(
        "/api/v1/side-effects",
        json={"kind": "drowsiness", "severity": 2, "note": "after lunch", "dose_id": dose},
        headers=clinic["patient_api"],
    )
    assert logged.status_code == 201 and logged.json["medication_id"] == doses(db)[0]["medication_id"]
    for bad, field in (
        ({"kind": "itch", "severity": 1}, "kind"),
        ({"kind": "headache", "severity": 4}, "severity"),
        ({"kind": "headache", "severity": 1, "dose_id": 999999}, "dose_id"),
    ):
        response = client.post("/api/v1/side-effects", json=bad, headers=clinic["patient_api"])
        assert 400 <= response.status_code < 500 and response.json["error"]["field"] == field
    assert db.execute("SELECT count(*) FROM side_effects").fetchone()[0] == 1
    report = client.get(f"/api/v1/patients/{clinic['patient']}/report", headers=clinic["doctor_api"]).json
    assert [s["kind"] for s in report["side_effects"]] == ["drowsiness"]


def test_a_clinician_stops_baclofen_with_a_reason_and_it_is_recorded(db, client, clinic):
    medication = doses(db)[0]["medication_id"]
    path = f"/api/v1/patients/{clinic['patient']}/medications/{medication}"
    assert client.delete(path, headers=clinic["doctor_api"]).status_code == 400  # no reason
    assert client.delete(path, headers=clinic["patient_api"]).status_code == 404  # patients use the taper route
    stopped = client.delete(path + "?reason=hallucinations%20at%20this%20dose", headers=clinic["doctor_api"])
    assert stopped.status_code == 200 and stopped.json["ended_at"]
    change = db.execute("SELECT actor_id, reason FROM medication_changes").fetchone()
    assert change == (clinic["doctor"], "hallucinations at this dose")


def test_level_3_alerts_reach_the_clinic_once_linked(db, client, clinic, tick_until):
    tick_until("2026-03-08T05:31:00Z", step=600)  # three baclofen doses missed
    told = [m for m in messages(db, "alert") if m["user_id"] == clinic["doctor"]]
    assert len(told) == 1 and told[0]["body"].startswith("URGENT")


def test_leaving_the_clinic_closes_the_clinicians_view(db, client, clinic):
    last = client.delete(f"/api/v1/me/clinics/{clinic['a']}", headers=clinic["patient_api"])
    assert last.status_code == 409 and last.json["error"]["code"] == "last_safety_contact"  # on baclofen
    left = client.delete(f"/api/v1/me/clinics/{clinic['a']}?confirm=true", headers=clinic["patient_api"])
    assert left.status_code == 200
    told = [m for m in messages(db, "link_ended") if m["user_id"] == clinic["doctor"]]
    assert len(told) == 1 and "ended your link with" in told[0]["body"]
    assert client.get(f"/api/v1/patients/{clinic['patient']}/report", headers=clinic["doctor_api"]).status_code == 404
    assert client.get("/api/v1/patients", headers=clinic["doctor_api"]).json["total"] == 0


def test_a_caregiver_cannot_pull_the_clinical_report_or_exports(db, client, clinic):
    carer = make_patient(db, email="carer@example.com", role="caregiver", phone=None)
    db.execute(
        "INSERT INTO care_links (patient_id, caregiver_id, invite_email, token_hash, status, created_at, expires_at) "
        "VALUES (?, ?, 'carer@example.com', 'y', 'active', '2026-03-07T12:00:00Z', '2026-03-21T12:00:00Z')",
        [clinic["patient"], carer],
    )
    carer_api = bearer(db, carer)
    for suffix in ("report", "report.csv", "fhir"):
        assert client.get(f"/api/v1/patients/{clinic['patient']}/{suffix}", headers=carer_api).status_code == 404
    assert client.get(f"/api/v1/patients/{clinic['patient']}/doses", headers=carer_api).status_code == 200
    assert client.get(f"/api/v1/patients/{clinic['patient']}/report", headers=clinic["patient_api"]).status_code == 200


def test_odd_digits_in_a_side_effect_are_a_400(db, client, clinic):
    for bad in ({"kind": "headache", "severity": "²"}, {"kind": "headache", "severity": 1, "dose_id": "²"}):
        response = client.post("/api/v1/side-effects", json=bad, headers=clinic["patient_api"])
        assert 400 <= response.status_code < 500


def test_an_overdue_pump_refill_reaches_the_clinic(db, client, clinic, tick):
    made = client.post("/api/v1/pumps", json={"alarm_date": "2026-03-08"}, headers=clinic["patient_api"])
    assert made.status_code == 201
    tick("2026-03-08T12:00:00Z")  # the alarm date has come with no refill recorded
    told = [m for m in messages(db, "alert") if m["user_id"] == clinic["doctor"] and "intrathecal pump" in m["body"]]
    assert len(told) == 1 and told[0]["body"].startswith("URGENT")


def test_a_report_period_far_in_the_future_is_a_400(client, clinic):
    response = client.get(f"/api/v1/patients/{clinic['patient']}/report?to=9999-12-31", headers=clinic["doctor_api"])
    assert response.status_code == 400


def test_a_clinician_records_a_linked_patients_pump_and_another_clinic_cannot(db, client, clinic):
    path = f"/api/v1/patients/{clinic['patient']}/pumps"
    made = client.post(path, json={"alarm_date": "2026-04-01"}, headers=clinic["doctor_api"])
    assert made.status_code == 201 and made.json["refill_by"] == "2026-03-27"
    assert [p["id"] for p in client.get("/api/v1/pumps", headers=clinic["patient_api"]).json["pumps"]] == [
        made.json["id"]
    ]
    assert client.post(path, json={"alarm_date": "2026-04-01"}, headers=clinic["stranger_api"]).status_code == 404
    assert client.get(path, headers=clinic["stranger_api"]).status_code == 404
    assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'recorded a pump'").fetchone()[0] == 1


def test_a_clinician_invites_a_patient_who_accepts_by_link(db, client, clinic):
    other = make_patient(db, email="new@example.com", phone=None)
    other_api = bearer(db, other)
    sent = client.post("/api/v1/clinic/invitations", json={"email": "new@example.com"}, headers=clinic["doctor_api"])
    assert sent.status_code == 201
    [message] = messages(db, "clinic_invitation")
    assert message["recipient"] == "new@example.com" and "Clinic A" in message["body"]
    token = message["body"].rsplit("/clinic-invitations/", 1)[1].split()[0]
    assert client.get(f"/clinic-invitations/{token}").status_code == 200  # a look changes nothing
    assert db.execute("SELECT count(*) FROM clinic_links WHERE patient_id = ?", [other]).fetchone()[0] == 0
    accepted = client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=other_api)
    assert accepted.status_code == 201 and accepted.json["name"] == "Clinic A"
    assert client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=other_api).status_code == 409
    assert other in [p["id"] for p in client.get("/api/v1/patients", headers=clinic["doctor_api"]).json["patients"]]
    assert (
        client.post(
            "/api/v1/clinic/invitations", json={"email": "x@example.com"}, headers=clinic["patient_api"]
        ).status_code
        == 403
    )
    assert client.post("/api/v1/clinic-invitations/nonsense/accept", headers=other_api).status_code == 404


def test_a_patient_accepts_a_clinic_invitation_on_its_page(db, client, clinic):
    make_patient(db, email="web@example.com", phone=None)
    client.post("/api/v1/clinic/invitations", json={"email": "web@example.com"}, headers=clinic["doctor_api"])
    token = messages(db, "clinic_invitation")[0]["body"].rsplit("/clinic-invitations/", 1)[1].split()[0]
    assert "Log in" in client.get(f"/clinic-invitations/{token}").get_data(as_text=True)
    log_in(client, "web@example.com")
    page = f"/clinic-invitations/{token}"
    assert "Link my account to Clinic A" in client.get(page).get_data(as_text=True)
    assert client.post(page, data={"csrf_token": csrf(client, page)}).status_code == 302
    assert (
        db.execute(
            "SELECT count(*) FROM clinic_links l JOIN users u ON u.id = l.patient_id "
            "WHERE u.email = 'web@example.com' AND l.status = 'active'"
        ).fetchone()[0]
        == 1
    )


def test_the_panel_shows_tablet_refills_and_pump_refills_due_soon(db, client, clinic, tick):
    medication = doses(db)[0]["medication_id"]
    db.execute("UPDATE medications SET stock = 12, units_per_dose = 1 WHERE id = ?", [medication])  # 4 days left
    client.post("/api/v1/pumps", json={"alarm_date": "2026-03-12"}, headers=clinic["patient_api"])
    tick("2026-03-07T12:10:00Z")  # upkeep sends the refill reminder
    [row] = client.get("/api/v1/patients", headers=clinic["doctor_api"]).json["patients"]
    assert row["refills_due"] == "Baclofen" and row["pump_refill_by"] == "2026-03-07"


def test_a_clinicians_dose_change_is_kept_with_its_reason_and_a_refused_one_leaves_neither(db, client, clinic):
    medication = doses(db)[0]["medication_id"]
    path = f"/api/v1/patients/{clinic['patient']}/medications/{medication}"
    refused = client.patch(path, json={"amount": -5, "reason": "too drowsy"}, headers=clinic["doctor_api"])
    assert refused.status_code == 400
    assert db.execute("SELECT count(*) FROM medication_changes").fetchone()[0] == 0
    lowered = client.patch(path, json={"amount": 5, "reason": "too drowsy"}, headers=clinic["doctor_api"])
    assert lowered.status_code == 200 and lowered.json["amount"] == 5  # a clinician may cut a baclofen dose
    change = db.execute("SELECT actor_id, reason, change FROM medication_changes").fetchall()
    assert change == [(clinic["doctor"], "too drowsy", '{"amount": 5}')]
    assert client.patch(path, json={"amount": 2.5}, headers=clinic["stranger_api"]).status_code == 404


def test_a_clinic_invitation_is_accepted_only_by_the_invited_address(db, client, clinic):
    invited = make_patient(db, email="new@example.com", phone=None)
    by_text = make_patient(db, email="texted@example.com", phone="+12025550143")
    stranger = bearer(db, make_patient(db, email="mallory@example.com", phone="+12025550144"))
    client.post("/api/v1/clinic/invitations", json={"email": "new@example.com"}, headers=clinic["doctor_api"])
    token = messages(db, "clinic_invitation")[0]["body"].rsplit("/clinic-invitations/", 1)[1].split()[0]
    refused = client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=stranger)
    assert refused.status_code == 403 and "someone else" in refused.json["error"]["message"]
    log_in(client, "mallory@example.com")
    page = f"/clinic-invitations/{token}"
    on_page = client.post(page, data={"csrf_token": csrf(client, page)})
    assert on_page.status_code == 403 and "someone else" in on_page.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM clinic_links WHERE clinic_id = ?", [clinic["a"]]).fetchone()[0] == 1
    assert client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=bearer(db, invited)).status_code == 201
    # By text: the account whose verified number it went to accepts it.
    client.post("/api/v1/clinic/invitations", json={"phone": "+12025550143"}, headers=clinic["doctor_api"])
    token = messages(db, "clinic_invitation")[1]["body"].rsplit("/clinic-invitations/", 1)[1].split()[0]
    assert client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=stranger).status_code == 403
    assert client.post(f"/api/v1/clinic-invitations/{token}/accept", headers=bearer(db, by_text)).status_code == 201


def test_a_clinician_of_the_patients_clinic_cannot_record_i_gave_it(db, client, clinic):
    dose = doses(db)[0]
    path = f"/api/v1/patients/{clinic['patient']}/doses/{dose['id']}/confirm"
    refused = client.post(path, json={"action": "taken"}, headers=clinic["doctor_api"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "not_a_caregiver"
    assert doses(db)[0]["status"] == "pending"
    assert db.execute("SELECT count(*) FROM dose_events WHERE dose_id = ?", [dose["id"]]).fetchone()[0] == 0

"""A clinician's pause (issue 10 §5): "repeats stop when the medication is paused by a clinician".
A clinician of a linked clinic pauses a medication's reminders for some days with a reason; the
alert's repeats are silent on those days and come back after; nobody else may.

The patient lives in America/New_York; the tests start on Saturday 2026-03-07 (builders.START).
"""

from __future__ import annotations

import pytest

from reminder import clinics

from builders import (
    DOCTOR,
    START,
    Z,
    bearer,
    csrf,
    link_caregiver,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    messages,
    page_text,
)


@pytest.fixture
def alerted(db, patient, tick_until):
    """Baclofen with a caregiver and Dr Lin's clinic, two doses missed: an open level-2 alert."""
    medication = make_medication(db, patient)
    carer = link_caregiver(db, patient)
    clinic_id, code = make_clinic(db, "Neurology")
    other_clinic, _ = make_clinic(db, "Elsewhere")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    tick_until("2026-03-07T20:31:00Z", step=300)
    assert db.execute("SELECT count(*) FROM alerts WHERE status = 'open'").fetchone()[0] == 1
    return {
        "medication": medication,
        "carer": carer,
        "path": f"/api/v1/patients/{patient}/medications/{medication}/pause",
        "doctor_api": bearer(db, doctor),
        "doctor": doctor,
        "patient_api": bearer(db, patient),
        "caregiver_api": bearer(db, carer),
        "stranger_api": bearer(db, make_clinician(db, other_clinic, "doc@b.example", "Dr B")),
    }


def test_a_clinicians_pause_silences_the_alert_repeats_on_its_days_and_they_resume_after(db, client, alerted, tick):
    def repeats_to_carer():
        return len([m for m in messages(db, "alert_repeat") if m["user_id"] == alerted["carer"]])

    paused = client.post(
        alerted["path"], json={"reason": "admitted to hospital", "until": "2026-03-08"}, headers=alerted["doctor_api"]
    )
    assert paused.status_code == 201, paused.json
    assert (paused.json["paused_from"], paused.json["paused_until"]) == ("2026-03-07", "2026-03-08")
    recorded = db.execute("SELECT local_date, actor_id, reason FROM pauses ORDER BY local_date").fetchall()
    assert recorded == [
        ("2026-03-07", alerted["doctor"], "admitted to hospital"),
        ("2026-03-08", alerted["doctor"], "admitted to hospital"),
    ]
    before = repeats_to_carer()
    for at in ("2026-03-08T01:00", "2026-03-08T09:00", "2026-03-08T15:00", "2026-03-08T22:00", "2026-03-09T03:30"):
        tick(Z(at))  # up to 23:30 on Sun 8 Mar in New York
    assert repeats_to_carer() == before
    tick(Z("2026-03-09T14:00"))
    assert repeats_to_carer() > before


def test_the_patient_and_caregivers_are_told_of_a_clinicians_pause_and_its_reason(db, client, alerted, patient):
    told_before = {m["id"] for m in messages(db)}
    assert client.post(alerted["path"], json={"reason": "admitted"}, headers=alerted["doctor_api"]).status_code == 201
    told = [m for m in messages(db) if m["id"] not in told_before]
    assert {m["user_id"] for m in told} >= {patient, alerted["carer"]}
    assert all("paused reminders for" in m["body"] and "Reason: admitted" in m["body"] for m in told)


@pytest.mark.parametrize(
    "who, body, status",
    [
        ("patient_api", {"reason": "feel fine"}, 403),
        ("caregiver_api", {"reason": "away"}, 403),
        ("stranger_api", {"reason": "away"}, 404),
        ("doctor_api", {}, 400),
        ("doctor_api", {"reason": "  "}, 400),
        ("doctor_api", {"reason": "away", "until": "2026-03-06"}, 400),
        ("doctor_api", {"reason": "away", "until": "2026-03-30"}, 400),
        ("doctor_api", {"reason": "away", "until": "soon"}, 400),
    ],
)
def test_only_a_clinician_of_a_linked_clinic_pauses_with_a_reason_and_bad_input_writes_nothing(
    db, client, alerted, who, body, status
):
    refused = client.post(alerted["path"], json=body, headers=alerted[who])
    assert refused.status_code == status, refused.json
    if status == 403:
        assert refused.json["error"]["code"] == "clinician_only"
    if status == 400:
        assert refused.json["error"]["field"] in ("reason", "until")
    assert db.execute("SELECT count(*) FROM pauses").fetchone()[0] == 0


def test_the_clinicians_report_has_a_pause_button_that_asks_for_the_reason(db, app, alerted, patient):
    phone = app.test_client()
    log_in(phone, DOCTOR)
    report = page_text(phone.get(f"/panel/patients/{patient}/report"))
    path = f"/panel/patients/{patient}/medications/{alerted['medication']}/pause"
    assert f'href="{path}"' in report
    form = page_text(phone.get(path))
    assert form.count("<h1") == 1 and 'name="reason"' in form and 'name="until"' in form
    missing = phone.post(path, data={"csrf_token": csrf(phone, path), "reason": ""})
    assert missing.status_code == 400 and "Give the reason" in page_text(missing)
    saved = phone.post(path, data={"csrf_token": csrf(phone, path), "reason": "surgery", "until": "2026-03-09"})
    assert saved.status_code == 302
    assert db.execute("SELECT count(*), min(reason) FROM pauses").fetchone() == (3, "surgery")

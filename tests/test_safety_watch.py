"""Issue 10, the rest: combined sedation on a change, kidneys below 30 against a plan in force,
side-effect alerts that end, skip notices held by quiet hours, alerts of a medication that ended.

The patient lives in America/New_York; the tests start on Saturday 2026-03-07 (builders.START).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from reminder import clinician_changes, clinics, escalation, ledger, medications, quiet_hours, tapering
from reminder.db import immediate

from builders import (
    DOCTOR,
    START,
    Z,
    bearer,
    csrf,
    link_caregiver,
    make_clinic,
    make_clinician,
    make_medication,
    messages,
    page_text,
)

NY = "America/New_York"
TAPER = {
    "steps": [
        {"start_date": "2026-03-08", "end_date": "2026-03-14", "amount": 5, "times": ["08:00", "13:00", "18:00"]},
        {"start_date": "2026-03-15", "end_date": "2026-03-18", "amount": 5, "times": ["08:00", "18:00"]},
        {"start_date": "2026-03-19", "end_date": "2026-03-21", "amount": 5, "times": ["08:00"]},
    ]
}

# ---------------------------------------------------------------- combined sedation on a change


def test_renaming_a_medication_to_ambien_beside_baclofen_asks_for_an_acknowledgement(db, client, patient):
    make_medication(db, patient)
    other = make_medication(db, patient, name="Vitamin D", strength="", unit="mg", amount=1, times=["21:00"])
    api = bearer(db, patient)
    refused = client.patch(f"/api/v1/medications/{other}", json={"name": "Ambien", "amount": 5}, headers=api)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "interaction_warning"
    assert "slow your breathing" in refused.json["error"]["message"]
    assert db.execute("SELECT name FROM medications WHERE id = ?", [other]).fetchone()[0] == "Vitamin D"
    accepted = client.patch(
        f"/api/v1/medications/{other}",
        json={"name": "Ambien", "amount": 5, "acknowledge_interactions": True},
        headers=api,
    )
    assert accepted.status_code == 200 and accepted.json["name"] == "Ambien"


def test_a_change_that_keeps_the_drug_does_not_ask_again(db, client, patient):
    make_medication(db, patient)
    diazepam = make_medication(
        db, patient, name="Diazepam", amount=5, times=["21:00"], max_daily_amount=None, acknowledge_interactions=True
    )
    api = bearer(db, patient)
    moved = client.patch(f"/api/v1/medications/{diazepam}", json={"times": ["21:30"]}, headers=api)
    assert moved.status_code == 200
    renamed = client.patch(f"/api/v1/medications/{diazepam}", json={"name": "Valium"}, headers=api)
    assert renamed.status_code == 200  # the same ingredient by its brand


def test_a_rename_to_another_drug_changes_its_ingredient_so_both_entries_count_as_one_drug(db, client, patient):
    baclofen = make_medication(db, patient)
    other = make_medication(
        db, patient, name="Diazepam", amount=5, times=["21:00"], max_daily_amount=None, acknowledge_interactions=True
    )
    api = bearer(db, patient)
    renamed = client.patch(
        f"/api/v1/medications/{other}",
        json={"name": "Lioresal", "confirm_duplicate": True, "acknowledge_interactions": True},
        headers=api,
    )
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["ingredient"]["name"] == "baclofen"
    assert sorted(ledger.same_drug_ids(db, other)) == sorted([baclofen, other])


def test_the_edit_form_asks_to_acknowledge_a_rename_to_a_sedating_drug(db, client, patient, login):
    make_medication(db, patient)
    other = make_medication(db, patient, name="Vitamin D", strength="", unit="mg", amount=1, times=["21:00"])
    login()
    path = f"/medications/{other}/edit"
    data = {"csrf_token": csrf(client, path), "name": "Ambien", "amount": "5", "unit": "mg", "times": "21:00"}
    data["max_daily_amount"] = "10"
    refused = client.post(path, data=data)
    assert refused.status_code == 409 and 'name="acknowledge_interactions"' in page_text(refused)
    assert "slow your breathing" in page_text(refused)
    saved = client.post(path, data={**data, "acknowledge_interactions": "on"})
    assert saved.status_code == 302
    assert db.execute("SELECT name FROM medications WHERE id = ?", [other]).fetchone()[0] == "Ambien"


# ---------------------------------------------------------------- alerts of a medication that ended


@pytest.fixture
def alerted(db, client, patient, tick_until):
    """Baclofen with a caregiver and a clinic, two doses missed: an open level-2 alert (20:31 UTC)."""
    medication = make_medication(db, patient)
    carer = link_caregiver(db, patient)
    clinic_id, code = make_clinic(db, "Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    tick_until("2026-03-07T20:31:00Z", step=300)
    assert db.execute("SELECT count(*) FROM alerts WHERE status = 'open'").fetchone()[0] == 1
    return {"medication": medication, "carer": carer, "doctor": doctor}


def _stopped_by_a_clinician(db, client, patient, alerted):
    clinician_changes.stop(
        db, alerted["doctor"], alerted["medication"], "allergy", date(2026, 3, 7), Z("2026-03-07T21:00")
    )
    return Z("2026-03-07T21:01")


def _taper_finished(db, client, patient, alerted):
    tapered = client.post(f"/api/v1/medications/{alerted['medication']}/taper", json=TAPER, headers=bearer(db, patient))
    assert tapered.status_code == 200
    return Z("2026-03-22T04:01")  # the taper's last local day is over


def _plan_reached_its_end_date(db, client, patient, alerted):
    step = tapering.TaperStep(date(2026, 3, 8), date(2026, 3, 8), 5, ["08:00"])
    tapering.apply_plan(db, alerted["medication"], [step], NY, Z("2026-03-07T21:00"), timedelta(hours=48))
    return Z("2026-03-09T04:01")  # midnight after 2026-03-08 in New York


@pytest.mark.parametrize("ending", [_stopped_by_a_clinician, _taper_finished, _plan_reached_its_end_date])
def test_the_alerts_of_a_medication_that_ended_are_resolved_and_stop_repeating(
    db, client, patient, alerted, tick, ending
):
    ended_at = ending(db, client, patient, alerted)
    tick(ended_at)
    assert db.execute("SELECT count(*) FROM medications WHERE ended_at IS NOT NULL").fetchone()[0] == 1
    assert {row[0] for row in db.execute("SELECT status FROM alerts")} == {"resolved"}
    told = [m for m in messages(db, "alert_resolved") if m["user_id"] == alerted["carer"]]
    assert told and "Baclofen has ended" in told[-1]["body"] and "will not repeat" in told[-1]["body"]
    repeats = len(messages(db, "alert_repeat"))
    tick(ended_at + timedelta(hours=9))
    tick(ended_at + timedelta(hours=18))
    assert len(messages(db, "alert_repeat")) == repeats


def test_a_medication_without_withdrawal_risk_ended_by_the_patient_closes_its_alerts(db, patient, tick, settings):
    vitamin = make_medication(
        db,
        patient,
        name="Vitamin D",
        strength="",
        amount=1,
        times=["09:00"],
        max_daily_amount=None,
        withdrawal_risk=False,
    )
    with immediate(db):
        escalation.raise_alert(
            db,
            settings,
            patient_id=patient,
            medication_id=vitamin,
            kind="supply",
            run_key="supply:1",
            summary="Vitamin D is running out.",
            now=START,
        )
    medications.end(db, vitamin, date(2026, 3, 7), Z("2026-03-07T13:00"))
    tick(Z("2026-03-07T13:01"))
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "resolved"


# ---------------------------------------------------------------- side-effect alerts end


def _severe_side_effect(db, client, patient, alerted):
    reported = client.post(
        "/api/v1/side-effects",
        json={"kind": "drowsiness", "severity": 3, "note": "very sleepy all day"},
        headers=bearer(db, patient),
    )
    assert reported.status_code == 201 and reported.json["advice"]["urgency"] == "prescriber"
    return db.execute("SELECT id FROM alerts WHERE kind = 'side_effect'").fetchone()[0]


@pytest.mark.parametrize("who", ["carer", "doctor"])
def test_a_side_effect_alert_acknowledged_or_reviewed_is_resolved_and_repeats_no_more(
    db, client, patient, alerted, tick, who
):
    alert_id = _severe_side_effect(db, client, patient, alerted)
    acknowledged = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=bearer(db, alerted[who]))
    assert acknowledged.status_code == 200
    status, resolved_at = db.execute("SELECT status, resolved_at FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert status == "resolved" and resolved_at
    repeats = len(messages(db, "alert_repeat"))
    tick(Z("2026-03-08T16:00"))
    assert len([m for m in messages(db, "alert_repeat") if m["alert_id"] == alert_id]) == 0
    assert len(messages(db, "alert_repeat")) >= repeats


def test_a_side_effect_alert_is_resolved_when_its_medication_ends(db, client, patient, alerted, tick):
    dose = db.execute("SELECT id FROM doses WHERE status = 'missed' LIMIT 1").fetchone()[0]
    reported = client.post(
        "/api/v1/side-effects",
        json={"kind": "dizziness", "severity": 3, "dose_id": dose},
        headers=bearer(db, patient),
    )
    assert reported.status_code == 201
    clinician_changes.stop(
        db, alerted["doctor"], alerted["medication"], "dizzy", date(2026, 3, 7), Z("2026-03-07T21:00")
    )
    tick(Z("2026-03-07T21:01"))
    assert db.execute("SELECT status FROM alerts WHERE kind = 'side_effect'").fetchone()[0] == "resolved"


# ---------------------------------------------------------------- kidneys below 30 against a plan in force


@pytest.fixture
def clinic_api(db, patient):
    clinic_id, code = make_clinic(db, "Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    return {"doctor": doctor, "api": bearer(db, doctor)}


def test_an_egfr_under_30_below_the_plan_in_force_alerts_the_clinicians_and_tells_the_patient(
    db, client, patient, clinic_api, tick
):
    medication = make_medication(db, patient, amount=20, times=["08:00", "13:00", "18:00"])  # 60 mg a day
    carer = link_caregiver(db, patient)
    recorded = client.post(
        f"/api/v1/patients/{patient}/kidney-function",
        json={"egfr": 25, "measured_on": "2026-03-05"},
        headers=clinic_api["api"],
    )
    assert recorded.status_code == 201
    flags = {f["flag"]: f for f in recorded.json["flags"]}
    assert "60 mg a day planned, ceiling 40 mg" in flags["plan over renal ceiling"]["detail"]
    [alert] = db.execute("SELECT id, kind, level, medication_id, status FROM alerts").fetchall()
    assert tuple(alert)[1:] == ("renal_ceiling", 3, medication, "open")
    told = {m["user_id"]: m["body"] for m in messages(db, "alert")}
    assert set(told) == {clinic_api["doctor"], patient}  # not the caregiver: the plan is the clinic's call
    assert "URGENT" in told[clinic_api["doctor"]] and "review the plan" in told[clinic_api["doctor"]]
    assert "/a/" in told[clinic_api["doctor"]] and "/a/" not in told[patient]
    words = told[patient]
    assert "kidney" in words and "Your clinic has been told" in words and "prescriber today" in words
    assert not re.search(r"\b(take|double|half|halve)\b", words.lower())  # never dose advice
    tick(Z("2026-03-07T12:00"))  # at once
    assert {m["status"] for m in messages(db, "alert")} == {"sent"}
    [row] = client.get("/api/v1/patients", headers=clinic_api["api"]).json["patients"]
    assert "plan over renal ceiling" in row["flags"]
    listed = client.get("/api/v1/alerts", headers=bearer(db, patient)).json["alerts"]
    assert {r["role"] for r in listed[0]["recipients"]} == {"clinician", "patient"}
    mine = [a for a in listed if a["kind"] == "renal_ceiling"][0]["id"]
    refused = client.post(f"/api/v1/alerts/{mine}/ack", headers=bearer(db, patient))
    assert refused.status_code == 404  # the patient cannot silence the clinicians' alert
    tick(Z("2026-03-07T22:01"))  # the repeat goes to the clinician only
    assert [m["user_id"] for m in messages(db, "alert_repeat")] == [clinic_api["doctor"]]
    assert carer not in {m["user_id"] for m in messages(db)}


def test_an_egfr_under_30_with_a_plan_within_the_halved_ceiling_alerts_nobody(db, client, patient, clinic_api):
    make_medication(db, patient, times=["08:00", "18:00"])  # 20 mg a day, under 40
    recorded = client.post(
        f"/api/v1/patients/{patient}/kidney-function",
        json={"egfr": 25, "measured_on": "2026-03-05"},
        headers=clinic_api["api"],
    )
    assert recorded.status_code == 201
    assert "plan over renal ceiling" not in {f["flag"] for f in recorded.json["flags"]}
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


def test_the_report_flags_a_plan_over_the_renal_ceiling(db, client, patient, clinic_api, login):
    make_medication(db, patient, amount=20, times=["08:00", "13:00", "18:00"])
    login(DOCTOR)
    report = f"/panel/patients/{patient}/report"
    form = {"csrf_token": csrf(client, report), "egfr": "22", "measured_on": "2026-03-02"}
    assert client.post(f"/panel/patients/{patient}/kidney-function", data=form).status_code == 302
    assert "plan over renal ceiling" in page_text(client.get(report))
    assert "plan over renal ceiling" in page_text(client.get("/panel"))


# ---------------------------------------------------------------- a skip notice held by quiet hours


@pytest.mark.parametrize(
    "send_after, next_dose, held",
    [
        (None, Z("2026-03-08T09:30"), False),  # not quiet: it goes now
        (Z("2026-03-08T11:00"), Z("2026-03-08T09:30"), True),  # 07:00 comes after the 05:30 dose
        (Z("2026-03-08T11:00"), Z("2026-03-08T11:00"), True),
        (Z("2026-03-08T11:00"), Z("2026-03-08T12:00"), False),  # 07:00 comes before the 08:00 dose
        (Z("2026-03-08T11:00"), None, False),
    ],
)
def test_a_notice_held_until_after_the_next_dose_is_told_apart(send_after, next_dose, held):
    assert quiet_hours.held_past(send_after, next_dose) is held


def test_a_skip_notice_held_by_quiet_hours_past_the_next_dose_still_goes_saying_only_what_is_true(
    db, patient, tick_until, clock
):
    make_medication(db, patient, times=["05:30", "21:30"])
    clock.set(START)
    tick_until("2026-03-08T11:00Z", step=300)  # the night the clocks spring forward
    [notice] = messages(db, "skip_notice")  # about the 21:30 dose, closed at 01:30 EST
    assert (notice["next_attempt_at"], notice["status"]) == ("2026-03-08T11:00:00Z", "sent")  # 07:00 EDT
    body = notice["body"]
    assert "9:30 PM dose on Sat 7 Mar was missed and is recorded as skipped" in body
    assert "One skipped dose is all right" in body and "withdrawal" in body  # baclofen's risk text
    assert "usual time" not in body and "5:30" not in body  # the next dose has come and gone
    # The only "take" left is the warning against doubling.
    assert re.findall(r"\btake\b[^.:]*", body.lower()) == ["take two doses"]


def test_a_skip_notice_held_to_before_the_next_dose_keeps_its_advice(db, patient, tick_until, clock):
    make_medication(db, patient, times=["08:00", "18:00"])
    clock.set(START)
    tick_until("2026-03-08T12:00Z", step=300)
    night = [m for m in messages(db, "skip_notice") if m["next_attempt_at"] == "2026-03-08T11:00:00Z"]
    assert night and "take your next dose at its usual time (8:00 AM)" in night[0]["body"]


# ---------------------------------------------------------------- repeats and pauses


def test_a_clinicians_pause_silences_repeats_that_day_and_a_patients_own_pause_does_not(
    db, patient, alerted, tick, settings
):
    carer = alerted["carer"]

    def repeats_to_carer():
        return len([m for m in messages(db, "alert_repeat") if m["user_id"] == carer])

    # Sun 8 Mar in New York: the patient pauses it themself; the caregiver still hears.
    medications.pause_today(db, settings, alerted["medication"], date(2026, 3, 8), patient, Z("2026-03-08T05:00"))
    tick(Z("2026-03-08T14:00"))
    on_own_pause = repeats_to_carer()
    assert on_own_pause >= 1
    # Mon 9 Mar: paused by the clinician; silent all day, and heard again the day after.
    medications.pause_today(
        db, settings, alerted["medication"], date(2026, 3, 9), alerted["doctor"], Z("2026-03-09T05:00")
    )
    for hour in ("08:00", "12:00", "16:00", "20:00"):
        tick(Z(f"2026-03-09T{hour}"))
    assert repeats_to_carer() == on_own_pause
    tick(Z("2026-03-10T13:00"))
    assert repeats_to_carer() > on_own_pause


# ---------------------------------------------------------------- the second story


def test_after_revoking_the_caregiver_and_leaving_the_clinic_missed_baclofen_reaches_the_patient(
    db, client, patient, tick_until, clock
):
    make_medication(db, patient)
    carer = link_caregiver(db, patient)
    clinic_id, code = make_clinic(db, "Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    api = bearer(db, patient)
    [link] = [row["id"] for row in client.get("/api/v1/caregivers", headers=api).json["caregivers"]]
    assert client.delete(f"/api/v1/caregivers/{link}?confirm=true", headers=api).status_code == 200
    assert client.delete(f"/api/v1/me/clinics/{clinic_id}", headers=api).json["error"]["code"] == "last_safety_contact"
    assert client.delete(f"/api/v1/me/clinics/{clinic_id}?confirm=true", headers=api).status_code == 200
    clock.set(START)
    tick_until("2026-03-08T05:31:00Z", step=600)  # 08:00, 13:00 and 18:00 missed
    alerts = [m for m in messages(db, "alert")]
    assert alerts and {m["user_id"] for m in alerts} == {patient}  # not the revoked caregiver nor the old clinic
    assert any("URGENT" in m["body"] and "call emergency services" in m["body"].lower() for m in alerts)
    assert {m["user_id"] for m in messages(db, "link_ended")} == {carer, doctor}


def test_the_clinicians_alerts_page_lists_every_alert_sent_to_them_open_first(
    db, client, patient, clinic_api, settings, login
):
    with immediate(db):
        for key, summary in (("old", "First alert, since resolved."), ("new", "Second alert, still open.")):
            escalation.raise_alert(
                db,
                settings,
                patient_id=patient,
                medication_id=None,
                kind="supply",
                run_key=key,
                summary=summary,
                now=START,
                level=3,
                clinicians=True,
            )
        db.execute("UPDATE alerts SET status = 'resolved', resolved_at = created_at WHERE run_key = 'old'")
    login(DOCTOR)
    text = page_text(client.get("/alerts"))
    assert text.index("Second alert, still open.") < text.index("First alert, since resolved.")

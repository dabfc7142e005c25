"""A clinician's titration plan through the API (issue 9 §5): steps up like a taper, each at least
three days, under the patient's ceilings, in doses tablets can give, with a reason; each step told
to the patient the day before; nobody else may write one."""

from __future__ import annotations

import json

import pytest

from builders import bearer, doses, link_caregiver, make_clinic, make_clinician, make_medication, messages

TID = ["08:00", "13:00", "18:00"]
PLAN = {
    "reason": "spasticity still limits walking",
    "steps": [
        {"start_date": "2026-03-09", "amount": 15},
        {"start_date": "2026-03-12", "amount": 20},
        {"start_date": "2026-03-16", "amount": 20, "times": ["08:00", "12:00", "16:00", "20:00"]},
    ],
}


@pytest.fixture
def linked(db, client, patient):
    """Pat on baclofen 10 mg three times a day (10 mg tablets), linked to Dr A's clinic; Dr B elsewhere."""
    medication = make_medication(db, patient)
    a_id, code = make_clinic(db, "Clinic A")
    b_id, _ = make_clinic(db, "Clinic B")
    doctor = make_clinician(db, a_id, "doc@a.example", "Dr A")
    patient_api = bearer(db, patient)
    assert client.post("/api/v1/me/clinics", json={"code": code}, headers=patient_api).status_code == 201
    return {
        "path": f"/api/v1/patients/{patient}/medications/{medication}/titration",
        "medication": medication,
        "doctor": doctor,
        "doctor_api": bearer(db, doctor),
        "stranger_api": bearer(db, make_clinician(db, b_id, "doc@b.example", "Dr B")),
        "patient_api": patient_api,
        "caregiver_api": bearer(db, link_caregiver(db, patient)),
    }


def steps_of(db, medication: int) -> list[tuple]:
    return db.execute(
        "SELECT start_date, end_date, amount, times FROM regimen_steps WHERE medication_id = ? ORDER BY start_date",
        [medication],
    ).fetchall()


def test_a_clinicians_titration_plan_sets_each_step_and_keeps_the_reason(db, client, linked):
    written = client.post(linked["path"], json=PLAN, headers=linked["doctor_api"])
    assert written.status_code == 200, written.json
    assert [(s["start_date"], s["end_date"], s["amount"]) for s in written.json["steps"]] == [
        ("2026-03-07", "2026-03-08", 10),
        ("2026-03-09", "2026-03-11", 15),
        ("2026-03-12", "2026-03-15", 20),
        ("2026-03-16", None, 20),
    ]
    assert written.json["amount"] == 10 and written.json["taper_ends_at"] is None  # today is still 10 mg
    assert [(d["local_time"], d["amount"]) for d in doses(db, local_date="2026-03-09")] == [
        ("08:00", 15),
        ("13:00", 15),
        ("18:00", 15),
    ]
    [(actor, reason, change)] = db.execute("SELECT actor_id, reason, change FROM medication_changes").fetchall()
    assert (actor, reason) == (linked["doctor"], "spasticity still limits walking")
    assert [s["amount"] for s in json.loads(change)["titration"]] == [15, 20, 20]


def test_every_step_of_a_titration_plan_is_announced_the_day_before(db, client, linked, tick):
    assert client.post(linked["path"], json=PLAN, headers=linked["doctor_api"]).status_code == 200
    told = []
    for day in ("2026-03-08", "2026-03-11", "2026-03-15"):
        tick(f"{day}T14:00:00Z")  # 10:00 in New York (EDT from 8 March)
        tick(f"{day}T15:00:00Z")  # once only
        told = [m["body"] for m in messages(db, "notice") if "From tomorrow" in m["body"]]
    assert len(told) == 3
    assert "From tomorrow (Mon 09 Mar)" in told[0] and "15 mg (1 1/2 tablets) at 08:00, 13:00 and 18:00" in told[0]
    assert "From tomorrow (Thu 12 Mar)" in told[1] and "20 mg (2 tablets)" in told[1]
    assert "From tomorrow (Mon 16 Mar)" in told[2] and "08:00, 12:00, 16:00 and 20:00" in told[2]


def plan(*steps) -> dict:
    return {
        "reason": "titrate",
        "steps": [dict(zip(("start_date", "amount", "times"), s, strict=False)) for s in steps],
    }


@pytest.mark.parametrize(
    "body, step, words",
    [
        (plan(("2026-03-07", 15)), 1, "start tomorrow at the earliest"),
        (plan(("2026-03-09", 15), ("2026-03-11", 20)), 1, "lasts 2 days: each step lasts at least 3 days"),
        (plan(("2026-03-09", 15), ("2026-03-12", 15)), 2, "a titration goes up"),
        (plan(("2026-03-09", 5)), 1, "a titration goes up"),
        (plan(("2026-03-09", 45, ["08:00", "18:00"])), 1, "over the maximum single dose of 40"),
        (plan(("2026-03-09", 30)), 1, "over the maximum of 80 a day"),
        (plan(("2026-03-09", 12.5)), 1, "whole or half tablets"),
        (plan(("2026-03-12", 15), ("2026-03-09", 20)), 2, "not after step 1"),
        ({"reason": "x", "steps": [{"start_date": "2026-03-09", "end_date": "2026-03-20", "amount": 15}]}, 1, "last"),
    ],
)
def test_a_titration_plan_that_breaks_a_rule_is_a_422_naming_the_step_and_writes_nothing(
    db, client, linked, body, step, words
):
    before = steps_of(db, linked["medication"])
    refused = client.post(linked["path"], json=body, headers=linked["doctor_api"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "titration_invalid", refused.json
    assert refused.json["error"]["message"].startswith(f"Step {step} ") and words in refused.json["error"]["message"]
    assert "two doses" not in refused.json["error"]["message"]
    assert steps_of(db, linked["medication"]) == before
    assert db.execute("SELECT count(*) FROM medication_changes").fetchone()[0] == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"steps": PLAN["steps"]}, "reason"),
        ({"reason": "  ", "steps": PLAN["steps"]}, "reason"),
        ({"reason": "x", "steps": []}, "steps"),
        ({"reason": "x", "steps": [{"start_date": "2026-03-09", "amount": "lots"}]}, "amount"),
        ({"reason": "x", "steps": [{"start_date": "next week", "amount": 15}]}, "start_date"),
        ({"reason": "x", "steps": [{"start_date": "2026-03-09", "amount": 15, "times": ["08:00", "08:30"]}]}, "times"),
        ({"reason": "x", "steps": PLAN["steps"], "force": True}, "force"),
    ],
)
def test_a_malformed_titration_plan_is_a_4xx_naming_its_field_and_writes_nothing(db, client, linked, body, field):
    before = steps_of(db, linked["medication"])
    refused = client.post(linked["path"], json=body, headers=linked["doctor_api"])
    assert 400 <= refused.status_code < 500 and refused.json["error"]["field"] == field, refused.json
    assert steps_of(db, linked["medication"]) == before


@pytest.mark.parametrize("who, status", [("patient_api", 403), ("caregiver_api", 403), ("stranger_api", 404)])
def test_only_a_clinician_of_a_linked_clinic_writes_a_titration_plan(db, client, linked, who, status):
    before = steps_of(db, linked["medication"])
    refused = client.post(linked["path"], json=PLAN, headers=linked[who])
    assert refused.status_code == status
    if status == 403:
        assert refused.json["error"]["code"] == "clinician_only"
    assert steps_of(db, linked["medication"]) == before
    assert db.execute("SELECT count(*) FROM medication_changes").fetchone()[0] == 0


def test_a_titration_plan_shares_the_daily_maximum_with_another_entry_of_the_same_drug(db, client, linked, patient):
    """Lioresal 10 mg three times a day beside the baclofen entry: two entries of one drug are one
    drug to the body, so a plan for the first may use only 80 − 30 = 50 mg a day of the maximum."""
    make_medication(db, patient, name="Lioresal", times=["09:00", "14:00", "19:00"], confirm_duplicate=True)
    before = steps_of(db, linked["medication"])
    refused = client.post(linked["path"], json=plan(("2026-03-09", 20)), headers=linked["doctor_api"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "titration_invalid", refused.json
    assert "with the 30 mg a day of the patient's other entry" in refused.json["error"]["message"]
    assert steps_of(db, linked["medication"]) == before
    accepted = client.post(linked["path"], json=plan(("2026-03-09", 15)), headers=linked["doctor_api"])
    assert accepted.status_code == 200, accepted.json  # 45 + 30 = 75 mg a day, under 80

"""Taper and titration steps every N days (issue 10 §6): counted from the step's own first day,
with the plan rules reading each step's total on the days it is given."""

from __future__ import annotations

from datetime import date

import pytest

from reminder import clinics, ledger, tapering, titration
from reminder.errors import InputError

from builders import (
    DOCTOR,
    START,
    Z,
    bearer,
    csrf,
    doses,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    page_text,
    step_form,
)

TODAY = date(2026, 3, 7)
TID = ["08:00", "13:00", "18:00"]
CURRENT = {  # baclofen 10 mg three times a day, 10 mg tablets: 30 mg a day
    "name": "Baclofen",
    "amount": 10,
    "times": TID,
    "days": None,
    "every_days": None,
    "strength": "10 mg",
    "unit": "mg",
    "min_taper_days": 14,
    "max_single_amount": None,
}


def step(start: str, end: str | None, amount: float, times: list[str], every: int | None = None) -> dict:
    return (
        {"start_date": start, "amount": amount, "times": times}
        | ({"end_date": end} if end else {})
        | ({"every_days": every} if every is not None else {})
    )


@pytest.mark.parametrize(
    "current_every, steps, problem",
    [
        # 20 then 10 mg a day, then 10 mg every other day (5 a day on average): each lower, none by more than half.
        (
            None,
            [
                step("2026-03-08", "2026-03-12", 10, ["08:00", "18:00"]),
                step("2026-03-13", "2026-03-17", 5, ["08:00", "18:00"]),
                step("2026-03-18", "2026-03-21", 10, ["08:00"], every=2),
            ],
            None,
        ),
        # From 30 mg every other day (15 a day on average), 20 mg daily is lower on each day it is
        # given but more over a week: a rise, refused (it used to pass, judged day by day).
        (
            2,
            [
                step("2026-03-08", "2026-03-14", 10, ["08:00", "18:00"], every=1),
                step("2026-03-15", "2026-03-21", 5, ["08:00"], every=1),
            ],
            "must be lower than the one before",
        ),
        # Spacing out is a cut too: 30 a day -> 10 mg every other day is 5 a day, more than half off.
        (
            None,
            [
                step("2026-03-08", "2026-03-14", 10, ["08:00"], every=2),
                step("2026-03-15", "2026-03-21", 5, ["08:00"], every=3),
            ],
            "at most half",
        ),
        (
            None,
            [
                step("2026-03-08", "2026-03-14", 10, ["08:00", "18:00"], every=15),
                step("2026-03-15", "2026-03-21", 5, ["08:00"]),
            ],
            "every_days must be",
        ),
        (
            None,
            [
                step("2026-03-08", "2026-03-14", 10, ["08:00", "18:00"], every="two"),
                step("2026-03-15", "2026-03-21", 5, ["08:00"]),
            ],
            "every_days must be a number",
        ),
    ],
)
def test_a_taper_step_every_n_days_is_judged_on_its_average_a_day(current_every, steps, problem):
    current = CURRENT | {"every_days": current_every}
    if problem is None:
        plan = tapering.parse_plan({"steps": steps}, current, TODAY)
        assert [s.every_days for s in plan] == [None, None, 2]
        return
    with pytest.raises(InputError) as refused:
        tapering.parse_plan({"steps": steps}, current, TODAY)
    assert problem in refused.value.message


@pytest.mark.parametrize(
    "current_every, step_every, kept",
    [(None, None, None), (2, None, 2), (2, 1, None), (None, 3, 3)],
)
def test_a_step_without_every_days_keeps_todays_spacing_and_1_means_daily(current_every, step_every, kept):
    current = CURRENT | {"every_days": current_every}
    [read] = tapering.read_steps({"steps": [step("2026-03-08", None, 10, TID, step_every)]}, current, TODAY, "taper")
    assert read.every_days == kept


@pytest.mark.parametrize(
    "current_every, steps, problem",
    [
        # 30 mg every other day (15 a day on average) -> 20 mg every day: a rise, so a titration.
        (2, [step("2026-03-09", None, 10, ["08:00", "20:00"], every=1)], None),
        # Daily 30 -> 40 mg every other day is 20 a day on average: a cut, not a titration.
        (None, [step("2026-03-09", None, 20, ["08:00", "20:00"], every=2)], "not more than the 30 before it"),
    ],
)
def test_a_titration_step_every_n_days_goes_up_on_its_average_a_day(current_every, steps, problem):
    ceilings = {"max_single_amount": None, "max_daily_amount": None}
    current = CURRENT | {"every_days": current_every}
    if problem is None:
        [written] = titration.parse_plan({"steps": steps}, current, TODAY, ceilings)
        assert written.every_days is None and titration.as_json([written])[0]["every_days"] is None
        return
    with pytest.raises(InputError) as refused:
        titration.parse_plan({"steps": steps}, current, TODAY, ceilings)
    assert problem in refused.value.message


def test_a_patients_taper_step_every_other_day_gives_doses_from_that_steps_first_day(db, client, patient):
    medication = make_medication(db, patient)
    plan = {
        "steps": [
            step("2026-03-08", "2026-03-12", 10, ["08:00", "18:00"]),
            step("2026-03-13", "2026-03-17", 5, ["08:00", "18:00"]),
            step("2026-03-18", "2026-03-21", 10, ["08:00"], every=2),  # 5 mg a day on average
        ]
    }
    tapered = client.post(f"/api/v1/medications/{medication}/taper", json=plan, headers=bearer(db, patient))
    assert tapered.status_code == 200, tapered.json
    assert [s["every_days"] for s in tapered.json["steps"]][-1] == 2
    ledger.extend_medication(db, medication, START, Z("2026-03-23T04:00"))  # the worker, days later
    days = sorted({d["local_date"] for d in doses(db) if d["local_date"] >= "2026-03-16"})
    assert days == ["2026-03-16", "2026-03-17", "2026-03-18", "2026-03-20"]


def test_the_clinicians_step_editor_keeps_every_n_days_typed_and_writes_it(db, app):
    clinic, code = make_clinic(db, "Neurology A")
    make_clinician(db, clinic)
    pat = make_patient(db, name="Pat Example")
    medication = make_medication(db, pat)
    clinics.join(db, pat, code, START)
    phone = app.test_client()
    log_in(phone, DOCTOR)
    path = f"/panel/patients/{pat}/medications/{medication}/taper"
    fields = ("start_date", "end_date", "amount", "times", "every_days")
    shown = page_text(phone.get(path))
    assert 'name="every_days-1"' in shown and "Every how many days" in shown
    bad = step_form(
        ("2026-03-08", "2026-03-14", "10", "08:00 18:00", "2"), ("2026-03-15", "", "5", "", "40"), fields=fields
    )
    refused = phone.post(path, data={"csrf_token": csrf(phone, path), **bad, "reason": "sedation"})
    assert refused.status_code == 400
    page = page_text(refused)
    assert 'name="every_days-1" inputmode="numeric" value="2"' in page
    assert 'name="every_days-2" inputmode="numeric" value="40"' in page
    good = step_form(
        ("2026-03-08", "2026-03-12", "10", "08:00 18:00", ""),
        ("2026-03-13", "2026-03-17", "5", "08:00 18:00", ""),
        ("2026-03-18", "2026-03-21", "10", "08:00", "2"),
        fields=fields,
    )
    saved = phone.post(path, data={"csrf_token": csrf(phone, path), **good, "reason": "sedation"})
    assert saved.status_code == 302
    assert db.execute(
        "SELECT every_days FROM regimen_steps WHERE medication_id = ? ORDER BY start_date", [medication]
    ).fetchall()[-3:] == [(None,), (None,), (2,)]


def test_a_patient_cannot_double_baclofen_by_taking_every_other_days_doses_every_day(db, client, patient):
    """20 mg twice every other day is 20 mg a day on average; the same doses daily are 40: a rise
    of 20, over baclofen's titration step of 15, though each dosing day's total is unchanged."""
    medication = make_medication(db, patient, amount=20, times=["08:00", "20:00"], every_days=2)
    api = bearer(db, patient)
    refused = client.patch(f"/api/v1/medications/{medication}", json={"every_days": 1}, headers=api)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "clinician_only", refused.json
    steps = db.execute("SELECT every_days FROM regimen_steps WHERE medication_id = ?", [medication]).fetchall()
    assert steps == [(2,)]  # nothing written

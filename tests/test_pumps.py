"""Intrathecal pumps: refill-by, the 14/7/3/1-day reminders, recording a refill and the alarm-date
escalation (../shared/domain.md section 4).

The patient lives in America/New_York (EDT, UTC-4, from 2026-03-08). The tests start on
Saturday 2026-03-07; dates are the patient's local dates.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder import accounts, pumps
from reminder.errors import InputError

from builders import START, Z, make_medication, make_patient


@pytest.fixture
def tz_of(db):
    return lambda patient_id: ZoneInfo(accounts.find_user(db, id=patient_id)["tz"])


def pump_rows(db) -> list[dict]:
    return list(db.query("SELECT * FROM pumps ORDER BY id"))


def refill_rows(db) -> list[dict]:
    return list(db.query("SELECT * FROM pump_refills ORDER BY id"))


def noon(day: date) -> datetime:
    return Z(f"{day.isoformat()}T16:00")  # 12:00 EDT


def run_days(db, tz_of, first: date, last: date) -> list[tuple[str, str, int]]:
    """Tick both steps at noon each day, twice; list (day, kind, threshold or days overdue)."""
    told = []
    day = first
    while day <= last:
        for _ in range(2):
            told += [(day.isoformat(), "reminder", r["days_before"]) for r in pumps.reminders_due(db, noon(day), tz_of)]
            told += [(day.isoformat(), "overdue", o["days_overdue"]) for o in pumps.overdue(db, noon(day), tz_of)]
        day += timedelta(days=1)
    return told


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "days_until, sent, expected",
    [
        (20, [], None),
        (15, [], None),
        (14, [], 14),
        (14, [14], None),
        (10, [14], None),
        (7, [14], 7),
        (5, [], 7),  # first seen 5 days ahead: the tightest threshold it is within
        (5, [14, 7], None),
        (3, [14, 7], 3),
        (2, [14, 7, 3], None),
        (1, [14, 7, 3], 1),
        (0, [14, 7, 3, 1], None),
        (-2, [], 1),  # refill-by has passed: one reminder, the 1-day one
        (1, [14, 7, 3, 1, 0], None),
    ],
)
def test_the_reminder_to_send_is_the_tightest_threshold_not_yet_told(days_until, sent, expected):
    refill_by = date(2026, 4, 5)
    assert pumps.reminder_to_send(refill_by, refill_by - timedelta(days=days_until), sent) == expected


@pytest.mark.parametrize(
    "today, sent, expected",
    [
        (date(2026, 4, 9), [], False),
        (date(2026, 4, 10), [], True),
        (date(2026, 4, 12), [1], True),
        (date(2026, 4, 12), [1, 0], False),
    ],
)
def test_a_pump_is_overdue_from_its_alarm_date_once(today, sent, expected):
    assert pumps.is_overdue(date(2026, 4, 10), today, sent) is expected


# ---------------------------------------------------------------- recording a pump


def test_refill_by_defaults_to_the_alarm_date_minus_5_days(db, patient):
    pump_id = pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)
    row = pump_rows(db)[0]
    assert (row["id"], row["alarm_date"], row["refill_by"], row["reminders_sent"], row["created_by"]) == (
        pump_id,
        "2026-04-10",
        "2026-04-05",
        "[]",
        patient,
    )


def test_a_pump_may_name_one_of_the_patients_medications_and_its_own_refill_by(db, patient):
    medication = make_medication(db, patient)
    pump_id = pumps.create_pump(db, patient, str(medication), "2026-04-10", "2026-04-07", patient, START)
    assert pumps.pump_json(pumps.get_pump(db, pump_id), today=date(2026, 3, 7)) == {
        "id": pump_id,
        "patient_id": patient,
        "medication_id": medication,
        "medication_name": "Baclofen",
        "alarm_date": "2026-04-10",
        "refill_by": "2026-04-07",
        "concentration": None,  # the pump card's details, not given here
        "clinic_phone": None,
        "days_to_refill_by": 31,
        "days_to_alarm": 34,
    }


@pytest.mark.parametrize(
    "alarm_date, refill_by, field",
    [
        (None, None, "alarm_date"),
        ("", None, "alarm_date"),
        ("2026-02-30", None, "alarm_date"),
        ("04/10/2026", None, "alarm_date"),
        ("2026-4-10", None, "alarm_date"),
        (20260410, None, "alarm_date"),
        ("2025-03-01", None, "alarm_date"),  # more than a year past: a typo (a recent past date is urgent, not refused)
        ("2207-04-10", None, "alarm_date"),  # a typo'd year
        ("2026-04-10", "2026-04-11", "refill_by"),  # after the alarm
        ("2026-04-10", "10 April", "refill_by"),
    ],
)
def test_a_bad_pump_date_is_refused_and_writes_nothing(db, patient, alarm_date, refill_by, field):
    with pytest.raises(InputError) as refused:
        pumps.create_pump(db, patient, None, alarm_date, refill_by, patient, START)
    assert refused.value.field == field
    assert pump_rows(db) == []


def test_an_alarm_date_that_is_today_west_of_utc_is_accepted(db):
    hawaii = make_patient(db, email="hi@example.com", tz="Pacific/Honolulu")
    late_evening = Z("2026-03-08T08:00")  # 22:00 on the 7th in Honolulu
    pumps.create_pump(db, hawaii, None, "2026-03-07", None, hawaii, late_evening)
    assert pump_rows(db)[0]["refill_by"] == "2026-03-02"


@pytest.mark.parametrize("medication", ["other", 999, "abc", True, 1.5, -1, 2**70])
def test_a_pump_cannot_name_a_medication_that_is_not_the_patients(db, patient, medication):
    other = make_patient(db, email="other@example.com")
    others = make_medication(db, other)
    with pytest.raises(InputError) as refused:
        pumps.create_pump(
            db, patient, others if medication == "other" else medication, "2026-04-10", None, patient, START
        )
    assert refused.value.field == "medication"
    assert pump_rows(db) == []


def test_pumps_of_lists_a_patients_pumps_soonest_first(db, patient):
    later = pumps.create_pump(db, patient, None, "2026-05-10", None, patient, START)
    sooner = pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)
    other = make_patient(db, email="other@example.com")
    pumps.create_pump(db, other, None, "2026-04-01", None, other, START)
    assert [p["id"] for p in pumps.pumps_of(db, patient)] == [sooner, later]
    assert "days_to_refill_by" not in pumps.pump_json(pumps.pumps_of(db, patient)[0])


# ---------------------------------------------------------------- reminders and escalation


def test_reminders_go_out_14_7_3_and_1_days_before_refill_by_and_the_alarm_date_escalates_once(db, patient, tz_of):
    pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)  # refill by 2026-04-05
    assert run_days(db, tz_of, date(2026, 3, 7), date(2026, 4, 14)) == [
        ("2026-03-22", "reminder", 14),
        ("2026-03-29", "reminder", 7),
        ("2026-04-02", "reminder", 3),
        ("2026-04-04", "reminder", 1),
        ("2026-04-10", "overdue", 0),
    ]
    assert json.loads(pump_rows(db)[0]["reminders_sent"]) == [14, 7, 3, 1, 0]


def test_a_pump_recorded_5_days_before_refill_by_gets_the_7_day_reminder_and_no_late_14(db, patient, tz_of):
    medication = make_medication(db, patient)
    pump_id = pumps.create_pump(db, patient, medication, "2026-03-17", None, patient, START)  # refill by the 12th
    assert pumps.reminders_due(db, noon(date(2026, 3, 7)), tz_of) == [
        {
            "pump_id": pump_id,
            "patient_id": patient,
            "medication_id": medication,
            "medication_name": "Baclofen",
            "alarm_date": "2026-03-17",
            "refill_by": "2026-03-12",
            "days_before": 7,
            "days_until": 5,
        }
    ]
    assert run_days(db, tz_of, date(2026, 3, 7), date(2026, 3, 12)) == [
        ("2026-03-09", "reminder", 3),
        ("2026-03-11", "reminder", 1),
    ]


def test_the_days_are_counted_on_the_patients_calendar(db, patient, tz_of):
    pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)
    assert pumps.reminders_due(db, Z("2026-03-22T03:59"), tz_of) == []  # 23:59 on the 21st in New York
    assert [r["days_until"] for r in pumps.reminders_due(db, Z("2026-03-22T04:00"), tz_of)] == [14]


def test_a_second_worker_that_read_the_same_pump_does_not_claim_it_again(db, patient, tz_of, monkeypatch):
    pumps.create_pump(db, patient, None, "2026-03-17", None, patient, START)
    read_by_both = pumps._pumps_where(db, "1 = 1", [])
    assert len(pumps.reminders_due(db, noon(date(2026, 3, 7)), tz_of)) == 1
    monkeypatch.setattr(pumps, "_pumps_where", lambda *_: read_by_both)  # the second read before the first claim
    assert pumps.reminders_due(db, noon(date(2026, 3, 7)), tz_of) == []


def test_a_refill_recorded_between_the_check_and_the_claim_makes_the_escalation_miss(db, patient, tz_of, monkeypatch):
    pump_id = pumps.create_pump(db, patient, None, "2026-03-10", None, patient, START)
    read_before = pumps._pumps_where(db, "1 = 1", [])
    pumps.record_refill(db, pump_id, "2026-05-10", patient, noon(date(2026, 3, 10)))
    monkeypatch.setattr(pumps, "_pumps_where", lambda *_: read_before)
    assert pumps.overdue(db, noon(date(2026, 3, 10)), tz_of) == []


def test_a_hook_that_fails_leaves_the_escalation_for_the_next_tick(db, patient, tz_of):
    pumps.create_pump(db, patient, None, "2026-03-10", None, patient, START)

    def crash(_db, _item):
        raise RuntimeError("queueing failed")

    with pytest.raises(RuntimeError):
        pumps.overdue(db, noon(date(2026, 3, 10)), tz_of, on_claim=crash)
    assert [o["days_overdue"] for o in pumps.overdue(db, noon(date(2026, 3, 11)), tz_of)] == [1]


# ---------------------------------------------------------------- recording a refill


def test_a_refill_moves_the_dates_keeps_the_pumps_offset_and_restarts_the_reminders(db, patient, tz_of):
    pump_id = pumps.create_pump(db, patient, None, "2026-03-20", "2026-03-17", patient, START)  # 3 days before
    run_days(db, tz_of, date(2026, 3, 7), date(2026, 3, 21))
    pumps.record_refill(db, pump_id, "2026-06-20", patient, Z("2026-03-21T16:00"))
    row = pump_rows(db)[0]
    assert (row["alarm_date"], row["refill_by"], row["reminders_sent"]) == ("2026-06-20", "2026-06-17", "[]")
    assert [
        (r["pump_id"], r["previous_alarm_date"], r["new_alarm_date"], r["refilled_at"], r["actor_id"])
        for r in refill_rows(db)
    ] == [(pump_id, "2026-03-20", "2026-06-20", "2026-03-21T16:00:00Z", patient)]
    told = run_days(db, tz_of, date(2026, 3, 22), date(2026, 6, 20))
    assert told == [
        ("2026-06-03", "reminder", 14),
        ("2026-06-10", "reminder", 7),
        ("2026-06-14", "reminder", 3),
        ("2026-06-16", "reminder", 1),
        ("2026-06-20", "overdue", 0),
    ]


def test_a_refill_recorded_before_the_alarm_date_stops_the_escalation(db, patient, tz_of):
    pump_id = pumps.create_pump(db, patient, None, "2026-03-20", None, patient, START)
    pumps.record_refill(db, pump_id, "2026-05-20", patient, Z("2026-03-19T16:00"))
    assert pumps.overdue(db, noon(date(2026, 3, 20)), tz_of) == []
    assert pump_rows(db)[0]["refill_by"] == "2026-05-15"


@pytest.mark.parametrize("alarm_date", [None, "", "2026-13-01", "soon", "2026-03-01", "2099-01-01"])
def test_a_bad_new_alarm_date_is_refused_and_writes_nothing(db, patient, alarm_date):
    pump_id = pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)
    with pytest.raises(InputError) as refused:
        pumps.record_refill(db, pump_id, alarm_date, patient, START)
    assert refused.value.field == "alarm_date"
    assert refill_rows(db) == []
    assert pump_rows(db)[0]["alarm_date"] == "2026-04-10"


def test_a_refill_of_an_unknown_pump_is_not_found(db, patient):
    with pytest.raises(InputError) as refused:
        pumps.record_refill(db, 999, "2026-04-10", patient, START)
    assert refused.value.status == 404 and refill_rows(db) == []

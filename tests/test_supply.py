"""Supply: units per dose, days left from the schedule, refills and the two supply messages
(../shared/domain.md section 4).

Expected values are computed by hand. The patient lives in America/New_York, which springs
forward on 2026-03-08. The tests start at 2026-03-07T12:00Z, 07:00 EST on a Saturday, an hour
before the first of three doses a day at 08:00, 13:00 and 18:00. Days left are wall-clock days
from 07:00 to the first dose the stock cannot cover: the 08:00 dose three days later is 3 days
and 1 hour away, 3 + 1/24, although only 72 hours pass across the DST change.
"""

from __future__ import annotations

import math
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder import supply
from reminder.db import immediate
from reminder.errors import InputError
from reminder.schedule import Step
from reminder.times import parse_instant

from builders import START, Z, doses, make_medication

NY = ZoneInfo("America/New_York")
TID = (time(8), time(13), time(18))
TABLET_10MG = {"strength": "10 mg tablet", "unit": "mg"}
# Baclofen titration: 5 mg three times a day for three days, then 10 mg, from 10 mg tablets.
TITRATION = [Step(1, date(2026, 3, 7), date(2026, 3, 9), TID, 5.0), Step(2, date(2026, 3, 10), None, TID, 10.0)]


def hours(h: float) -> float:
    return h / 24


def set_medication(db, medication_id: int, **values) -> None:
    with immediate(db):
        db.execute(
            "UPDATE medications SET " + ", ".join(f"{k} = ?" for k in values) + " WHERE id = ?",
            [*values.values(), medication_id],
        )


def medication_row(db, medication_id: int) -> dict:
    return db.execute_returning_dicts("SELECT * FROM medications WHERE id = ?", [medication_id])[0]


def refills(db) -> list[dict]:
    return list(db.query("SELECT * FROM refills ORDER BY id"))


# ---------------------------------------------------------------- units per dose


@pytest.mark.parametrize(
    "medication, amount, units",
    [
        ({"strength": "10 mg tablet"}, 10, 1.0),
        ({"strength": "10 mg tablet"}, 5, 0.5),  # a half tablet
        ({"strength": "5mg"}, 10, 2.0),
        ({"strength": "2.5 mg"}, 5, 2.0),
        ({"strength": "0,5 mg"}, 1, 2.0),  # decimal comma
        ({"strength": "1,000 mcg", "unit": "mcg"}, 500, 0.5),  # thousands separator
        ({"strength": "0.5 g", "unit": "mg"}, 250, 0.5),  # strength in grams, doses in mg
        ({"strength": "25 mcg", "unit": "mg"}, 0.05, 2.0),
        ({"strength": "10 mg/5 mL", "unit": "mg"}, 10, 1.0),  # the first number counts
        ({"strength": ""}, 10, 1.0),  # no strength: one unit a dose
        ({"strength": "tablet"}, 10, 1.0),
        ({"strength": "0 mg"}, 10, 1.0),
        ({"strength": None}, 10, 1.0),
        ({"strength": "10 mg", "units_per_dose": 2}, 10, 2.0),  # the patient's own figure wins
        ({"strength": "10 mg", "units_per_dose": None}, 20, 2.0),
    ],
)
def test_units_per_dose_come_from_the_setting_or_the_dose_over_the_strength(medication, amount, units):
    assert supply.units_per_dose(medication, amount) == pytest.approx(units)


@pytest.mark.parametrize(
    "medication, days",
    [
        ({"withdrawal_risk": 0}, 7),
        ({"withdrawal_risk": 1}, 10),
        ({"withdrawal_risk": 1, "refill_threshold_days": 4}, 4),
        ({"withdrawal_risk": 0, "refill_threshold_days": 14}, 14),
        ({"withdrawal_risk": 0, "refill_threshold_days": None}, 7),
    ],
)
def test_the_refill_threshold_is_7_days_10_with_withdrawal_risk_unless_set(medication, days):
    assert supply.threshold_days(medication) == days


# ---------------------------------------------------------------- days left


@pytest.mark.parametrize(
    "stock, expected",
    [
        (None, None),  # not tracked
        (0, 0.0),
        (0.4, 0.0),  # cannot cover the next half tablet
        (0.5, hours(6)),  # the 08:00 half is covered; the 13:00 one is not
        (1.5, 1 + hours(1)),  # Saturday's three halves
        (4.5, 3 + hours(1)),  # the three titration days; Tuesday 08:00's whole tablet is not
        (5.5, 3 + hours(6)),
        (10, 4 + hours(11)),  # 4.5 + 3 on Tuesday + 2 on Wednesday; Wednesday 18:00 is short
        (10_000, 366.0),  # plenty
    ],
)
def test_days_left_follow_the_titration_steps(stock, expected):
    left = supply.days_left(TITRATION, NY, stock, TABLET_10MG, START)
    assert left == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    "now, expected",
    [
        (Z("2026-03-07T12:00"), 3 + hours(1)),  # across the spring-forward: 71 elapsed hours
        (Z("2026-03-14T11:00"), 3 + hours(1)),  # 07:00 EDT a week later: 73 elapsed hours
        (Z("2026-10-31T11:00"), 3 + hours(1)),  # across the fall-back (2026-11-01)
    ],
)
def test_a_dst_change_does_not_change_the_days_a_stock_lasts(now, expected):
    daily = [Step(1, date(2026, 1, 1), None, (time(8),), 10.0)]
    assert supply.days_left(daily, NY, 3, TABLET_10MG, now) == pytest.approx(expected)


def test_a_dose_due_at_this_instant_still_draws_on_the_stock():
    at_eight = Z("2026-03-07T13:00")  # 08:00 EST
    assert supply.days_left(TITRATION, NY, 0.5, TABLET_10MG, at_eight) == pytest.approx(hours(5))


def test_a_stock_that_outlasts_a_taper_is_plenty():
    taper = [
        Step(1, date(2026, 3, 7), date(2026, 3, 20), TID, 10.0),
        Step(2, date(2026, 3, 21), date(2026, 3, 31), TID, 5.0),
    ]
    assert supply.days_left(taper, NY, 1000, TABLET_10MG, START) == 366.0
    # 14 days x 3 tablets = 42, then halves: 1.5 a day
    assert supply.days_left(taper, NY, 42 + 3, TABLET_10MG, START) == pytest.approx(16 + hours(1))


def test_days_left_look_ahead_is_capped_at_the_horizon_given():
    assert supply.days_left(TITRATION, NY, 10, TABLET_10MG, START, horizon_days=2) == 2.0


def test_a_dose_already_answered_ahead_of_time_does_not_count_again():
    taken_early = frozenset({Z("2026-03-07T13:00")})
    assert supply.days_left(TITRATION, NY, 0.5, TABLET_10MG, START, settled=taken_early) == pytest.approx(hours(11))


def test_a_weekly_schedule_counts_only_its_days():
    mondays = [Step(1, date(2026, 3, 1), None, (time(8),), 10.0, days=frozenset({0}))]
    # Monday 9th and 16th are covered; the 23rd is not: 16 days and 1 hour from Saturday 07:00.
    assert supply.days_left(mondays, NY, 2, TABLET_10MG, START) == pytest.approx(16 + hours(1))


# ---------------------------------------------------------------- consumption and refills


def test_a_taken_dose_consumes_its_units_inside_the_callers_transaction(db, patient):
    medication = make_medication(db, patient)  # 10 mg doses of "10 mg" tablets
    set_medication(db, medication, stock=20)
    with immediate(db):
        supply.consume(db, doses(db)[0])
    assert medication_row(db, medication)["stock"] == 19


def test_a_half_tablet_dose_consumes_half_a_unit(db, patient):
    medication = make_medication(db, patient, amount=5)
    set_medication(db, medication, stock=20)
    with immediate(db):
        supply.consume(db, doses(db)[0])
        supply.consume(db, doses(db)[1])
    assert medication_row(db, medication)["stock"] == 19


def test_consumption_stops_at_zero_and_ignores_an_untracked_stock(db, patient):
    tracked = make_medication(db, patient)
    untracked = make_medication(db, patient, name="Metformin", withdrawal_risk=False)
    set_medication(db, tracked, stock=0.5)
    with immediate(db):
        supply.consume(db, doses(db, medication_id=tracked)[0])
        supply.consume(db, doses(db, medication_id=untracked)[0])
    assert medication_row(db, tracked)["stock"] == 0
    assert medication_row(db, untracked)["stock"] is None


def test_a_refill_adds_to_the_stock_and_clears_both_supply_marks(db, patient):
    medication = make_medication(db, patient)
    set_medication(
        db, medication, stock=3, refill_reminded_at="2026-03-06T12:00:00Z", supply_alerted_at="2026-03-06T12:00:00Z"
    )
    supply.record_refill(db, medication, 30, "  Main Street Pharmacy ", patient, START)
    row = medication_row(db, medication)
    assert (row["stock"], row["refill_reminded_at"], row["supply_alerted_at"]) == (33, None, None)
    assert [
        (r["medication_id"], r["quantity"], r["pharmacy"], r["actor_id"], r["recorded_at"]) for r in refills(db)
    ] == [(medication, 30, "Main Street Pharmacy", patient, "2026-03-07T12:00:00Z")]


def test_a_refill_starts_an_untracked_stock_and_the_pharmacy_is_optional(db, patient):
    medication = make_medication(db, patient)
    supply.record_refill(db, medication, "90", None, patient, START)
    assert medication_row(db, medication)["stock"] == 90
    assert refills(db)[0]["pharmacy"] is None


@pytest.mark.parametrize(
    "quantity, pharmacy, field",
    [
        (0, None, "quantity"),
        (-5, None, "quantity"),
        (None, None, "quantity"),
        ("", None, "quantity"),
        ("ten", None, "quantity"),
        ("1_000", None, "quantity"),
        (True, None, "quantity"),
        (math.nan, None, "quantity"),
        (math.inf, None, "quantity"),
        ("1e400", None, "quantity"),
        (100_001, None, "quantity"),
        ([30], None, "quantity"),
        (30, "x" * 101, "pharmacy"),
        (30, "Main\nStreet", "pharmacy"),
        (30, 7, "pharmacy"),
    ],
)
def test_a_bad_refill_is_refused_and_writes_nothing(db, patient, quantity, pharmacy, field):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=3, refill_reminded_at="2026-03-06T12:00:00Z")
    with pytest.raises(InputError) as refused:
        supply.record_refill(db, medication, quantity, pharmacy, patient, START)
    assert refused.value.field == field
    assert refills(db) == []
    row = medication_row(db, medication)
    assert (row["stock"], row["refill_reminded_at"]) == (3, "2026-03-06T12:00:00Z")


def test_a_refill_of_an_unknown_medication_is_not_found(db, patient):
    with pytest.raises(InputError) as refused:
        supply.record_refill(db, 999, 30, None, patient, START)
    assert refused.value.status == 404 and refills(db) == []


def test_days_left_for_a_stored_medication(db, patient):
    medication = make_medication(db, patient)
    assert supply.days_left_for(db, medication, START) is None
    set_medication(db, medication, stock=20)  # 6 days and 2 doses; Friday 18:00 is short
    assert supply.days_left_for(db, medication, START) == pytest.approx(6 + hours(11))
    assert supply.days_left_for(db, 999, START) is None


def test_days_left_for_skips_doses_answered_ahead(db, patient):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=1)
    first = doses(db, medication_id=medication)[0]
    with immediate(db):
        db.execute("UPDATE doses SET status = 'skipped' WHERE id = ?", [first["id"]])
    # the 08:00 dose is skipped; the stock covers 13:00 and runs short at 18:00
    assert supply.days_left_for(db, medication, START) == pytest.approx(hours(11))


# ---------------------------------------------------------------- refill reminders


def test_the_refill_reminder_comes_at_10_days_for_withdrawal_risk_and_7_for_others(db, patient):
    baclofen = make_medication(db, patient)
    metformin = make_medication(db, patient, name="Metformin", withdrawal_risk=False)
    # 21 tablets: 7 days and 1 hour left (Saturday 08:00 is the first dose not covered)
    set_medication(db, baclofen, stock=21)
    set_medication(db, metformin, stock=21)
    due = supply.refill_reminders_due(db, START)
    assert due == [
        {
            "medication_id": baclofen,
            "patient_id": patient,
            "name": "Baclofen",
            "days_left": pytest.approx(7 + hours(1)),
            "stock": 21,
        }
    ]
    set_medication(db, metformin, stock=20)  # 6 days and 11 hours
    assert [d["medication_id"] for d in supply.refill_reminders_due(db, START)] == [metformin]
    assert medication_row(db, metformin)["refill_reminded_at"] == "2026-03-07T12:00:00Z"


def test_a_medication_may_set_its_own_refill_threshold(db, patient):
    medication = make_medication(
        db, patient, name="Metformin", withdrawal_risk=False
    )  # not withdrawal-risk: 7 days by default
    set_medication(db, medication, stock=20, refill_threshold_days=5)
    assert supply.refill_reminders_due(db, START) == []
    set_medication(db, medication, stock=14)  # 4 days and 11 hours
    assert len(supply.refill_reminders_due(db, START)) == 1


def test_a_refill_reminder_goes_out_once_until_a_refill_is_recorded(db, patient):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=10)
    assert len(supply.refill_reminders_due(db, START)) == 1
    assert supply.refill_reminders_due(db, START) == []
    set_medication(db, medication, stock=2)  # lower still: no second reminder
    assert supply.refill_reminders_due(db, START) == []
    supply.record_refill(db, medication, 3, None, patient, START)  # a small refill: 5 is still short
    assert len(supply.refill_reminders_due(db, START)) == 1


def test_a_second_worker_that_read_the_same_medication_does_not_claim_it_again(db, patient, monkeypatch):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=10)
    read_by_both = supply._to_check(db, START)
    assert len(supply.refill_reminders_due(db, START)) == 1
    monkeypatch.setattr(supply, "_to_check", lambda *_: read_by_both)  # the second read before the first claim
    assert supply.refill_reminders_due(db, START) == []


def test_a_refill_recorded_between_the_projection_and_the_claim_makes_the_claim_miss(db, patient, monkeypatch):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=10)
    read_before = supply._to_check(db, START)  # 10 tablets: due
    supply.record_refill(db, medication, 30, None, patient, START)
    monkeypatch.setattr(supply, "_to_check", lambda *_: read_before)
    assert supply.refill_reminders_due(db, START) == []
    assert medication_row(db, medication)["refill_reminded_at"] is None


def test_a_hook_that_fails_leaves_the_reminder_for_the_next_tick(db, patient):
    medication = make_medication(db, patient)
    set_medication(db, medication, stock=10)

    def crash(_db, _item):
        raise RuntimeError("queueing failed")

    with pytest.raises(RuntimeError):
        supply.refill_reminders_due(db, START, on_claim=crash)
    assert medication_row(db, medication)["refill_reminded_at"] is None
    queued = []
    supply.refill_reminders_due(db, START, on_claim=lambda _db, item: queued.append(item["medication_id"]))
    assert queued == [medication]


def test_untracked_and_ended_medications_get_no_refill_reminder(db, patient):
    make_medication(db, patient)  # stock NULL
    ended = make_medication(db, patient, name="Metformin")
    set_medication(db, ended, stock=0, ended_at="2026-03-07T11:00:00Z")
    assert supply.refill_reminders_due(db, START) == []
    assert supply.running_out_alerts_due(db, START) == []


# ---------------------------------------------------------------- running out


def test_a_withdrawal_risk_medication_running_out_within_3_days_alerts_once(db, patient):
    baclofen = make_medication(db, patient)
    set_medication(db, baclofen, stock=9)  # 3 days and 1 hour: not yet
    assert supply.running_out_alerts_due(db, START) == []
    set_medication(db, baclofen, stock=8)  # 2 days and 11 hours
    assert supply.running_out_alerts_due(db, START) == [
        {
            "medication_id": baclofen,
            "patient_id": patient,
            "name": "Baclofen",
            "days_left": pytest.approx(2 + hours(11)),
            "stock": 8,
        }
    ]
    assert supply.running_out_alerts_due(db, START) == []
    assert medication_row(db, baclofen)["supply_alerted_at"] == "2026-03-07T12:00:00Z"


def test_running_out_does_not_alert_for_a_medication_without_withdrawal_risk(db, patient):
    metformin = make_medication(db, patient, name="Metformin", withdrawal_risk=False)
    set_medication(db, metformin, stock=0)
    assert supply.running_out_alerts_due(db, START) == []


def test_a_refill_that_still_leaves_under_3_days_alerts_again(db, patient):
    baclofen = make_medication(db, patient)
    set_medication(db, baclofen, stock=1)
    assert len(supply.running_out_alerts_due(db, START)) == 1
    supply.record_refill(db, baclofen, 1, None, patient, START)  # 2 tablets: still short
    assert [a["days_left"] for a in supply.running_out_alerts_due(db, START)] == [pytest.approx(hours(11))]
    supply.record_refill(db, baclofen, 60, None, patient, START)
    assert supply.running_out_alerts_due(db, START) == []


# ---------------------------------------------------------------- when upkeep looks again


def take_as_planned(db, medication_id: int, first: str, count: int) -> None:
    """``count`` doses of 10 mg taken at their times, from the dose due at ``first`` on."""
    with immediate(db):
        for _ in range(count):
            supply.consume(db, {"medication_id": medication_id, "amount": 10, "scheduled_at": first})


def test_upkeep_looks_at_a_long_supply_again_only_a_day_before_its_refill_reminder_is_due(db, patient):
    medication = make_medication(db, patient, strength="10 mg tablet")
    set_medication(db, medication, stock=60)  # 20 days and 1 hour: the reminder is due in 10 days and 1 hour
    assert supply.refill_reminders_due(db, START) == []
    assert supply.schedule_checks(db, START) == 1
    looks_at = parse_instant(medication_row(db, medication)["supply_check_at"])
    assert looks_at == START + timedelta(days=9, hours=1)
    assert supply._to_check(db, looks_at - timedelta(minutes=10)) == []  # not read at all before then
    take_as_planned(db, medication, "2026-03-17T12:00:00Z", 28)  # every dose up to Monday 08:00, as counted
    assert supply.refill_reminders_due(db, looks_at) == []  # 10 days and 23 hours left: not yet
    assert supply.schedule_checks(db, looks_at) == 1
    on_the_day = parse_instant(medication_row(db, medication)["supply_check_at"])
    # Ten wall-clock days before the first dose not covered (Friday 27 March, 08:00 EDT).
    assert on_the_day == parse_instant("2026-03-17T12:00:00Z")
    take_as_planned(db, medication, "2026-03-17T12:00:00Z", 2)  # Monday's 13:00 and 18:00
    [reminder] = supply.refill_reminders_due(db, on_the_day)
    assert reminder["days_left"] == pytest.approx(10)


def test_a_refill_a_dose_change_or_a_new_threshold_asks_upkeep_to_look_again_at_once(db, patient):
    medication = make_medication(db, patient, strength="10 mg tablet")
    set_medication(db, medication, stock=60)
    supply.schedule_checks(db, START)
    supply.record_refill(db, medication, 30, None, patient, START)
    assert medication_row(db, medication)["supply_check_at"] == ""
    supply.schedule_checks(db, START)
    with immediate(db):  # twice the dose: 90 tablets last 15 days
        db.execute("UPDATE regimen_steps SET amount = 20 WHERE medication_id = ?", [medication])
    assert medication_row(db, medication)["supply_check_at"] == ""
    supply.schedule_checks(db, START)
    set_medication(db, medication, refill_threshold_days=16)
    assert [r["medication_id"] for r in supply.refill_reminders_due(db, START)] == [medication]


def test_a_dose_due_before_the_last_look_and_taken_after_it_asks_for_a_new_look(db, patient):
    medication = make_medication(db, patient, strength="10 mg tablet")
    set_medication(db, medication, stock=60)
    supply.schedule_checks(db, START)
    take_as_planned(db, medication, "2026-03-08T13:00:00Z", 1)  # counted by the look: nothing to do
    assert medication_row(db, medication)["supply_check_at"] != ""
    take_as_planned(db, medication, "2026-03-07T11:00:00Z", 1)  # due before the look, taken late
    assert medication_row(db, medication)["supply_check_at"] == ""


def test_with_both_marks_set_upkeep_does_not_look_until_a_refill(db, patient):
    medication = make_medication(db, patient, strength="10 mg tablet")
    set_medication(db, medication, stock=6)  # 2 days: a reminder and a running-out alert
    assert len(supply.refill_reminders_due(db, START)) == len(supply.running_out_alerts_due(db, START)) == 1
    supply.schedule_checks(db, START)
    assert medication_row(db, medication)["supply_check_at"] is None
    supply.record_refill(db, medication, 2, None, patient, START)  # 8 tablets: still short, told again
    assert len(supply.refill_reminders_due(db, START)) == len(supply.running_out_alerts_due(db, START)) == 1

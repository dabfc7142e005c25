"""The missed-dose rule, pinned to ../shared/domain.md section 2.

Expected values are computed by hand. The patient lives in America/New_York; on 2026-03-10 and
2026-03-11 the zone is EDT (UTC-4), so a three-times-a-day regimen at 08:00, 13:00 and 18:00 local
is 12:00Z, 17:00Z and 22:00Z. With the defaults (on time 60 min, skip_fraction 0.5,
skip_hours_before_next 2, min_gap_fraction 0.5):

- 08:00 dose: next 13:00 (5 h) -> closes min(08:00 + 2.5 h, 13:00 - 2 h) = 10:30 EDT = 14:30Z.
- 13:00 dose: next 18:00 (5 h) -> closes 15:30 EDT = 19:30Z.
- 18:00 dose: next 08:00 tomorrow (14 h) -> closes min(18:00 + 7 h, 08:00 - 2 h) = 01:00 EDT = 05:00Z.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder.missed_dose import (
    Decision,
    Dose,
    DoseRule,
    Intake,
    answer_window,
    decide_skip,
    decide_snooze,
    decide_taken,
    window_closes_at,
)
from reminder.schedule import Step, next_occurrence, resolve

from builders import Z

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
DEFAULT = DoseRule()


def H(hours: float) -> timedelta:
    return timedelta(hours=hours)


# The three doses of 2026-03-10 and the first of 2026-03-11, as ledger rows.
def dose_0800(**changes) -> Dose:
    values = dict(
        scheduled_at=Z("2026-03-10T12:00"),
        window_closes_at=Z("2026-03-10T14:30"),
        amount=5.0,
        next_scheduled_at=Z("2026-03-10T17:00"),
    )
    values.update(changes)
    return Dose(**values)


def dose_1300(**changes) -> Dose:
    values = dict(
        scheduled_at=Z("2026-03-10T17:00"),
        window_closes_at=Z("2026-03-10T19:30"),
        amount=5.0,
        next_scheduled_at=Z("2026-03-10T22:00"),
    )
    values.update(changes)
    return Dose(**values)


def dose_1800(**changes) -> Dose:
    values = dict(
        scheduled_at=Z("2026-03-10T22:00"),
        window_closes_at=Z("2026-03-11T05:00"),
        amount=5.0,
        next_scheduled_at=Z("2026-03-11T12:00"),
    )
    values.update(changes)
    return Dose(**values)


def dose_0800_next_day(**changes) -> Dose:
    values = dict(
        scheduled_at=Z("2026-03-11T12:00"),
        window_closes_at=Z("2026-03-11T14:30"),
        amount=5.0,
        next_scheduled_at=Z("2026-03-11T17:00"),
    )
    values.update(changes)
    return Dose(**values)


def intake(taken: str, scheduled: str | None = None, amount: float = 5.0) -> Intake:
    return Intake(taken_at=Z(taken), scheduled_at=Z(scheduled or taken), amount=amount)


# ================================================================================================
# window_closes_at
# ================================================================================================

WINDOW_CASES = [
    # (t, t_next, rule, expected close) -- all hand-computed.
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T17:00",
        DEFAULT,
        "2026-03-10T14:30",
        id="TID 08:00 -> 13:00, 5 h: min(t+2.5h, t+3h) = t+2.5h",
    ),
    pytest.param(
        "2026-03-10T17:00", "2026-03-10T22:00", DEFAULT, "2026-03-10T19:30", id="TID 13:00 -> 18:00, 5 h: t+2.5h"
    ),
    pytest.param(
        "2026-03-10T22:00",
        "2026-03-11T12:00",
        DEFAULT,
        "2026-03-11T05:00",
        id="last dose 18:00 -> next day 08:00, 14 h: min(t+7h, t+12h) = t+7h",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-11T00:00",
        DEFAULT,
        "2026-03-10T18:00",
        id="BID 08:00 -> 20:00, 12 h: min(t+6h, t+10h) = t+6h",
    ),
    pytest.param(
        "2026-03-11T00:00",
        "2026-03-11T12:00",
        DEFAULT,
        "2026-03-11T06:00",
        id="BID 20:00 -> next day 08:00, 12 h: t+6h",
    ),
    pytest.param("2026-03-10T12:00", "2026-03-10T16:00", DEFAULT, "2026-03-10T14:00", id="4 h: min(t+2h, t+2h) = t+2h"),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T15:30",
        DEFAULT,
        "2026-03-10T13:30",
        id="3.5 h: min(t+1.75h, t+1.5h) = t+1.5h, the 2-hours-before-next term wins",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T15:00",
        DEFAULT,
        "2026-03-10T13:00",
        id="3 h: min(t+1.5h, t+1h) = t+1h, equal to the on-time floor",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T14:30",
        DEFAULT,
        "2026-03-10T13:00",
        id="2.5 h: min(t+1.25h, t+0.5h) = t+0.5h, raised to the on-time floor t+60min",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T14:00",
        DEFAULT,
        "2026-03-10T13:00",
        id="2 h: min(t+1h, t) = t, raised to the on-time floor t+60min",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T13:00",
        DEFAULT,
        "2026-03-10T13:00",
        id="1 h: min(t+0.5h, t-1h), raised to the on-time floor t+60min",
    ),
    pytest.param(
        "2026-03-10T12:00", None, DEFAULT, "2026-03-11T00:00", id="no next dose: assume 24 h, min(t+12h, t+22h) = t+12h"
    ),
    pytest.param(
        "2026-03-07T23:00",
        "2026-03-08T12:00",
        DEFAULT,
        "2026-03-08T05:30",
        id="spring-forward night: 18:00 EST -> 08:00 EDT is 13 h, so t+6.5h (not t+7h)",
    ),
    pytest.param(
        "2026-10-31T22:00",
        "2026-11-01T13:00",
        DEFAULT,
        "2026-11-01T05:30",
        id="fall-back night: 18:00 EDT -> 08:00 EST is 15 h, so t+7.5h",
    ),
    # Custom parameters.
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-11T00:00",
        DoseRule(on_time_minutes=30, skip_fraction=0.25, skip_hours_before_next=4),
        "2026-03-10T15:00",
        id="custom 0.25 / 4 h, 12 h: min(t+3h, t+8h) = t+3h",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T20:00",
        DoseRule(skip_fraction=0.75, skip_hours_before_next=3),
        "2026-03-10T17:00",
        id="custom 0.75 / 3 h, 8 h: min(t+6h, t+5h) = t+5h",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T20:00",
        DoseRule(skip_fraction=0.75, skip_hours_before_next=1),
        "2026-03-10T18:00",
        id="custom 0.75 / 1 h, 8 h: min(t+6h, t+7h) = t+6h",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T14:00",
        DoseRule(skip_hours_before_next=0.5),
        "2026-03-10T13:00",
        id="custom 0.5 / 30 min, 2 h: min(t+1h, t+1.5h) = t+1h",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T14:00",
        DoseRule(on_time_minutes=90),
        "2026-03-10T13:30",
        id="custom on-time 90 min, 2 h: raised to the floor t+90min",
    ),
    pytest.param(
        "2026-03-10T12:00",
        "2026-03-10T14:00",
        DoseRule(on_time_minutes=30),
        "2026-03-10T12:30",
        id="custom on-time 30 min, 2 h: min(t+1h, t) = t, raised to the floor t+30min",
    ),
    pytest.param(
        "2026-03-10T12:00",
        None,
        DoseRule(skip_fraction=0.25),
        "2026-03-10T18:00",
        id="custom 0.25, no next dose: min(t+6h, t+22h) = t+6h",
    ),
]


@pytest.mark.parametrize(("t", "t_next", "rule", "expected"), WINDOW_CASES)
def test_the_window_closes_at_the_earlier_of_the_fraction_and_the_hours_before_next_but_never_inside_the_on_time_window(
    t, t_next, rule, expected
):
    assert window_closes_at(Z(t), Z(t_next) if t_next else None, rule) == Z(expected)


@pytest.mark.parametrize(
    ("zone", "day", "expected_next", "expected_close"),
    [
        # 18:00 EST on 03-07 = 23:00Z; next 08:00 EDT on 03-08 = 12:00Z (13 h) -> 23:00Z + 6.5 h.
        (NY, "2026-03-07", "2026-03-08T12:00", "2026-03-08T05:30"),
        # 18:00 EDT on 03-10 = 22:00Z; next 08:00 EDT = 03-11 12:00Z (14 h) -> +7 h.
        (NY, "2026-03-10", "2026-03-11T12:00", "2026-03-11T05:00"),
        # 18:00 AEDT on 2026-04-04 = 07:00Z; next 08:00 AEST on 04-05 = 04-04 22:00Z (15 h) -> +7.5 h.
        (SYDNEY, "2026-04-04", "2026-04-04T22:00", "2026-04-04T14:30"),
    ],
)
def test_the_last_dose_of_a_day_uses_the_next_days_first_dose_resolved_in_local_time(
    zone, day, expected_next, expected_close
):
    steps = [Step(id=1, start_date=date(2026, 1, 1), end_date=None, times=(time(8), time(13), time(18)), amount=5)]
    t = resolve(date.fromisoformat(day), time(18), zone)
    t_next = next_occurrence(steps, zone, t).scheduled_at
    assert t_next == Z(expected_next)
    assert window_closes_at(t, t_next, DEFAULT) == Z(expected_close)


# ================================================================================================
# decide_taken
# ================================================================================================

# Each case: dose, now, keyword arguments, expected code, expected recorded intake time (None:
# nothing recorded), expected on_time.
TAKEN_CASES = [
    # --- on time versus late, and the early tap ----------------------------------------------
    pytest.param(
        dose_0800(),
        "2026-03-10T12:00",
        {},
        "taken",
        "2026-03-10T12:00",
        True,
        id="a tap exactly at the due time is on time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T13:00",
        {},
        "taken",
        "2026-03-10T13:00",
        True,
        id="a tap exactly 60 min after due is still on time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T13:01",
        {},
        "taken",
        "2026-03-10T13:01",
        False,
        id="a tap 61 min after due is recorded as late",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T11:00",
        {},
        "taken",
        "2026-03-10T11:00",
        True,
        id="a tap exactly 60 min before due is on time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T10:59",
        {},
        "not_due_yet",
        None,
        None,
        id="a tap 61 min before due is not due yet and records nothing",
    ),
    pytest.param(
        dose_0800(), "2026-03-10T06:00", {}, "not_due_yet", None, None, id="a tap hours before due is not due yet"
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T14:29",
        {},
        "taken",
        "2026-03-10T14:29",
        False,
        id="a late tap one minute before the window closes is taken late",
    ),
    # --- after the window closed --------------------------------------------------------------
    pytest.param(
        dose_0800(),
        "2026-03-10T14:30",
        {},
        "window_closed",
        None,
        None,
        id="a tap at the instant the window closes is not recorded as taken",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {},
        "window_closed",
        None,
        None,
        id="a late tap after the window closed is not recorded as taken",
    ),
    pytest.param(
        dose_0800(status="missed"),
        "2026-03-10T16:00",
        {},
        "window_closed",
        None,
        None,
        id="a tap on a dose already marked missed is not recorded as taken",
    ),
    pytest.param(
        dose_1800(),
        "2026-03-11T05:00",
        {},
        "window_closed",
        None,
        None,
        id="the evening dose cannot be taken at 01:00 local when the morning dose is at 08:00",
    ),
    # --- "I already took it at ..." -----------------------------------------------------------
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T12:15")},
        "taken",
        "2026-03-10T12:15",
        True,
        id="after the window closed an earlier reported time is recorded as that time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T13:30")},
        "taken",
        "2026-03-10T13:30",
        False,
        id="an earlier reported time more than 60 min after due is recorded as late",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T15:00")},
        "taken",
        "2026-03-10T15:00",
        False,
        id="a reported time after the window but before now records the truth, late",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T11:00")},
        "taken",
        "2026-03-10T11:00",
        True,
        id="a reported time exactly 60 min before due is accepted",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T10:59")},
        "bad_time",
        None,
        None,
        id="a reported time more than 60 min before due is a bad time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T16:01")},
        "bad_time",
        None,
        None,
        id="a reported time in the future is a bad time",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T12:30",
        {"reported_at": Z("2026-03-10T12:10")},
        "taken",
        "2026-03-10T12:10",
        True,
        id="a reported time while the window is open records that time not now",
    ),
    pytest.param(
        dose_0800(status="missed"),
        "2026-03-10T18:00",
        {"reported_at": Z("2026-03-10T12:20")},
        "taken",
        "2026-03-10T12:20",
        True,
        id="a missed dose with a reported earlier time becomes taken at that time",
    ),
    pytest.param(
        dose_0800(status="missed"),
        "2026-03-10T18:00",
        {"reported_at": Z("2026-03-10T18:30")},
        "bad_time",
        None,
        None,
        id="a missed dose with a future reported time is a bad time",
    ),
    # --- a dose is confirmed at most once -----------------------------------------------------
    pytest.param(
        dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
        "2026-03-10T12:30",
        {},
        "already_recorded",
        None,
        None,
        id="a second Taken tap changes nothing",
    ),
    pytest.param(
        dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
        "2026-03-10T16:00",
        {"reported_at": Z("2026-03-10T12:30")},
        "already_recorded",
        None,
        None,
        id="a second confirmation with a reported time changes nothing",
    ),
    pytest.param(
        dose_0800(status="skipped", confirmed_at=Z("2026-03-10T12:20")),
        "2026-03-10T12:30",
        {},
        "already_recorded",
        None,
        None,
        id="a Taken tap on a skipped dose changes nothing",
    ),
    # --- minimum gap between intakes (0.5 x interval) -----------------------------------------
    # The 08:00 dose (12:00Z) was taken late at 10:00 EDT (14:00Z). The 13:00 dose is 5 h later,
    # so the minimum gap is 2.5 h: not before 12:30 EDT (16:30Z).
    pytest.param(
        dose_1300(),
        "2026-03-10T16:30",
        {"other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")]},
        "taken",
        "2026-03-10T16:30",
        True,
        id="a tap exactly at the minimum gap is allowed",
    ),
    pytest.param(
        dose_1300(),
        "2026-03-10T16:29",
        {"other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")]},
        "too_soon",
        None,
        None,
        id="a tap one minute inside the minimum gap is refused as too soon",
    ),
    pytest.param(
        dose_1300(),
        "2026-03-10T16:00",
        {"other_intakes": [intake("2026-03-10T14:29", "2026-03-10T12:00")]},
        "too_soon",
        None,
        None,
        id="a tap 91 min after the previous intake is refused as too soon",
    ),
    pytest.param(
        dose_1300(),
        "2026-03-10T16:29",
        {
            "other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")],
            "override_reason": "Clinician: first dose was vomited",
        },
        "taken",
        "2026-03-10T16:29",
        True,
        id="a caregiver or clinician override with a reason lifts the minimum gap",
    ),
    pytest.param(
        dose_1300(),
        "2026-03-10T16:29",
        {"other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")], "override_reason": ""},
        "too_soon",
        None,
        None,
        id="an override without a reason does not lift the minimum gap",
    ),
    pytest.param(
        dose_1300(),
        "2026-03-10T16:29",
        {"other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")], "rule": DoseRule(min_gap_fraction=0.25)},
        "taken",
        "2026-03-10T16:29",
        True,
        id="a custom min gap fraction of 0.25 allows 1 h 15 min",
    ),
    # Overnight: the 18:00 dose (22:00Z) taken at 00:59 EDT (04:59Z); the next 08:00 dose is 14 h
    # after 18:00, so the gap is 7 h: not before 07:59 EDT (11:59Z).
    pytest.param(
        dose_0800_next_day(),
        "2026-03-11T11:30",
        {"other_intakes": [intake("2026-03-11T04:59", "2026-03-10T22:00")]},
        "too_soon",
        None,
        None,
        id="an early morning tap too soon after a late evening intake is refused",
    ),
    pytest.param(
        dose_0800_next_day(),
        "2026-03-11T11:59",
        {"other_intakes": [intake("2026-03-11T04:59", "2026-03-10T22:00")]},
        "taken",
        "2026-03-11T11:59",
        True,
        id="a morning tap exactly 7 h after a late evening intake is allowed",
    ),
    # A reported time is checked against later intakes too: the 13:00 dose was taken at 12:10 EDT
    # (16:10Z); reporting the 08:00 dose at 10:00 EDT (14:00Z) puts them 2 h 10 min apart < 2.5 h.
    pytest.param(
        dose_0800(),
        "2026-03-10T16:20",
        {"other_intakes": [intake("2026-03-10T16:10", "2026-03-10T17:00")], "reported_at": Z("2026-03-10T14:00")},
        "too_soon",
        None,
        None,
        id="a reported earlier time too close to a later intake is refused",
    ),
    # --- maximum daily amount, counted per LOCAL day ------------------------------------------
    # Baclofen-like: 20 mg per dose, 80 mg a day. Other intakes are taken at their scheduled time,
    # far from this one, so only the daily maximum is in play.
    pytest.param(
        dose_1300(amount=20),
        "2026-03-10T17:00",
        {"other_intakes": [intake("2026-03-10T12:00", amount=60)], "max_daily_amount": 80},
        "taken",
        "2026-03-10T17:00",
        True,
        id="a dose bringing the local day to exactly the maximum is allowed",
    ),
    pytest.param(
        dose_1300(amount=20),
        "2026-03-10T17:00",
        {"other_intakes": [intake("2026-03-10T12:00", amount=61)], "max_daily_amount": 80},
        "over_daily_maximum",
        None,
        None,
        id="a dose bringing the local day over the maximum is refused",
    ),
    pytest.param(
        dose_1300(amount=20),
        "2026-03-10T17:00",
        {"other_intakes": [intake("2026-03-10T12:00", amount=61)], "max_daily_amount": None},
        "taken",
        "2026-03-10T17:00",
        True,
        id="without a maximum daily amount nothing is refused for the total",
    ),
    # The 18:00 EDT dose (22:00Z) after 30 mg at 08:00 and 20 mg at 13:00: 30 + 20 + 20 = 70 > 60.
    pytest.param(
        dose_1800(amount=20),
        "2026-03-10T22:00",
        {
            "other_intakes": [intake("2026-03-10T12:00", amount=30), intake("2026-03-10T17:00", amount=20)],
            "max_daily_amount": 60,
        },
        "over_daily_maximum",
        None,
        None,
        id="intakes earlier on the same local day count toward the maximum",
    ),
    pytest.param(
        dose_0800(
            amount=20,
            scheduled_at=Z("2026-03-11T01:00"),
            window_closes_at=Z("2026-03-11T04:00"),
            next_scheduled_at=Z("2026-03-11T12:00"),
        ),
        "2026-03-11T01:00",
        {
            "other_intakes": [intake("2026-03-10T12:00", amount=30), intake("2026-03-10T17:00", amount=20)],
            "max_daily_amount": 60,
        },
        "over_daily_maximum",
        None,
        None,
        id="a 21:00 local dose on the next UTC date still counts the local morning intakes",
    ),
    # (21:00 EDT on 03-10 is 03-11 01:00Z; by UTC date the total would be only 20.)
    # 08:00 EDT on 03-10 is 12:00Z; an intake at 03-10 03:30Z was 23:30 EDT on 03-09: the previous
    # local day, but 8.5 hours before. Issue 9: the maximum holds over any rolling 24 hours too, so
    # 70 + 20 mg in 8.5 hours is refused (before, the local calendar day alone let it through).
    pytest.param(
        dose_0800(amount=20),
        "2026-03-10T12:00",
        {"other_intakes": [intake("2026-03-10T03:30", amount=70)], "max_daily_amount": 80},
        "over_daily_maximum",
        None,
        None,
        id="an intake on the previous local day counts within a rolling 24 hours",
    ),
    # ... and one more than 24 hours before does not.
    pytest.param(
        dose_0800(amount=20),
        "2026-03-10T12:00",
        {"other_intakes": [intake("2026-03-09T11:59", amount=70)], "max_daily_amount": 80},
        "taken",
        "2026-03-10T12:00",
        True,
        id="an intake more than 24 hours before on the previous local day does not count",
    ),
    # Sydney (AEST, UTC+10 in June): 08:00 on 06-10 is 06-09 22:00Z. An intake at 06-08 21:59Z was
    # 07:59 on 06-09 local, more than 24 hours before (not counted); one at 06-09 21:00Z was 07:00
    # on 06-10 local (counted). (An intake the local evening before, 10 hours earlier, now counts:
    # issue 9's rolling 24 hours.)
    pytest.param(
        Dose(
            scheduled_at=Z("2026-06-09T22:00"),
            window_closes_at=Z("2026-06-10T00:30"),
            amount=20,
            next_scheduled_at=Z("2026-06-10T03:00"),
        ),
        "2026-06-09T22:00",
        {"tz": SYDNEY, "other_intakes": [intake("2026-06-08T21:59", amount=70)], "max_daily_amount": 80},
        "taken",
        "2026-06-09T22:00",
        True,
        id="in Sydney an intake the local day before and over 24 hours earlier does not count toward today",
    ),
    pytest.param(
        Dose(
            scheduled_at=Z("2026-06-09T22:00"),
            window_closes_at=Z("2026-06-10T00:30"),
            amount=20,
            next_scheduled_at=Z("2026-06-10T03:00"),
        ),
        "2026-06-09T22:00",
        {"tz": SYDNEY, "other_intakes": [intake("2026-06-09T12:00", amount=70)], "max_daily_amount": 80},
        "over_daily_maximum",
        None,
        None,
        id="in Sydney an intake the local evening before counts within a rolling 24 hours",
    ),
    pytest.param(
        Dose(
            scheduled_at=Z("2026-06-09T22:00"),
            window_closes_at=Z("2026-06-10T00:30"),
            amount=20,
            next_scheduled_at=Z("2026-06-10T03:00"),
        ),
        "2026-06-09T22:00",
        {
            "tz": SYDNEY,
            "rule": DoseRule(min_gap_fraction=0.0),
            "other_intakes": [intake("2026-06-09T12:00", amount=10), intake("2026-06-09T21:00", amount=61)],
            "max_daily_amount": 80,
        },
        "over_daily_maximum",
        None,
        None,
        id="in Sydney an intake earlier the same local morning counts toward today",
    ),
]


def run_taken(dose: Dose, now: str, kwargs: dict) -> Decision:
    kwargs = dict(kwargs)
    rule = kwargs.pop("rule", DEFAULT)
    tz = kwargs.pop("tz", NY)
    other_intakes = kwargs.pop("other_intakes", [])
    return decide_taken(dose, Z(now), rule, tz, other_intakes, **kwargs)


@pytest.mark.parametrize(("dose", "now", "kwargs", "code", "recorded_at", "on_time"), TAKEN_CASES)
def test_a_taken_answer_is_recorded_or_refused_exactly_as_the_rule_says(dose, now, kwargs, code, recorded_at, on_time):
    decision = run_taken(dose, now, kwargs)
    assert decision.code == code, decision.message
    if recorded_at is None:
        assert decision.outcome is None
        assert decision.taken_at is None
        assert not decision.accepted
    else:
        assert decision.outcome == "taken"
        assert decision.accepted
        assert decision.taken_at == Z(recorded_at)
        assert decision.on_time is on_time


def test_a_late_tap_after_the_window_closed_says_skip_and_offers_the_earlier_time_form():
    decision = run_taken(dose_0800(), "2026-03-10T16:00", {})
    assert decision.code == "window_closed"
    assert decision.offer_earlier_time is True
    message = decision.message.lower()
    assert "too close to your next dose" in message
    assert "skip this dose" in message
    # The next dose at its usual time: 13:00 EDT.
    assert "1:00 PM" in decision.message
    assert "take two" not in message.replace("don't take two", "").replace("do not take two", "")


def test_a_tap_inside_the_window_does_not_offer_the_earlier_time_form():
    assert run_taken(dose_0800(), "2026-03-10T12:00", {}).offer_earlier_time is False


def test_not_due_yet_says_when_the_dose_is_due_in_local_time():
    decision = run_taken(dose_0800(), "2026-03-10T10:00", {})
    assert decision.code == "not_due_yet"
    assert "8:00 AM" in decision.message


@pytest.mark.parametrize(
    ("dose", "expected_when"),
    [
        # Confirmed at 12:06Z = 8:06 AM EDT, Tuesday 10 March; taken at 12:05Z = 8:05 AM.
        (
            dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
            ["8:06 AM", "8:05 AM"],
        ),
        # Confirmed at 03-11 01:30Z = 9:30 PM EDT on 10 March.
        (
            dose_1800(status="taken", taken_at=Z("2026-03-10T22:10"), confirmed_at=Z("2026-03-11T01:30")),
            ["9:30 PM", "10 Mar", "6:10 PM"],
        ),
        (dose_0800(status="skipped", confirmed_at=Z("2026-03-10T12:20")), ["8:20 AM"]),
    ],
)
def test_a_second_confirmation_says_when_the_dose_was_recorded_in_local_time(dose, expected_when):
    decision = run_taken(dose, "2026-03-11T02:00", {})
    assert decision.code == "already_recorded"
    assert decision.outcome is None
    for fragment in expected_when:
        assert fragment in decision.message


def test_a_too_soon_refusal_explains_which_intake_was_too_close():
    decision = run_taken(
        dose_1300(), "2026-03-10T16:29", {"other_intakes": [intake("2026-03-10T14:00", "2026-03-10T12:00")]}
    )
    assert decision.code == "too_soon"
    assert "10:00 AM" in decision.message  # the other intake, 14:00Z = 10:00 EDT


def test_an_over_the_daily_maximum_refusal_names_the_total_and_the_maximum():
    decision = run_taken(
        dose_1300(amount=20),
        "2026-03-10T17:00",
        {"other_intakes": [intake("2026-03-10T12:00", amount=61)], "max_daily_amount": 80},
    )
    assert decision.code == "over_daily_maximum"
    assert "81" in decision.message and "80" in decision.message


# ================================================================================================
# decide_skip
# ================================================================================================

SKIP_CASES = [
    pytest.param(dose_0800(), "skipped", "skipped", id="a pending dose is recorded as skipped"),
    pytest.param(
        dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
        "already_recorded",
        None,
        id="a taken dose cannot be skipped afterwards",
    ),
    pytest.param(
        dose_0800(status="skipped", confirmed_at=Z("2026-03-10T12:20")),
        "already_recorded",
        None,
        id="a skipped dose is not skipped twice",
    ),
    pytest.param(dose_0800(status="missed"), "already_recorded", None, id="a missed dose stays missed"),
]


@pytest.mark.parametrize(("dose", "code", "outcome"), SKIP_CASES)
def test_a_skip_answer_is_recorded_only_on_an_open_dose(dose, code, outcome):
    decision = decide_skip(dose, NY)
    assert decision.code == code
    assert decision.outcome == outcome


def test_a_skip_tells_the_patient_to_take_the_next_dose_at_its_usual_time():
    message = decide_skip(dose_0800(), NY).message.lower()
    assert "next dose at its usual time" in message


# ================================================================================================
# decide_snooze
# ================================================================================================

SNOOZE_CASES = [
    # 08:00 dose, window closes 10:30 EDT (14:30Z).
    pytest.param(
        dose_0800(),
        "2026-03-10T12:05",
        15,
        "2026-03-10T12:20",
        "8:20 AM",
        id="a snooze inside the window reminds again later",
    ),
    pytest.param(
        dose_0800(),
        "2026-03-10T12:05",
        120,
        "2026-03-10T14:05",
        "10:05 AM",
        id="a long snooze that still ends inside the window is accepted",
    ),
    pytest.param(
        dose_0800(), "2026-03-10T14:00", 45, None, None, id="a snooze that would run past the window close is refused"
    ),
    pytest.param(
        dose_0800(), "2026-03-10T14:29", 10, None, None, id="a snooze a minute before the window closes is refused"
    ),
    pytest.param(dose_0800(), "2026-03-10T14:30", 10, None, None, id="a snooze after the window closed is refused"),
    pytest.param(
        dose_0800(status="missed"), "2026-03-10T16:00", 10, None, None, id="a snooze on a missed dose is refused"
    ),
    pytest.param(
        dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
        "2026-03-10T12:10",
        10,
        None,
        None,
        id="a snooze on a taken dose is refused",
    ),
    pytest.param(
        dose_0800(status="skipped", confirmed_at=Z("2026-03-10T12:06")),
        "2026-03-10T12:10",
        10,
        None,
        None,
        id="a snooze on a skipped dose is refused",
    ),
]


@pytest.mark.parametrize(("dose", "now", "minutes", "until", "until_label"), SNOOZE_CASES)
def test_a_snooze_is_accepted_only_while_it_ends_inside_the_window(dose, now, minutes, until, until_label):
    decision = decide_snooze(dose, Z(now), timedelta(minutes=minutes), NY)
    assert decision.outcome is None  # a snooze never records an outcome
    if until is None:
        assert not decision.accepted
        assert decision.snooze_until is None
    else:
        assert decision.code == "snoozed"
        assert decision.accepted
        assert decision.snooze_until == Z(until)
        assert until_label in decision.message


@pytest.mark.parametrize(
    ("dose", "code"),
    [
        (
            dose_0800(status="taken", taken_at=Z("2026-03-10T12:05"), confirmed_at=Z("2026-03-10T12:06")),
            "already_recorded",
        ),
        (dose_0800(status="skipped", confirmed_at=Z("2026-03-10T12:06")), "already_recorded"),
    ],
)
def test_a_snooze_on_an_answered_dose_says_it_is_already_recorded(dose, code):
    assert decide_snooze(dose, Z("2026-03-10T12:10"), timedelta(minutes=10), NY).code == code


# ================================================================================================
# The sweep: no message ever tells anyone to take two doses or to make up a dose
# ================================================================================================


def _every_decision() -> list[tuple[str, Decision]]:
    decisions = []
    for case in TAKEN_CASES:
        dose, now, kwargs, *_ = case.values
        decisions.append((f"taken: {case.id}", run_taken(dose, now, kwargs)))
    for case in SKIP_CASES:
        decisions.append((f"skip: {case.id}", decide_skip(case.values[0], NY)))
    for case in SNOOZE_CASES:
        dose, now, minutes, *_ = case.values
        decisions.append((f"snooze: {case.id}", decide_snooze(dose, Z(now), timedelta(minutes=minutes), NY)))
    return decisions


EVERY_DECISION = _every_decision()

FORBIDDEN = (
    "take two",
    "two doses",
    "2 doses",
    "double",
    "make up",
    "make-up",
    "makeup",
    "extra dose",
    "both doses",
    "catch up",
    "take both",
)
NEGATED_OPENINGS = ("don't ", "do not ", "never ")


def test_the_sweep_covers_every_kind_of_decision():
    codes = {decision.code for _, decision in EVERY_DECISION}
    assert {
        "taken",
        "skipped",
        "snoozed",
        "already_recorded",
        "window_closed",
        "not_due_yet",
        "too_soon",
        "over_daily_maximum",
        "bad_time",
    } <= codes


@pytest.mark.parametrize(("label", "decision"), EVERY_DECISION, ids=[label for label, _ in EVERY_DECISION])
def test_no_message_ever_tells_the_patient_to_take_two_doses_or_make_one_up(label, decision):
    message = decision.message.replace("\u2019", "'")
    # Every "two doses" is negated advice: preceded by "Don't take" or "Do not take".
    for match in re.finditer(r"two doses", message, flags=re.IGNORECASE):
        before = message[: match.start()].rstrip().lower()
        assert before.endswith("don't take") or before.endswith("do not take"), message
    # Every sentence that mentions doubling, two doses or making up is a negated one.
    for sentence in re.split(r"(?<=[.!?])\s+", message):
        lowered = sentence.lower().strip()
        if any(phrase in lowered for phrase in FORBIDDEN):
            assert lowered.startswith(NEGATED_OPENINGS), message


def test_an_earlier_time_equal_to_now_is_not_a_time_before_now():
    # Otherwise "I already took it at <now>" would turn a late tap into a recorded intake.
    decision = run_taken(dose_0800(), "2026-03-10T15:00", {"reported_at": Z("2026-03-10T15:00")})
    assert (decision.code, decision.outcome) == ("bad_time", None)


AT_EIGHT = datetime(2026, 3, 7, 13, 0, tzinfo=UTC)  # an 08:00 dose in New York


@pytest.mark.parametrize(
    ("status", "minutes_from_dose", "window"),
    [
        ("pending", -61, "not_due"),  # before the on-time hour: Taken would be refused
        ("pending", -60, "open"),  # the on-time window opens an hour early
        ("pending", 0, "open"),
        ("pending", 179, "open"),
        ("pending", 180, None),  # the window has closed: too late to answer
        ("taken", 0, None),  # already answered
        ("skipped", 0, None),
    ],
)
def test_a_dose_can_be_answered_from_the_start_of_its_on_time_window_until_its_window_closes(
    status, minutes_from_dose, window
):
    now = AT_EIGHT + timedelta(minutes=minutes_from_dose)
    assert answer_window(status, AT_EIGHT, AT_EIGHT + timedelta(hours=3), timedelta(hours=1), now) == window

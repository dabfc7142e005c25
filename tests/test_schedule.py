"""Regimen steps to scheduled UTC instants, pinned to ../shared/domain.md section 1.

Every expected instant below is computed by hand from the published offsets:

- America/New_York: EST = UTC-5, EDT = UTC-4. 2026 spring forward Sun 2026-03-08 02:00 EST ->
  03:00 EDT; fall back Sun 2026-11-01 02:00 EDT -> 01:00 EST.
- Australia/Sydney: AEST = UTC+10, AEDT = UTC+11. DST ends Sun 2026-04-05 03:00 AEDT -> 02:00
  AEST; DST starts Sun 2026-10-04 02:00 AEST -> 03:00 AEDT.

Calendar anchors: 2026-03-09 is a Monday (0 = Monday in ``Step.days``).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from reminder.schedule import Step, next_occurrence, occurrences_between, occurrences_on, resolve

from builders import Z

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")


def T(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def D(text: str) -> date:
    return date.fromisoformat(text)


def daily(
    *times: str,
    start: str = "2026-01-01",
    end: str | None = None,
    amount: float = 5.0,
    days: set[int] | None = None,
    step_id: int = 1,
) -> Step:
    return Step(
        id=step_id,
        start_date=D(start),
        end_date=D(end) if end else None,
        times=tuple(T(t) for t in times),
        amount=amount,
        days=frozenset(days) if days is not None else None,
    )


def instants(occurrences) -> list[datetime]:
    return [o.scheduled_at for o in occurrences]


# --- resolving one local time on one local day -------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc"),
    [
        # New York, ordinary days either side of spring forward: 08:00 is 13:00Z, then 12:00Z.
        (NY, "2026-03-07", "08:00", "2026-03-07T13:00"),
        (NY, "2026-03-08", "08:00", "2026-03-08T12:00"),
        (NY, "2026-03-09", "08:00", "2026-03-09T12:00"),
        # Either side of fall back: 08:00 EDT is 12:00Z, 08:00 EST is 13:00Z.
        (NY, "2026-10-31", "08:00", "2026-10-31T12:00"),
        (NY, "2026-11-01", "08:00", "2026-11-01T13:00"),
        (NY, "2026-11-02", "08:00", "2026-11-02T13:00"),
        # Spring-forward gap: 02:30 does not exist; it fires at the pre-gap offset (EST), i.e.
        # 02:30 EST = 07:30Z = 03:30 EDT.
        (NY, "2026-03-08", "02:30", "2026-03-08T07:30"),
        (NY, "2026-03-08", "02:00", "2026-03-08T07:00"),
        (NY, "2026-03-08", "03:30", "2026-03-08T07:30"),
        (NY, "2026-03-08", "01:59", "2026-03-08T06:59"),
        # Fall-back repeat: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST); the first one wins.
        (NY, "2026-11-01", "01:30", "2026-11-01T05:30"),
        (NY, "2026-11-01", "01:00", "2026-11-01T05:00"),
        (NY, "2026-11-01", "02:00", "2026-11-01T07:00"),
        # Late evening local is the next UTC day.
        (NY, "2026-03-10", "22:00", "2026-03-11T02:00"),
        # Sydney, DST ends 2026-04-05: 02:30 occurs twice; the first is 02:30 AEDT = 15:30Z the day before.
        (SYDNEY, "2026-04-05", "02:30", "2026-04-04T15:30"),
        (SYDNEY, "2026-04-04", "08:00", "2026-04-03T21:00"),
        (SYDNEY, "2026-04-05", "08:00", "2026-04-04T22:00"),
        # Sydney, DST starts 2026-10-04: 02:30 does not exist; 02:30 AEST = 16:30Z = 03:30 AEDT.
        (SYDNEY, "2026-10-04", "02:30", "2026-10-03T16:30"),
        (SYDNEY, "2026-10-04", "03:30", "2026-10-03T16:30"),
        (SYDNEY, "2026-10-03", "08:00", "2026-10-02T22:00"),
        (SYDNEY, "2026-10-04", "08:00", "2026-10-03T21:00"),
    ],
)
def test_a_local_time_resolves_to_the_utc_instant_of_that_local_day(zone, day, at, expected_utc):
    assert resolve(D(day), T(at), zone) == Z(expected_utc)


def test_resolved_instants_are_utc_aware():
    instant = resolve(D("2026-03-08"), T("08:00"), NY)
    assert instant.utcoffset().total_seconds() == 0


# --- day by day, never "+24 h" --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        (
            NY,
            "2026-03-06T00:00",
            "2026-03-10T23:59",
            ["2026-03-06T13:00", "2026-03-07T13:00", "2026-03-08T12:00", "2026-03-09T12:00", "2026-03-10T12:00"],
        ),
        (
            NY,
            "2026-10-30T00:00",
            "2026-11-02T23:59",
            ["2026-10-30T12:00", "2026-10-31T12:00", "2026-11-01T13:00", "2026-11-02T13:00"],
        ),
        (
            SYDNEY,
            "2026-04-03T00:00",
            "2026-04-05T23:59",
            # 08:00 AEDT on 04-04 = 04-03 21:00Z; 08:00 AEST on 04-05 = 04-04 22:00Z; 04-06 = 04-05 22:00Z.
            ["2026-04-03T21:00", "2026-04-04T22:00", "2026-04-05T22:00"],
        ),
        (
            SYDNEY,
            "2026-10-02T00:00",
            "2026-10-04T23:59",
            ["2026-10-02T22:00", "2026-10-03T21:00", "2026-10-04T21:00"],
        ),
    ],
)
def test_a_daily_0800_dose_keeps_its_wall_clock_time_across_dst_instead_of_adding_24_hours(zone, start, end, expected):
    steps = [daily("08:00")]
    found = occurrences_between(steps, zone, Z(start), Z(end))
    assert instants(found) == [Z(e) for e in expected]
    assert all(o.local_time == T("08:00") for o in found)


def test_the_local_date_of_each_occurrence_is_the_patients_day_not_the_utc_day():
    steps = [daily("22:00")]
    found = occurrences_between(steps, NY, Z("2026-03-10T00:00"), Z("2026-03-12T00:00"))
    # 22:00 EDT on 03-09 = 03-10 02:00Z; on 03-10 = 03-11 02:00Z.
    assert [(o.local_date, o.scheduled_at) for o in found] == [
        (D("2026-03-09"), Z("2026-03-10T02:00")),
        (D("2026-03-10"), Z("2026-03-11T02:00")),
    ]


# --- DST gaps and repeats on the day itself -------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "times", "expected"),
    [
        # Spring forward in New York: 02:30 -> 03:30 EDT (07:30Z).
        (NY, "2026-03-08", ("02:30",), ["2026-03-08T07:30"]),
        # 02:30 and 03:30 both land on 07:30Z: one dose, never two at once.
        (NY, "2026-03-08", ("02:30", "03:30"), ["2026-03-08T07:30"]),
        (NY, "2026-03-08", ("03:30", "02:30"), ["2026-03-08T07:30"]),
        # ... but on an ordinary day they are two doses an hour apart.
        (NY, "2026-03-07", ("02:30", "03:30"), ["2026-03-07T07:30", "2026-03-07T08:30"]),
        (NY, "2026-03-09", ("02:30", "03:30"), ["2026-03-09T06:30", "2026-03-09T07:30"]),
        # Fall back in New York: 01:30 fires once, at its first (EDT) occurrence.
        (NY, "2026-11-01", ("01:30",), ["2026-11-01T05:30"]),
        (NY, "2026-11-01", ("00:30", "01:30", "02:30"), ["2026-11-01T04:30", "2026-11-01T05:30", "2026-11-01T07:30"]),
        # Sydney, DST starts: 02:30 -> 03:30 AEDT (16:30Z the day before).
        (SYDNEY, "2026-10-04", ("02:30",), ["2026-10-03T16:30"]),
        (SYDNEY, "2026-10-04", ("02:30", "03:30"), ["2026-10-03T16:30"]),
        # Sydney, DST ends: 02:30 fires once, at 02:30 AEDT (15:30Z the day before).
        (SYDNEY, "2026-04-05", ("02:30",), ["2026-04-04T15:30"]),
    ],
)
def test_on_a_dst_day_each_listed_time_gives_exactly_the_expected_doses(zone, day, times, expected):
    found = occurrences_on([daily(*times)], D(day), zone)
    assert instants(found) == [Z(e) for e in expected]
    assert all(o.local_date == D(day) for o in found)


@pytest.mark.parametrize(
    ("zone", "start", "end", "at", "expected"),
    [
        # A whole UTC night around the New York fall back: one 01:30, not two.
        (NY, "2026-11-01T00:00", "2026-11-02T00:00", "01:30", ["2026-11-01T05:30"]),
        # Around the Sydney fall back: one 02:30, not two.
        (SYDNEY, "2026-04-04T00:00", "2026-04-05T00:00", "02:30", ["2026-04-04T15:30"]),
        # Across several days around the New York spring forward.
        (
            NY,
            "2026-03-07T00:00",
            "2026-03-10T00:00",
            "02:30",
            ["2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"],
        ),
    ],
)
def test_a_range_query_across_a_dst_change_lists_each_dose_once(zone, start, end, at, expected):
    assert instants(occurrences_between([daily(at)], zone, Z(start), Z(end))) == [Z(e) for e in expected]


# --- steps: days of the week, date ranges, superseding ---------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected_dates"),
    [
        # 2026-03-09 is a Monday; 0 = Monday.
        ({0, 2, 4}, ["2026-03-09", "2026-03-11", "2026-03-13"]),
        ({0}, ["2026-03-09"]),
        ({6}, ["2026-03-15"]),
        ({5, 6}, ["2026-03-14", "2026-03-15"]),
        (None, ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13", "2026-03-14", "2026-03-15"]),
    ],
)
def test_a_step_with_days_of_the_week_fires_only_on_those_weekdays(days, expected_dates):
    steps = [daily("08:00", days=days)]
    # Monday 2026-03-09 00:00 EDT = 04:00Z to Monday 2026-03-16 00:00 EDT = 04:00Z.
    found = occurrences_between(steps, NY, Z("2026-03-09T04:00"), Z("2026-03-16T04:00"))
    assert [o.local_date for o in found] == [D(d) for d in expected_dates]


@pytest.mark.parametrize(
    ("start", "end", "expected_dates"),
    [
        ("2026-03-10", "2026-03-12", ["2026-03-10", "2026-03-11", "2026-03-12"]),  # end date inclusive
        ("2026-03-12", "2026-03-12", ["2026-03-12"]),  # a one-day step
        ("2026-03-11", None, ["2026-03-11", "2026-03-12", "2026-03-13", "2026-03-14"]),  # open-ended
    ],
)
def test_a_step_fires_from_its_start_date_through_its_end_date_inclusive(start, end, expected_dates):
    steps = [daily("08:00", start=start, end=end)]
    found = occurrences_between(steps, NY, Z("2026-03-08T00:00"), Z("2026-03-15T00:00"))
    assert [o.local_date for o in found] == [D(d) for d in expected_dates]


def test_the_last_dose_on_the_inclusive_end_date_is_scheduled():
    steps = [daily("08:00", "13:00", "18:00", start="2026-03-09", end="2026-03-11")]
    found = occurrences_on(steps, D("2026-03-11"), NY)
    assert [o.local_time for o in found] == [T("08:00"), T("13:00"), T("18:00")]
    assert occurrences_on(steps, D("2026-03-12"), NY) == []
    assert occurrences_on(steps, D("2026-03-08"), NY) == []


TITRATION = [
    # 5 mg three times a day for 3 days (09, 10, 11 March), then 10 mg three times a day.
    daily("08:00", "13:00", "18:00", start="2026-03-09", end="2026-03-11", amount=5, step_id=1),
    daily("08:00", "13:00", "18:00", start="2026-03-12", amount=10, step_id=2),
]

OPEN_ENDED_THEN_CHANGED = [
    # An open-ended 5 mg TID step, later replaced by 10 mg twice a day from 12 March.
    daily("08:00", "13:00", "18:00", start="2026-03-01", amount=5, step_id=1),
    daily("08:00", "20:00", start="2026-03-12", amount=10, step_id=2),
]


@pytest.mark.parametrize(
    ("steps", "day", "expected"),
    [
        (TITRATION, "2026-03-08", []),
        (TITRATION, "2026-03-09", [("08:00", 5, 1), ("13:00", 5, 1), ("18:00", 5, 1)]),
        (TITRATION, "2026-03-11", [("08:00", 5, 1), ("13:00", 5, 1), ("18:00", 5, 1)]),
        (TITRATION, "2026-03-12", [("08:00", 10, 2), ("13:00", 10, 2), ("18:00", 10, 2)]),
        (TITRATION, "2026-04-30", [("08:00", 10, 2), ("13:00", 10, 2), ("18:00", 10, 2)]),
        (OPEN_ENDED_THEN_CHANGED, "2026-03-11", [("08:00", 5, 1), ("13:00", 5, 1), ("18:00", 5, 1)]),
        # The later step supersedes: no 13:00 or 18:00 dose of the old step on top of the new one.
        (OPEN_ENDED_THEN_CHANGED, "2026-03-12", [("08:00", 10, 2), ("20:00", 10, 2)]),
        (OPEN_ENDED_THEN_CHANGED, "2026-03-20", [("08:00", 10, 2), ("20:00", 10, 2)]),
    ],
)
def test_the_step_in_force_on_a_day_decides_its_times_and_amount(steps, day, expected):
    found = occurrences_on(steps, D(day), NY)
    assert [(o.local_time, o.amount, o.step_id) for o in found] == [(T(t), a, s) for t, a, s in expected]


def test_titration_over_a_week_gives_nine_5_mg_doses_then_10_mg_doses():
    # 2026-03-09 00:00 EDT = 04:00Z to 2026-03-14 00:00 EDT = 04:00Z: 5 local days x 3 doses.
    found = occurrences_between(TITRATION, NY, Z("2026-03-09T04:00"), Z("2026-03-14T04:00"))
    assert [o.amount for o in found] == [5] * 9 + [10] * 6
    # The first 10 mg dose is 08:00 EDT on 12 March = 12:00Z.
    assert found[9].scheduled_at == Z("2026-03-12T12:00")


# --- occurrences_between is half-open [start, end) ---------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 08:00 EDT on 2026-03-10 is 12:00Z; 13:00 EDT is 17:00Z; 18:00 EDT is 22:00Z.
        ("2026-03-10T12:00", "2026-03-10T22:00", ["2026-03-10T12:00", "2026-03-10T17:00"]),  # start in, end out
        ("2026-03-10T12:00", "2026-03-10T22:01", ["2026-03-10T12:00", "2026-03-10T17:00", "2026-03-10T22:00"]),
        ("2026-03-10T12:01", "2026-03-10T22:00", ["2026-03-10T17:00"]),
        ("2026-03-10T17:00", "2026-03-10T17:00", []),  # empty range
        ("2026-03-10T17:00", "2026-03-10T17:01", ["2026-03-10T17:00"]),
        ("2026-03-10T11:59", "2026-03-10T12:00", []),
    ],
)
def test_occurrences_between_includes_the_start_instant_and_excludes_the_end_instant(start, end, expected):
    steps = [daily("08:00", "13:00", "18:00")]
    assert instants(occurrences_between(steps, NY, Z(start), Z(end))) == [Z(e) for e in expected]


def test_occurrences_between_returns_doses_in_time_order():
    steps = [daily("18:00", "08:00", "13:00")]
    found = occurrences_between(steps, NY, Z("2026-03-10T00:00"), Z("2026-03-12T00:00"))
    assert instants(found) == sorted(instants(found))
    assert len(found) == 6  # 12:00Z, 17:00Z, 22:00Z on 03-10 and on 03-11 (08/13/18 EDT)


# --- next_occurrence ------------------------------------------------------------------------------

GAP_BETWEEN_STEPS = [
    daily("08:00", start="2026-03-09", end="2026-03-10", amount=5, step_id=1),
    daily("08:00", start="2026-03-20", amount=10, step_id=2),
]

ENDS_WITHOUT_FOLLOW_UP = [daily("08:00", start="2026-03-09", end="2026-03-10")]

FAR_GAP = [
    daily("08:00", start="2026-03-09", end="2026-03-10", step_id=1),
    daily("08:00", start="2026-04-10", step_id=2),  # a month later
]


@pytest.mark.parametrize(
    ("steps", "zone", "after", "expected"),
    [
        # Across midnight: after the 20:00 dose (00:00Z), the next is 08:00 EDT next day = 12:00Z.
        ([daily("08:00", "20:00")], NY, "2026-03-11T00:00", "2026-03-11T12:00"),
        # 23:00 EDT on 03-10 is 03-11 03:00Z: the next dose is 08:00 EDT on 03-11.
        ([daily("08:00", "20:00")], NY, "2026-03-11T03:00", "2026-03-11T12:00"),
        # The UTC date is already 03-11 but the local day is still 03-10: 22:00 EDT = 02:00Z.
        ([daily("08:00", "22:00")], NY, "2026-03-11T01:00", "2026-03-11T02:00"),
        # Strictly after: asking at the instant of a dose gives the following one.
        ([daily("08:00", "13:00", "18:00")], NY, "2026-03-10T12:00", "2026-03-10T17:00"),
        ([daily("08:00", "13:00", "18:00")], NY, "2026-03-10T11:59", "2026-03-10T12:00"),
        # Across the spring-forward night: after 18:00 EST on 03-07 (23:00Z) comes 08:00 EDT on 03-08 (12:00Z),
        # not 13:00Z.
        ([daily("08:00", "18:00")], NY, "2026-03-07T23:00", "2026-03-08T12:00"),
        # Across the fall-back night: after 18:00 EDT on 10-31 (22:00Z) comes 08:00 EST on 11-01 (13:00Z).
        ([daily("08:00", "18:00")], NY, "2026-10-31T22:00", "2026-11-01T13:00"),
        # Into a spring-forward gap: the 02:30 dose fires at 07:30Z.
        ([daily("02:30")], NY, "2026-03-08T00:00", "2026-03-08T07:30"),
        # Sydney across midnight: 22:00 AEST on 06-10 = 12:00Z; next 08:00 AEST on 06-11 = 06-10 22:00Z.
        ([daily("08:00", "22:00")], SYDNEY, "2026-06-10T12:00", "2026-06-10T22:00"),
        # Across a gap between steps: 03-10 08:00 EDT (12:00Z) -> 03-20 08:00 EDT (12:00Z).
        (GAP_BETWEEN_STEPS, NY, "2026-03-10T12:00", "2026-03-20T12:00"),
        # Before the regimen starts.
        (GAP_BETWEEN_STEPS, NY, "2026-03-05T12:00", "2026-03-09T12:00"),
        # Nothing follows at all, or nothing within 14 days.
        (ENDS_WITHOUT_FOLLOW_UP, NY, "2026-03-10T12:00", None),
        (FAR_GAP, NY, "2026-03-10T12:00", None),
        ([], NY, "2026-03-10T12:00", None),
    ],
)
def test_next_occurrence_is_the_first_dose_strictly_after_an_instant(steps, zone, after, expected):
    found = next_occurrence(steps, zone, Z(after))
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.scheduled_at == Z(expected)


def test_next_occurrence_across_a_gap_carries_the_new_steps_amount():
    found = next_occurrence(GAP_BETWEEN_STEPS, NY, Z("2026-03-10T12:00"))
    assert (found.local_date, found.local_time, found.amount, found.step_id) == (D("2026-03-20"), T("08:00"), 10, 2)


def test_next_occurrence_finds_a_dose_thirteen_days_ahead():
    steps = [
        daily("08:00", start="2026-03-09", end="2026-03-10", step_id=1),
        daily("08:00", start="2026-03-23", step_id=2),  # 13 days after 03-10
    ]
    assert next_occurrence(steps, NY, Z("2026-03-10T12:00")).scheduled_at == Z("2026-03-23T12:00")

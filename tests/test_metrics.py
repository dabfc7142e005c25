"""Adherence metrics, pinned to ../shared/domain.md section 5 with hand-computed fixtures.

The patient lives in America/New_York. DST starts on Sunday 2026-03-08 at 02:00: up to 03-07 the
zone is EST (UTC-5), from 03-08 EDT (UTC-4). A three-times-a-day regimen at 08:00, 13:00, 18:00
local is 13:00Z, 18:00Z, 23:00Z up to 03-07 and 12:00Z, 17:00Z, 22:00Z from 03-08.

Ledgers are written as one word per local day, one letter per scheduled time:

    T taken at the scheduled time        S skipped     M missed     U unknown     P pending
    t taken 45 min after (on time)       L taken 90 min late                      - nothing scheduled

THE FIXTURE (issue 5): 14 days, 2026-03-02 .. 2026-03-15, three times a day, with a 3-day gap,
skipped middays and late doses. Parameters are the defaults (±60 min, holidays ≥ 3 days,
discontinuation ≥ 14 days, cut-off 80 %).

    date   day  zone  08  13  18   taken/prescribed
    03-02  Mon  EST   T   T   T    3/3  correct
    03-03  Tue  EST   T   S   T    2/3
    03-04  Wed  EST   T   T   L    3/3  correct   (18:00 taken 19:30, late)
    03-05  Thu  EST   L   T   T    3/3  correct   (08:00 taken 09:30, late)
    03-06  Fri  EST   T   S   T    2/3
    03-07  Sat  EST   t   T   T    3/3  correct   (08:00 taken 08:45, on time)
    03-08  Sun  EDT   T   T   T    3/3  correct   (the DST day)
    03-09  Mon  EDT   M   M   M    0/3  holiday
    03-10  Tue  EDT   M   S   M    0/3  holiday
    03-11  Wed  EDT   U   M   M    0/3  holiday
    03-12  Thu  EDT   L   S   T    2/3            (08:00 taken 09:30, late)
    03-13  Fri  EDT   T   t   T    3/3  correct   (13:00 taken 13:45, on time)
    03-14  Sat  EDT   T   M   T    2/3
    03-15  Sun  EDT   T   T   T    3/3  correct

Window: the first taken dose is 03-02 08:00, nothing ended, so 03-02 .. 03-15 = 14 days.
Counts:
    taken      = 3+2+3+3+2+3+3 + 0+0+0 + 2+3+2+3 = 29
    late       = 03-04 18:00, 03-05 08:00, 03-12 08:00 = 3, so on time = 29 - 3 = 26
    skipped    = middays of 03-03, 03-06, 03-10, 03-12 = 4
    missed     = 3 (03-09) + 2 (03-10) + 2 (03-11) + 1 (03-14 midday) = 8
    unknown    = 03-11 08:00 = 1
    scheduled  = 29 + 4 + 8 + 1 = 42 (= 14 days x 3), pending 0
Metrics:
    taking adherence     = 29 / 42 = 0.6905  -> below 80 %: not adherent
    timing adherence     = 26 / 42 = 0.6190
    correct dosing days  = 7 / 14 (03-02, 04, 05, 07, 08, 13, 15) = 0.5
    drug holidays        = 1 (03-09 .. 03-11), longest 3 days
    longest gap          = 03-08 18:00 EDT (22:00Z) -> 03-12 09:30 EDT (13:30Z)
                         = 72 h (to 03-11 22:00Z) + 15.5 h = 87.5 h
                           (next longest: a normal night, 18:00 -> 08:00 = 14 h)
    days covered         = supply on 03-01 .. 03-11 and 03-13 .. 03-16 -> in the window
                           03-02 .. 03-11 (10) + 03-13 .. 03-15 (3) = 13 / 14 = 0.9286
    discontinuation      = last intake 03-15, 0 days before the end: not discontinued, not censored
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder.metrics import (
    DEFINITIONS,
    Counts,
    LedgerDose,
    MedicationReport,
    Parameters,
    as_json,
    calendar,
    count,
    definitions,
    medication_report,
)

from builders import Z

NY = ZoneInfo("America/New_York")
TID = ("08:00", "13:00", "18:00")
DAILY = ("08:00",)
CODES = {
    "T": ("taken", 0),
    "t": ("taken", 45),
    "L": ("taken", 90),
    "S": ("skipped", None),
    "M": ("missed", None),
    "U": ("unknown", None),
    "P": ("pending", None),
}


def D(day: int) -> date:
    """A local date in March 2026."""
    return date(2026, 3, day)


def dose(day: date, hhmm: str, status: str, minutes_after: int | None = None) -> LedgerDose:
    """A ledger row due at local ``hhmm`` on ``day``, taken ``minutes_after`` the scheduled time."""
    # Resolved one local day at a time, as the scheduler does: never by adding 24 h (DST).
    scheduled = datetime.combine(day, time.fromisoformat(hhmm), tzinfo=NY).astimezone(UTC)
    taken_at = None if minutes_after is None else scheduled + timedelta(minutes=minutes_after)
    return LedgerDose(scheduled, day, status, taken_at, 5.0)


def ledger(first: date, days: str, times: tuple[str, ...] = TID) -> list[LedgerDose]:
    """The rows of ``days`` (one word a day, see the module docstring) from ``first`` on."""
    rows = []
    for offset, word in enumerate(days.split()):
        if word == "-":
            continue
        for hhmm, letter in zip(times, word, strict=True):
            rows.append(dose(first + timedelta(days=offset), hhmm, *CODES[letter]))
    return rows


SECOND_OF_MARCH = D(2)


def report_of(
    days: str, times=TID, first: date = SECOND_OF_MARCH, last: date | None = None, **kwargs
) -> MedicationReport:
    """The report over the ledger ``days`` from ``first``; the period ends on its last day unless given."""
    last = last or first + timedelta(days=len(days.split()) - 1)
    return medication_report(ledger(first, days, times), first, last, NY, **kwargs)


FIXTURE = "TTT TST TTL LTT TST tTT TTT MMM MSM UMM LST TtT TMT TTT"
COVERED = {D(1) + timedelta(days=n) for n in range(11)} | {D(13), D(14), D(15), D(16)}


@pytest.fixture
def fixture_report() -> MedicationReport:
    return report_of(FIXTURE, covered_days=COVERED)


# ================================================================================================
# The fixture: every metric's value
# ================================================================================================

FIXTURE_EXPECTED = [
    ("reason", None),
    ("window_first_day", D(2)),
    ("window_last_day", D(15)),
    ("days", 14),
    (
        "counts",
        Counts(scheduled=42, taken=29, taken_on_time=26, taken_late=3, skipped=4, missed=8, unknown=1, pending=0),
    ),
    ("taking_adherence", 29 / 42),
    ("timing_adherence", 26 / 42),
    ("dosing_days", 14),
    ("correct_days", 7),
    ("correct_dosing_days", 7 / 14),
    ("drug_holidays", 1),
    ("longest_holiday_days", 3),
    ("longest_gap_hours", 87.5),
    ("days_covered", 13 / 14),
    ("discontinued", False),
    ("discontinued_on", None),
    ("censored", False),
    ("adherent", False),
]


@pytest.mark.parametrize(("metric", "expected"), FIXTURE_EXPECTED, ids=[m for m, _ in FIXTURE_EXPECTED])
def test_the_fourteen_day_fixture_gives_the_hand_computed_value(fixture_report, metric, expected):
    assert getattr(fixture_report, metric) == expected


def test_the_fixture_has_the_hand_computed_rounded_values():
    report = report_of(FIXTURE, covered_days=COVERED)
    assert (round(report.taking_adherence, 4), round(report.timing_adherence, 4), round(report.days_covered, 4)) == (
        0.6905,
        0.619,
        0.9286,
    )


def test_the_adherent_cut_off_is_a_setting():
    # 29 / 42 = 0.6905: not adherent at 80 %, adherent at 65 %.
    assert report_of(FIXTURE, parameters=Parameters(adherent_cutoff=0.65)).adherent is True


def test_the_fixture_calendar_shows_taken_over_prescribed_and_marks_the_holiday():
    taken = [3, 2, 3, 3, 2, 3, 3, 0, 0, 0, 2, 3, 2, 3]
    expected = [{"date": D(2 + n), "taken": taken[n], "prescribed": 3, "holiday": 9 <= 2 + n <= 11} for n in range(14)]
    assert calendar(ledger(D(2), FIXTURE), D(2), D(15)) == expected


def test_the_fixture_as_json_is_json_safe_with_iso_dates_and_four_places():
    data = json.loads(json.dumps(as_json(report_of(FIXTURE, covered_days=COVERED))))
    assert data["window_first_day"] == "2026-03-02"
    assert data["window_last_day"] == "2026-03-15"
    assert data["taking_adherence"] == 0.6905  # 29 / 42 = 0.690476...
    assert data["timing_adherence"] == 0.619  # 26 / 42 = 0.619047...
    assert data["days_covered"] == 0.9286  # 13 / 14 = 0.928571...
    assert data["longest_gap_hours"] == 87.5
    assert data["counts"]["taken_late"] == 3
    assert data["parameters"] == {
        "on_time_minutes": 60,
        "holiday_days": 3,
        "discontinuation_days": 14,
        "adherent_cutoff": 0.8,
    }
    assert data["definitions"] == DEFINITIONS
    assert data["discontinued_on"] is None


# ================================================================================================
# The window: from the first taken dose's local day (ABC initiation)
# ================================================================================================


def test_the_window_starts_on_the_day_of_the_first_taken_dose():
    # 03-02 .. 03-04 all missed (before initiation, not counted); first taken dose 03-05 13:00, so
    # the window is 03-05 .. 03-08 (4 days), 03-05 08:00 missed included: scheduled 4 x 3 = 12,
    # taken 11, missed 1. Taking 11/12; correct days 3/4 (03-05 is 2/3); no holiday.
    # Longest gap: a normal night 18:00 -> 08:00 = 14 h (the DST night 03-07 -> 03-08 is 13 h).
    report = report_of("MMM MMM MMM MTT TTT TTT TTT")
    assert (report.window_first_day, report.window_last_day, report.days) == (D(5), D(8), 4)
    assert report.counts == Counts(scheduled=12, taken=11, taken_on_time=11, missed=1)
    assert report.taking_adherence == 11 / 12
    assert (report.correct_days, report.dosing_days, report.correct_dosing_days) == (3, 4, 0.75)
    assert (report.drug_holidays, report.longest_holiday_days) == (0, 0)
    assert report.longest_gap_hours == 14.0
    assert report.adherent is True


def test_the_calendar_marks_no_holiday_before_the_first_taken_dose():
    cells = calendar(ledger(D(2), "MMM MMM MMM MTT TTT TTT TTT"), D(2), D(8))
    assert [(c["taken"], c["prescribed"], c["holiday"]) for c in cells] == (
        [(0, 3, False)] * 3 + [(2, 3, False)] + [(3, 3, False)] * 3
    )


@pytest.mark.parametrize(
    ("days", "reason", "counts"),
    [
        pytest.param(
            "MMS UMM",
            "no dose was taken in the period",
            Counts(scheduled=6, skipped=1, missed=4, unknown=1),
            id="nothing taken at all",
        ),
        pytest.param("PPP", "no dose was taken in the period", Counts(pending=3), id="only pending doses"),
        pytest.param("- -", "no dose was taken in the period", Counts(), id="nothing scheduled"),
    ],
)
def test_with_no_dose_taken_there_is_no_window_and_the_report_says_why(days, reason, counts):
    report = report_of(days)
    assert report.reason == reason
    assert report.counts == counts  # over the whole period, so the report shows what happened
    assert report.window_first_day is None and report.window_last_day is None
    for metric in (
        "taking_adherence",
        "timing_adherence",
        "correct_dosing_days",
        "drug_holidays",
        "longest_gap_hours",
        "days_covered",
        "discontinued",
        "adherent",
    ):
        assert getattr(report, metric) is None, metric
    assert as_json(report)["taking_adherence"] is None


def test_doses_outside_the_period_are_not_counted():
    # Ledger 03-02 .. 03-06; period 03-03 .. 03-05: only the three middle days count.
    report = medication_report(ledger(D(2), "TTT MMM TST MMM TTT"), D(3), D(5), NY)
    # 03-03 has nothing taken, so the window starts on 03-04: scheduled 6, taken 2, missed 3, skipped 1.
    assert (report.window_first_day, report.window_last_day) == (D(4), D(5))
    assert report.counts == Counts(scheduled=6, taken=2, taken_on_time=2, skipped=1, missed=3)


# ================================================================================================
# Pending doses have no outcome: out of every ratio
# ================================================================================================

PENDING_CASES = [
    # 03-14 all taken; 03-15 08:00 taken, later two pending: scheduled 4 (not 6), taking 4/4;
    # 03-15 is open, so correct days are 1/1.
    pytest.param(
        "TTT TPP",
        Counts(scheduled=4, taken=4, taken_on_time=4, pending=2),
        1.0,
        1.0,
        (1, 1),
        0,
        id="pending doses are not scheduled in the ratios",
    ),
    # 03-14 08:00 missed, 13:00 taken, 18:00 pending: scheduled 2, taken 1; 03-14 open, no day to count.
    pytest.param(
        "MTP",
        Counts(scheduled=2, taken=1, taken_on_time=1, missed=1, pending=1),
        0.5,
        0.5,
        (0, 0),
        0,
        id="a day with a dose still pending is left out of correct dosing days",
    ),
    # 03-14 all taken, 03-15 and 03-16 missed, 03-17 missed then pending: 03-17 is open, so the
    # silent run is 03-15 .. 03-16 = 2 days, not a holiday. Scheduled 3 + 3 + 3 + 1 = 10, taken 3.
    pytest.param(
        "TTT MMM MMM MPP",
        Counts(scheduled=10, taken=3, taken_on_time=3, missed=7, pending=2),
        0.3,
        0.3,
        (1, 3),
        0,
        id="an open day is not part of a drug holiday",
    ),
]


@pytest.mark.parametrize(("days", "counts", "taking", "timing", "correct_of_dosing", "holidays"), PENDING_CASES)
def test_pending_doses_are_left_out_of_every_ratio(days, counts, taking, timing, correct_of_dosing, holidays):
    report = report_of(days, first=D(14))
    assert report.counts == counts
    assert (report.taking_adherence, report.timing_adherence) == (taking, timing)
    assert (report.correct_days, report.dosing_days) == correct_of_dosing
    assert report.drug_holidays == holidays


# ================================================================================================
# Timing: ±on_time_minutes, both ends included
# ================================================================================================


@pytest.mark.parametrize(
    ("minutes_after", "parameters", "on_time"),
    [
        pytest.param(0, Parameters(), True, id="at the scheduled time"),
        pytest.param(60, Parameters(), True, id="exactly 60 minutes late is on time"),
        pytest.param(-60, Parameters(), True, id="exactly 60 minutes early is on time"),
        pytest.param(61, Parameters(), False, id="61 minutes late is late"),
        pytest.param(-61, Parameters(), False, id="61 minutes early is outside the window"),
        pytest.param(90, Parameters(on_time_minutes=90), True, id="the window is a setting"),
        pytest.param(91, Parameters(on_time_minutes=90), False, id="past a wider window is late"),
    ],
)
def test_a_dose_is_on_time_within_the_window_both_ends_included(minutes_after, parameters, on_time):
    # 2026-03-10 08:00 EDT = 12:00Z.
    row = dose(D(10), "08:00", "taken", minutes_after)
    assert row.scheduled_at == Z("2026-03-10T12:00")
    report = medication_report([row], D(10), D(10), NY, parameters)
    assert (report.counts.taken_on_time, report.counts.taken_late) == ((1, 0) if on_time else (0, 1))
    assert report.timing_adherence == (1.0 if on_time else 0.0)
    assert report.taking_adherence == 1.0


def test_count_alone_counts_outcomes():
    rows = ledger(D(10), "TLS MUP")
    assert count(rows) == Counts(
        scheduled=5, taken=2, taken_on_time=1, taken_late=1, skipped=1, missed=1, unknown=1, pending=1
    )


# ================================================================================================
# Drug holidays: runs of ≥ holiday_days local days with doses scheduled and none taken
# ================================================================================================

HOLIDAY_CASES = [
    # Once a day at 08:00 from 03-02; the window runs to the last day (no discontinuation).
    pytest.param("T M M T", Parameters(), 0, 0, id="a 2-day gap is not a holiday"),
    pytest.param("T M M M T", Parameters(), 1, 3, id="a 3-day gap is a holiday"),
    pytest.param("T M M M M T M M M T", Parameters(), 2, 4, id="two holidays, the longest 4 days"),
    pytest.param("T S U M T", Parameters(), 1, 3, id="skipped and unknown days count as nothing taken"),
    # Issue 10 section 6: measured on scheduled days, so a Mon/Wed/Fri medication left alone shows
    # its holiday; a day with nothing scheduled neither starts nor ends a run.
    pytest.param("T M - M T", Parameters(), 1, 3, id="a day with nothing scheduled inside a run counts towards it"),
    pytest.param("T - M - T", Parameters(), 0, 0, id="one missed dose between unscheduled days is not a holiday"),
    pytest.param("T - - M T", Parameters(), 0, 0, id="unscheduled days before a miss do not join the run"),
    # Mon/Wed/Fri from Mon 03-02, left from Wed 03-04 to Wed 03-11: one holiday of 8 days.
    pytest.param("T - M - M - - M - M - T", Parameters(), 1, 8, id="a Mon/Wed/Fri medication left 10 days"),
    pytest.param("T T M M M", Parameters(), 1, 3, id="a silence up to the end of the period is a holiday"),
    pytest.param("T M M T", Parameters(holiday_days=2), 1, 2, id="the holiday length is a setting"),
]


@pytest.mark.parametrize(("days", "parameters", "count_", "longest"), HOLIDAY_CASES)
def test_drug_holidays_are_runs_of_days_with_nothing_taken(days, parameters, count_, longest):
    report = report_of(days, DAILY, parameters=parameters)
    assert (report.drug_holidays, report.longest_holiday_days) == (count_, longest)
    assert report.discontinued is False


def test_a_day_with_one_dose_taken_is_not_a_holiday_day():
    # Three times a day, 03-03 .. 03-05 each with one dose taken: no holiday, correct days 1/4.
    report = report_of("TTT TMM MTM MMT")
    assert (report.drug_holidays, report.correct_days, report.dosing_days) == (0, 1, 4)


# ================================================================================================
# Longest gap: between consecutive intakes, in real hours
# ================================================================================================


@pytest.mark.parametrize(
    ("days", "first", "hours"),
    [
        # 03-02 08:00 EST (13:00Z), 09:30 late (14:30Z) on 03-03: 24 h + 1.5 h.
        pytest.param("T L", D(2), 25.5, id="from one intake to the next"),
        pytest.param("T", D(2), None, id="one intake has no gap"),
        # 03-07 13:00 EST (18:00Z) -> 03-08 08:00 EDT (12:00Z): 18 h, though the wall clock says 19 h.
        pytest.param("TTT TTS TTT TTT", D(6), 18.0, id="a gap across the DST change is real time"),
    ],
)
def test_the_longest_gap_is_the_longest_time_between_two_intakes(days, first, hours):
    times = DAILY if len(days.split()[0]) == 1 else TID
    assert report_of(days, times, first=first).longest_gap_hours == hours


def test_the_longest_gap_orders_intakes_by_their_time_not_their_schedule():
    # 03-10 08:00 taken 10:30 (late, 14:30Z), 13:00 taken at 12:30 (16:30Z), 18:00 at 18:00 (22:00Z):
    # intakes 14:30Z, 16:30Z, 22:00Z -> gaps 2 h and 5.5 h.
    rows = [dose(D(10), "08:00", "taken", 150), dose(D(10), "13:00", "taken", -30), dose(D(10), "18:00", "taken", 0)]
    assert medication_report(rows, D(10), D(10), NY).longest_gap_hours == 5.5


# ================================================================================================
# Days covered (PDC-style): only where refills are recorded
# ================================================================================================


@pytest.mark.parametrize(
    ("covered", "expected"),
    [
        pytest.param(None, None, id="without refills recorded it is not computed"),
        pytest.param(set(), 0.0, id="refills recorded but nothing on hand"),
        # Window 03-02 .. 03-08 (7 days); on hand 03-04 .. 03-08 = 5.
        pytest.param({D(n) for n in range(4, 9)}, 5 / 7, id="days with supply over days in the window"),
        # 02-28 and 03-09 .. 03-10 are outside the window and do not count: 03-02 .. 03-08 = 7/7.
        pytest.param({date(2026, 2, 28)} | {D(n) for n in range(2, 11)}, 1.0, id="days outside the window are ignored"),
    ],
)
def test_days_covered_is_supply_days_over_window_days(covered, expected):
    report = report_of("T T T T T T T", DAILY, covered_days=covered)
    assert report.days == 7
    assert report.days_covered == expected


def test_days_covered_uses_the_window_not_the_period():
    # Period 03-02 .. 03-08, first taken 03-05: window 03-05 .. 03-08 (4 days), covered 03-05, 03-06.
    report = report_of("M M M T T T T", DAILY, covered_days={D(2), D(3), D(5), D(6)})
    assert report.days_covered == 2 / 4


# ================================================================================================
# Discontinuation and censoring (ABC persistence)
# ================================================================================================

DISCONTINUATION_CASES = [
    # Once a day at 08:00, period 03-02 .. 03-25 (24 days).
    # Taken 03-02 .. 03-10 (9), missed 03-11 .. 03-25 (15): 25 - 10 = 15 days silent >= 14.
    # The window ends on 03-10: taking 9/9, no holiday (the silence is non-persistence).
    pytest.param(
        "T" * 9 + "M" * 15, Parameters(), True, D(10), D(10), 1.0, 0, id="15 days without a dose is a discontinuation"
    ),
    # Taken 03-02 .. 03-11 (10), then 14 missed: 25 - 11 = 14 days, the boundary, discontinued.
    pytest.param(
        "T" * 10 + "M" * 14,
        Parameters(),
        True,
        D(11),
        D(11),
        1.0,
        0,
        id="exactly 14 days without a dose is a discontinuation",
    ),
    # Taken 03-02 .. 03-12 (11), then 13 missed: 13 < 14, so the window runs to 03-25:
    # taking 11/24, one holiday of 13 days.
    pytest.param(
        "T" * 11 + "M" * 13,
        Parameters(),
        False,
        None,
        D(25),
        11 / 24,
        1,
        id="13 days without a dose is a long holiday, not a discontinuation",
    ),
    pytest.param(
        "T" * 11 + "M" * 13,
        Parameters(discontinuation_days=7),
        True,
        D(12),
        D(12),
        1.0,
        0,
        id="the permissible gap is a setting",
    ),
]


@pytest.mark.parametrize(
    ("letters", "parameters", "discontinued", "on", "window_last", "taking", "holidays"), DISCONTINUATION_CASES
)
def test_no_dose_for_the_permissible_gap_is_a_discontinuation(
    letters, parameters, discontinued, on, window_last, taking, holidays
):
    report = report_of(" ".join(letters), DAILY, parameters=parameters)
    assert (report.discontinued, report.discontinued_on, report.censored) == (discontinued, on, False)
    assert (report.window_first_day, report.window_last_day) == (D(2), window_last)
    assert report.taking_adherence == taking
    assert report.drug_holidays == holidays


def test_the_silence_is_counted_from_the_local_day_of_the_last_intake():
    # The 23:30 dose of 03-11 (03-12 03:30Z) taken 45 min late, at 00:15 EDT on 03-12: the last
    # intake's local day is 03-12, so 25 - 12 = 13 days silent (not 14 from its due day): no stop.
    rows = ledger(D(2), " ".join("T" * 10), ("23:30",)) + [dose(D(12), "23:30", "missed")]
    rows += [dose(D(n), "23:30", "missed") for n in range(13, 26)]
    rows[9] = dose(D(11), "23:30", "taken", 45)
    assert rows[9].taken_at == Z("2026-03-12T04:15")
    report = medication_report(rows, D(2), D(25), NY)
    assert (report.discontinued, report.window_last_day) == (False, D(25))


ENDING_CASES = [
    # Taken once a day 03-02 .. 03-10, ended 03-10, period 03-02 .. 03-31.
    pytest.param("T" * 9, D(10), True, D(31), True, True, D(10), D(10), id="a clinician-ordered stop is censored"),
    pytest.param(
        "T" * 9,
        D(10),
        False,
        D(31),
        True,
        False,
        D(10),
        D(10),
        id="a stop the patient reports is a discontinuation, not censored",
    ),
    # Rows generated after the stop (03-11 .. 03-15, missed) are not counted: taking stays 9/9.
    pytest.param(
        "T" * 9 + "M" * 5, D(10), True, D(31), True, True, D(10), D(10), id="doses after the stop are not counted"
    ),
    # Taken 03-02 .. 03-03, missed 03-04 .. 03-20, the clinician stops on 03-20: the patient had
    # been silent 20 - 3 = 17 days >= 14 before it, so the patient discontinued first.
    pytest.param(
        "TT" + "M" * 17,
        D(20),
        True,
        D(31),
        True,
        False,
        D(3),
        D(3),
        id="a patient who stopped first is not censored by a later clinician stop",
    ),
    # The period ends 03-08, before the stop on 03-10: not ended within the period.
    pytest.param("T" * 9, D(10), True, D(8), False, False, None, D(8), id="a stop after the period is ignored"),
]


@pytest.mark.parametrize(
    ("letters", "ended_on", "by_clinician", "last", "discontinued", "censored", "on", "window_last"), ENDING_CASES
)
def test_an_ended_medication_is_discontinued_and_a_clinician_stop_is_censored(
    letters, ended_on, by_clinician, last, discontinued, censored, on, window_last
):
    report = report_of(" ".join(letters), DAILY, last=last, ended_on=ended_on, ended_by_clinician=by_clinician)
    assert (report.discontinued, report.censored, report.discontinued_on) == (discontinued, censored, on)
    assert report.window_last_day == window_last
    if letters.startswith("T" * 9):
        assert report.taking_adherence == 1.0


def test_a_medication_ended_before_the_period_has_no_window():
    report = report_of("T T T", DAILY, first=D(10), ended_on=D(5), ended_by_clinician=True)
    assert report.reason == "the medication ended before the period"
    assert report.taking_adherence is None


def test_a_clinician_stop_needs_its_date():
    with pytest.raises(ValueError, match="ended_on"):
        report_of("T", DAILY, ended_by_clinician=True)


# ================================================================================================
# DST and local days
# ================================================================================================


def test_the_dst_week_counts_local_days_not_utc_days():
    # Three times a day 03-06 .. 03-10, all on time, across the spring-forward night of 03-08.
    report = report_of("TTT TTT TTT TTT TTT", first=D(6))
    assert (report.days, report.dosing_days, report.correct_days, report.counts.scheduled) == (5, 5, 5, 15)
    # A normal night is 14 h; 03-07 18:00 EST (23:00Z) -> 03-08 08:00 EDT (12:00Z) is only 13 h.
    assert report.longest_gap_hours == 14.0
    assert [c["date"] for c in calendar(ledger(D(6), "TTT TTT TTT TTT TTT"), D(6), D(10))] == [
        D(n) for n in range(6, 11)
    ]


def test_a_late_evening_dose_counts_on_its_local_day_across_dst():
    # 23:30 local is the next UTC date: 03-07 23:30 EST = 03-08 04:30Z, 03-08 23:30 EDT = 03-09 03:30Z.
    rows = ledger(D(6), "T T T T T", ("23:30",))
    assert (rows[1].scheduled_at, rows[2].scheduled_at) == (Z("2026-03-08T04:30"), Z("2026-03-09T03:30"))
    report = medication_report(rows, D(6), D(10), NY)
    # By UTC date 03-06 would be empty and 03-11 would hold a dose; by local date each day has 1/1.
    assert (report.days, report.correct_days, report.dosing_days) == (5, 5, 5)
    # Intakes 24 h apart, except 03-07 -> 03-08 (04:30Z -> 03:30Z the next day): 23 h.
    assert report.longest_gap_hours == 24.0
    assert medication_report(rows[1:3], D(7), D(8), NY).longest_gap_hours == 23.0
    cells = calendar(rows, D(6), D(10))
    assert [(c["date"], c["taken"], c["prescribed"]) for c in cells] == [(D(n), 1, 1) for n in range(6, 11)]


# ================================================================================================
# Definitions, parameters and inputs
# ================================================================================================


def test_every_metric_has_a_definition_with_its_parameters_filled_in():
    assert set(DEFINITIONS) >= {
        "taking_adherence",
        "timing_adherence",
        "correct_dosing_days",
        "drug_holidays",
        "longest_gap_hours",
        "days_covered",
        "discontinued",
        "adherent",
    }
    assert DEFINITIONS["taking_adherence"].startswith(
        "Taking adherence: doses taken ÷ doses scheduled, between the first taken dose and the end of the period"
    )
    assert "±60 min" in DEFINITIONS["timing_adherence"]
    assert "≥ 3 consecutive local days" in DEFINITIONS["drug_holidays"]
    assert "≥ 14 days" in DEFINITIONS["discontinued"]
    assert "≥ 80%" in DEFINITIONS["adherent"]


def test_the_definitions_follow_the_parameters():
    parameters = Parameters(on_time_minutes=120, holiday_days=4, discontinuation_days=30, adherent_cutoff=0.875)
    text = definitions(parameters)
    assert "±120 min" in text["timing_adherence"]
    assert "≥ 4 consecutive" in text["drug_holidays"]
    assert "≥ 30 days" in text["discontinued"]
    assert "≥ 87.5%" in text["adherent"]
    assert report_of("T", DAILY, parameters=parameters).definitions == text


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"on_time_minutes": -1}, "on_time_minutes"),
        ({"holiday_days": 0}, "holiday_days"),
        ({"discontinuation_days": 0}, "discontinuation_days"),
        ({"adherent_cutoff": 80}, "adherent_cutoff"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(changes, name):
    with pytest.raises(ValueError, match=name):
        Parameters(**changes)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"status": "done"}, "status"),
        ({"scheduled_at": datetime(2026, 3, 10, 12)}, "naive"),
        ({"taken_at": None}, "taken_at"),
    ],
)
def test_a_malformed_ledger_row_is_refused(values, message):
    row = dict(
        scheduled_at=Z("2026-03-10T12:00"), local_date=D(10), status="taken", taken_at=Z("2026-03-10T12:05"), amount=5.0
    )
    row.update(values)
    with pytest.raises(ValueError, match=message):
        LedgerDose(**row)


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="first_day"):
        medication_report([], D(10), D(9), NY)

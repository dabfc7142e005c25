"""Adherence metrics for the clinician's report: pure functions of one medication's dose ledger.

No database and no clock: the report view loads the ledger rows for a period and calls
``medication_report``; the heatmap calls ``calendar``; the API returns ``as_json``. Definitions
and defaults are ``../shared/domain.md`` section 5; the sources and the choices they leave open
are ``../shared/notes/adherence-standards.md`` sections 1.2 and 2.

Following the ABC taxonomy (Vrijens et al. 2012), the metrics describe *implementation*: they are
computed over a window from the local day of the first taken dose (initiation) to the end of the
period, or to the discontinuation when that comes first. Otherwise a patient who stopped in week
two would show up as "40 % adherent" for the month, mixing persistence into implementation.

Days are the patient's local dates. A dose belongs to the local day it was scheduled for (the
ledger's ``local_date``), so a 23:30 dose taken at 00:15 counts on the day it was due; never the
UTC date, which differs from the local date every evening. Instants are compared in UTC, so a
gap across a DST change is the real time elapsed (18:00 EST to 08:00 EDT is 13 h, not 14 h).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

STATUSES = ("pending", "taken", "skipped", "missed", "unknown")


@dataclass(frozen=True)
class LedgerDose:
    """One ledger row: when it was due (UTC, aware), its local day, its outcome and, if taken,
    the reported intake time (UTC, aware)."""

    scheduled_at: datetime
    local_date: date
    status: str
    taken_at: datetime | None
    amount: float

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.scheduled_at.tzinfo is None or (self.taken_at is not None and self.taken_at.tzinfo is None):
            raise ValueError("naive datetime: scheduled_at and taken_at must carry their offset")
        if self.status == "taken" and self.taken_at is None:
            raise ValueError("a taken dose needs its taken_at")


@dataclass(frozen=True)
class Parameters:
    """The metric parameters, shown with every report (EMERGE asks for them). Defaults:
    domain.md section 5. The 80 % cut-off is a convention (PQA, MEMS literature), not a constant."""

    on_time_minutes: int = 60
    holiday_days: int = 3
    discontinuation_days: int = 14
    adherent_cutoff: float = 0.8

    def __post_init__(self) -> None:
        for name, low in (("on_time_minutes", 0), ("holiday_days", 1), ("discontinuation_days", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ValueError(f"{name} must be a whole number of at least {low}")
        if not 0 <= self.adherent_cutoff <= 1:
            raise ValueError("adherent_cutoff must be between 0 and 1")


@dataclass(frozen=True)
class Counts:
    """Dose outcomes. ``scheduled`` counts the closed doses only (taken, skipped, missed and
    unknown): a pending dose has no outcome yet, so it is counted apart and left out of every
    ratio. ``taken_late`` is every taken dose outside ±on_time_minutes (the missed-dose rule
    refuses intakes earlier than that, so in practice they are late)."""

    scheduled: int = 0
    taken: int = 0
    taken_on_time: int = 0
    taken_late: int = 0
    skipped: int = 0
    missed: int = 0
    unknown: int = 0
    pending: int = 0


@dataclass(frozen=True)
class MedicationReport:
    """The metrics of one medication over one period. Ratios are 0..1; ``None`` means not
    computed, and ``reason`` says why when nothing could be computed. ``days`` is the window's
    length in local days; ``dosing_days`` and ``correct_days`` are the correct-dosing-days
    denominator and numerator (the report shows denominators)."""

    first_day: date
    last_day: date
    parameters: Parameters
    counts: Counts
    definitions: dict[str, str]
    reason: str | None = None
    window_first_day: date | None = None
    window_last_day: date | None = None
    days: int | None = None
    taking_adherence: float | None = None
    timing_adherence: float | None = None
    correct_dosing_days: float | None = None
    dosing_days: int | None = None
    correct_days: int | None = None
    drug_holidays: int | None = None
    longest_holiday_days: int | None = None
    longest_gap_hours: float | None = None
    days_covered: float | None = None
    discontinued: bool | None = None
    discontinued_on: date | None = None
    censored: bool = False
    adherent: bool | None = None


def definitions(p: Parameters) -> dict[str, str]:
    """Metric name (as in ``MedicationReport``) -> a one-line definition with ``p`` filled in."""
    cutoff = f"{p.adherent_cutoff * 100:g}%"
    return {
        "window": "Window: from the local day of the first taken dose to the end of the period, or to the "
        "discontinuation if earlier (ABC taxonomy: implementation)",
        "counts": "Counts: doses in the window by outcome; pending doses (no outcome yet) are counted apart "
        "and left out of every ratio",
        "taking_adherence": "Taking adherence: doses taken ÷ doses scheduled, between the first taken dose "
        "and the end of the period",
        "timing_adherence": f"Timing adherence: doses taken within ±{p.on_time_minutes} min of the scheduled "
        "time ÷ doses scheduled",
        "correct_dosing_days": "Correct dosing days: local days with every scheduled dose taken ÷ local days "
        "with doses scheduled (a day with a dose still pending is left out)",
        "drug_holidays": f"Drug holidays: runs of ≥ {p.holiday_days} consecutive local days with doses "
        "scheduled and none taken, measured on scheduled days: a day with nothing scheduled inside such "
        "a run counts towards it (count, and the longest in days)",
        "longest_gap_hours": "Longest gap: the longest time between two consecutive taken doses, in hours",
        "days_covered": "Days covered (PDC-style): local days with supply on hand ÷ days in the window, "
        "only where refills are recorded",
        "discontinued": f"Discontinuation: no dose taken for ≥ {p.discontinuation_days} days before the end "
        "of the period, or the medication ended; a clinician-ordered stop is censored, not "
        "counted as non-persistence",
        "adherent": f"Adherent: taking adherence ≥ {cutoff} (a convention: the reports.adherent_cutoff setting)",
    }


DEFINITIONS = definitions(Parameters())


def medication_report(
    doses: list[LedgerDose],
    first_day: date,
    last_day: date,
    tz: ZoneInfo,
    parameters: Parameters = Parameters(),
    *,
    ended_on: date | None = None,
    ended_by_clinician: bool = False,
    covered_days: set[date] | None = None,
) -> MedicationReport:
    """The metrics of one medication's ``doses`` over the local days ``first_day``..``last_day``
    (both included) for a patient in ``tz``; see ``definitions`` for each metric.

    - ``ended_on``: the medication's last day, if it ended; doses after it are not counted. An end
      after ``last_day`` is outside the period and ignored. ``ended_by_clinician`` marks a
      clinician-ordered stop: discontinued but censored, not non-persistence.
    - Discontinuation by gap: no dose taken (by intake time, local day in ``tz``) for at least
      ``discontinuation_days`` days up to the end of the period (or ``ended_on``). It is the
      patient's, so it wins over a later clinician stop. The window then ends on the day of the
      last intake: the silence after it is non-persistence, not a drug holiday.
    - ``covered_days``: the local days with supply on hand; ``None`` (no refills recorded) leaves
      ``days_covered`` uncomputed.
    - Pending doses are left out of ``scheduled`` in every ratio; a local day with a dose still
      pending is left out of correct dosing days and is never part of a drug holiday.
    - With no dose taken in the period there is no window: the metrics are ``None``, ``reason``
      says so and the counts cover the whole period. ``longest_gap_hours`` needs two taken doses.
    """
    if first_day > last_day:
        raise ValueError("first_day is after last_day")
    if ended_by_clinician and ended_on is None:
        raise ValueError("a clinician-ordered stop needs its ended_on")
    ended = ended_on is not None and ended_on <= last_day
    end = ended_on if ended else last_day
    observed = [d for d in doses if first_day <= d.local_date <= end]
    base = dict(first_day=first_day, last_day=last_day, parameters=parameters, definitions=definitions(parameters))
    taken = [d for d in observed if d.status == "taken"]
    if not taken:
        reason = "the medication ended before the period" if end < first_day else "no dose was taken in the period"
        return MedicationReport(counts=count(observed, parameters), reason=reason, **base)

    start = min(d.local_date for d in taken)
    discontinued_on, censored = _discontinuation(taken, end, ended, ended_by_clinician, tz, parameters)
    window_end = discontinued_on or end
    window = [d for d in observed if start <= d.local_date <= window_end]
    metrics = _implementation(window, start, window_end, parameters, covered_days)
    return MedicationReport(
        **base,
        **metrics,
        window_first_day=start,
        window_last_day=window_end,
        discontinued=discontinued_on is not None,
        discontinued_on=discontinued_on,
        censored=censored,
    )


def _discontinuation(
    taken: list[LedgerDose], end: date, ended: bool, by_clinician: bool, tz: ZoneInfo, p: Parameters
) -> tuple[date | None, bool]:
    """The last day of therapy, or None while the patient persists; and whether it is censored.
    The patient's silence comes first: a clinician who stops a drug the patient had already
    stopped does not turn that non-persistence into a censored observation."""
    # The last local day touched by a taken dose: its due day, or its intake day if later.
    last_taken = max(max(d.local_date, d.taken_at.astimezone(tz).date()) for d in taken)
    if (end - last_taken).days >= p.discontinuation_days:
        return last_taken, False
    if ended:
        return end, by_clinician
    return None, False


def count(doses: list[LedgerDose], parameters: Parameters = Parameters()) -> Counts:
    """The outcome counts of ``doses`` (see ``Counts``); on time is inclusive (exactly
    ±on_time_minutes is on time)."""
    on_time = timedelta(minutes=parameters.on_time_minutes)
    by_status = {status: sum(d.status == status for d in doses) for status in STATUSES}
    punctual = sum(d.status == "taken" and abs(d.taken_at - d.scheduled_at) <= on_time for d in doses)
    return Counts(
        scheduled=len(doses) - by_status["pending"],
        taken=by_status["taken"],
        taken_on_time=punctual,
        taken_late=by_status["taken"] - punctual,
        skipped=by_status["skipped"],
        missed=by_status["missed"],
        unknown=by_status["unknown"],
        pending=by_status["pending"],
    )


def _implementation(
    window: list[LedgerDose], start: date, end: date, p: Parameters, covered_days: set[date] | None
) -> dict:
    counts = count(window, p)
    days = _days(start, end)
    by_day = _by_day(window)
    dosing = [day for day in days if by_day.get(day) and all(d.status != "pending" for d in by_day[day])]
    correct = [day for day in dosing if all(d.status == "taken" for d in by_day[day])]
    holidays = _holidays(days, by_day, p.holiday_days)
    taking = _ratio(counts.taken, counts.scheduled)
    return dict(
        counts=counts,
        days=len(days),
        taking_adherence=taking,
        timing_adherence=_ratio(counts.taken_on_time, counts.scheduled),
        dosing_days=len(dosing),
        correct_days=len(correct),
        correct_dosing_days=_ratio(len(correct), len(dosing)),
        drug_holidays=len(holidays),
        longest_holiday_days=max((len(run) for run in holidays), default=0),
        longest_gap_hours=_longest_gap_hours(window),
        days_covered=None if covered_days is None else len(set(days) & set(covered_days)) / len(days),
        adherent=None if taking is None else taking >= p.adherent_cutoff,
    )


def calendar(
    doses: list[LedgerDose], first_day: date, last_day: date, parameters: Parameters = Parameters()
) -> list[dict]:
    """One cell per local day from ``first_day`` to ``last_day``, for the heatmap:
    ``{"date", "taken", "prescribed", "holiday"}``. ``prescribed`` counts every dose scheduled
    that day, pending included (today shows 1/3 before its later doses are due). ``holiday``
    marks the days of drug-holiday runs from the first taken dose on (before it the patient had
    not started, which is not a holiday); unlike the report, it also marks a silence that the
    report counts as a discontinuation, so the heatmap shows it."""
    days = _days(first_day, last_day)
    by_day = _by_day([d for d in doses if first_day <= d.local_date <= last_day])
    first_taken = min((day for day in days if _taken(by_day.get(day, []))), default=None)
    started = [day for day in days if first_taken is not None and day >= first_taken]
    holiday = {day for run in _holidays(started, by_day, parameters.holiday_days) for day in run}
    return [
        {
            "date": day,
            "taken": _taken(by_day.get(day, [])),
            "prescribed": len(by_day.get(day, [])),
            "holiday": day in holiday,
        }
        for day in days
    ]


def as_json(report: MedicationReport) -> dict:
    """``report`` as JSON-safe values: dates as ISO text, floats rounded to 4 places, the
    parameters and the counts as objects, the definitions as text."""
    return {f.name: _jsonable(getattr(report, f.name)) for f in fields(report)}


def _jsonable(value):
    if isinstance(value, (Parameters, Counts)):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value


def _holidays(days: list[date], by_day: dict[date, list[LedgerDose]], min_days: int) -> list[list[date]]:
    """Runs of consecutive scheduled days, each with closed doses and none taken, that span at
    least ``min_days`` calendar days (first to last, inclusive).

    Measured on scheduled days: a day with nothing scheduled inside a run belongs to it (a
    Mon/Wed/Fri medication untouched from Monday to Wednesday is 3 days without it), but neither
    starts nor ends one; a taken dose or a dose still pending ends a run."""
    runs, run, between = [], [], []
    for day in days + [None]:
        doses = by_day.get(day, [])
        if day is not None and not doses:
            between.append(day)  # part of the run only if another missed scheduled day follows
            continue
        if day is not None and not _taken(doses) and all(d.status != "pending" for d in doses):
            run += [*between, day] if run else [day]
            between = []
            continue
        if len(run) >= min_days:
            runs.append(run)
        run, between = [], []
    return runs


def _longest_gap_hours(doses: list[LedgerDose]) -> float | None:
    intakes = sorted(d.taken_at for d in doses if d.status == "taken")
    gaps = [later - earlier for earlier, later in zip(intakes, intakes[1:], strict=False)]
    return max(gaps).total_seconds() / 3600 if gaps else None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _by_day(doses: list[LedgerDose]) -> dict[date, list[LedgerDose]]:
    by_day: dict[date, list[LedgerDose]] = {}
    for dose in doses:
        by_day.setdefault(dose.local_date, []).append(dose)
    return by_day


def _taken(doses: list[LedgerDose]) -> int:
    return sum(d.status == "taken" for d in doses)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None

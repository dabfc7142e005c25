"""Regimen steps to scheduled instants: pure functions, no database.

A regimen is a sequence of steps; each step has a date range, local times of day, optional
days of the week and an amount per dose. Times are wall-clock times in the patient's zone and
are resolved to UTC one local day at a time, never by adding 24 h to an instant: across a DST
change 08:00 + 24 h is 09:00.

DST (RFC 5545 section 3.3.5, and ``zoneinfo`` with ``fold=0``):
- a time inside a spring-forward gap fires at the offset in force before the gap, so 02:30
  becomes 03:30;
- a time repeated at fall-back fires once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .times import UTC, clock_label

# A medication whose steps leave a gap of more than this has no "next dose" for the rule.
NEXT_DOSE_SEARCH_DAYS = 14
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def days_words(days, every_days: int | None = None) -> str:
    """How a step's dosing days read: "every day", "Mon, Wed, Fri", "every 2 days" (never "on 0")."""
    if every_days and every_days > 1:
        return "every other day" if every_days == 2 else f"every {every_days} days"
    if not days or len(set(days)) == 7:
        return "every day"
    return ", ".join(DAY_NAMES[day] for day in sorted(set(days)))


def average_daily(amount: float, times: list, days=None, every_days: int | None = None) -> float:
    """The amount a day averaged over the schedule's cycle: 10 mg every other day is 5 mg a day,
    20 mg on Mon, Wed and Fri is 60/7. A plan's rises and cuts are judged on this (what the body
    gets over a week), so dosing more often at a lower amount is never read as a cut."""
    share = len(days) / 7 if days else 1 / (every_days or 1)
    return (amount or 0) * len(times) * share


def next_dose_words(instant: datetime, reference: date, tz: ZoneInfo) -> str:
    """A next dose's local time, with its day when that is not ``reference`` (the patient's
    today): "8:00 AM", "8:00 AM tomorrow", "8:00 AM on Mon 9 Mar"."""
    local = instant.astimezone(tz)
    label = clock_label(local.time())
    if local.date() == reference:
        return label
    if local.date() == reference + timedelta(days=1):
        return f"{label} tomorrow"
    return f"{label} on {local:%a} {local.day} {local:%b}"


@dataclass(frozen=True)
class Step:
    """One regimen step. ``end_date`` is inclusive; ``days`` uses 0 = Monday, None = every day;
    ``every_days`` (2 = every other day) counts local calendar days from ``start_date``."""

    id: int | None
    start_date: date
    end_date: date | None
    times: tuple[time, ...]
    amount: float
    days: frozenset[int] | None = None
    every_days: int | None = None

    def covers(self, day: date) -> bool:
        if day < self.start_date or (self.end_date is not None and day > self.end_date):
            return False
        if self.every_days and (day - self.start_date).days % self.every_days:
            return False  # calendar days, not 24 h periods: a DST change moves no dose day
        return self.days is None or day.weekday() in self.days


@dataclass(frozen=True)
class Occurrence:
    """A scheduled dose: the local day and time it was planned for, and its UTC instant."""

    local_date: date
    local_time: time
    scheduled_at: datetime  # UTC
    amount: float
    step_id: int | None


def resolve(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local ``day`` ``at`` in ``tz``.

    ``fold=0`` picks the first of two repeated times and, for a time in a gap, the offset from
    before the gap; converting through UTC normalises the gap time forward (02:30 -> 03:30).
    """
    return datetime.combine(day, at, tzinfo=tz).replace(fold=0).astimezone(UTC)


def step_for(steps: list[Step], day: date) -> Step | None:
    """The step in force on ``day``: the latest-starting step that covers it (newest on a tie)."""
    covering = [step for step in steps if step.covers(day)]
    return max(covering, key=lambda step: (step.start_date, step.id or 0)) if covering else None


def occurrences_on(steps: list[Step], day: date, tz: ZoneInfo) -> list[Occurrence]:
    """The doses of local ``day``, in time order, one per distinct instant."""
    step = step_for(steps, day)
    if step is None:
        return []
    found: dict[datetime, Occurrence] = {}
    for at in sorted(step.times):
        instant = resolve(day, at, tz)
        # Two times can meet in a gap (02:30 and 03:30 both become 03:30): keep the first, so
        # the patient is never prompted for two doses at once.
        found.setdefault(instant, Occurrence(day, at, instant, step.amount, step.id))
    return sorted(found.values(), key=lambda occurrence: occurrence.scheduled_at)


def occurrences_between(steps: list[Step], tz: ZoneInfo, start: datetime, end: datetime) -> list[Occurrence]:
    """Every dose with ``start <= scheduled_at < end`` (both UTC instants)."""
    first_day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date() + timedelta(days=1)
    result = []
    day = first_day
    while day <= last_day:
        result.extend(o for o in occurrences_on(steps, day, tz) if start <= o.scheduled_at < end)
        day += timedelta(days=1)
    return result


def previous_occurrence(steps: list[Step], tz: ZoneInfo, before: datetime) -> Occurrence | None:
    """The last dose strictly before ``before``, looking at most two weeks back."""
    day = before.astimezone(tz).date()
    for _ in range(NEXT_DOSE_SEARCH_DAYS + 1):
        for occurrence in reversed(occurrences_on(steps, day, tz)):
            if occurrence.scheduled_at < before:
                return occurrence
        day -= timedelta(days=1)
    return None


def regimen_interval(steps: list[Step], tz: ZoneInfo, at: datetime) -> timedelta | None:
    """The shorter gap from ``at`` to its scheduled neighbours under ``steps``, if it has any."""
    gaps = []
    before, after = previous_occurrence(steps, tz, at), next_occurrence(steps, tz, at)
    if before is not None:
        gaps.append(at - before.scheduled_at)
    if after is not None:
        gaps.append(after.scheduled_at - at)
    return min(gaps) if gaps else None


def next_occurrence(steps: list[Step], tz: ZoneInfo, after: datetime) -> Occurrence | None:
    """The first dose strictly after ``after``, looking at most two weeks ahead."""
    day = after.astimezone(tz).date()
    for _ in range(NEXT_DOSE_SEARCH_DAYS + 1):
        for occurrence in occurrences_on(steps, day, tz):
            if occurrence.scheduled_at > after:
                return occurrence
        day += timedelta(days=1)
    return None

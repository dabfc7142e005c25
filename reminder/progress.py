"""A patient's own view of how they are doing (issue 14 §2): this week, this month and their
streak, in plain words. Pure functions over ``(local_date, status)`` pairs; the clinician's
metrics, with their definitions, stay in ``metrics.py``.

A dose still pending has no outcome yet and is left out; a day with nothing scheduled neither
makes nor breaks a streak (an every-other-day plan keeps its streak).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

CLOSED = ("taken", "skipped", "missed", "unknown")


@dataclass(frozen=True)
class Stretch:
    """Doses over some days: ``taken`` of ``due`` (closed doses only)."""

    days: int
    taken: int
    due: int

    @property
    def words(self) -> str:
        if not self.due:
            return "No doses were due yet."
        if self.due == 1:
            return "You took your 1 dose." if self.taken else "You did not take your 1 dose."
        if self.taken == self.due:
            return f"You took all {self.due} of your doses."
        return f"You took {self.taken} of your {self.due} doses."


def stretch(doses: list[tuple[date, str]], today: date, days: int) -> Stretch:
    """The last ``days`` local days up to ``today`` included."""
    first = today - timedelta(days=days - 1)
    closed = [status for day, status in doses if first <= day <= today and status in CLOSED]
    return Stretch(days, sum(status == "taken" for status in closed), len(closed))


def streak(doses: list[tuple[date, str]], today: date) -> int:
    """Days in a row, back from today, with every dose due taken. Today counts once its doses
    are all taken; while one is still pending it neither adds to nor breaks the streak."""
    by_day: dict[date, list[str]] = defaultdict(list)
    for day, status in doses:
        by_day[day].append(status)
    count = 0
    for day in sorted((day for day in by_day if day <= today), reverse=True):
        statuses = by_day[day]
        if any(status in CLOSED and status != "taken" for status in statuses):
            break
        if "pending" in statuses:
            if day == today:
                continue
            break
        count += 1
    return count


def streak_words(days: int) -> str:
    if days == 0:
        return "Take every dose today to start a streak."
    return f"{days} day{'s' if days != 1 else ''} in a row with every dose taken."


@dataclass(frozen=True)
class Day:
    """One square of the calendar: doses ``taken`` of those ``due`` that day (pending included,
    so today reads 1/3 until its later doses come), and a ``state`` for its colour and words."""

    day: date
    taken: int
    due: int

    @property
    def state(self) -> str:
        if not self.due:
            return "rest"
        if self.taken == self.due:
            return "all"
        return "some" if self.taken else "none"

    @property
    def words(self) -> str:
        if not self.due:
            return "nothing due"
        return f"{self.taken} of {self.due} taken"


def calendar(doses: list[tuple[date, str]], today: date, weeks: int) -> list[list[Day | None]]:
    """The last ``weeks`` weeks up to ``today``, Monday first, a row a week; ``None`` after today."""
    taken: dict[date, int] = defaultdict(int)
    due: dict[date, int] = defaultdict(int)
    for day, status in doses:
        due[day] += 1
        taken[day] += status == "taken"
    monday = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    days = [monday + timedelta(days=n) for n in range(7 * weeks)]
    cells = [Day(day, taken[day], due[day]) if day <= today else None for day in days]
    return [cells[row * 7 : row * 7 + 7] for row in range(weeks)]

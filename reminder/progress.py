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

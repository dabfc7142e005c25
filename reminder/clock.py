"""The one clock. Domain code takes ``now`` from here and never reads the wall clock itself.

``SystemClock`` reads the computer's clock. ``ManualClock`` keeps the time in the database's
``clock`` row, so the web app, the worker and the CLI all see the same "now": tests and demos
set it with ``reminder clock set`` and move it with ``reminder tick --until``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlite_utils import Database

from .times import parse_instant, to_iso


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""


class ClockNotSet(Exception):
    """The manual clock has no time yet."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)


class ManualClock:
    """Time kept in the database; it moves only when someone sets it."""

    def __init__(self, connect: Callable[[], Database]):
        self._connect = connect

    def now(self) -> datetime:
        db = self._connect()
        try:
            row = db.execute("SELECT now FROM clock WHERE id = 1").fetchone()
        finally:
            db.close()
        if row is None:
            raise ClockNotSet("the manual clock is not set: run `reminder clock set 2026-03-07T12:00:00Z`")
        return parse_instant(row[0])

    def set(self, instant: datetime) -> None:
        db = self._connect()
        try:
            db.execute(
                "INSERT INTO clock (id, now) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET now = excluded.now",
                [to_iso(instant)],
            )
        finally:
            db.close()


def wall_seconds() -> float:
    """Real seconds since the epoch, for pacing (a rate cap), never for domain decisions."""
    import time

    return time.time()


def make_clock(mode: str, connect: Callable[[], Database]) -> Clock:
    return ManualClock(connect) if mode == "manual" else SystemClock()

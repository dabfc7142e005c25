"""A medication's regimen steps in the database: reading them, and replacing them from a day on.

What a step is and when its doses fall are ``schedule``'s pure rules; this module stores steps.
Doses point at the step they came from (``doses.step_id``), so a step with doses is history: it
is ended, never deleted. Changing a dose plan and starting a taper both go through
``replace_from``; ending a medication goes through ``end_after``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from .db import immediate
from .schedule import Step
from .times import parse_date, parse_hhmm, to_iso


def medication(db: Database, medication_id: int) -> dict | None:
    """The medication's row, with its patient's zone as ``tz``: what scheduling its doses needs."""
    sql = "SELECT m.*, u.tz AS tz FROM medications m JOIN users u ON u.id = m.patient_id WHERE m.id = ?"
    return next(db.query(sql, [medication_id]), None)


def steps_of(db: Database, medication_id: int) -> list[Step]:
    """Every step of the medication, earliest first."""
    rows = db.execute(
        "SELECT id, start_date, end_date, times, days, amount, every_days FROM regimen_steps "
        "WHERE medication_id = ? ORDER BY start_date, id",
        [medication_id],
    ).fetchall()
    return [
        Step(
            id=row[0],
            start_date=parse_date(row[1]),
            end_date=parse_date(row[2]) if row[2] else None,
            times=tuple(parse_hhmm(t) for t in json.loads(row[3])),
            days=frozenset(json.loads(row[4])) if row[4] else None,
            amount=row[5],
            every_days=row[6],
        )
        for row in rows
    ]


def new_step(
    start_date: date,
    end_date: date | None,
    times: list[str],
    amount: float,
    days: list[int] | None = None,
    every_days: int | None = None,
) -> Step:
    """A step not stored yet, from checked input (``"HH:MM"`` times, weekdays 0 = Monday, or
    every ``every_days`` days from ``start_date``)."""
    return Step(
        id=None,
        start_date=start_date,
        end_date=end_date,
        times=tuple(parse_hhmm(t) for t in times),
        amount=amount,
        days=frozenset(days) if days is not None else None,
        every_days=every_days,
    )


def replace_from(db: Database, medication_id: int, day: date, steps: list[Step], now: datetime) -> None:
    """From ``day`` on, the medication's regimen is ``steps``.

    Steps starting on or after ``day`` are deleted, earlier ones end the day before it (so no
    day is left without doses), then ``steps`` are added. Call it after ``ledger.drop_future``
    in the same transaction: a step that still has doses is kept, ended on its first day.
    """
    with immediate(db):
        db.execute(
            "DELETE FROM regimen_steps WHERE medication_id = ? AND start_date >= ? "
            "AND NOT EXISTS (SELECT 1 FROM doses WHERE step_id = regimen_steps.id)",
            [medication_id, day.isoformat()],
        )
        end_after(db, medication_id, day - timedelta(days=1))
        for step in steps:
            _insert(db, medication_id, step, now)


def end_after(db: Database, medication_id: int, last_day: date) -> None:
    """No step runs past ``last_day``; one that starts later ends on its own first day."""
    db.execute(
        "UPDATE regimen_steps SET end_date = max(start_date, ?) WHERE medication_id = ? "
        "AND (end_date IS NULL OR end_date > ?)",
        [last_day.isoformat(), medication_id, last_day.isoformat()],
    )


def _insert(db: Database, medication_id: int, step: Step, now: datetime) -> None:
    db.execute(
        "INSERT INTO regimen_steps (medication_id, start_date, end_date, times, days, amount, every_days, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            medication_id,
            step.start_date.isoformat(),
            step.end_date.isoformat() if step.end_date else None,
            json.dumps(sorted(t.strftime("%H:%M") for t in step.times)),
            json.dumps(sorted(step.days)) if step.days is not None else None,
            step.amount,
            step.every_days,
            to_iso(now),
        ],
    )

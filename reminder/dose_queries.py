"""The lists of doses the pages show: a patient's day, their recent history, their recent misses.

Each row is a ledger dose with its medication's name and strength, its times as the patient
reads them, and whether it can be answered now (``is_open``) and taken now (``is_due``),
decided by ``missed_dose.answer_window``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from .missed_dose import answer_window
from .times import clock_label, parse_hhmm, parse_instant, to_iso

_SELECT = (
    "SELECT d.*, m.name AS medication, m.strength, m.unit, m.on_time_minutes FROM doses d "
    "JOIN medications m ON m.id = d.medication_id "
)


def doses_on(db: Database, patient_id: int, day: date, now: datetime) -> list[dict]:
    """The patient's doses on their local ``day``, earliest first (Today, the caregiver's view)."""
    rows = db.query(
        _SELECT + "WHERE d.patient_id = ? AND d.local_date = ? ORDER BY d.scheduled_at ASC",
        [patient_id, day.isoformat()],
    )
    return [_labelled(row, now) for row in rows]


def history(db: Database, patient_id: int, first_day: date, now: datetime) -> list[dict]:
    """The patient's doses from local ``first_day`` up to now, newest first."""
    rows = db.query(
        _SELECT + "WHERE d.patient_id = ? AND d.local_date >= ? AND d.scheduled_at <= ? ORDER BY d.scheduled_at DESC",
        [patient_id, first_day.isoformat(), to_iso(now)],
    )
    return [_labelled(row, now) for row in rows]


def doses_between(db: Database, patient_id: int, first_day: date, last_day: date, now: datetime) -> list[dict]:
    """The patient's doses on local days ``first_day`` to ``last_day`` that were due by ``now``,
    newest first (History, one month a page)."""
    rows = db.query(
        _SELECT + "WHERE d.patient_id = ? AND d.local_date BETWEEN ? AND ? AND d.scheduled_at <= ? "
        "ORDER BY d.scheduled_at DESC",
        [patient_id, first_day.isoformat(), last_day.isoformat(), to_iso(now)],
    )
    return [_labelled(row, now) for row in rows]


def misses(db: Database, patient_id: int, first_day: date, now: datetime) -> list[dict]:
    """The patient's missed, skipped and unconfirmed doses from local ``first_day``, newest first."""
    rows = db.query(
        _SELECT + "WHERE d.patient_id = ? AND d.status IN ('missed', 'skipped', 'unknown') AND d.local_date >= ? "
        "ORDER BY d.scheduled_at DESC",
        [patient_id, first_day.isoformat()],
    )
    return [_labelled(row, now) for row in rows]


def _labelled(row: dict, now: datetime) -> dict:
    tz = ZoneInfo(row["tz"])
    row["due_label"] = clock_label(parse_hhmm(row["local_time"]))
    row["taken_label"] = clock_label(parse_instant(row["taken_at"]).astimezone(tz).time()) if row["taken_at"] else None
    window = answer_window(
        row["status"],
        parse_instant(row["scheduled_at"]),
        parse_instant(row["window_closes_at"]),
        timedelta(minutes=row["on_time_minutes"]),
        now,
    )
    row["is_open"] = window is not None
    row["is_due"] = window == "open"
    return row

"""Slower worker duties, every few minutes rather than every tick: refill reminders, running-out
alerts, and intrathecal pump reminders and escalations (``../shared/domain.md`` section 4).

Each item is claimed and its message queued in one transaction (the ``on_claim`` hooks of
``supply`` and ``pumps``), so a crash never marks an item without telling anyone, and two
workers never tell anyone twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import delivery, escalation, pumps, step_changes, supply
from .db import immediate
from .times import to_iso

EVERY = timedelta(minutes=10)


def due(db: Database, now: datetime, name: str = "upkeep") -> bool:
    """Claim this run of ``name`` if the last one is at least ``EVERY`` old (one worker wins)."""
    with immediate(db):
        db.execute("INSERT OR IGNORE INTO worker_marks (name, last_run_at) VALUES (?, ?)", [name, to_iso(now - EVERY)])
        # A mark in the future means the clock stepped back: run now rather than wait for it.
        cursor = db.execute(
            "UPDATE worker_marks SET last_run_at = ? WHERE name = ? AND (last_run_at <= ? OR last_run_at > ?)",
            [to_iso(now), name, to_iso(now - EVERY), to_iso(now)],
        )
    return cursor.rowcount == 1


def run(db: Database, now: datetime, settings: dict) -> int:
    """Every upkeep duty once; returns how many items were handled."""
    if not due(db, now):
        return 0

    def tz_of(patient_id: int) -> ZoneInfo:
        return ZoneInfo(db.execute("SELECT tz FROM users WHERE id = ?", [patient_id]).fetchone()[0])

    def refill_reminder(db, item):
        _tell_patient(
            db,
            settings,
            item["patient_id"],
            now,
            f"Time to order a refill: about {_days(item['days_left'])} of {_name(item, settings)} left.",
            "Time to order a refill",
        )

    def running_out(db, item):
        escalation.raise_alert(
            db,
            settings,
            patient_id=item["patient_id"],
            medication_id=item["medication_id"],
            kind="supply",
            run_key=f"{item['medication_id']}:{to_iso(now)}",
            now=now,
            summary=f"{_patient(db, item['patient_id'])} will run out of {item['name']} in about "
            f"{_days(item['days_left'])} and no refill is recorded. {item['name']} must not be stopped "
            "suddenly: help them get a refill, or contact their prescriber.",
        )

    def pump_reminder(db, item):
        refill_by = date.fromisoformat(item["refill_by"])
        _tell_patient(
            db,
            settings,
            item["patient_id"],
            now,
            pumps.reminder_text(refill_by, item["days_until"]),
            "Pump refill due soon",
        )

    def pump_overdue(db, item):
        alarm = date.fromisoformat(item["alarm_date"])
        text = pumps.overdue_text(alarm, item["days_overdue"])
        _tell_patient(db, settings, item["patient_id"], now, text, "URGENT: pump refill overdue")
        escalation.raise_alert(
            db,
            settings,
            patient_id=item["patient_id"],
            medication_id=item["medication_id"],
            kind="pump",
            run_key=f"{item['pump_id']}:{item['alarm_date']}",
            now=now,
            clinicians=True,
            summary=f"URGENT: {_patient(db, item['patient_id'])}'s intrathecal pump reached its low-reservoir alarm "
            f"date ({item['alarm_date']}) with no refill recorded. Running out can cause severe withdrawal: "
            "contact the pump clinic or prescriber now.",
        )

    handled = len(supply.refill_reminders_due(db, now, on_claim=refill_reminder))
    handled += len(supply.running_out_alerts_due(db, now, on_claim=running_out))
    supply.schedule_checks(db, now)  # when to look at those stocks again: not work done
    handled += len(pumps.reminders_due(db, now, tz_of, on_claim=pump_reminder))
    handled += len(pumps.overdue(db, now, tz_of, on_claim=pump_overdue))
    handled += step_changes.announce_due(db, now, settings)
    return handled


def _tell_patient(db: Database, settings: dict, patient_id: int, now: datetime, summary: str, subject: str) -> None:
    patient = next(db.query("SELECT * FROM users WHERE id = ?", [patient_id]))
    delivery.queue_notice(db, settings, patient, summary, subject, now)


def _patient(db: Database, patient_id: int) -> str:
    name, email = db.execute("SELECT name, email FROM users WHERE id = ?", [patient_id]).fetchone()
    return name or email


def _name(item: dict, settings: dict) -> str:
    return item["name"] if settings["notify.name_medication"] else "one of your medications (open the app to see which)"


def _days(days: float) -> str:
    whole = max(0, int(days))
    return f"{whole} day{'s' if whole != 1 else ''}"

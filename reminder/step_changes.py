"""Dose changes told the day before (issue 9 §6): a titration or taper step that changes the amount
or the times starts tomorrow, so the patient hears today, in plain words, what tomorrow's dose is
("From tomorrow your dose is 15 mg (1½ tablets) at 08:00, 13:00 and 18:00").

Each step is announced once: the claim sets ``regimen_steps.announced_at`` in the transaction that
queues the message. Run by the worker's upkeep, during the patient's day (09:00 to 21:00 local).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import accounts, amounts, delivery
from .db import immediate
from .times import local_today, to_iso

DAYTIME = (9, 21)  # local hours in which the day-before notice may go


def announce_due(db: Database, now: datetime, settings: dict) -> int:
    """Queue the notice for every step starting tomorrow in its patient's zone; return how many."""
    today = now.date()
    candidates = db.execute(
        "SELECT s.id FROM regimen_steps s WHERE s.announced_at IS NULL AND s.start_date BETWEEN ? AND ?",
        [(today - timedelta(days=1)).isoformat(), (today + timedelta(days=2)).isoformat()],
    ).fetchall()
    told = 0
    for (step_id,) in candidates:
        with immediate(db):
            told += _announce(db, step_id, now, settings)
    return told


def _announce(db: Database, step_id: int, now: datetime, settings: dict) -> int:
    step = next(db.query("SELECT * FROM regimen_steps WHERE id = ?", [step_id]), None)
    medication = next(db.query("SELECT * FROM medications WHERE id = ?", [step["medication_id"]]), None)
    patient = next(db.query("SELECT * FROM users WHERE id = ?", [medication["patient_id"]]))
    local = now.astimezone(ZoneInfo(patient["tz"]))
    tomorrow = local_today(patient["tz"], now) + timedelta(days=1)
    if step["start_date"] != tomorrow.isoformat() or not DAYTIME[0] <= local.hour < DAYTIME[1]:
        return 0
    before = db.execute(
        "SELECT amount, times FROM regimen_steps WHERE medication_id = ? AND start_date < ? AND id != ? "
        "ORDER BY start_date DESC, id DESC LIMIT 1",
        [medication["id"], step["start_date"], step_id],
    ).fetchone()
    claimed = db.execute(
        "UPDATE regimen_steps SET announced_at = ? WHERE id = ? AND announced_at IS NULL", [to_iso(now), step_id]
    ).rowcount
    changed = before is not None and (before[0], json.loads(before[1])) != (step["amount"], json.loads(step["times"]))
    if not claimed or medication["ended_at"] or not changed:
        return 0
    times = json.loads(step["times"])
    what = (
        medication["name"]
        if accounts.names_medication(patient, settings)
        else "one of your medications (open the app to see which)"
    )
    dose = amounts.in_hand(step["amount"], medication["strength"], medication["unit"], plain=True)
    summary = (
        f"From tomorrow ({tomorrow:%a %d %b}) your dose of {what} is {dose} at {_listed(times)}. "
        "Your reminders will say so."
    )
    delivery.queue_notice(db, settings, patient, summary, "Your dose changes tomorrow", now)
    return 1


def _listed(times: list[str]) -> str:
    return times[0] if len(times) == 1 else ", ".join(times[:-1]) + " and " + times[-1]

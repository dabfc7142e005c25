"""Possible overdoses: a reported intake that broke the minimum gap or the daily maximum.

The intake is a fact and is recorded as taken, with its flags (``ledger.answer_dose``); the
patient is told what to watch for on the page that recorded it. This module tells everyone else:
the worker's tick opens one ``possible_overdose`` alert per flagged dose, at level 3, for the
caregivers and the clinicians of the patient's clinics (domain.md section 6: "record what was
taken, flag it, advise the patient and alert caregivers and the clinic"). The claim is a
conditional UPDATE, so a restart or a second worker cannot alert twice.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import escalation, formulary
from .db import immediate
from .times import clock_label, parse_instant

FLAG_SUMMARY = {
    "too_soon": "too soon after the previous dose",
    "over_daily_maximum": "over the daily maximum",
}


def alert_flagged(db: Database, now: datetime, settings: dict, batch: int = 100) -> int:
    """Open and send a possible-overdose alert for each flagged dose not yet alerted; return how many."""
    # "= 1" written out, not bound: it is what lets SQLite use the partial index of flagged doses.
    due = [row[0] for row in db.execute("SELECT id FROM doses WHERE flag_alert_due = 1 LIMIT ?", [batch])]
    for dose_id in due:
        with immediate(db):
            claimed = db.execute(
                "UPDATE doses SET flag_alert_due = 0 WHERE id = ? AND flag_alert_due = 1 RETURNING patient_id, "
                "medication_id, flags, taken_at, amount, tz",
                [dose_id],
            ).fetchone()
            if claimed is None:
                continue
            patient_id, medication_id, flags, taken_at, amount, tz = claimed
            escalation.raise_alert(
                db,
                settings,
                patient_id=patient_id,
                medication_id=medication_id,
                kind="possible_overdose",
                run_key=str(dose_id),
                summary=summary(db, patient_id, medication_id, json.loads(flags), taken_at, amount, tz),
                now=now,
                level=3,
                repeat_hours=db.execute(
                    "SELECT alert_repeat_hours FROM medications WHERE id = ?", [medication_id]
                ).fetchone()[0],
                clinicians=True,
            )
    return len(due)


def summary(db: Database, patient_id: int, medication_id: int, flags: list, taken_at: str, amount, tz: str) -> str:
    """The alert's words: who, what, when, which rule it broke, and what to do. Never a dose."""
    who = db.execute("SELECT coalesce(name, email) FROM users WHERE id = ?", [patient_id]).fetchone()[0]
    name, unit = db.execute("SELECT name, unit FROM medications WHERE id = ?", [medication_id]).fetchone()
    when = parse_instant(taken_at).astimezone(ZoneInfo(tz))
    broke = " and ".join(FLAG_SUMMARY.get(flag, flag) for flag in flags)
    signs = formulary.watch_for(name) or "Watch for strong drowsiness or slow breathing."
    return (
        f"Possible overdose: {who} reported taking {amount:g} {unit} of {name} at {clock_label(when.time())} on "
        f"{when:%a %d %b}, {broke}. Check on them now. {signs}"
    )

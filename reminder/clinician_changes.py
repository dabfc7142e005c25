"""A clinician's change to a linked patient's medication: the change and its reason, together.

The reason is required and kept in ``medication_changes`` with who made the change, written in
the same transaction as the change itself, so there is never a change without its why.
Stopping a withdrawal-risk drug this way is the clinician's confirmation (no taper needed).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from . import medications, tapering, titration
from .db import immediate
from .errors import InputError
from .times import to_iso


def check_reason(reason) -> str:
    """The reason as kept; InputError when it is missing, blank or not text."""
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("reason", "Give the reason for the change; it is kept with the patient's record.")
    return reason.strip()


def change(
    db: Database,
    clinician_id: int,
    medication_id: int,
    changes: dict,
    reason: str,
    today: date,
    now: datetime,
    horizon: timedelta,
) -> None:
    """Apply ``changes`` as ``medications.update`` does for a clinician (a cut is allowed),
    with the reason; all or nothing."""
    reason = check_reason(reason)
    with immediate(db):
        medications.update(db, medication_id, changes, today, now, horizon, by_clinician=True)
        _record(db, clinician_id, medication_id, reason, changes, now)


def stop(db: Database, clinician_id: int, medication_id: int, reason: str, today: date, now: datetime) -> None:
    """End the medication on the clinician's word, with the reason; all or nothing."""
    reason = check_reason(reason)
    with immediate(db):
        medications.end(db, medication_id, today, now, f"clinician: {reason}", clinician_confirmed=True)
        _record(db, clinician_id, medication_id, reason, {"ended": True}, now)


def titrate(
    db: Database,
    clinician_id: int,
    medication_id: int,
    data: dict,
    reason: str,
    today: date,
    now: datetime,
    horizon: timedelta,
) -> list:
    """Write a titration plan (``titration.parse_plan``) on the clinician's word, with the reason;
    all or nothing. Returns the steps as written."""
    reason = check_reason(reason)
    with immediate(db):
        current = medications.to_json(db, medication_id, today)
        steps = titration.parse_plan(data, current, today, titration.ceilings_in_force(db, current))
        titration.apply_plan(db, medication_id, steps, now, horizon)
        _record(db, clinician_id, medication_id, reason, {"titration": titration.as_json(steps)}, now)
    return steps


def taper(
    db: Database,
    clinician_id: int,
    medication_id: int,
    data: dict,
    reason: str,
    today: date,
    tz: str,
    now: datetime,
    horizon: timedelta,
) -> list:
    """Write a taper plan (``tapering.parse_plan``, the patient's rules) on the clinician's word,
    with the reason; all or nothing. Returns the steps as written."""
    reason = check_reason(reason)
    with immediate(db):
        current = medications.to_json(db, medication_id, today)
        steps = tapering.parse_plan(data, current, today)
        tapering.apply_plan(db, medication_id, steps, tz, now, horizon)
        _record(db, clinician_id, medication_id, reason, {"taper": titration.as_json(steps)}, now)
    return steps


def _record(db: Database, actor_id: int, medication_id: int, reason: str, change: dict, now: datetime) -> None:
    db.execute(
        "INSERT INTO medication_changes (medication_id, actor_id, reason, change, at) VALUES (?, ?, ?, ?, ?)",
        [medication_id, actor_id, reason, json.dumps(change), to_iso(now)],
    )

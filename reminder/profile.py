"""Changing a user's profile, with what follows from it in the dose ledger."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, ledger, medications
from .db import immediate


def change(db: Database, user_id: int, changes: dict, now: datetime, horizon: timedelta) -> None:
    """Update the profile (InputError, nothing written, for a bad field); a new time zone moves
    every future reminder to the same local time in the new zone, in the same transaction."""
    with immediate(db):
        before = accounts.find_user(db, id=user_id)
        accounts.update_profile(db, user_id, changes)
        if "tz" in changes and changes["tz"] != before["tz"]:
            for medication_id in medications.patient_medication_ids(db, user_id):
                ledger.rewrite_future(db, medication_id, now, horizon)

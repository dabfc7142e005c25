"""Changing a user's profile, with what follows from it in the dose ledger."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, auth_codes, medications, signups, zone_change
from .db import immediate


def change(db: Database, settings: dict, user_id: int, changes: dict, now: datetime, horizon: timedelta) -> str | None:
    """Update the profile (InputError, nothing written, for a bad field); a new time zone moves
    every future reminder to the same local time in the new zone (never adding a dose), and a new phone number gets
    its verification code by SMS, in the same transaction. A new email changes only when the
    link sent to it comes back: returns that address (None when the email did not change), the
    same whether or not another account has it."""
    with immediate(db):
        before = accounts.find_user(db, id=user_id)
        changes = dict(changes)
        new_email = None
        if "email" in changes:
            new_email = signups.request_email_change(db, settings, user_id, changes.pop("email"), now)
        accounts.update_profile(db, user_id, changes)
        after = accounts.find_user(db, id=user_id)
        # A new number, or the unverified one saved again: a (new) code goes to it.
        if after["phone"] and "phone" in changes and not after["phone_verified"]:
            auth_codes.send_phone_code(db, settings, user_id, after["phone"], now)
        if "tz" in changes and changes["tz"] != before["tz"]:
            zone_change.rewrite(db, medications.patient_medication_ids(db, user_id), now, horizon)
    return new_email

"""A patient's (or caregiver's) answer to a dose, read from a form or a JSON body.

The same fields everywhere: ``action`` (taken, skip or snooze), an optional ``taken_at`` for
"I already took it at ..." and an optional ``reason``. Bad input is an InputError naming the
field; ``ledger.answer_dose`` then applies the missed-dose rule.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import ledger, missed_dose, schedule
from .errors import InputError
from .times import parse_hhmm, parse_instant

ACTIONS = ("taken", "skip", "snooze", "correct")
REASON_LIMIT = 500
TAP_KEPT_FOR = timedelta(hours=24)  # an offline tap older than this is not taken on trust
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock a little ahead of ours is still "now"


def read_answer(db: Database, data, dose_id: int, source: str, actor_id: int | None) -> ledger.Answer:
    """An ``Answer`` from form or JSON fields; InputError for a bad action or time."""
    action = data.get("action")
    if action not in ACTIONS:
        raise InputError("action", "action must be taken, skip, snooze or correct.")
    reported = data.get("taken_at") or None
    reported_at = parse_reported_time(reported, ledger.load_dose(db, dose_id)) if reported else None
    correct_to = data.get("to") if action == "correct" else None
    if action == "correct" and correct_to not in missed_dose.CORRECTION_TARGETS:
        raise InputError("to", "to must be not_taken, taken or skip.")
    if "to" in data and action != "correct":
        raise InputError("to", "to goes with action correct only.")
    if reported_at is not None and action not in ("taken", "correct"):
        raise InputError("taken_at", "taken_at goes with action taken (or a correction to taken) only.")
    reason = data.get("reason") or None
    if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_LIMIT):
        raise InputError("reason", f"reason must be text of at most {REASON_LIMIT} characters.")
    already = data.get("already_taken", False)
    if already not in (True, False, "1", "true", "on", "", None):
        raise InputError("already_taken", "already_taken must be true or false.")
    already_taken = already in (True, "1", "true", "on")
    if already_taken and action not in ("taken", "correct"):
        raise InputError("already_taken", "already_taken goes with action taken only.")
    return ledger.Answer(
        action=action,
        source=source,
        actor_id=actor_id,
        reported_at=reported_at,
        reason=reason,
        already_taken=already_taken,  # "Yes, I already took it": a reported intake is a fact
        correct_to=correct_to,
    )


def parse_reported_time(text, dose: dict) -> datetime:
    """``taken_at``: ISO-8601 with an offset, or ``HH:MM`` in the patient's zone on the dose's day.

    An ``HH:MM`` more than 12 hours before the dose's own time means the next morning (a 23:00
    dose taken at 00:15).
    """
    if not isinstance(text, str):
        raise InputError("taken_at", "taken_at must be text: HH:MM or an ISO-8601 time with an offset.")
    try:
        if "T" in text:
            return parse_instant(text)
        day, tz = date.fromisoformat(dose["local_date"]), ZoneInfo(dose["tz"])
        instant = schedule.resolve(day, parse_hhmm(text), tz)
        if instant < parse_instant(dose["scheduled_at"]) - timedelta(hours=12):
            instant = schedule.resolve(day + timedelta(days=1), parse_hhmm(text), tz)
        return instant
    except ValueError:
        raise InputError("taken_at", "Enter the time you took it as HH:MM, like 08:15.") from None


def read_tapped_at(db: Database, data, dose_id: int, now: datetime) -> datetime | None:
    """``tapped_at``: when a Taken or Skip was tapped on a phone that was offline and sent it
    later. The answer is then judged, and recorded, as at that instant, under the same rule.

    Bounded so a phone cannot rewrite history: not in the future (beyond a few minutes of clock
    skew, taken as now), not before the dose's window opened, and at most 24 hours old.
    """
    text = data.get("tapped_at") or None
    if text is None:
        return None
    if data.get("action") not in ("taken", "skip"):
        raise InputError("tapped_at", "tapped_at goes with action taken or skip only.")
    try:
        tapped = parse_instant(text)
    except ValueError:
        raise InputError("tapped_at", "tapped_at must be an ISO-8601 time with an offset.") from None
    if tapped > now + CLOCK_SKEW:
        raise InputError("tapped_at", "That tap is dated in the future: check the phone's clock. Nothing was recorded.")
    if tapped < now - TAP_KEPT_FOR:
        raise InputError("tapped_at", "That tap is over 24 hours old. Nothing was recorded: answer on the dose page.")
    dose = ledger.load_dose(db, dose_id)
    on_time = db.execute("SELECT on_time_minutes FROM medications WHERE id = ?", [dose["medication_id"]]).fetchone()[0]
    if tapped < parse_instant(dose["scheduled_at"]) - timedelta(minutes=on_time):
        raise InputError("tapped_at", "That tap was made before this dose was due. Nothing was recorded.")
    return min(tapped, now)

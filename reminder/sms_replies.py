"""Answers to the patient's text replies: 1/TAKEN, 2/SKIP, STOP and START, HELP.

A reply answers the patient's current dose (the most recent reminded one whose window is still
open) through the same missed-dose rule as the web page. ``YES`` is deliberately not a
keyword: Twilio treats it as an opt-in word. Replies are plain GSM-7 text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from . import delivery, ledger, missed_dose
from .times import to_iso

TAKEN_WORDS = {"1", "TAKEN", "TAKE", "TOOK"}
SKIP_WORDS = {"2", "SKIP", "SKIPPED"}
# Twilio's standard opt-out and opt-in keywords (it answers them itself and still calls us).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
HELP_TEXT = "Reply 1 or TAKEN when you have taken your dose, 2 or SKIP to skip it. Reply STOP to stop texts."
SMS_EARLIER_TIME_HINT = "If you took it earlier, record the time with the link in your reminder."


def answer(db: Database, sender: str, text: str, now: datetime, snooze: timedelta) -> str | None:
    """The reply to ``text`` from ``sender`` (E.164), or None when Twilio's own answer is enough."""
    word = (text or "").strip().upper().rstrip(".!")
    patient = db.execute("SELECT id FROM users WHERE phone = ?", [sender]).fetchone()
    if patient is None:
        return None if word in STOP_WORDS else "This number is not linked to a reminder account."
    patient_id = patient[0]
    if word in STOP_WORDS:
        delivery.set_sms_opt_out(db, patient_id, now)
        return None
    if word in START_WORDS:
        delivery.set_sms_opt_out(db, patient_id, None)
        return "Text reminders are back on."
    if word not in TAKEN_WORDS | SKIP_WORDS:
        return HELP_TEXT
    dose_id = current_dose(db, patient_id, now)
    if dose_id is None:
        return "There is no dose to confirm right now. " + HELP_TEXT
    action = "taken" if word in TAKEN_WORDS else "skip"
    decision = ledger.answer_dose(db, dose_id, ledger.Answer(action, "sms", patient_id), now, snooze)
    return decision.message.replace(missed_dose.EARLIER_TIME_HINT, SMS_EARLIER_TIME_HINT)


def current_dose(db: Database, patient_id: int, now: datetime) -> int | None:
    """The most recent reminded dose still open; failing that, the most recent reminded one
    (so a late TAKEN gets the skip explanation rather than "nothing to confirm")."""
    row = db.execute(
        "SELECT id FROM doses WHERE patient_id = ? AND prompt_count > 0 AND status = 'pending' "
        "AND window_closes_at > ? ORDER BY scheduled_at DESC LIMIT 1",
        [patient_id, to_iso(now)],
    ).fetchone() or db.execute(
        "SELECT id FROM doses WHERE patient_id = ? AND prompt_count > 0 ORDER BY reminded_at DESC, scheduled_at DESC LIMIT 1",
        [patient_id],
    ).fetchone()
    return row[0] if row else None

"""Answers to the patient's text replies: 1/TAKEN, 2/SKIP, STOP and START, HELP.

A reply answers the patient's current dose (the most recent reminded one whose window is still
open) through the same missed-dose rule as the web page. ``YES`` is deliberately not a
keyword: Twilio treats it as an opt-in word. Replies are plain GSM-7 text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from . import delivery, ledger, missed_dose
from .times import clock_label, parse_hhmm, to_iso

TAKEN_WORDS = {"1", "TAKEN", "TAKE", "TOOK"}
SKIP_WORDS = {"2", "SKIP", "SKIPPED"}
# Twilio's standard opt-out and opt-in keywords (it answers them itself and still calls us).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
# Any other word, HELP and INFO included, is answered with HELP_TEXT.
HELP_TEXT = "Reply 1 or TAKEN when you have taken your dose, 2 or SKIP to skip it. Reply STOP to stop texts."
SMS_EARLIER_TIME_HINT = "If you took it earlier, record the time with the link in your reminder."
USE_LINK = "Please use the link in each reminder to answer."


def answer(db: Database, sender: str, text: str, now: datetime, snooze: timedelta) -> str | None:
    """The reply to ``text`` from ``sender`` (E.164), or None when Twilio's own answer is enough."""
    word = (text or "").strip().upper().rstrip(".!")
    # Only accounts that verified this number: anyone can type someone else's number into Settings.
    owners = [
        row[0] for row in db.execute("SELECT id FROM users WHERE phone = ? AND phone_verified = 1", [sender]).fetchall()
    ]
    if not owners:
        return None if word in STOP_WORDS else "This number is not linked to a reminder account."
    if word in STOP_WORDS:  # it is the phone that says stop, whoever shares it
        for user_id in owners:
            delivery.set_sms_opt_out(db, user_id, now)
        return None
    if word in START_WORDS:
        for user_id in owners:
            delivery.set_sms_opt_out(db, user_id, None)
        return "Text reminders are back on."
    if word not in TAKEN_WORDS | SKIP_WORDS:
        return HELP_TEXT
    if len(owners) > 1:
        # Two accounts share this phone: a bare "1" could be either person's dose.
        return "This phone is shared by more than one account, so we can't tell whose dose this is. " + USE_LINK
    open_doses = open_reminded_doses(db, owners[0], now)
    if len(open_doses) > 1:
        times = " and ".join(clock_label(parse_hhmm(t)) for _, t in open_doses)
        return f"You have more than one dose open ({times}). Nothing was recorded. " + USE_LINK
    dose_id = open_doses[0][0] if open_doses else latest_reminded_dose(db, owners[0])
    if dose_id is None:
        return "There is no dose to confirm right now. " + HELP_TEXT
    action = "taken" if word in TAKEN_WORDS else "skip"
    decision = ledger.answer_dose(db, dose_id, ledger.Answer(action, "sms", owners[0]), now, snooze)
    due = clock_label(parse_hhmm(ledger.load_dose(db, dose_id)["local_time"]))
    return f"Your {due} dose: " + decision.message.replace(missed_dose.EARLIER_TIME_HINT, SMS_EARLIER_TIME_HINT)


def open_reminded_doses(db: Database, patient_id: int, now: datetime) -> list[tuple[int, str]]:
    """(id, local time) of every reminded dose whose window is still open, newest first."""
    return db.execute(
        "SELECT id, local_time FROM doses WHERE patient_id = ? AND prompt_count > 0 AND status = 'pending' "
        "AND window_closes_at > ? ORDER BY scheduled_at DESC",
        [patient_id, to_iso(now)],
    ).fetchall()


def latest_reminded_dose(db: Database, patient_id: int) -> int | None:
    """The most recently reminded dose, so a late TAKEN gets the skip explanation rather than
    "nothing to confirm"."""
    row = db.execute(
        "SELECT id FROM doses WHERE patient_id = ? AND prompt_count > 0 ORDER BY reminded_at DESC, scheduled_at DESC LIMIT 1",
        [patient_id],
    ).fetchone()
    return row[0] if row else None

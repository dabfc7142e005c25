"""The demo: a patient on baclofen, a caregiver and a clinician.

Baclofen 10 mg at 08:00, 13:00 and 18:00 in America/New_York, marked withdrawal-risk, with the
labelled oral maximum of 80 mg a day; the caregiver is linked to the patient. So that a newcomer sees a reminder at once, today's plan is
its own regimen step with one extra dose a minute from now (regular times too close to it are
left out today, so the minimum gap is kept); the regular step starts tomorrow.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import accounts, clinics, ledger, regimen
from .db import immediate
from .times import to_iso

PATIENT_TZ = "America/New_York"
REGULAR_TIMES = ("08:00", "13:00", "18:00")
PASSWORD = "demo-password"
USERS = (
    ("patient@example.com", "patient", "Pat Demo", "+15005550006"),
    ("caregiver@example.com", "caregiver", "Casey Carer", None),
    ("clinician@example.com", "clinician", "Dr. Clare Lin", None),
)


def seed(db: Database, now: datetime, settings: dict) -> str:
    """Create the demo accounts and medication; return the text to print."""
    ids = {}
    for email, role, name, phone in USERS:
        ids[role] = accounts.create_user(
            db, email=email, password=PASSWORD, role=role, now=now, name=name, phone=phone, tz=PATIENT_TZ
        )
    token = accounts.create_token(db, ids["patient"], now, label="demo")
    clinic_id, code = clinics.create_clinic(db, "Demo Neurology Clinic", now)
    db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [clinic_id, ids["clinician"]])
    clinics.join(db, ids["patient"], code, now)
    first_dose, today = _first_dose_time(now)
    with immediate(db):
        medication_id = db.execute(
            "INSERT INTO medications (patient_id, name, strength, unit, withdrawal_risk, max_daily_amount, created_at, "
            "generated_until) VALUES (?, 'Baclofen', '10 mg tablet', 'mg', 1, 80, ?, ?)",
            [ids["patient"], to_iso(now), to_iso(now)],
        ).lastrowid
        today_times = [first_dose] + [t for t in REGULAR_TIMES if _hours_between(first_dose, t) >= 3]
        steps = [
            regimen.new_step(today, today, today_times, 10),
            regimen.new_step(today + timedelta(days=1), None, REGULAR_TIMES, 10),
        ]
        regimen.replace_from(db, medication_id, today, steps, now)
        ledger.extend_medication(db, medication_id, now, now + timedelta(hours=settings["worker.horizon_hours"]))
        # The caregiver has accepted the patient's invitation: two missed baclofen doses in a
        # row reach them (the escalation ladder), three reach level 3.
        db.execute(
            "INSERT INTO care_links (patient_id, caregiver_id, invite_email, token_hash, status, created_at, "
            "expires_at, accepted_at) VALUES (?, ?, 'caregiver@example.com', ?, 'active', ?, ?, ?)",
            [ids["patient"], ids["caregiver"], secrets.token_hex(32), to_iso(now), to_iso(now), to_iso(now)],
        )
    lines = [f"Demo ready. Open {settings['server.base_url']}/ and log in (password for all: {PASSWORD}):"]
    lines += [f"  {role:<9} {email}" for email, role, _, _ in USERS]
    lines += [
        f"The patient takes baclofen 10 mg at 8:00 AM, 1:00 PM and 6:00 PM ({PATIENT_TZ}); the caregiver",
        "follows them and hears about two missed doses in a row; the patient is linked to the",
        f"clinician's clinic (join code {code}), so the clinician sees them on the panel;",
        f"one extra dose is due at {first_dose} today, so a reminder appears within a minute at",
        f"{settings['server.base_url']}/dev/outbox.",
        f"Patient API token: {token}",
    ]
    return "\n".join(lines)


def _first_dose_time(now: datetime):
    """A local HH:MM at most a minute ahead, so the first reminder comes at once, and its
    local date (the next day when seeded in the last minute before midnight)."""
    local = (now + timedelta(seconds=60)).astimezone(ZoneInfo(PATIENT_TZ))
    return local.strftime("%H:%M"), local.date()


def _hours_between(a: str, b: str) -> float:
    def minutes(t: str) -> int:
        return int(t[:2]) * 60 + int(t[3:])

    return (minutes(b) - minutes(a)) / 60

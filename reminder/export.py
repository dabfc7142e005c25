"""Everything the app holds about a patient, as one JSON-ready dict (their right of access).

Secrets are left out (password and token hashes); everything else about them is in: their
profile, medications with their regimen steps, every dose, side effects, caregivers, clinics
and the messages sent to them.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from .times import to_iso

SECRET_COLUMNS = {"password_hash", "token_hash", "session_version", "code_hash"}
FORMAT = "reminder-export-1"


def export_patient(db: Database, user_id: int, now: datetime) -> dict:
    """All of ``user_id``'s data, read in one snapshot."""
    if db.conn.in_transaction:
        return _gather(db, user_id, now)
    db.execute("BEGIN")  # one read transaction: the parts agree with each other
    try:
        return _gather(db, user_id, now)
    finally:
        db.execute("COMMIT")


def _gather(db: Database, user_id: int, now: datetime) -> dict:
    medications = _rows(db, "SELECT * FROM medications WHERE patient_id = ? ORDER BY id", [user_id])
    for medication in medications:
        medication["regimen_steps"] = _rows(
            db, "SELECT * FROM regimen_steps WHERE medication_id = ? ORDER BY start_date", [medication["id"]]
        )
    return {
        "format": FORMAT,
        "exported_at": to_iso(now),
        "profile": _rows(db, "SELECT * FROM users WHERE id = ?", [user_id])[0],
        "medications": medications,
        "doses": _rows(db, "SELECT * FROM doses WHERE patient_id = ? ORDER BY scheduled_at, id", [user_id]),
        "side_effects": _rows(db, "SELECT * FROM side_effects WHERE patient_id = ? ORDER BY at", [user_id]),
        "caregivers": _rows(
            db,
            "SELECT l.*, u.name AS caregiver_name, u.email AS caregiver_email FROM care_links l "
            "LEFT JOIN users u ON u.id = l.caregiver_id WHERE l.patient_id = ? ORDER BY l.id",
            [user_id],
        ),
        "clinics": _rows(
            db,
            "SELECT l.*, c.name AS clinic_name FROM clinic_links l JOIN clinics c ON c.id = l.clinic_id "
            "WHERE l.patient_id = ? ORDER BY l.id",
            [user_id],
        ),
        "messages": _rows(db, "SELECT * FROM messages WHERE user_id = ? ORDER BY id", [user_id]),
    }


def _rows(db: Database, sql: str, params: list) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in SECRET_COLUMNS} for row in db.query(sql, params)]

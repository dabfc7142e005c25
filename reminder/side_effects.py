"""Side effects a patient taps after a dose: checked, then stored with the dose they followed.

The clinic reads them on the patient's report (``reports.build``), beside the doses.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from . import ledger
from .db import immediate
from .errors import InputError
from .times import to_iso

KINDS = ("drowsiness", "dizziness", "weakness", "headache", "constipation", "dry_mouth", "mood_change", "other")
NOTE_LIMIT = 500


def record(db: Database, patient_id: int, data: dict, now: datetime) -> dict:
    """Check and store one side effect (``kind``, ``severity`` 1-3, ``note``, optional
    ``dose_id`` of the patient's own dose); InputError, and nothing written, for bad input."""
    kind, severity, note = data.get("kind"), _severity(data.get("severity")), data.get("note") or ""
    if kind not in KINDS:
        raise InputError("kind", f"kind must be one of {', '.join(KINDS)}.")
    if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 3:
        raise InputError("severity", "severity must be 1 (mild), 2 or 3 (severe).")
    if not isinstance(note, str) or len(note) > NOTE_LIMIT or any(ord(c) < 32 and c not in "\n\t" for c in note):
        raise InputError("note", f"note must be plain text of at most {NOTE_LIMIT} characters.")
    with immediate(db):
        dose_id, medication_id = _dose_of(db, patient_id, data.get("dose_id"))
        cursor = db.execute(
            "INSERT INTO side_effects (patient_id, medication_id, dose_id, kind, severity, note, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [patient_id, medication_id, dose_id, kind, severity, note.strip(), to_iso(now)],
        )
    return {
        "id": cursor.lastrowid,
        "kind": kind,
        "severity": severity,
        "note": note.strip(),
        "dose_id": dose_id,
        "medication_id": medication_id,
        "at": to_iso(now),
    }


def _severity(value):
    """A severity typed as ASCII digits counts as the number; anything else is checked as given."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def _dose_of(db: Database, patient_id: int, dose_id) -> tuple[int | None, int | None]:
    """(dose id, medication id) of the patient's dose named by ``dose_id``; (None, None) for none.
    A dose that is not the patient's is answered as one that does not exist (404)."""
    if dose_id in (None, ""):
        return None, None
    text = str(dose_id)
    dose = ledger.load_dose(db, int(text)) if text.isascii() and text.isdigit() and int(text) < 2**63 else None
    if dose is None or dose["patient_id"] != patient_id:
        raise InputError("dose_id", "No such dose.", status=404)
    return dose["id"], dose["medication_id"]

"""Side effects a patient taps after a dose: checked, then stored with the dose they followed.

The clinic reads them on the patient's report (``reports.build``), beside the doses. A severe one,
or one whose note names a danger sign, is triaged at once (``triage``, pure): the patient is told
what to do and the caregivers and clinicians are alerted, in the same transaction as the entry.
Sources: baclofen label (overdosage: drowsiness, respiratory depression, seizures; abrupt
withdrawal: hallucinations, high fever); the seed ("rash, swelling, or shortness of breath ...
need quick medical care"); formulary.WATCH_FOR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from . import escalation, ledger
from .db import immediate
from .errors import InputError
from .times import to_iso

KINDS = ("drowsiness", "dizziness", "weakness", "headache", "constipation", "dry_mouth", "mood_change", "other")
NOTE_LIMIT = 500
SEVERE = 3
# Danger signs in a note, each a pattern over the lower-cased note, and whether it needs emergency
# services (breathing trouble, seizures, an allergic reaction, not staying awake) or the prescriber
# today (hallucinations, a high fever, any other severe effect).
EMERGENCY_SIGNS = {
    "an allergic reaction": r"(rash|hives).*(swell|short(ness)? of breath)|(swell|short(ness)? of breath).*(rash|hives)|"
    r"(face|lips?|tongue|throat) (is |are )?swell",
    "slowed breathing": r"breath\w* (is |was |feels? )?(slow|shallow)|(slow|shallow|slowed)\w* breath|can'?t breathe|"
    r"cannot breathe|trouble breathing|struggling to breathe|short(ness)? of breath",
    "unable to stay awake": r"(can'?t|cannot|unable to|couldn'?t) (stay|keep) awake|can'?t wake|won'?t wake|unresponsive",
    "a seizure": r"seizure|convuls|\bfits?\b",
}
PRESCRIBER_SIGNS = {
    "hallucinations": r"hallucinat|seeing things|hearing things",
    "a high fever": r"high (fever|temperature)|fever",
}
EMERGENCY_TEXT = (
    "This can be serious: call emergency services (911) now ({sign}). We have told your caregivers and your clinic."
)
PRESCRIBER_TEXT = (
    "Call your prescriber today about this ({sign}). Call emergency services (911) if you have trouble "
    "breathing, a seizure, swelling of the face or throat, or cannot stay awake. We have told your caregivers "
    "and your clinic."
)


@dataclass(frozen=True)
class Triage:
    """What a reported side effect needs: ``emergency`` or ``prescriber``, why, and the words."""

    urgency: str
    sign: str

    @property
    def text(self) -> str:
        return (EMERGENCY_TEXT if self.urgency == "emergency" else PRESCRIBER_TEXT).format(sign=self.sign)


def triage(kind: str, severity: int, note: str) -> Triage | None:
    """The advice a side effect needs at once, or None when noting it is enough (mild to moderate
    with no danger sign). Emergency signs win over the rest."""
    lowered = f"{kind.replace('_', ' ')} {note}".lower().replace("\u2019", "'")
    for signs, urgency in ((EMERGENCY_SIGNS, "emergency"), (PRESCRIBER_SIGNS, "prescriber")):
        for sign, pattern in signs.items():
            if re.search(pattern, lowered):
                return Triage(urgency, sign)
    if severity >= SEVERE:
        return Triage("prescriber", f"severe {kind.replace('_', ' ')}")
    return None


def record(db: Database, patient_id: int, data: dict, now: datetime, settings: dict) -> dict:
    """Check and store one side effect (``kind``, ``severity`` 1-3, ``note``, optional
    ``dose_id`` of the patient's own dose); InputError, and nothing written, for bad input.
    The result carries ``advice`` (``urgency``, ``text``) when ``triage`` finds one; then the
    caregivers and clinicians are alerted in the same transaction."""
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
        found = triage(kind, severity, note)
        if found is not None:
            _alert(db, settings, patient_id, medication_id, cursor.lastrowid, found, note.strip(), now)
    return {
        "advice": {"urgency": found.urgency, "text": found.text} if found else None,
        "id": cursor.lastrowid,
        "kind": kind,
        "severity": severity,
        "note": note.strip(),
        "dose_id": dose_id,
        "medication_id": medication_id,
        "at": to_iso(now),
    }


def _alert(db, settings, patient_id, medication_id, entry_id, found: Triage, note: str, now) -> None:
    name = db.execute("SELECT coalesce(nullif(name, ''), email) FROM users WHERE id = ?", [patient_id]).fetchone()[0]
    told = "call emergency services" if found.urgency == "emergency" else "call their prescriber today"
    quoted = f' ("{note[:120]}")' if note else ""
    escalation.raise_alert(
        db,
        settings,
        patient_id=patient_id,
        medication_id=medication_id,
        kind="side_effect",
        run_key=str(entry_id),
        summary=f"{name} reported a side effect with a danger sign: {found.sign}{quoted}. We told them to "
        f"{told}. Please check on them now.",
        now=now,
        level=3 if found.urgency == "emergency" else 2,
        clinicians=True,
    )


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

"""Clinics: their clinicians, the patients linked to them, and the audit log of every view.

A clinician sees a patient only while the patient is linked to the clinician's clinic; either
side can end the link. Every clinician view of a patient's data is written to ``audit_log``,
which the patient can read.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, delivery, safety_contacts, throttle
from .db import immediate
from .errors import InputError
from .times import parse_instant, to_iso
from .tokens import INVITATION_DAYS, hash_token

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
JOIN_CODE_LENGTH = 12


def create_clinic(db: Database, name: str, now: datetime) -> tuple[int, str]:
    """A new clinic and its join code (12 characters, easy to read out: 60 bits, and guesses are
    limited by ``throttle``). Codes handed out before were 8 characters; they still work."""
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InputError("name", "A clinic needs a name of at most 100 characters.")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))
    cursor = db.execute(
        "INSERT INTO clinics (name, join_code, created_at) VALUES (?, ?, ?)", [name.strip(), code, to_iso(now)]
    )
    return cursor.lastrowid, code


def join(
    db: Database,
    patient_id: int,
    code,
    now: datetime,
    address: str | None = None,
    limit: throttle.Limit = throttle.DEFAULT,
) -> dict:
    """The patient links to the clinic with this code; returns the clinic. A wrong code counts
    against the patient and ``address`` (``throttle``): past the limit, 429 for a while."""
    if not isinstance(code, str) or not code.strip():
        raise InputError("code", "Enter the clinic's code.")
    keys = throttle.keys(f"user:{patient_id}", address)
    with immediate(db):
        throttle.check(db, "join_code", keys, now, limit)
        rows = list(db.query("SELECT * FROM clinics WHERE join_code = ?", [code.strip().upper()]))
        if not rows:
            throttle.failed(db, "join_code", keys, now, limit)  # committed: the failure stays counted
    if not rows:
        raise InputError("code", "No clinic has this code. Check it with your clinic.", status=404)
    with immediate(db):
        clinic = rows[0]
        if db.execute(
            "SELECT 1 FROM clinic_links WHERE patient_id = ? AND clinic_id = ? AND status = 'active'",
            [patient_id, clinic["id"]],
        ).fetchone():
            raise InputError("code", f"You are already linked to {clinic['name']}.", status=409)
        db.execute(
            "INSERT INTO clinic_links (patient_id, clinic_id, created_at) VALUES (?, ?, ?)",
            [patient_id, clinic["id"], to_iso(now)],
        )
    return {"id": clinic["id"], "name": clinic["name"]}


def invite(db: Database, clinician: dict, *, email: str | None, phone: str | None, now: datetime) -> tuple[int, str]:
    """A clinician invites a patient to link to their clinic; returns the id and the link token.
    Call inside the transaction that queues the invitation message."""
    if clinician.get("role") != "clinician" or not clinician.get("clinic_id"):
        raise InputError(None, "Only a clinic's clinicians invite patients to it.", status=403)
    email = accounts.check_email(email) if email else None
    phone = accounts.check_phone(phone) if phone else None
    if not email and not phone:
        raise InputError("email", "Give the patient's email or mobile number.")
    token = secrets.token_urlsafe(16)
    cursor = db.execute(
        "INSERT INTO clinic_invitations (clinic_id, invited_by, invite_email, invite_phone, token_hash, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            clinician["clinic_id"],
            clinician["id"],
            email,
            phone,
            hash_token(token),
            to_iso(now),
            to_iso(now + timedelta(days=INVITATION_DAYS)),
        ],
    )
    return cursor.lastrowid, token


def invitation(db: Database, token: str, now: datetime) -> dict:
    """The open clinic invitation behind ``token``, with the clinic's name; InputError otherwise."""
    rows = list(
        db.query(
            "SELECT i.*, c.name AS clinic_name FROM clinic_invitations i JOIN clinics c ON c.id = i.clinic_id "
            "WHERE i.token_hash = ?",
            [hash_token(token or "")],
        )
    )
    if not rows:
        raise InputError(None, "This invitation link doesn't match an invitation.", status=404)
    if rows[0]["status"] == "accepted":
        raise InputError(None, "This invitation was already accepted.", status=409)
    if now >= parse_instant(rows[0]["expires_at"]):
        raise InputError(None, "This invitation has expired: ask your clinic for a new one.", status=410)
    return rows[0]


def accept_invitation(db: Database, token: str, patient: dict, now: datetime) -> dict:
    """The patient accepts: linked to the clinic. Returns the clinic. Only the account with the
    invited email or verified phone may (403 for anyone else, nothing written)."""
    if patient.get("role") != "patient":
        raise InputError(None, "Only a patient can link to a clinic.", status=403)
    with immediate(db):
        found = invitation(db, token, now)
        if not accounts.holds_address(patient, found["invite_email"], found["invite_phone"]):
            raise InputError(
                None, "This invitation was sent to someone else: log in with the invited address.", status=403
            )
        db.execute(
            "UPDATE clinic_invitations SET status = 'accepted', accepted_by = ? WHERE id = ? AND status = 'invited'",
            [patient["id"], found["id"]],
        )
        if not db.execute(
            "SELECT 1 FROM clinic_links WHERE patient_id = ? AND clinic_id = ? AND status = 'active'",
            [patient["id"], found["clinic_id"]],
        ).fetchone():
            db.execute(
                "INSERT INTO clinic_links (patient_id, clinic_id, created_at) VALUES (?, ?, ?)",
                [patient["id"], found["clinic_id"], to_iso(now)],
            )
    return {"id": found["clinic_id"], "name": found["clinic_name"]}


def leave(
    db: Database,
    patient_id: int,
    clinic_id: int,
    actor_id: int,
    now: datetime,
    *,
    settings: dict | None = None,
    confirm: bool = True,
) -> bool:
    """End the link (the patient, or a clinician of that clinic); False when there is none.

    Without ``confirm``, refuses (``409 last_safety_contact``) to leave the last clinic when no
    caregiver watches a withdrawal-risk medication either. With ``settings``, the clinic's
    clinicians are told the link ended."""
    with immediate(db):
        safety_contacts.check_removal(db, patient_id, clinic_id=clinic_id, confirm=confirm)
        cursor = db.execute(
            "UPDATE clinic_links SET status = 'ended', ended_at = ?, ended_by = ? "
            "WHERE patient_id = ? AND clinic_id = ? AND status = 'active'",
            [to_iso(now), actor_id, patient_id, clinic_id],
        )
        if settings is not None and cursor.rowcount == 1:
            name = db.execute("SELECT name FROM clinics WHERE id = ?", [clinic_id]).fetchone()[0]
            clinicians = list(db.query("SELECT * FROM users WHERE role = 'clinician' AND clinic_id = ?", [clinic_id]))
            patient = accounts.find_user(db, id=patient_id)
            safety_contacts.tell_link_ended(db, settings, clinicians, patient, name, now)
    return cursor.rowcount == 1


def clinics_of(db: Database, patient_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT c.id, c.name, l.created_at AS linked_at FROM clinic_links l JOIN clinics c ON c.id = l.clinic_id "
            "WHERE l.patient_id = ? AND l.status = 'active' ORDER BY c.name",
            [patient_id],
        )
    )


def clinician_sees(db: Database, clinician: dict, patient_id: int) -> bool:
    """A clinician sees a patient while the patient is linked to the clinician's clinic."""
    if clinician.get("role") != "clinician" or not clinician.get("clinic_id"):
        return False
    return (
        db.execute(
            "SELECT 1 FROM clinic_links WHERE patient_id = ? AND clinic_id = ? AND status = 'active'",
            [patient_id, clinician["clinic_id"]],
        ).fetchone()
        is not None
    )


def clinicians_for(db: Database, patient_id: int) -> list[dict]:
    """Clinicians of every clinic the patient is linked to (who hear level-3 alerts)."""
    return list(
        db.query(
            "SELECT u.* FROM users u JOIN clinic_links l ON l.clinic_id = u.clinic_id AND l.status = 'active' "
            "WHERE l.patient_id = ? AND u.role = 'clinician' ORDER BY u.id",
            [patient_id],
        )
    )


def audit(db: Database, actor_id: int, patient_id: int, action: str, now: datetime, detail: str = "") -> None:
    """Record a clinician's view or change of a patient's data (who, what, when)."""
    db.execute(
        "INSERT INTO audit_log (actor_id, patient_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
        [actor_id, patient_id, action, detail[:500], to_iso(now)],
    )


def audit_of(db: Database, patient_id: int, limit: int = 500) -> list[dict]:
    return list(
        db.query(
            "SELECT a.id, a.at, a.action, a.detail, u.name AS actor_name, u.email AS actor_email, c.name AS clinic "
            "FROM audit_log a JOIN users u ON u.id = a.actor_id LEFT JOIN clinics c ON c.id = u.clinic_id "
            "WHERE a.patient_id = ? ORDER BY a.id DESC LIMIT ?",
            [patient_id, limit],
        )
    )


def send_invitation(
    db: Database, settings: dict, clinician: dict, *, email: str | None, phone: str | None, now: datetime
) -> int:
    """A clinician's invitation with its message, in one transaction: by email when an email is
    given, else by text. Returns the invitation's id."""
    with immediate(db):
        invitation_id, token = invite(db, clinician, email=email, phone=phone, now=now)
        row = db.execute(
            "SELECT i.invite_email, i.invite_phone, c.name FROM clinic_invitations i "
            "JOIN clinics c ON c.id = i.clinic_id WHERE i.id = ?",
            [invitation_id],
        ).fetchone()
        channel, recipient = ("email", row[0]) if email else ("sms", row[1])
        context = {
            "name": "",
            "clinic_name": row[2],
            "link": f"{settings['server.base_url']}/clinic-invitations/{token}",
        }
        delivery.queue_to_address(
            db, settings, channel=channel, recipient=recipient, kind="clinic_invitation", context=context, now=now
        )
    return invitation_id

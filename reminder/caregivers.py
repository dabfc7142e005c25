"""Caregivers: invitations a patient sends, links a caregiver accepts, and who may see whom.

A caregiver sees a patient only through an active link the patient made; revoking it ends
access at once. Every view and API route asks ``access`` (which asks ``can_see`` here) first.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, clinics, delivery, safety_contacts
from .db import immediate
from .errors import InputError
from .notify import CHANNELS
from .times import parse_instant, to_iso
from .tokens import INVITATION_DAYS, hash_token


def invite(db: Database, patient_id: int, *, email: str | None, phone: str | None, now: datetime) -> tuple[int, str]:
    """Create an invitation; return its id and the token for the link (shown once).

    Raises InputError for a missing or malformed address, or an address already linked.
    Call inside the caller's transaction (the invitation message is queued with it).
    """
    email = accounts.check_email(email) if email else None
    phone = accounts.check_phone(phone) if phone else None
    if not email and not phone:
        raise InputError("email", "Give the caregiver's email or mobile number.")
    patient = accounts.find_user(db, id=patient_id)
    if (email and email == patient["email"]) or (phone and phone == patient["phone"]):
        raise InputError("email" if email else "phone", "You cannot be your own caregiver.")
    token = secrets.token_urlsafe(16)
    cursor = db.execute(
        "INSERT INTO care_links (patient_id, invite_email, invite_phone, token_hash, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [patient_id, email, phone, hash_token(token), to_iso(now), to_iso(now + timedelta(days=INVITATION_DAYS))],
    )
    return cursor.lastrowid, token


def invitation(db: Database, token: str, now: datetime) -> dict:
    """The open invitation behind ``token``; InputError (404, 409 or 410) otherwise."""
    return _open(list(db.query("SELECT * FROM care_links WHERE token_hash = ?", [hash_token(token or "")])), now)


def _open(rows: list[dict], now: datetime) -> dict:
    if not rows or rows[0]["status"] == "revoked":
        raise InputError(None, "This invitation link doesn't match an open invitation.", status=404)
    link = rows[0]
    if link["status"] == "active":
        raise InputError(None, "This invitation was already accepted.", status=409)
    if now >= parse_instant(link["expires_at"]):
        raise InputError(None, "This invitation has expired: ask for a new one.", status=410)
    return link


def accept(db: Database, token: str, caregiver_id: int, now: datetime) -> dict:
    """The caregiver accepts: the link becomes active. Returns the link."""
    with immediate(db):
        return _accept(db, invitation(db, token, now), caregiver_id, now)


def accept_by_id(db: Database, link_id: int, caregiver_id: int, now: datetime) -> dict:
    """``accept`` for a sign-up that started at the invitation and was confirmed by email."""
    with immediate(db):
        return _accept(
            db, _open(list(db.query("SELECT * FROM care_links WHERE id = ?", [link_id])), now), caregiver_id, now
        )


def _accept(db: Database, link: dict, caregiver_id: int, now: datetime) -> dict:
    if caregiver_id == link["patient_id"]:
        raise InputError(None, "You cannot be your own caregiver.", status=409)
    if not is_invited(link, accounts.find_user(db, id=caregiver_id)):
        raise InputError(None, "This invitation was sent to someone else: log in with the invited address.", status=403)
    if db.execute(
        "SELECT 1 FROM care_links WHERE patient_id = ? AND caregiver_id = ? AND status = 'active'",
        [link["patient_id"], caregiver_id],
    ).fetchone():
        raise InputError(None, "You are already a caregiver of this patient.", status=409)
    db.execute(
        "UPDATE care_links SET status = 'active', caregiver_id = ?, accepted_at = ? WHERE id = ? AND status = 'invited'",
        [caregiver_id, to_iso(now), link["id"]],
    )
    return {**link, "status": "active", "caregiver_id": caregiver_id}


def is_invited(link: dict, account: dict | None) -> bool:
    """An invitation is accepted only by the account with the invited email or verified phone:
    a link forwarded to (or seen by) anyone else grants nothing."""
    return accounts.holds_address(account, link["invite_email"], link["invite_phone"])


def revoke(
    db: Database,
    patient_id: int,
    link_id: int,
    now: datetime,
    *,
    settings: dict | None = None,
    confirm: bool = True,
) -> bool:
    """End a link or invitation of this patient's at once; False when there is none.

    Without ``confirm``, refuses (``409 last_safety_contact``) to remove the last person or
    clinic watching a withdrawal-risk medication. With ``settings``, the caregiver is told
    their link ended."""
    with immediate(db):
        safety_contacts.check_removal(db, patient_id, link_id=link_id, confirm=confirm)
        cursor = db.execute(
            "UPDATE care_links SET status = 'revoked', revoked_at = ? WHERE id = ? AND patient_id = ? "
            "AND status != 'revoked' RETURNING caregiver_id, accepted_at",
            [to_iso(now), link_id, patient_id],
        )
        ended = cursor.fetchall()
        if settings is not None and ended and ended[0][0] is not None and ended[0][1] is not None:
            patient = accounts.find_user(db, id=patient_id)
            caregiver = accounts.find_user(db, id=ended[0][0])
            safety_contacts.tell_link_ended(db, settings, [caregiver], patient, "caregiver", now)
    return len(ended) == 1


def update_settings(db: Database, patient_id: int, caregiver_id: int, data: dict) -> None:
    """A caregiver's alert settings for one patient: which medications, which channel."""
    link = active_link(db, caregiver_id, patient_id)
    if link is None:
        raise InputError(None, "No such patient.", status=404)
    changes = {}
    if "medication_ids" in data:
        ids = data["medication_ids"]
        if ids is not None:
            own = {row[0] for row in db.execute("SELECT id FROM medications WHERE patient_id = ?", [patient_id])}
            if not isinstance(ids, list) or not all(isinstance(i, int) and i in own for i in ids):
                raise InputError(
                    "medication_ids", "medication_ids must list this patient's medication ids, or be null for all."
                )
            ids = json.dumps(sorted(ids))
        changes["medication_ids"] = ids
    if "channel" in data:
        if data["channel"] is not None and data["channel"] not in CHANNELS:
            named = ", ".join(f'"{channel}"' for channel in CHANNELS)
            raise InputError("channel", f"channel must be {named} or null (your own choice).")
        changes["channel"] = data["channel"]
    if "all_medications" in data:
        if not isinstance(data["all_medications"], bool):
            raise InputError("all_medications", "all_medications must be true or false.")
        changes["all_medications"] = int(data["all_medications"])
    if changes:
        db.execute(
            f"UPDATE care_links SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
            [*changes.values(), link["id"]],
        )


def active_link(db: Database, caregiver_id: int, patient_id: int) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM care_links WHERE caregiver_id = ? AND patient_id = ? AND status = 'active'",
            [caregiver_id, patient_id],
        )
    )
    return rows[0] if rows else None


def in_scope(link: dict, medication_id: int) -> bool:
    """Whether a link covers this medication: every one (no list chosen), or one in its list."""
    return link["medication_ids"] is None or medication_id in json.loads(link["medication_ids"])


def can_see(db: Database, user_id: int, patient_id: int) -> bool:
    """The patient themself, a caregiver with an active link, or a clinician of a clinic the
    patient is linked to."""
    if user_id == patient_id or active_link(db, user_id, patient_id) is not None:
        return True
    return clinics.clinician_sees(db, accounts.find_user(db, id=user_id) or {}, patient_id)


def patients_of(db: Database, user_id: int) -> list[dict]:
    """The patients ``user_id`` may see: themself if a patient, and every active link."""
    rows = list(
        db.query(
            "SELECT u.id, u.name, u.email, u.tz FROM users u JOIN care_links c ON c.patient_id = u.id "
            "WHERE c.caregiver_id = ? AND c.status = 'active' ORDER BY u.name, u.id",
            [user_id],
        )
    )
    me = accounts.find_user(db, id=user_id)
    if me and me["role"] == "patient":
        rows.insert(0, {key: me[key] for key in ("id", "name", "email", "tz")})
    return rows


def links_of(db: Database, patient_id: int) -> list[dict]:
    """A patient's caregivers and invitations, newest first, as the API shows them."""
    return [
        link_json(row)
        for row in db.query(
            "SELECT c.*, u.name AS caregiver_name, u.email AS caregiver_email FROM care_links c "
            "LEFT JOIN users u ON u.id = c.caregiver_id WHERE c.patient_id = ? ORDER BY c.id DESC",
            [patient_id],
        )
    ]


def link_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "status": row["status"],
        "invite_email": row["invite_email"],
        "invite_phone": row["invite_phone"],
        "caregiver_id": row["caregiver_id"],
        "caregiver_name": row.get("caregiver_name"),
        "caregiver_email": row.get("caregiver_email"),
        "medication_ids": json.loads(row["medication_ids"]) if row["medication_ids"] else None,
        "channel": row["channel"],
        "all_medications": bool(row["all_medications"]),
        "created_at": row["created_at"],
        "accepted_at": row["accepted_at"],
        "revoked_at": row["revoked_at"],
    }


def followers(
    db: Database, patient_id: int, medication_id: int | None, withdrawal_risk: bool
) -> list[tuple[dict, str | None]]:
    """Caregivers to tell about this patient's medication: (user row, channel override).

    Only active links that follow the medication; a medication without withdrawal risk only
    for caregivers who opted in to hear about every medication (domain.md section 3).
    """
    found = []
    for link in db.query("SELECT * FROM care_links WHERE patient_id = ? AND status = 'active'", [patient_id]):
        chosen = json.loads(link["medication_ids"]) if link["medication_ids"] else None
        if medication_id is not None and chosen is not None and medication_id not in chosen:
            continue
        if medication_id is not None and not withdrawal_risk and not link["all_medications"]:
            continue
        found.append((accounts.find_user(db, id=link["caregiver_id"]), link["channel"]))
    return found


def send_invitation(
    db: Database, settings: dict, patient: dict, *, email: str | None, phone: str | None, now: datetime
) -> dict:
    """Create the invitation and queue its message to each address given, in one transaction:
    both or neither. Returns the new link's row, with the addresses as stored."""
    with immediate(db):
        link_id, token = invite(db, patient["id"], email=email or None, phone=phone or None, now=now)
        link = next(db.query("SELECT * FROM care_links WHERE id = ?", [link_id]))
        context = {
            "name": "",
            "patient_name": patient["name"] or patient["email"],
            "link": f"{settings['server.base_url']}/invitations/{token}",
        }
        for channel, recipient in (("email", link["invite_email"]), ("sms", link["invite_phone"])):
            if recipient:
                delivery.queue_to_address(
                    db, settings, channel=channel, recipient=recipient, kind="invitation", context=context, now=now
                )
    return link

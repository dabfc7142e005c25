"""An email address proven before it is used: signing up, and a new email on an account.

Signing up answers the same for a taken and a free email, in the same time: both hash the
password, count against the address's limit and queue one email. A free email gets a link that
creates the account when it comes back; the owner of a taken one is told that someone tried,
with the login and reset links, so the form never says who has an account. A new email on an
account changes only when the link sent to it comes back. Links are single use, expire, and
only their hashes are kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, caregivers, delivery, throttle
from .db import immediate
from .errors import InputError
from .times import to_iso
from .tokens import hash_token

CONFIRM_VALID = timedelta(hours=24)
VALID_HOURS = 24  # said in the emails
GONE = "This link has expired or was already used. Register again, or log in if you already did."


@dataclass(frozen=True)
class Signup:
    """What the sign-up form sent. ``care_link_id`` and ``phone`` come from a caregiver
    invitation the form was opened from (the phone is the number a text invitation reached)."""

    email: str
    password: str
    name: str = ""
    tz: str = "UTC"
    role: str = "patient"
    phone: str | None = None
    care_link_id: int | None = None
    login_link: str = "/login"


def request_signup(db: Database, settings: dict, signup: Signup, address: str | None, now: datetime) -> str:
    """Queue the confirmation link (a free email) or tell the owner (a taken one); returns the
    email as stored. InputError for a bad field (nothing written), 429 past the address's limit."""
    email = accounts.check_email(signup.email)
    accounts.check_password(signup.password)
    name, tz = accounts.check_name(signup.name), accounts.check_tz(signup.tz)
    # Hashed for a taken email too, and outside the write lock: both answers take as long.
    password_hash = accounts.hash_password(signup.password)
    keys, limit = throttle.keys(None, address), throttle.limit_of(settings)
    base = settings["server.base_url"]
    with immediate(db):
        throttle.check(db, "register", keys, now, limit)
        throttle.failed(db, "register", keys, now, limit)  # every request counts, free or taken alike
        if accounts.find_user(db, email=email):
            context = {"link": f"{base}/password/forgot", "login": base + signup.login_link}
            delivery.queue_to_address(
                db, settings, channel="email", recipient=email, kind="account_exists", context=context, now=now
            )
            return email
        token = _store(
            db,
            "signup",
            email,
            now,
            password_hash=password_hash,
            role=signup.role,
            name=name,
            tz=tz,
            phone=signup.phone,
            care_link_id=signup.care_link_id,
        )
        context = {"link": f"{base}/register/confirm/{token}", "hours": VALID_HOURS}
        delivery.queue_to_address(
            db, settings, channel="email", recipient=email, kind="confirm_signup", context=context, now=now
        )
    return email


def finish_signup(db: Database, token: str, now: datetime) -> tuple[int, dict | None]:
    """Create the account behind a confirmation link and spend the link; accept the invitation
    it started from when that is still open. Returns the user's id and the accepted link (or
    None). InputError 404 for a link unknown, used or expired; 409 when the email got an account
    meanwhile."""
    with immediate(db):
        row = open_confirmation(db, "signup", token, now)
        if row is None:
            raise InputError(None, GONE, status=404)
        user_id = accounts.insert_user(
            db,
            email=row["email"],
            password_hash=row["password_hash"],
            role=row["role"],
            now=now,
            name=row["name"],
            phone=row["phone"],
            tz=row["tz"],
        )
        db.execute("DELETE FROM email_confirmations WHERE id = ?", [row["id"]])  # spent: nothing of it is kept
    link = None
    if row["care_link_id"] is not None:
        try:
            link = caregivers.accept_by_id(db, row["care_link_id"], user_id, now)
        except InputError:  # withdrawn or expired meanwhile: the account stands without it
            link = None
    return user_id, link


def request_email_change(db: Database, settings: dict, user_id: int, email, now: datetime) -> str | None:
    """Send a link to ``email`` that makes it the account's email; returns it, or None when it is
    the current one. A taken address gets nothing, and the answer is the same. Call inside the
    caller's transaction."""
    email = accounts.check_email(email)
    user = accounts.find_user(db, id=user_id)
    if email == user["email"].lower():
        return None
    db.execute(
        "UPDATE email_confirmations SET used_at = ? WHERE user_id = ? AND purpose = 'email_change' AND used_at IS NULL",
        [to_iso(now), user_id],
    )
    token = _store(db, "email_change", email, now, user_id=user_id)  # kept either way: the answer is the same
    if accounts.find_user(db, email=email) is None:
        context = {"link": f"{settings['server.base_url']}/email/confirm/{token}", "hours": VALID_HOURS}
        delivery.queue_to_address(
            db, settings, channel="email", recipient=email, kind="confirm_email", context=context, now=now
        )
    return email


def pending_email(db: Database, user_id: int, now: datetime) -> str | None:
    """The new email waiting for its link to come back, if any."""
    row = db.execute(
        "SELECT email FROM email_confirmations WHERE user_id = ? AND purpose = 'email_change' AND used_at IS NULL "
        "AND expires_at > ? ORDER BY id DESC LIMIT 1",
        [user_id, to_iso(now)],
    ).fetchone()
    return row[0] if row else None


def confirm_email_change(db: Database, token: str, now: datetime) -> int:
    """Make the link's address the account's email and spend the link; returns the user's id.
    InputError 404 for a link unknown, used or expired; 409 when the address got an account."""
    with immediate(db):
        row = open_confirmation(db, "email_change", token, now)
        if row is None:
            raise InputError(None, "This link has expired or was already used: change your email again.", status=404)
        if accounts.find_user(db, email=row["email"]):
            raise InputError("email", "Another account uses this email now.", status=409)
        db.execute("UPDATE users SET email = ? WHERE id = ?", [row["email"], row["user_id"]])
        db.execute("DELETE FROM email_confirmations WHERE id = ?", [row["id"]])  # spent: nothing of it is kept
    return row["user_id"]


def open_confirmation(db: Database, purpose: str, token: str, now: datetime) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM email_confirmations WHERE code_hash = ? AND purpose = ? AND used_at IS NULL "
            "AND expires_at > ?",
            [hash_token(accounts.plain_text(token)), purpose, to_iso(now)],
        )
    )
    return rows[0] if rows else None


def _store(db: Database, purpose: str, email: str, now: datetime, **fields) -> str:
    # Spent and expired links go as new ones come: a sign-up's password hash and an address
    # nobody confirmed are not kept past their link.
    db.execute("DELETE FROM email_confirmations WHERE used_at IS NOT NULL OR expires_at <= ?", [to_iso(now)])
    token = secrets.token_urlsafe(16)
    row = {
        "purpose": purpose,
        "email": email,
        "code_hash": hash_token(token),
        "created_at": to_iso(now),
        "expires_at": to_iso(now + CONFIRM_VALID),
        **fields,
    }
    db.execute(
        f"INSERT INTO email_confirmations ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
    )
    return token

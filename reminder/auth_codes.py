"""Password reset links and phone verification codes: single use, expiring, stored hashed.

A reset link goes by email to the account's address, or a reset code by SMS to its verified
phone; asking for either answers the same whether or not the address has an account, so the
form cannot be used to find out who has one. A phone code
goes by SMS to the number being verified; reminders go only to a verified number.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, delivery, throttle
from .db import immediate
from .errors import InputError
from .times import to_iso
from .tokens import hash_token

RESET_VALID = timedelta(hours=1)
RESET_CODE_MINUTES = 15  # six digits by SMS: shorter-lived than a link
RESET_CODE_VALID = timedelta(minutes=RESET_CODE_MINUTES)
PHONE_CODE_VALID = timedelta(hours=1)
PHONE_CODE_DIGITS = 6


def request_reset(db: Database, settings: dict, email, address: str | None, now: datetime, by: str = "email") -> None:
    """Queue a reset link by email (``by="email"``) or a code by SMS to the account's verified
    phone (``by="sms"``) if ``email`` has an account; nothing is said either way, and an account
    without a verified phone gets nothing by SMS.

    Counted against the address and the email like a failed login, so the form cannot flood an
    inbox or a phone or be used to probe addresses at speed."""
    email = accounts.plain_text(email).strip().lower()
    keys, limit = throttle.keys(email, address), throttle.limit_of(settings)
    with immediate(db):
        throttle.check(db, "reset", keys, now, limit)
        throttle.failed(db, "reset", keys, now, limit)
        user = accounts.find_user(db, email=email) if email else None
        if user is None:
            return
        if by == "sms":
            if user["phone"] and user["phone_verified"]:
                _send_reset_code(db, settings, user, now)
            return
        token = secrets.token_urlsafe(16)
        db.execute(
            "UPDATE auth_codes SET used_at = ? WHERE user_id = ? AND purpose = 'password_reset' AND used_at IS NULL",
            [to_iso(now), user["id"]],
        )
        _store(db, user["id"], "password_reset", token, None, now, now + RESET_VALID)
        context = {"link": f"{settings['server.base_url']}/password/reset/{token}", "minutes": 60}
        delivery.queue_to_address(
            db, settings, channel="email", recipient=user["email"], kind="password_reset", context=context, now=now
        )


def _send_reset_code(db: Database, settings: dict, user: dict, now: datetime) -> None:
    """A six-digit reset code by SMS; the account's earlier codes by SMS stop working."""
    code = "".join(secrets.choice("0123456789") for _ in range(PHONE_CODE_DIGITS))
    # Earlier codes are deleted, not marked used: their hashes could repeat this one's.
    db.execute(
        "DELETE FROM auth_codes WHERE user_id = ? AND purpose = 'password_reset' AND phone IS NOT NULL", [user["id"]]
    )
    _store(
        db, user["id"], "password_reset", _reset_secret(user["id"], code), user["phone"], now, now + RESET_CODE_VALID
    )
    delivery.queue_to_address(
        db,
        settings,
        channel="sms",
        recipient=user["phone"],
        kind="reset_code",
        context={"code": code, "minutes": RESET_CODE_MINUTES},
        now=now,
    )


def reset_with_code(
    db: Database, email, code, password, address: str | None, now: datetime, limit: throttle.Limit = throttle.DEFAULT
) -> int:
    """Set the password with the code texted to the account's verified phone and spend it; every
    session ends. A wrong code counts as a failed guess (against the account and the address);
    InputError ``code`` (400 wrong_code) for a wrong or expired code, ``password`` for a short
    password. Returns the user's id."""
    email, code = accounts.plain_text(email).strip().lower(), accounts.plain_text(code).strip()
    keys = throttle.keys(email, address)
    with immediate(db):
        throttle.check(db, "reset_code", keys, now, limit)
        user = accounts.find_user(db, email=email) if email else None
        found = None
        if user is not None and code.isascii() and code.isdigit():
            found = _open_code(db, "password_reset", _reset_secret(user["id"], code), now)
        if found is None or found["phone"] != user["phone"] or not user["phone_verified"]:
            throttle.failed(db, "reset_code", keys, now, limit)
            found = None
    if found is None:
        raise InputError(
            "code", "That code is not right or has expired: ask for a new one.", status=400, code="wrong_code"
        )
    hashed = accounts.hash_password(accounts.check_password(password))
    used = InputError("code", "That code was already used: ask for a new one.", status=400, code="wrong_code")
    return _spend_and_set_password(db, found, hashed, now, used)


def _reset_secret(user_id: int, code: str) -> str:
    # Hashed with the user's id and a purpose: six digits alone would collide between users and
    # with phone verification codes.
    return f"reset:{user_id}:{code}"


def link_is_open(db: Database, token: str, now: datetime) -> bool:
    return _open_code(db, "password_reset", token, now) is not None


def reset(
    db: Database, token: str, password, address: str | None, now: datetime, limit: throttle.Limit = throttle.DEFAULT
) -> int:
    """Set the password through an open reset link and spend the link; every session ends.

    InputError 404 for a link that is unknown, used or expired (counted as a failed guess),
    field ``password`` for a password too short. Returns the user's id."""
    keys = throttle.keys(None, address)
    with immediate(db):
        throttle.check(db, "reset", keys, now, limit)
        code = _open_code(db, "password_reset", token, now)
        if code is None:
            throttle.failed(db, "reset", keys, now, limit)
    if code is None:
        raise InputError(None, "This reset link has expired or was already used: ask for a new one.", status=404)
    hashed = accounts.hash_password(accounts.check_password(password))
    used = InputError(None, "This reset link was already used: ask for a new one.", status=404)
    return _spend_and_set_password(db, code, hashed, now, used)


def _spend_and_set_password(db: Database, code: dict, hashed: str, now: datetime, used: InputError) -> int:
    """Spend a reset code or link and set its user's password, in one transaction; ``used`` when
    the same one was used twice at once (the first one wins). Returns the user's id."""
    with immediate(db):
        spent = db.execute(
            "UPDATE auth_codes SET used_at = ? WHERE id = ? AND used_at IS NULL", [to_iso(now), code["id"]]
        ).rowcount
        if spent != 1:
            raise used
        accounts.set_password_hash(db, code["user_id"], hashed)
    return code["user_id"]


def send_phone_code(db: Database, settings: dict, user_id: int, phone: str, now: datetime) -> None:
    """Queue a code by SMS to ``phone``, the user's new number; the previous codes stop working.
    Call inside the caller's transaction (the one that set the number)."""
    code = "".join(secrets.choice("0123456789") for _ in range(PHONE_CODE_DIGITS))
    db.execute(
        "UPDATE auth_codes SET used_at = ? WHERE user_id = ? AND purpose = 'phone' AND used_at IS NULL",
        [to_iso(now), user_id],
    )
    # The code is hashed with the user's id: six digits alone would collide between users.
    _store(db, user_id, "phone", f"{user_id}:{code}", phone, now, now + PHONE_CODE_VALID)
    delivery.queue_to_address(
        db, settings, channel="sms", recipient=phone, kind="phone_code", context={"code": code}, now=now
    )


def verify_phone(
    db: Database, user_id: int, code, address: str | None, now: datetime, limit: throttle.Limit = throttle.DEFAULT
) -> None:
    """Mark the user's number verified with the code sent to it; a wrong code counts as a failed guess."""
    user = accounts.find_user(db, id=user_id)
    keys = throttle.keys(user["email"], address)
    code = accounts.plain_text(code).strip()
    with immediate(db):
        throttle.check(db, "phone", keys, now, limit)
        row = _open_code(db, "phone", f"{user_id}:{code}", now) if code.isdigit() else None
        if row is None or row["phone"] != user["phone"]:
            throttle.failed(db, "phone", keys, now, limit)
            row = None
        else:
            db.execute("UPDATE auth_codes SET used_at = ? WHERE id = ?", [to_iso(now), row["id"]])
            db.execute("UPDATE users SET phone_verified = 1 WHERE id = ? AND phone = ?", [user_id, row["phone"]])
    if row is None:
        raise InputError(
            "code",
            "That code is not right or has expired: check the text we sent, or save the number again for a new code.",
            status=400,
            code="wrong_code",
        )


def _store(db: Database, user_id: int, purpose: str, secret: str, phone, now: datetime, until: datetime) -> None:
    db.execute(
        "INSERT INTO auth_codes (user_id, purpose, code_hash, phone, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        [user_id, purpose, hash_token(secret), phone, to_iso(now), to_iso(until)],
    )


def _open_code(db: Database, purpose: str, secret: str, now: datetime) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM auth_codes WHERE code_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
            [hash_token(accounts.plain_text(secret)), purpose, to_iso(now)],
        )
    )
    return rows[0] if rows else None

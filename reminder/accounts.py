"""Accounts: users with a role, Werkzeug password hashes, and hashed personal API tokens."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from datetime import datetime, timedelta

import phonenumbers
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from . import quiet_hours
from .db import immediate
from .errors import InputError
from .notify import CHANNELS
from .times import to_iso, zone
from .tokens import hash_token

ROLES = ("patient", "caregiver", "clinician", "admin")
MIN_PASSWORD = 8
# Werkzeug's hashing method for new passwords. scrypt is deliberately slow; the tests set a cheap
# method through a fixture (as healthchecks' test settings do), production keeps this default.
PASSWORD_METHOD = "scrypt"
_EMAIL = re.compile(r"^[^@\s,;<>\"()]+@[^@\s,;<>\"()]+\.[^@\s,;<>\"()]+$")
# Numbers that can receive a text (NANP numbers cannot be told apart, and 500 numbers are
# Twilio's test numbers).
TEXTABLE = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.VOIP,
}
TOKEN_PREFIX = "rmd_"
TOKEN_USE_NOTED_EVERY = timedelta(minutes=1)


def check_email(email) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()) or len(email) > 254:
        raise InputError("email", "Enter a valid email address, like name@example.com.")
    return email.strip().lower()


def check_phone(phone) -> str | None:
    """A valid number with its country code, returned in E.164 (``+33612345678``); '' or None is none."""
    if phone in (None, ""):
        return None
    message = "Enter a mobile number with its country code, like +1 212 555 0100 or +33 6 12 34 56 78."
    if not isinstance(phone, str) or len(phone) > 32:
        raise InputError("phone", message)
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        raise InputError("phone", message) from None
    if not phonenumbers.is_valid_number(number):
        raise InputError("phone", message)
    if phonenumbers.number_type(number) not in TEXTABLE:
        raise InputError("phone", "That number cannot receive text messages: give a mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_channels(channels, phone: str | None) -> str:
    """The chosen channels as stored (a JSON list); SMS needs a phone number."""
    if isinstance(channels, str):
        channels = [channels]
    if not isinstance(channels, list) or not channels or any(c not in CHANNELS for c in channels):
        raise InputError("channels", 'Choose how to get reminders: ["sms"], ["email"] or both.')
    if "sms" in channels and not phone:
        raise InputError("channels", "Add a mobile phone number to get text reminders.")
    return json.dumps([c for c in CHANNELS if c in channels])


def check_tz(name) -> str:
    try:
        zone(name)
    except ValueError as error:
        raise InputError("tz", str(error)) from None
    return name


def create_user(
    db: Database,
    *,
    email: str,
    password: str,
    role: str,
    now: datetime,
    name: str = "",
    phone: str | None = None,
    tz: str = "UTC",
) -> int:
    """Create a user; raise InputError for a bad or taken field. Writes nothing on error."""
    email = check_email(email)
    if role not in ROLES:
        raise InputError("role", f"role must be one of {', '.join(ROLES)}.")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError("password", f"Choose a password of at least {MIN_PASSWORD} characters.")
    phone, tz = check_phone(phone), check_tz(tz)
    if db.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
        raise InputError("email", "An account with this email already exists.", status=409)
    try:
        cursor = db.execute(
            "INSERT INTO users (email, password_hash, role, name, phone, tz, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [email, hash_password(password), role, check_name(name), phone, tz, to_iso(now)],
        )
    except sqlite3.IntegrityError:  # the same email registered at the same moment
        raise InputError("email", "An account with this email already exists.", status=409) from None
    return cursor.lastrowid


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_name(name) -> str:
    if name is None:
        return ""
    if not isinstance(name, str) or any(ord(c) < 32 for c in name):
        raise InputError("name", "name must be plain text.")
    return name.strip()[:100]


def authenticate(db: Database, email: str, password: str) -> dict | None:
    user = find_user(db, email=(email or "").strip().lower())
    if user and check_password_hash(user["password_hash"], password or ""):
        return user
    return None


def find_user(db: Database, *, id: int | None = None, email: str | None = None) -> dict | None:
    column, value = ("id", id) if id is not None else ("email", email)
    rows = list(db.query(f"SELECT * FROM users WHERE {column} = ?", [value]))
    return rows[0] if rows else None


def create_token(db: Database, user_id: int, now: datetime, label: str = "") -> str:
    """A new personal API token, returned once; only its SHA-256 is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
        [user_id, hash_token(token), label, to_iso(now)],
    )
    return token


def user_for_token(db: Database, token: str, now: datetime) -> dict | None:
    """The user whose API token this is, or None; notes when the token was last used.

    The note is written at most once per ``TOKEN_USE_NOTED_EVERY`` for each token, so a busy
    client does not turn every read into a write that waits for the write lock.
    """
    row = db.execute(
        "SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = ?", [hash_token(token)]
    ).fetchone()
    if row is None:
        return None
    token_id, user_id, last_used_at = row
    stale = to_iso(now - TOKEN_USE_NOTED_EVERY)
    if last_used_at is None or last_used_at <= stale:
        with immediate(db):  # conditional: of two requests at once, one writes
            db.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                [to_iso(now), token_id, stale],
            )
    return find_user(db, id=user_id)


def update_profile(db: Database, user_id: int, changes: dict) -> None:
    """Change tz, phone, email, name, channels or quiet hours; checked first, written together."""
    checked = {}
    if "tz" in changes:
        checked["tz"] = check_tz(changes["tz"])
    if "phone" in changes:
        checked["phone"] = check_phone(changes["phone"])
    if "email" in changes:
        checked["email"] = check_email(changes["email"])
        taken = db.execute("SELECT 1 FROM users WHERE email = ? AND id != ?", [checked["email"], user_id]).fetchone()
        if taken:
            raise InputError("email", "Another account uses this email.", status=409)
    if "name" in changes:
        checked["name"] = check_name(changes["name"])
    for key in ("quiet_start", "quiet_end"):  # quiet hours, local HH:MM
        if key in changes:
            checked[key] = quiet_hours.check(changes[key], key)
    if "channels" in changes or "phone" in checked:
        current = find_user(db, id=user_id)
        phone = checked["phone"] if "phone" in checked else current["phone"]
        chosen = (
            changes["channels"]
            if "channels" in changes
            else (json.loads(current["channels"]) if current["channels"] else None)
        )
        if chosen is not None:
            checked["channels"] = check_channels(chosen, phone)
    if checked:
        assignments = ", ".join(f"{key} = ?" for key in checked)
        db.execute(f"UPDATE users SET {assignments} WHERE id = ?", [*checked.values(), user_id])

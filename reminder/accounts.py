"""Accounts: users with a role, Werkzeug password hashes, and hashed personal API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import InputError
from .times import to_iso, zone

ROLES = ("patient", "caregiver", "clinician", "admin")
MIN_PASSWORD = 8
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
TOKEN_PREFIX = "rmd_"


def check_email(email) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()) or len(email) > 254:
        raise InputError("email", "Enter a valid email address, like name@example.com.")
    return email.strip().lower()


def check_phone(phone) -> str | None:
    """An E.164 number (``+447700900123``), spaces and dashes allowed; '' or None means none."""
    if phone in (None, ""):
        return None
    cleaned = re.sub(r"[\s\-().]", "", phone) if isinstance(phone, str) else None
    if not cleaned or not _PHONE.match(cleaned):
        raise InputError("phone", "Enter the phone number with its country code, like +44 7700 900123.")
    return cleaned


def check_tz(name) -> str:
    try:
        zone(name)
    except ValueError as error:
        raise InputError("tz", str(error)) from None
    return name


def create_user(db: Database, *, email: str, password: str, role: str, now: datetime,
                name: str = "", phone: str | None = None, tz: str = "UTC") -> int:
    """Create a user; raise InputError for a bad or taken field. Writes nothing on error."""
    email = check_email(email)
    if role not in ROLES:
        raise InputError("role", f"role must be one of {', '.join(ROLES)}.")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError("password", f"Choose a password of at least {MIN_PASSWORD} characters.")
    phone, tz = check_phone(phone), check_tz(tz)
    if db.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
        raise InputError("email", "An account with this email already exists.", status=409)
    cursor = db.execute(
        "INSERT INTO users (email, password_hash, role, name, phone, tz, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [email, generate_password_hash(password), role, (name or "").strip()[:100], phone, tz, to_iso(now)],
    )
    return cursor.lastrowid


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
        [user_id, _digest(token), label, to_iso(now)],
    )
    return token


def user_for_token(db: Database, token: str) -> dict | None:
    row = db.execute("SELECT user_id FROM api_tokens WHERE token_hash = ?", [_digest(token)]).fetchone()
    return find_user(db, id=row[0]) if row else None


def update_profile(db: Database, user_id: int, changes: dict) -> None:
    """Change tz, phone, email or name; checked first, written together."""
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
        checked["name"] = str(changes["name"] or "").strip()[:100]
    if checked:
        assignments = ", ".join(f"{key} = ?" for key in checked)
        db.execute(f"UPDATE users SET {assignments} WHERE id = ?", [*checked.values(), user_id])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

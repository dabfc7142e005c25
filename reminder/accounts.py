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
from .throttle import DEFAULT as DEFAULT_LIMIT
from .throttle import Limit
from .throttle import check as check_throttle
from .throttle import failed as count_failure
from .throttle import keys as throttle_keys
from .times import parse_instant, to_iso, zone
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
MAX_TOKEN_DAYS = 3660
_dummy_hashes: dict[str, str] = {}


def check_email(email) -> str:
    if not plain_text(email) or not _EMAIL.match(email.strip()) or len(email) > 254:
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
        raise InputError("channels", 'Choose how to get reminders: any of ["sms", "email", "push"].')
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
    """Create a user; raise InputError for a bad or taken field. Writes nothing on error.

    For an account made by someone trusted (an admin, the CLI, the demo): a sign-up from the
    public form goes through ``signups``, which never says whether an email is taken."""
    email = check_email(email)
    if role not in ROLES:
        raise InputError("role", f"role must be one of {', '.join(ROLES)}.")
    check_password(password)
    phone, tz = check_phone(phone), check_tz(tz)
    return insert_user(
        db, email=email, password_hash=hash_password(password), role=role, now=now, name=name, phone=phone, tz=tz
    )


def insert_user(
    db: Database,
    *,
    email: str,
    password_hash: str,
    role: str,
    now: datetime,
    name: str = "",
    phone: str | None = None,
    tz: str = "UTC",
) -> int:
    """Insert an account whose fields were checked; InputError 409 when the email is taken."""
    if db.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
        raise InputError("email", "An account with this email already exists.", status=409)
    try:
        cursor = db.execute(
            "INSERT INTO users (email, password_hash, role, name, phone, tz, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [email, password_hash, role, check_name(name), phone, tz, to_iso(now)],
        )
    except sqlite3.IntegrityError:  # the same email registered at the same moment
        raise InputError("email", "An account with this email already exists.", status=409) from None
    return cursor.lastrowid


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_name(name) -> str:
    if name is None:
        return ""
    if not isinstance(name, str) or plain_text(name) != name or any(ord(c) < 32 for c in name):
        raise InputError("name", "name must be plain text.")
    return name.strip()[:100]


def authenticate(db: Database, email: str, password: str) -> dict | None:
    """The user with this email and password, or None.

    An unknown email still checks the password against a hash made the same way, so the answer
    takes as long either way and its timing does not tell which emails have an account."""
    email, password = plain_text(email), plain_text(password)
    user = find_user(db, email=email.strip().lower()) if email else None
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user["password_hash"], password) else None


def log_in(
    db: Database, email: str, password: str, address: str | None, now: datetime, limit: Limit = DEFAULT_LIMIT
) -> dict | None:
    """``authenticate`` with a limit on guessing: a failure counts against the account and the
    address, and past the limit the attempt is refused (``throttle.TooManyAttempts``, a 429)
    whether or not the password is right. A failure is counted in its own transaction."""
    keys = throttle_keys(plain_text(email), address)
    check_throttle(db, "login", keys, now, limit)
    # The hash is checked outside the write lock (scrypt takes a while; every writer would wait).
    # Guesses sent at the same instant may each pass the check: a few over the limit, no more.
    user = authenticate(db, email, password)
    if user is None:
        with immediate(db):
            count_failure(db, "login", keys, now, limit)
    return user


def plain_text(value) -> str:
    """``value`` if it is a string that can be stored and hashed (no lone surrogates), else ''."""
    if not isinstance(value, str):
        return ""
    try:
        value.encode()
    except UnicodeEncodeError:
        return ""
    return value


def _dummy_hash() -> str:
    if PASSWORD_METHOD not in _dummy_hashes:
        _dummy_hashes[PASSWORD_METHOD] = generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD)
    return _dummy_hashes[PASSWORD_METHOD]


def check_password(password) -> str:
    if not plain_text(password) or len(password) < MIN_PASSWORD:
        raise InputError("password", f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise InputError("password", "Choose a password of at most 1024 characters.")
    return password


def set_password_hash(db: Database, user_id: int, password_hash: str) -> None:
    """A new password (hashed before the transaction: scrypt would hold the write lock); every
    session and remember cookie of the account ends with the old one. Call inside the caller's
    transaction."""
    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user_id])
    end_sessions(db, user_id)


def change_password(
    db: Database,
    user_id: int,
    current: str,
    new: str,
    address: str | None,
    now: datetime,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Change the password after checking the current one (a wrong one counts as a failed login)."""
    user = find_user(db, id=user_id)
    keys = throttle_keys(user["email"], address)
    check_throttle(db, "login", keys, now, limit)
    right = check_password_hash(user["password_hash"], plain_text(current))
    if not right:
        with immediate(db):
            count_failure(db, "login", keys, now, limit)
        raise InputError("current_password", "Your current password is not right.", status=403, code="wrong_password")
    hashed = hash_password(check_password(new))
    with immediate(db):
        set_password_hash(db, user_id, hashed)


def end_sessions(db: Database, user_id: int) -> None:
    """Log the account out everywhere: every session and remember cookie issued so far is refused."""
    db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", [user_id])


def session_id(user: dict) -> str:
    """What a session and a remember cookie carry for ``user``: the id and the session version."""
    return f"{user['id']}:{user['session_version']}"


def user_for_session(db: Database, session_value: str) -> dict | None:
    """The user a session or remember cookie names, if it was issued since their last logout."""
    user_id, _, version = (session_value or "").partition(":")
    if not (user_id.isascii() and user_id.isdigit() and version.isascii() and version.isdigit()):
        return None  # cookies issued before sessions had versions end too
    user = find_user(db, id=int(user_id))
    return user if user and user["session_version"] == int(version) else None


def holds_address(account: dict | None, email: str | None, phone: str | None) -> bool:
    """Whether ``account`` has this email, or this phone number verified: what an invitation sent
    to an address asks of whoever accepts it (a link forwarded to anyone else grants nothing)."""
    if account is None:
        return False
    own_phone = account["phone"] if account.get("phone_verified", 1) else None
    return bool(email and email.lower() == (account["email"] or "").lower()) or bool(phone and phone == own_phone)


def find_user(db: Database, *, id: int | None = None, email: str | None = None) -> dict | None:
    column, value = ("id", id) if id is not None else ("email", email)
    rows = list(db.query(f"SELECT * FROM users WHERE {column} = ?", [value]))
    return rows[0] if rows else None


def create_token(db: Database, user_id: int, now: datetime, label: str = "", expires_at: datetime | None = None) -> str:
    """A new personal API token, returned once; only its SHA-256 is stored. ``expires_at`` None never expires."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        [user_id, hash_token(token), label, to_iso(now), to_iso(expires_at) if expires_at else None],
    )
    return token


def check_token_request(label, expires_in_days, now: datetime) -> tuple[str, datetime | None]:
    """A new token's label and expiry from what the caller sent (days from now; None never expires)."""
    if label is None:
        label = ""
    if plain_text(label) != label or len(label) > 100 or any(ord(c) < 32 for c in label):
        raise InputError("label", "label is plain text of at most 100 characters.")
    if expires_in_days in (None, ""):
        return label.strip(), None
    if isinstance(expires_in_days, str) and expires_in_days.isascii() and expires_in_days.isdigit():
        expires_in_days = int(expires_in_days)
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
        raise InputError("expires_in_days", "expires_in_days is a whole number of days.")
    if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise InputError("expires_in_days", f"expires_in_days is between 1 and {MAX_TOKEN_DAYS}.")
    return label.strip(), now + timedelta(days=expires_in_days)


def tokens_of(db: Database, user_id: int) -> list[dict]:
    """The user's API tokens, newest first: never the token itself, which is not stored."""
    return list(
        db.query(
            "SELECT id, label, created_at, last_used_at, expires_at FROM api_tokens WHERE user_id = ? ORDER BY id DESC",
            [user_id],
        )
    )


def revoke_token(db: Database, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False when they have no such token."""
    return db.execute("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", [token_id, user_id]).rowcount == 1


def user_for_token(db: Database, token: str, now: datetime) -> dict | None:
    """The user whose unexpired API token this is, or None; notes when the token was last used.

    The note is written at most once per ``TOKEN_USE_NOTED_EVERY`` for each token, so a busy
    client does not turn every read into a write that waits for the write lock.
    """
    row = db.execute(
        "SELECT id, user_id, last_used_at, expires_at FROM api_tokens WHERE token_hash = ?", [hash_token(token)]
    ).fetchone()
    if row is None:
        return None
    token_id, user_id, last_used_at, expires_at = row
    if expires_at is not None and parse_instant(expires_at) <= now:
        return None
    stale = to_iso(now - TOKEN_USE_NOTED_EVERY)
    if last_used_at is None or last_used_at <= stale:
        with immediate(db):  # conditional: of two requests at once, one writes
            db.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                [to_iso(now), token_id, stale],
            )
    return find_user(db, id=user_id)


def check_name_medication(value) -> int | None:
    """Whether reminders name the medication: true, false, or null (the server's default)."""
    if value is None:
        return None
    if value in (True, "on", "true", "1"):
        return 1
    if value in (False, "", "off", "false", "0"):
        return 0
    raise InputError("name_medication", "name_medication must be true, false or null.")


def names_medication(user: dict, settings: dict) -> bool:
    """Whether this person's messages name the medication (their choice, else the server's)."""
    chosen = user.get("name_medication")
    return settings["notify.name_medication"] if chosen is None else bool(chosen)


def update_profile(db: Database, user_id: int, changes: dict) -> None:
    """Change tz, phone, name, channels or quiet hours; checked first, written together.
    A new phone number is unverified until its code comes back; a new email changes only
    through the link sent to it (``signups.request_email_change``)."""
    checked = {}
    if "tz" in changes:
        checked["tz"] = check_tz(changes["tz"])
    if "phone" in changes:
        checked["phone"] = check_phone(changes["phone"])
        if checked["phone"] != find_user(db, id=user_id)["phone"]:
            # A number the user typed is theirs only once they enter the code sent to it
            # (``auth_codes.send_phone_code``); until then no reminder goes to it.
            checked["phone_verified"] = 0 if checked["phone"] else 1
    if "name" in changes:
        checked["name"] = check_name(changes["name"])
    for key in ("quiet_start", "quiet_end"):  # quiet hours, local HH:MM
        if key in changes:
            checked[key] = quiet_hours.check(changes[key], key)
    if "name_medication" in changes:
        checked["name_medication"] = check_name_medication(changes["name_medication"])
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

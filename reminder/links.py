"""One-tap phone links: ``{base_url}/d/{token}``, no login needed.

A token is 128 random bits, shown once in the message and stored only as its SHA-256, tied to
one dose, and valid until 24 h (``links.expire_hours``) after that dose's window closes.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlite_utils import Database

from .times import parse_instant, to_iso
from .tokens import hash_token

TOKEN_BYTES = 16


class LinkNotFound(LookupError):
    """No dose has this token: mistyped, tampered or never issued (404)."""


class LinkExpired(LookupError):
    """The token was real but its time is over (410)."""


def issue(db: Database, dose_id: int, expires_at: datetime, now: datetime) -> str:
    """Store a new token for ``dose_id`` and return it; it is never stored in the clear."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.execute(
        "INSERT INTO dose_links (dose_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?)",
        [dose_id, hash_token(token), to_iso(expires_at), to_iso(now)],
    )
    return token


def resolve(db: Database, token: str, now: datetime) -> int:
    """The dose id of ``token``; raises LinkNotFound or LinkExpired."""
    if not token or len(token) > 64:
        raise LinkNotFound(token)
    row = db.execute("SELECT dose_id, expires_at FROM dose_links WHERE token_hash = ?", [hash_token(token)]).fetchone()
    if row is None:
        raise LinkNotFound(token)
    if now >= parse_instant(row[1]):
        raise LinkExpired(token)
    return row[0]

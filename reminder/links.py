"""One-tap phone links: ``{base_url}/d/{token}`` for a dose, ``/g/{token}`` for doses due together; no login.

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
    return _issue(db, "dose_links", "dose_id", dose_id, expires_at, now)


def resolve(db: Database, token: str, now: datetime) -> int:
    """The dose id of ``token``; raises LinkNotFound or LinkExpired."""
    return _resolve(db, "dose_links", "dose_id", token, now)


def reissue(db: Database, dose_id: int, now: datetime) -> str:
    """A new token for ``dose_id``, valid as long as its latest (for a copy on another channel
    once the first copy's token was forgotten)."""
    return _reissue(db, "dose_links", "dose_id", dose_id, now)


# ---------------------------------------------------------------- group links: ``/g/{token}``
# Doses of one patient due at the same instant share one message and one link to a page that
# lists them (issue 9 section 6). The token is made and kept exactly as a dose's.


def reissue_group(db: Database, group_id: int, now: datetime) -> str:
    """``reissue`` for dose group ``group_id``."""
    return _reissue(db, "dose_group_links", "group_id", group_id, now)


def resolve_group(db: Database, token: str, now: datetime) -> int:
    """The dose group id of ``token``; raises LinkNotFound or LinkExpired."""
    return _resolve(db, "dose_group_links", "group_id", token, now)


# The two link tables differ only in what they point to (fixed names, never user input).
def _issue(db: Database, table: str, owner: str, owner_id: int, expires_at: datetime, now: datetime) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.execute(_INSERT.format(table=table, owner=owner), [owner_id, hash_token(token), to_iso(expires_at), to_iso(now)])
    return token


def _reissue(db: Database, table: str, owner: str, owner_id: int, now: datetime) -> str:
    expires = db.execute(f"SELECT max(expires_at) FROM {table} WHERE {owner} = ?", [owner_id]).fetchone()[0]
    return _issue(db, table, owner, owner_id, parse_instant(expires) if expires else now, now)


_INSERT = "INSERT INTO {table} ({owner}, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?)"


def store_many(db: Database, doses: list[tuple], groups: list[tuple]) -> None:
    """Store tokens issued for a batch, one statement per table: rows of (dose or group id,
    token hash, expires_at, created_at)."""
    db.conn.executemany(_INSERT.format(table="dose_links", owner="dose_id"), doses)
    db.conn.executemany(_INSERT.format(table="dose_group_links", owner="group_id"), groups)


def _resolve(db: Database, table: str, owner: str, token: str, now: datetime) -> int:
    if not token or len(token) > 64:
        raise LinkNotFound(token)
    row = db.execute(f"SELECT {owner}, expires_at FROM {table} WHERE token_hash = ?", [hash_token(token)]).fetchone()
    if row is None:
        raise LinkNotFound(token)
    if now >= parse_instant(row[1]):
        raise LinkExpired(token)
    return row[0]


def group_doses(db: Database, group_id: int) -> list[int]:
    """The ids of the doses in group ``group_id``, in the order they were listed."""
    return [r[0] for r in db.execute("SELECT dose_id FROM dose_group_members WHERE group_id = ?", [group_id])]

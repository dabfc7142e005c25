"""Limits on guessing: failed logins, reset and phone codes, clinic join codes.

Each failure is a row in ``attempts``, keyed by what was guessed at (an account) and by who
guessed (an address). Past ``LIMIT`` failures within ``WINDOW`` on any of its keys, a request is
refused before it is even checked, with the seconds until the oldest failure ages out. The rows
live in the database, so every server process counts the same failures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil

from sqlite_utils import Database

from .errors import InputError
from .times import parse_instant, to_iso

LIMIT = 10
WINDOW = timedelta(minutes=15)


class TooManyAttempts(InputError):
    """Refused for now: ``retry_after`` seconds until another try is counted."""

    def __init__(self, retry_after: int):
        minutes = max(1, ceil(retry_after / 60))
        super().__init__(
            None, f"Too many tries. Wait {minutes} minute{'s' if minutes != 1 else ''} and try again.", 429, "throttled"
        )
        self.retry_after = retry_after


def keys(account: str | None = None, address: str | None = None) -> list[str]:
    """The keys a guess counts against: the account guessed at and the address it came from."""
    found = []
    if account:
        found.append(f"account:{account.strip().lower()}")
    if address:
        found.append(f"address:{address}")
    return found


def check(db: Database, kind: str, keys: list[str], now: datetime) -> None:
    """Raise TooManyAttempts when any of ``keys`` has ``LIMIT`` failures of ``kind`` in ``WINDOW``."""
    since = to_iso(now - WINDOW)
    for key in keys:
        rows = db.execute(
            "SELECT at FROM attempts WHERE kind = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT ?",
            [kind, key, since, LIMIT],
        ).fetchall()
        if len(rows) >= LIMIT:
            oldest = parse_instant(rows[-1][0])
            raise TooManyAttempts(max(1, ceil((oldest + WINDOW - now).total_seconds())))


def failed(db: Database, kind: str, keys: list[str], now: datetime) -> None:
    """Count one failure against each of ``keys``; old rows of ``kind`` are cleared as it goes.

    Written by the caller in its own transaction, committed even though the request fails."""
    db.execute("DELETE FROM attempts WHERE kind = ? AND at <= ?", [kind, to_iso(now - WINDOW)])
    db.conn.executemany(
        "INSERT INTO attempts (kind, key, at) VALUES (?, ?, ?)", [[kind, key, to_iso(now)] for key in keys]
    )

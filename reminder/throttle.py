"""Limits on guessing: failed logins, reset and phone codes, clinic join codes.

Each failure is a row in ``attempts``, keyed by what was guessed at (an account) and by who
guessed (an address). Past ``Limit.attempts`` failures within ``Limit.window`` on any of its keys
(settings ``limits.failed_attempts`` and ``limits.window_minutes``), a request is
refused before it is even checked, with the seconds until the oldest failure ages out. The rows
live in the database, so every server process counts the same failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlite_utils import Database

from .errors import InputError
from .times import parse_instant, to_iso


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` failures on one key within ``window`` (the settings
    ``limits.failed_attempts`` and ``limits.window_minutes``)."""

    attempts: int = 10
    window: timedelta = timedelta(minutes=15)


DEFAULT = Limit()
LIMIT, WINDOW = DEFAULT.attempts, DEFAULT.window  # the defaults; a server's settings may choose others


def limit_of(settings: dict) -> Limit:
    """The limit a server's settings choose."""
    return Limit(settings["limits.failed_attempts"], timedelta(minutes=settings["limits.window_minutes"]))


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


def check(db: Database, kind: str, keys: list[str], now: datetime, limit: Limit = DEFAULT) -> None:
    """Raise TooManyAttempts when any of ``keys`` has ``limit.attempts`` failures of ``kind``
    within ``limit.window``."""
    since = to_iso(now - limit.window)
    for key in keys:
        rows = db.execute(
            "SELECT at FROM attempts WHERE kind = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT ?",
            [kind, key, since, limit.attempts],
        ).fetchall()
        if len(rows) >= limit.attempts:
            oldest = parse_instant(rows[-1][0])
            raise TooManyAttempts(max(1, ceil((oldest + limit.window - now).total_seconds())))


def failed(db: Database, kind: str, keys: list[str], now: datetime, limit: Limit = DEFAULT) -> None:
    """Count one failure against each of ``keys``; old rows of ``kind`` are cleared as it goes.

    Written by the caller in its own transaction, committed even though the request fails."""
    db.execute("DELETE FROM attempts WHERE kind = ? AND at <= ?", [kind, to_iso(now - limit.window)])
    db.conn.executemany(
        "INSERT INTO attempts (kind, key, at) VALUES (?, ?, ?)", [[kind, key, to_iso(now)] for key in keys]
    )

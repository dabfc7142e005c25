"""Recording and delivering messages.

A message is rendered from ``templates/messages/<kind>.<channel-type>.txt`` and written as a
``queued`` row in the same transaction as the change that caused it, so a crash can never lose
one. ``deliver`` then claims queued rows (``queued`` -> ``sending``, one statement), calls the
transport outside any transaction, and records the outcome. A row left in ``sending`` was cut
off by a crash; ``worker.recover_interrupted`` deals with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlite_utils import Database

from .db import immediate
from .notify import OutgoingMessage, Transport, TransportError
from .times import to_iso

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"
_env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False,
                   keep_trailing_newline=False)
RETRY_BASE = timedelta(seconds=30)
MAX_ATTEMPTS = 5


def render(kind: str, context: dict) -> str:
    """The text of a ``kind`` message; one line per template line, trimmed."""
    text = _env.get_template(f"{kind}.txt").render(**context)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def queue(db: Database, *, user_id: int, channel: str, recipient: str, kind: str, body: str,
          now: datetime, dose_id: int | None = None, subject: str = "") -> int:
    """Record a message to be sent; call inside the transaction that caused it."""
    cursor = db.execute(
        "INSERT INTO messages (user_id, channel, recipient, kind, dose_id, subject, body, created_at, next_attempt_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [user_id, channel, recipient, kind, dose_id, subject, body, to_iso(now), to_iso(now)],
    )
    return cursor.lastrowid


def deliver(db: Database, transport: Transport, now: datetime, limit: int) -> int:
    """Send up to ``limit`` queued messages that are due; return how many were attempted."""
    with immediate(db):
        claimed = db.execute(
            "UPDATE messages SET status = 'sending', claimed_at = ?, attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM messages WHERE status = 'queued' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?) AND status = 'queued' "
            "RETURNING id, channel, recipient, kind, subject, body, attempts",
            [to_iso(now), to_iso(now), limit],
        ).fetchall()
    for row in claimed:
        _send_one(db, transport, OutgoingMessage(*row[:6]), attempts=row[6], now=now)
    return len(claimed)


def _send_one(db: Database, transport: Transport, message: OutgoingMessage, attempts: int, now: datetime) -> None:
    try:
        provider_id = transport.send(message)
    except TransportError as error:
        retry = not error.permanent and attempts < MAX_ATTEMPTS
        db.execute(
            "UPDATE messages SET status = ?, error = ?, next_attempt_at = ? WHERE id = ? AND status = 'sending'",
            ["queued" if retry else "failed", error.reason,
             to_iso(now + RETRY_BASE * 2 ** (attempts - 1)) if retry else None, message.id],
        )
        return
    db.execute(
        "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ?, error = NULL WHERE id = ? AND status = 'sending'",
        [provider_id, to_iso(now), message.id],
    )


def as_json(row: dict) -> dict:
    keys = ("id", "channel", "recipient", "kind", "dose_id", "subject", "body", "status", "provider_id",
            "error", "attempts", "created_at", "sent_at")
    return {key: row[key] for key in keys}


def list_messages(db: Database, user_id: int | None = None, limit: int = 200) -> list[dict]:
    sql = "SELECT * FROM messages" + (" WHERE user_id = ?" if user_id is not None else "") + " ORDER BY id DESC LIMIT ?"
    params = ([user_id] if user_id is not None else []) + [limit]
    return [as_json(row) for row in db.query(sql, params)]

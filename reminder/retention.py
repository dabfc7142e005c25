"""What the ledger does not need to keep: expired phone links, and the text of old messages.

Closed doses, their events and every message's row (who, when, which channel, what happened)
stay: they are the record. What goes is derived: a phone link 30 days after it expired (until
then it still answers "this link has expired"), and the body, HTML and template context of a
message ``privacy.message_retention_days`` (90) after it was written (the attempt log keeps everything else).

Each table is walked forward in id order from where the last run stopped (``retention_marks``),
one bounded batch a tick, so retention costs what has come of age, never the whole table.
Ids grow with time in both tables, so the walk stops at the first row not yet old enough.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from .db import immediate
from .times import to_iso

LINK_GRACE = timedelta(days=30)  # after a link expires
MESSAGE_TEXT_DAYS = 90  # after a message was written: the default of privacy.message_retention_days
BATCH = 5000


def run(db: Database, now: datetime, batch: int = BATCH, message_days: int = MESSAGE_TEXT_DAYS) -> int:
    """One batch of each table; returns how many rows were deleted or pruned. Message texts go
    ``message_days`` after they were written (setting ``privacy.message_retention_days``)."""
    return (
        _expired_links(db, "dose_links", now, batch)
        + _expired_links(db, "dose_group_links", now, batch)
        + _old_message_texts(db, now - timedelta(days=message_days), batch)
    )


def _expired_links(db: Database, table: str, now: datetime, batch: int) -> int:
    """Delete a batch of ``table``'s links (a dose's or a group's) that expired a grace ago."""
    with immediate(db):
        last, through = _walk(db, table, "expires_at", now - LINK_GRACE, batch)
        if through == last:
            return 0
        cursor = db.execute(f"DELETE FROM {table} WHERE id > ? AND id <= ?", [last, through])
        _set_mark(db, table, through)
    return cursor.rowcount


def _old_message_texts(db: Database, cutoff: datetime, batch: int) -> int:
    with immediate(db):
        last, through = _walk(db, "messages", "created_at", cutoff, batch)
        if through == last:
            return 0
        # A message still queued or sending is left alone, but does not hold the walk up.
        cursor = db.execute(
            "UPDATE messages SET body = '', html = '', context = '{}' WHERE id > ? AND id <= ? "
            "AND status NOT IN ('queued', 'sending') AND (body != '' OR html != '' OR context != '{}')",
            [last, through],
        )
        _set_mark(db, "messages", through)
    return cursor.rowcount


def _walk(db: Database, table: str, column: str, cutoff: datetime, batch: int) -> tuple[int, int]:
    """(where the walk of ``table`` stands, the highest id of the leading run of up to
    ``batch`` rows whose ``column`` is before ``cutoff``). Reads one row when none is due."""
    last = _mark(db, table)
    sql = f"SELECT id, {column} < ? FROM {table} WHERE id > ? ORDER BY id LIMIT ?"
    first = db.execute(sql, [to_iso(cutoff), last, 1]).fetchone()
    if first is None or not first[1]:
        return last, last
    through = last
    for row_id, old_enough in db.execute(sql, [to_iso(cutoff), last, batch]).fetchall():
        if not old_enough:
            break
        through = row_id
    return last, through


def _mark(db: Database, name: str) -> int:
    row = db.execute("SELECT last_id FROM retention_marks WHERE name = ?", [name]).fetchone()
    return row[0] if row else 0


def _set_mark(db: Database, name: str, last_id: int) -> None:
    db.execute(
        "INSERT INTO retention_marks (name, last_id) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
        [name, last_id],
    )

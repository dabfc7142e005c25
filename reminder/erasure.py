"""Deleting a patient's account and everything about them, in one transaction.

What goes is found from the schema's foreign keys rather than from a list of tables, so a table
added later is covered too: a row that must point at a deleted row (a NOT NULL reference) is
deleted in turn; a row that only names the deleted row as who did something (a nullable actor)
keeps its place with the name cleared. Messages are the exception: one to or about the patient
goes even though its references are nullable, because its body is the patient's data. What stays
is one ``erasures`` row saying that it happened.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from . import accounts
from .db import immediate
from .errors import InputError
from .times import to_iso

# Nullable references that nonetheless make the row the patient's data.
OWNED_THOUGH_NULLABLE = {("messages", "user_id"), ("messages", "dose_id"), ("messages", "alert_id")}
CHUNK = 500  # ids per statement, well under SQLite's limit on bound parameters


def erase_patient(db: Database, user_id: int, now: datetime, via: str) -> None:
    """Delete patient ``user_id`` with their medications, doses, messages, links and audit trail.

    Only a patient's own account: a clinician's or admin's actions are other patients' records."""
    with immediate(db):
        user = accounts.find_user(db, id=user_id)
        if user is None or user["role"] != "patient":
            raise InputError(
                None, "Only a patient account can be deleted here; ask an admin.", status=403, code="forbidden"
            )
        references = _references(db)
        contacts = [contact for contact in (user["email"], user["phone"]) if contact]
        marks = ", ".join("?" for _ in contacts)
        sent_to_them = [row[0] for row in db.execute(f"SELECT id FROM messages WHERE recipient IN ({marks})", contacts)]
        _delete(db, references, "messages", sent_to_them)
        _delete(db, references, "users", [user_id])
        db.execute(
            "INSERT INTO erasures (former_user_id, role, via, at) VALUES (?, ?, ?, ?)",
            [user_id, user["role"], via, to_iso(now)],
        )


def _references(db: Database) -> dict[str, list[tuple[str, str, bool]]]:
    """For each table, the (table, column, not null or key) that reference it."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found: dict[str, list[tuple[str, str, bool]]] = {}
    for table in tables:
        # A key column (panel_summaries.patient_id) cannot be set to NULL: its row is theirs too.
        not_null = {row[1]: bool(row[3] or row[5]) for row in db.execute(f"PRAGMA table_info('{table}')")}
        for row in db.execute(f"PRAGMA foreign_key_list('{table}')"):
            found.setdefault(row[2], []).append((table, row[3], not_null[row[3]]))
    return found


def _delete(db: Database, references: dict, table: str, ids: list[int]) -> None:
    """Delete rows ``ids`` of ``table`` after what depends on them (children first, for the
    foreign keys, which are enforced)."""
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for child, column, not_null in references.get(table, []):
            where = f"{column} IN ({marks})"
            if not_null or (child, column) in OWNED_THOUGH_NULLABLE:
                rows = [row[0] for row in db.execute(f"SELECT rowid FROM {child} WHERE {where}", chunk)]
                _delete(db, references, child, [row for row in rows if not (child == table and row in chunk)])
            else:
                db.execute(f"UPDATE {child} SET {column} = NULL WHERE {where}", chunk)
        db.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", chunk)


def withdrawal_risk_medications(db: Database, patient_id: int) -> list[str]:
    """Names of the patient's current medications that are dangerous to stop suddenly: the
    deletion page warns that reminders for them stop too."""
    rows = db.execute(
        "SELECT name FROM medications WHERE patient_id = ? AND ended_at IS NULL AND withdrawal_risk = 1 ORDER BY name",
        [patient_id],
    )
    return [row[0] for row in rows]

"""Backups taken and put back while the app may be running, through SQLite's online backup API.

Never copy the database file itself: under WAL the latest commits live in ``reminder.db-wal``
until a checkpoint, so a plain ``cp`` of a live database is minutes stale or torn. The backup API
reads one consistent snapshot (a read transaction, which under WAL does not block writers) and
writes it into another database through SQLite's own pager, so the copy is whole.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlite_utils import Database

from . import db as dbmod


class BackupError(Exception):
    """A backup could not be taken or a file is not fit to restore; the message says why."""


def take(database_path: str, target: str) -> None:
    """Write a consistent copy of ``database_path`` to ``target`` (which must not exist yet).

    The copy is made beside ``target`` and renamed when complete, so a half-written backup
    never carries the final name."""
    target_path = Path(target)
    if target_path.exists():
        raise BackupError(f"{target} already exists: choose a new file name")
    if not Path(database_path).exists():
        raise BackupError(f"no database at {database_path}")
    partial = target_path.with_name(target_path.name + ".partial")
    try:
        source = closing(sqlite3.connect(database_path, timeout=dbmod.BUSY_TIMEOUT_SECONDS))
        with source as source_conn, closing(sqlite3.connect(partial)) as copy:
            source_conn.backup(copy)  # all pages in one step: one snapshot, however busy the writers
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write a backup to {target}: {error}") from None
    os.replace(partial, target_path)


def check(path: str) -> list[str]:
    """The migrations recorded in the backup at ``path``; raises BackupError unless it is an
    intact reminder database whose every migration this version knows."""
    if not Path(path).is_file():
        raise BackupError(f"no file at {path}")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            applied = [row[0] for row in conn.execute(_APPLIED)] if "_sqlite_migrations" in tables else []
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite database ({error})") from None
    if integrity != ["ok"]:
        raise BackupError(f"{path} failed the integrity check: {'; '.join(integrity[:3])}")
    if not applied or "dose_links" not in tables:
        raise BackupError(f"{path} is not a reminder database (no reminder migrations in it)")
    unknown = [name for name in applied if name not in _known_migrations()]
    if unknown:
        raise BackupError(f"{path} comes from a newer version (unknown migrations: {', '.join(unknown)})")
    return applied


def restore(path: str, database_path: str) -> list[str]:
    """Check the backup at ``path`` and copy it over the database at ``database_path``, then apply
    any migrations newer than the backup; return the names of those applied.

    The copy goes through the backup API into the live database, under its write lock, so open
    connections see either the old database or the restored one, never a mix. Stop the web app and
    the worker first all the same: a request in flight would act on what the restore replaces."""
    check(path)
    live = closing(sqlite3.connect(database_path, timeout=dbmod.BUSY_TIMEOUT_SECONDS))
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source, live as live_conn:
        live_conn.execute("PRAGMA journal_mode=WAL")
        source.backup(live_conn)
    database = dbmod.connect(database_path)
    try:
        return dbmod.upgrade(database)
    finally:
        database.close()


_APPLIED = "SELECT name FROM _sqlite_migrations WHERE migration_set = 'reminder' ORDER BY applied_at"


def _known_migrations() -> set[str]:
    # Every migration is pending on an empty database: that lists the ones this version knows.
    return set(dbmod.pending(Database(memory=True)))

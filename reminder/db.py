"""The one place that opens the database.

One connection per request (Flask app context) or per worker thread; never shared, because a
second ``BEGIN IMMEDIATE`` on a shared connection fails. WAL lets readers run beside the one
writer; ``synchronous=NORMAL`` is safe under WAL and several times faster than FULL.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g
from sqlite_utils import Database

BUSY_TIMEOUT_SECONDS = 10
MIGRATIONS_FILE = Path(__file__).resolve().parent.parent / "migrations" / "migrations.py"


def connect(path: str) -> Database:
    """Open ``path`` with the pragmas every connection needs."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return Database(conn)


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes the write lock up front, or a savepoint inside one.

    A deferred ``BEGIN`` that reads and then writes fails at once with "database is locked"
    when another connection writes meanwhile, without waiting out the busy timeout.
    ``BEGIN IMMEDIATE`` waits for the lock instead. Use this for every read-then-write.

    Inside an open transaction it nests as a ``SAVEPOINT``: released on success, rolled back
    to on error (then the error goes on to the caller). So a domain function that writes
    several rows can be called alone, as its own transaction, or inside a caller's
    transaction, as part of one user action that commits or fails as a whole.
    """
    if getattr(db, "writing", False):
        yield from _savepoint(db)
        return
    # Inside a transaction this did not open (a stray write's implicit BEGIN) this raises, as
    # it always has, rather than nest in a transaction that nothing would commit.
    db.execute("BEGIN IMMEDIATE")
    db.writing = True
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    else:
        db.execute("COMMIT")
    finally:
        db.writing = False


def _savepoint(db: Database) -> Iterator[Database]:
    # One name serves every depth: ROLLBACK TO and RELEASE act on the innermost savepoint of that name.
    db.execute("SAVEPOINT nested")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:  # some errors (a full disk) end the whole transaction already
            db.execute("ROLLBACK TO nested")
            db.execute("RELEASE nested")
        raise
    else:
        db.execute("RELEASE nested")


def upgrade(db: Database) -> list[str]:
    """Apply pending migrations from ``migrations/migrations.py``; return their names."""
    migrations = _load_migrations()
    names = [migration.name for migration in migrations.pending(db)]
    migrations.apply(db)
    return names


def pending(db: Database) -> list[str]:
    return [migration.name for migration in _load_migrations().pending(db)]


def _load_migrations():
    # migrations/ sits beside the package so `sqlite-utils migrate` can run the same file.
    spec = importlib.util.spec_from_file_location("reminder_migrations", MIGRATIONS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.migrations


def stored_secret(path: str, name: str) -> str:
    """A random secret kept in the database, made the first time it is asked for."""
    import secrets

    db = connect(path)
    try:
        db.execute("INSERT OR IGNORE INTO instance_secrets (name, value) VALUES (?, ?)", [name, secrets.token_hex(32)])
        return db.execute("SELECT value FROM instance_secrets WHERE name = ?", [name]).fetchone()[0]
    finally:
        db.close()


def get_db() -> Database:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = connect(current_app.config["REMINDER"]["database.path"])
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app) -> None:
    app.teardown_appcontext(close_db)

"""What ``/healthz`` checks, each a small function that returns its problem or None.

Each problem is one reason an operator must act on: the worker stopped ticking, the clock
stepped back, every channel is failing, the database cannot be written, the disk is nearly
full. The last gap in the worker's ticks is reported too, as information.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime, timedelta

from sqlite_utils import Database

from .clock import wall_seconds
from .times import parse_instant, to_iso

STALE_TICKS = 3  # the worker is stale when its last tick is older than this many intervals
PROBE_TIMEOUT_SECONDS = 2  # a write held up longer than this counts as not writable


def report(db: Database, now: datetime, settings: dict) -> tuple[list[str], dict]:
    """Every problem found (empty when healthy) and the details behind them."""
    details = tick_details(db, now, settings)
    checks = (
        tick_problem(details),
        clock_problem(db, now, details, settings),
        delivery_problem(db, settings),
        write_problem(settings["database.path"], now),
        disk_problem(settings["database.path"], settings),
    )
    details["last_gap"] = last_gap(db)
    return [problem for problem in checks if problem], details


def tick_details(db: Database, now: datetime, settings: dict) -> dict:
    row = db.execute("SELECT last_tick_at, took_ms, wall_seconds FROM worker_heartbeat WHERE id = 1").fetchone()
    limit = STALE_TICKS * settings["worker.tick_seconds"]
    if row is None:
        return {"last_tick_at": None, "limit_seconds": limit}
    return {
        "last_tick_at": row[0],
        "age_seconds": (now - parse_instant(row[0])).total_seconds(),
        "real_age_seconds": round(wall_seconds() - row[2], 1) if row[2] is not None else None,
        "limit_seconds": limit,
        "last_tick_ms": round(row[1], 1),
    }


def tick_problem(details: dict) -> str | None:
    """No tick within three intervals, by the app's clock or by real time (a manual clock that
    stands still would otherwise hide a dead worker)."""
    if details["last_tick_at"] is None:
        return "no tick yet"
    real_age = details["real_age_seconds"] or 0
    return "worker stale" if max(details["age_seconds"], real_age) > details["limit_seconds"] else None


def clock_problem(db: Database, now: datetime, details: dict, settings: dict) -> str | None:
    """The last tick is in the future (by more than a tick: the web and the worker may read the
    clock a moment apart), or the worker saw the clock step back a short while ago."""
    if details.get("age_seconds", 0) < -settings["worker.tick_seconds"]:
        return "clock moved backwards"
    since = now - timedelta(minutes=settings["health.clock_back_minutes"])
    row = db.execute(
        "SELECT 1 FROM worker_gaps WHERE kind = 'clock_back' AND ended_at > ? AND ended_at <= ?",
        [to_iso(since), to_iso(now)],
    ).fetchone()
    return "clock moved backwards" if row else None


def delivery_problem(db: Database, settings: dict) -> str | None:
    """None of the latest attempts went out, and enough of them failed that it is not one bad
    number: every channel is failing (an outage, expired credentials)."""
    rows = db.execute(
        "SELECT status, error FROM messages WHERE claimed_at IS NOT NULL AND status != 'sending' "
        "ORDER BY claimed_at DESC LIMIT ?",
        [settings["health.failing_attempts"]],
    ).fetchall()
    if any(status in ("sent", "delivered") for status, _ in rows):
        return None
    failing = sum(
        1 for status, error in rows if status in ("failed", "undelivered") or (status, bool(error)) == ("queued", True)
    )
    return "messages failing on every channel" if failing > settings["health.failing_min"] else None


def write_problem(path: str, now: datetime) -> str | None:
    """A real write on a connection of its own (a read-only file, a full disk and a stuck lock
    all show up here, where a read would pass)."""
    try:
        conn = sqlite3.connect(path, timeout=PROBE_TIMEOUT_SECONDS)
        try:
            with conn:
                conn.execute(
                    "INSERT INTO worker_marks (name, last_run_at) VALUES ('healthz_probe', ?) "
                    "ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at",
                    [to_iso(now)],
                )
        finally:
            conn.close()
    except sqlite3.Error as error:
        return f"database not writable: {error}"
    return None


def disk_problem(path: str, settings: dict) -> str | None:
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    minimum = settings["health.min_free_mb"] * 1024 * 1024
    return f"disk nearly full: {free // (1024 * 1024)} MB free" if free < minimum else None


def last_gap(db: Database) -> dict | None:
    row = db.execute(
        "SELECT kind, started_at, ended_at FROM worker_gaps ORDER BY ended_at DESC, id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    seconds = (parse_instant(row[2]) - parse_instant(row[1])).total_seconds()
    return {"kind": row[0], "from": row[1], "to": row[2], "seconds": seconds}

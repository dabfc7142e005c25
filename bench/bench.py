"""Benchmarks for reminder: worker tick cost, a burst of reminders, confirm requests per second, SMS sent per second.

Not part of the test suite. Run ``.venv/bin/python bench/bench.py`` (``make bench``); ``--quick``
for a short run, ``--help`` for the knobs. It stops by itself, sends traffic only to 127.0.0.1,
and works on throw-away SQLite files in a temporary folder (removed at the end unless ``--keep``).

1. Tick cost vs. patients: databases of 1,000 / 10,000 / 100,000 patients on baclofen
   08:00/13:00/18:00, spread over real time zones, built with the real migrations and then
   bulk-inserted (users, medications, regimen_steps, a dose ledger from a day back to 48 h ahead,
   and, unless ``--no-history``, the messages, phone links and events of the past doses). At the
   tick instant exactly ``--due`` doses are due (a cohort of patients in Asia/Kolkata whose 13:00
   dose falls on it); every earlier dose is answered or closed and every later one pending. One
   ``worker.run_tick`` is timed ``--reps`` times on a fresh connection (as the worker opens one per
   tick), undoing its writes between repetitions, and the median is printed, with an idle tick
   (nothing due) for comparison and each step's share.
2. A burst: ``--burst`` reminders due at the same instant, sent through the outbox; one
   ``run_tick`` until every one is delivered.
3. HTTP: ``reminder serve`` (manual clock) on the burst database, POST
   ``/api/v1/doses/{id}/confirm`` ``{"action": "taken"}`` with each patient's bearer token, each
   request on a different pending due dose, from ``--threads`` client threads with keep-alive
   ``http.client`` connections; then the same client against a bare Flask ``/hello`` route on the
   same Werkzeug server (``bench/hello_app.py``).
4. SMS (``--only sms`` runs just this): ``--sms-count`` patients (+1202555xxxx, channels ``["sms"]``)
   with one reminder due at the same instant, in live mode through ``make_transport`` (the real
   twilio client) to the tests' ``FakeTwilio`` run in its own process (``bench/fake_twilio.py``,
   keep-alive). ``run_tick`` is called back to back, ``now`` advancing ``worker.tick_seconds`` each
   call, until every reminder is recorded sent: with the rate cap off at each
   ``--sms-concurrency`` (``notify.max_concurrent_sends``), with it on for each ``--sms-caps``
   rate:count (reporting the most requests the fake saw in any 1 s window), and uncapped with the
   fake answering after ``--sms-latency-ms`` to show that sends overlap.
5. The clinician's side (``--only report,panel``, ``bench/bench_reports.py``): one patient's
   report over a year and the clinic panel of ``--panel-patients`` patients, each with its wall
   and CPU medians, its ratio to issue 13's target and the load average when measured; and
   (``--only upkeep``) upkeep over as many stock-tracked medications.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import inspect
import itertools
import json
import logging
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.pop("REMINDER_CONFIG", None)  # the bench's settings are its own

import contextlib  # noqa: E402

from werkzeug.security import generate_password_hash  # noqa: E402

from reminder import accounts, config, delivery, missed_dose, schedule, summaries, worker  # noqa: E402
from reminder import db as dbmod  # noqa: E402
from reminder.clock import ManualClock  # noqa: E402
from reminder.health import STALE_TICKS  # noqa: E402
from reminder.notify import OutboxTransport, TransportError, make_transport  # noqa: E402
from reminder.times import parse_instant, to_iso  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import bench_reports  # noqa: E402

# ---------------------------------------------------------------- the scenario

TICK_AT = parse_instant("2026-06-10T07:30:00Z")  # a Wednesday; no DST change within days in any zone below
DUE_ZONE = "Asia/Kolkata"  # 13:00 there is exactly TICK_AT
# At TICK_AT none of these is at 08:00, 13:00 or 18:00, so no dose of theirs falls due.
BACKGROUND_ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
)
TIMES = ("08:00", "13:00", "18:00")
AMOUNT = 10.0
AHEAD = timedelta(hours=48)  # the ledger reaches this far past the tick: generate has nothing to do
RULE = missed_dose.DoseRule()  # the medications' column defaults
PASSWORD_HASH = generate_password_hash("bench-password")  # computed once, stored for every user
BASE_URL = "http://127.0.0.1:8000"
SECTIONS = ("tick", "burst", "http", "sms", "report", "panel", "upkeep")


@dataclass
class ZonePlan:
    """Every dose of one zone's patients in the ledger window: (local_date, local_time, at, closes)."""

    tz: str
    doses: list[tuple[str, str, str, str, datetime, datetime]] = field(default_factory=list)


def zone_plan(tz_name: str, start: datetime, end: datetime) -> ZonePlan:
    tz = ZoneInfo(tz_name)
    steps = [
        schedule.Step(
            id=None,
            start_date=(start - timedelta(days=30)).date(),
            end_date=None,
            times=tuple(dtime.fromisoformat(t) for t in TIMES),
            amount=AMOUNT,
        )
    ]
    plan = ZonePlan(tz_name)
    for occurrence in schedule.occurrences_between(steps, tz, start, end):
        following = schedule.next_occurrence(steps, tz, occurrence.scheduled_at)
        closes = missed_dose.window_closes_at(
            occurrence.scheduled_at, following.scheduled_at if following else None, RULE
        )
        plan.doses.append(
            (
                occurrence.local_date.isoformat(),
                occurrence.local_time.strftime("%H:%M"),
                to_iso(occurrence.scheduled_at),
                to_iso(closes),
                occurrence.scheduled_at,
                closes,
            )
        )
    return plan


@dataclass
class BenchDB:
    path: str
    patients: int
    doses: int
    rows: dict
    due_ids: list[int]
    due_patients: list[int]
    build_seconds: float
    size_mb: float


def build(path: str, background: int, cohort: int, days_back: int, history: bool, now: datetime = TICK_AT) -> BenchDB:
    """A database of ``background + cohort`` patients; exactly ``cohort`` doses due at ``now``.

    Cohort patients (Asia/Kolkata) are spread evenly through the id range, so their rows are
    spread through the tables as a real cohort's would be.
    """
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = dbmod.connect(path)
    dbmod.upgrade(db)
    conn = db.conn
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB for the bulk insert only
    # A throw-away file built in one go: no journal, no foreign-key lookups per row, and the
    # ledger's indexes made once at the end (sorting beats millions of random B-tree inserts).
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    ledger_indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('doses', 'messages', 'dose_links', 'dose_events')"
    ).fetchall()
    for name, _sql in ledger_indexes:
        conn.execute(f"DROP INDEX {name}")

    start, end = now - timedelta(days=days_back), now + AHEAD
    plans = {tz: zone_plan(tz, start, end) for tz in (DUE_ZONE, *BACKGROUND_ZONES)}
    assert any(d[4] == now for d in plans[DUE_ZONE].doses), "the due zone has no dose at the tick instant"
    for tz in BACKGROUND_ZONES:
        assert all(d[4] != now for d in plans[tz].doses), f"{tz} has a dose at the tick instant"

    total = background + cohort
    every = total / cohort if cohort else 0
    cohort_ids = {int(i * every) + 1 for i in range(cohort)} if cohort else set()
    zones, background_index = [], 0
    for patient_id in range(1, total + 1):
        if patient_id in cohort_ids:
            zones.append(DUE_ZONE)
        else:
            zones.append(BACKGROUND_ZONES[background_index % len(BACKGROUND_ZONES)])
            background_index += 1

    created = to_iso(now - timedelta(days=30))
    generated_until = to_iso(end)
    step_start = (now - timedelta(days=31)).date().isoformat()
    times_json = json.dumps(list(TIMES))

    due_ids: list[int] = []
    messages: list[tuple] = []
    links: list[tuple] = []
    events: list[tuple] = []

    def dose_rows():
        dose_id = 0
        for patient_id, tz in enumerate(zones, start=1):
            medication_id = step_id = patient_id
            phone = f"+4477{patient_id:08d}"
            for k, (local_date, local_time, at_text, closes_text, at, closes) in enumerate(plans[tz].doses):
                dose_id += 1
                if at < now:
                    # Answered (or, once its window closed, a few missed) after one reminder.
                    roll = (patient_id * 31 + k * 7) % 100
                    taken_at = confirmed_at = source = None
                    if roll < 3 and closes <= now:
                        status, prompts = "missed", 2
                    elif roll < 6:
                        status, prompts, confirmed_at, source = "skipped", 1, to_iso(at + timedelta(minutes=10)), "link"
                    else:
                        status, prompts, source = "taken", 1, "link"
                        taken = min(at + timedelta(minutes=(patient_id + k) % 25), now - timedelta(minutes=1))
                        taken_at = confirmed_at = to_iso(taken)
                    yield (
                        dose_id,
                        patient_id,
                        medication_id,
                        step_id,
                        local_date,
                        local_time,
                        tz,
                        at_text,
                        closes_text,
                        AMOUNT,
                        status,
                        taken_at,
                        confirmed_at,
                        source,
                        None,
                        None,
                        at_text,
                        prompts,
                        None,
                        created,
                    )
                    if history:
                        token = f"bench{dose_id:017d}"
                        messages.append(
                            (
                                patient_id,
                                "outbox",
                                phone,
                                "reminder",
                                dose_id,
                                "",
                                f"Time for your {local_time} dose.\nTap to confirm: {BASE_URL}/d/{token}",
                                "sent",
                                f"outbox-{dose_id}",
                                None,
                                1,
                                at_text,
                                at_text,
                                at_text,
                                at_text,
                            )
                        )
                        links.append(
                            (
                                dose_id,
                                hashlib.sha256(token.encode()).hexdigest(),
                                to_iso(closes + timedelta(hours=24)),
                                at_text,
                            )
                        )
                        if status == "missed":
                            messages.append(
                                (
                                    patient_id,
                                    "outbox",
                                    phone,
                                    "skip_notice",
                                    dose_id,
                                    "",
                                    f"Your {local_time} dose was missed. Skip it: take your next dose at its "
                                    "usual time. Do not take two doses.",
                                    "sent",
                                    f"outbox-{dose_id}-s",
                                    None,
                                    1,
                                    closes_text,
                                    closes_text,
                                    closes_text,
                                    closes_text,
                                )
                            )
                        detail = (
                            {"source": "worker", "code": "window_closed"}
                            if status == "missed"
                            else {"source": "link", "code": status, "previous_status": "pending"}
                        )
                        events.append(
                            (
                                dose_id,
                                closes_text if status == "missed" else confirmed_at,
                                None,
                                status,
                                json.dumps(detail),
                            )
                        )
                else:
                    if at == now:
                        due_ids.append(dose_id)
                    yield (
                        dose_id,
                        patient_id,
                        medication_id,
                        step_id,
                        local_date,
                        local_time,
                        tz,
                        at_text,
                        closes_text,
                        AMOUNT,
                        "pending",
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        0,
                        at_text,
                        created,
                    )

    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (id, email, password_hash, role, name, phone, tz, created_at) "
        "VALUES (?, ?, ?, 'patient', ?, ?, ?, ?)",
        (
            (i, f"p{i}@bench.example", PASSWORD_HASH, f"Patient {i}", f"+4477{i:08d}", tz, created)
            for i, tz in enumerate(zones, start=1)
        ),
    )
    conn.executemany(
        "INSERT INTO medications (id, patient_id, name, strength, unit, withdrawal_risk, max_daily_amount, "
        "created_at, generated_until) VALUES (?, ?, 'Baclofen', '10 mg', 'mg', 1, 80, ?, ?)",
        ((i, i, created, generated_until) for i in range(1, total + 1)),
    )
    conn.executemany(
        "INSERT INTO regimen_steps (id, medication_id, start_date, end_date, times, days, amount, created_at) "
        "VALUES (?, ?, ?, NULL, ?, NULL, ?, ?)",
        ((i, i, step_start, times_json, AMOUNT, created) for i in range(1, total + 1)),
    )
    # In chunks, so a million patients' history never sits in memory at once.
    doses = dose_rows()
    while chunk := list(itertools.islice(doses, 300_000)):
        conn.executemany(
            "INSERT INTO doses (id, patient_id, medication_id, step_id, local_date, local_time, tz, scheduled_at, "
            "window_closes_at, amount, status, taken_at, confirmed_at, source, actor_id, skip_reason, reminded_at, "
            "prompt_count, next_prompt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            chunk,
        )
        conn.executemany(
            "INSERT INTO messages (user_id, channel, recipient, kind, dose_id, subject, body, status, provider_id, "
            "error, attempts, created_at, claimed_at, sent_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        conn.executemany(
            "INSERT INTO dose_links (dose_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?)", links
        )
        conn.executemany("INSERT INTO dose_events (dose_id, at, actor_id, kind, detail) VALUES (?, ?, ?, ?, ?)", events)
        messages.clear(), links.clear(), events.clear()
    for _name, sql in ledger_indexes:
        conn.execute(sql)
    # The worker has kept up until now: every run of misses was looked at when its dose closed,
    # and waits for its next look (when 24 h without a taken dose would pass), none due yet.
    conn.execute("UPDATE runs_to_check SET check_at = strftime('%Y-%m-%dT%H:%M:%SZ', last_miss_at, '+24 hours')")
    conn.execute("DELETE FROM runs_to_check WHERE check_at <= ?", [to_iso(now + timedelta(minutes=5))])
    # Likewise every patient's panel summary, computed by the worker a few minutes ago.
    ids = list(range(1, total + 1))
    for first in range(0, total, 20_000):
        chunk = ids[first : first + 20_000]
        summaries.write(db, summaries.compute(db, chunk, now - timedelta(minutes=10)), now - timedelta(minutes=10))
    conn.execute("COMMIT")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")

    # The scenario holds: exactly the cohort is due, nothing to close, nothing to generate.
    stamp = to_iso(now)
    due = conn.execute(
        "SELECT count(*) FROM doses WHERE status = 'pending' AND next_prompt_at <= ? AND window_closes_at > ?",
        [stamp, stamp],
    ).fetchone()[0]
    to_close = conn.execute(
        "SELECT count(*) FROM doses WHERE status = 'pending' AND window_closes_at <= ?", [stamp]
    ).fetchone()[0]
    to_generate = conn.execute(
        "SELECT count(*) FROM medications WHERE generated_until < ?",
        [to_iso(now + min(worker.ledger.MIN_AHEAD, AHEAD))],
    ).fetchone()[0]
    assert due == cohort == len(due_ids), (due, cohort, len(due_ids))
    assert to_close == 0 and to_generate == 0, (to_close, to_generate)
    rows = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("users", "doses", "messages", "dose_links", "dose_events")
    }
    db.close()
    return BenchDB(
        path=path,
        patients=total,
        doses=rows["doses"],
        rows=rows,
        due_ids=due_ids,
        due_patients=sorted(cohort_ids),
        build_seconds=time.perf_counter() - started,
        size_mb=os.path.getsize(path) / 1e6,
    )


def cached_build(folder: Path, background: int, cohort: int, days_back: int, history: bool) -> BenchDB:
    """``build``, or the database a previous run built with the same inputs and schema.

    The file is named by its inputs and a hash of the migrations and of this module's build
    code, so a schema or scenario change builds afresh. Ticks leave it as they found it (``undo``).
    """
    key = hashlib.sha256(
        (dbmod.MIGRATIONS_FILE.read_text() + inspect.getsource(build) + inspect.getsource(zone_plan)).encode()
    ).hexdigest()[:10]
    name = f"tick-{background + cohort}-due{cohort}-days{days_back}{'' if history else '-bare'}-{key}"
    path, meta = folder / f"{name}.db", folder / f"{name}.json"
    folder.mkdir(parents=True, exist_ok=True)
    if path.exists() and meta.exists():
        bench = BenchDB(**json.loads(meta.read_text()))
        bench.path = str(path)
        return bench
    bench = build(str(path), background, cohort, days_back, history)
    meta.write_text(json.dumps(vars(bench)))
    return bench


# ---------------------------------------------------------------- timing ticks


def settings_for(path: str) -> dict:
    return config.load(None, {"database.path": path, "server.base_url": BASE_URL})


def timed_tick(path: str, now: datetime, settings: dict, transport=None) -> tuple[float, dict, dict]:
    """One ``run_tick`` on a fresh connection; (seconds, counts, seconds per step).

    ``transport`` defaults to a new ``OutboxTransport``; a live one is made once and reused, as
    the worker makes it at start.
    """
    spent: dict[str, float] = {}

    def timed(step):
        def run(tick):
            t0 = time.perf_counter()
            try:
                return step(tick)
            finally:
                spent[step.__name__] = spent.get(step.__name__, 0.0) + time.perf_counter() - t0

        run.__name__ = step.__name__
        return run

    # Swap the step functions for timed ones in every module-level tuple of steps (STEPS, and any
    # tuple run_tick tests membership in, such as DRAINED), so run_tick behaves exactly as before.
    wrapped = {step: timed(step) for step in worker.STEPS}
    originals = {
        name: value
        for name, value in vars(worker).items()
        if isinstance(value, tuple) and value and all(callable(v) and v in wrapped for v in value)
    }
    for name, value in originals.items():
        setattr(worker, name, tuple(wrapped[v] for v in value))
    db = dbmod.connect(path)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        counts = worker.run_tick(db, now, settings, transport or OutboxTransport(settings))
        took = time.perf_counter() - t0
        spent["cpu"] = time.process_time() - c0  # every thread of this process; not time spent waiting for a CPU
    finally:
        for name, value in originals.items():
            setattr(worker, name, value)
        db.close()
    return took, counts, spent


def high_water(path: str) -> dict:
    db = dbmod.connect(path)
    try:
        return {
            table: db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
            for table in ("messages", "dose_links", "dose_events")
        }
    finally:
        db.close()


def fingerprint(path: str) -> list:
    db = dbmod.connect(path)
    try:
        return db.execute(
            "SELECT status, count(*), sum(prompt_count), count(next_prompt_at), count(reminded_at) "
            "FROM doses GROUP BY status ORDER BY status"
        ).fetchall()
    finally:
        db.close()


def undo(path: str, marks: dict, dose_ids: list[int]) -> None:
    """Put back what a tick at the tick instant wrote, so the next repetition does the same work."""
    db = dbmod.connect(path)
    try:
        with dbmod.immediate(db):
            for table, last in marks.items():
                db.execute(f"DELETE FROM {table} WHERE id > ?", [last])
            db.conn.executemany(
                "UPDATE doses SET status = 'pending', prompt_count = 0, reminded_at = NULL, taken_at = NULL, "
                "confirmed_at = NULL, source = NULL, actor_id = NULL, next_prompt_at = scheduled_at WHERE id = ?",
                [(i,) for i in dose_ids],
            )
            db.execute("DELETE FROM worker_heartbeat")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


@dataclass
class TickResult:
    median: float
    samples: list[float]
    steps: dict[str, float]  # median seconds per step
    counts: dict


def bench_tick(bench: BenchDB, now: datetime, reps: int, expect_due: int, keep_last: bool = False) -> TickResult:
    settings = settings_for(bench.path)
    marks, before = high_water(bench.path), fingerprint(bench.path)
    samples, steps, counts = [], {}, {}
    for rep in range(reps):
        took, counts, spent = timed_tick(bench.path, now, settings)
        # Every step finds nothing but the due doses' prompts and their delivery (steps added to the
        # worker later included).
        expected = {
            **{name: 0 for name in counts},
            "generate": 0,
            "recover_interrupted": 0,
            "close_windows": 0,
            "prompt_due": expect_due,
            "deliver": expect_due,
        }
        if counts != expected:
            raise SystemExit(f"tick at {to_iso(now)} did other work than planned: {counts}, expected {expected}")
        samples.append(took)
        for name, seconds in spent.items():
            steps.setdefault(name, []).append(seconds)
        if expect_due and not (keep_last and rep == reps - 1):
            undo(bench.path, marks, bench.due_ids)
            if fingerprint(bench.path) != before:
                raise SystemExit("undoing the tick did not restore the ledger")
    return TickResult(statistics.median(samples), samples, {k: statistics.median(v) for k, v in steps.items()}, counts)


def cpu(result: TickResult) -> float:
    """The median CPU time of the tick: on a shared machine, the part of its time it really used."""
    return result.steps["cpu"]


# ---------------------------------------------------------------- query plans


def normalise(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?\b", "?", sql)
    return re.sub(r"\s+", " ", sql).strip()


def collect_statements(run) -> list[str]:
    """Every SQL statement executed through ``reminder.db.connect`` connections while ``run()`` runs."""
    seen: list[str] = []
    original = dbmod.connect

    def traced(path):
        database = original(path)
        database.conn.set_trace_callback(seen.append)
        return database

    dbmod.connect = traced
    try:
        run()
    finally:
        dbmod.connect = original
    return seen


def plans(path: str, statements: list[str]) -> list[tuple[str, str]]:
    """(normalised statement, its query plan) for each distinct statement shape."""
    db = dbmod.connect(path)
    shapes: dict[str, list[str]] = {}
    try:
        for sql in statements:
            keyword = sql.lstrip().split(None, 1)[0].upper()
            if keyword in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
                continue
            shape = normalise(sql)
            if shape in shapes:
                continue
            rows = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            shapes[shape] = [row[3] for row in rows]
    finally:
        db.close()
    return [(shape, "; ".join(steps) or "(no table access)") for shape, steps in shapes.items()]


SMALL_TABLES = ("clock", "worker_heartbeat", "_sqlite_migrations")
# Partial indexes of work due now, emptied by the step that reads them (tests/test_query_plans.py).
DUE_WORK = (
    "USING INDEX messages_in_flight",
    "USING INDEX alerts_to_resolve",
    "USING INDEX panel_summaries_stale",
)


def print_plans(title: str, rows: list[tuple[str, str]]) -> list[str]:
    """Print the plans; return the ones that scan a table that grows."""
    print(f"\n{title}")
    flagged = []
    for shape, plan in rows:
        scans = [
            part
            for part in plan.split("; ")
            if part.startswith("SCAN ")
            and not any(f"SCAN {t}" in part for t in SMALL_TABLES)
            and not any(part.endswith(index) for index in DUE_WORK)
        ]
        mark = "  <-- SCAN" if scans else ""
        print(f"  {shape[:110]}{'...' if len(shape) > 110 else ''}")
        print(f"      plan: {plan}{mark}")
        if scans:
            flagged.append(f"{shape[:160]}  =>  {plan}")
    return flagged


LEDGER_TABLES = {
    "doses": "dose",
    "dose_events": "history",
    "messages": "history",
    "dose_links": "history",
}


PENDING_ONLY = ("doses_to_prompt", "doses_to_close")


def size_per_patient_year(path: str, doses_a_day: int = len(TIMES)) -> dict[str, float]:
    """MB a patient adds to the database in a year at ``doses_a_day``, from the bytes each table
    and its indexes hold (SQLite's dbstat): kept as built, and after retention (links deleted,
    message texts pruned)."""
    conn = sqlite3.connect(path)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            if name in PENDING_ONLY:  # bounded by the 48 h generated ahead, not by the years kept
                continue
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + size
        doses, closed = conn.execute("SELECT count(*), sum(status != 'pending') FROM doses").fetchone()
        texts = conn.execute("SELECT coalesce(sum(length(body) + length(html) + length(context)), 0) FROM messages")
        text_bytes = texts.fetchone()[0]
    finally:
        conn.close()
    per_dose = sizes.get("doses", 0) / doses + (sizes.get("dose_events", 0) + sizes.get("messages", 0)) / closed
    links = sizes.get("dose_links", 0) / closed
    year = doses_a_day * 365 / 1e6
    return {
        "kept": (per_dose + links) * year,
        "retained": (per_dose - text_bytes / closed) * year,
    }


def tick_markdown(rows: list, due: int) -> str:
    """The tick table with the issue's targets: a tick with ``due`` doses due at most 1.5 x the
    same at the smallest size, and an idle tick under 20 ms at every size."""
    smallest = rows[0][2].median
    lines = [
        f"| Patients | Doses in ledger | Messages | Database | Idle tick (CPU) | Tick, {due} due (CPU) "
        f"| ÷ at {n(rows[0][0].patients)} (CPU) | Per due dose |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for bench, idle, busy in rows:
        lines.append(
            f"| {n(bench.patients)} | {n(bench.doses)} | {n(bench.rows['messages'])} | {bench.size_mb / 1000:.2f} GB "
            f"| {ms(idle.median)} ({ms(cpu(idle))}) | {ms(busy.median)} ({ms(cpu(busy))}) "
            f"| {busy.median / smallest:.2f} ({cpu(busy) / cpu(rows[0][2]):.2f}) | {ms(busy.median / due)} |"
        )
    growth = size_per_patient_year(rows[-1][0].path)
    lines.append(
        f"\nDatabase growth per patient-year at {len(TIMES)} doses a day (SQLite's dbstat on the "
        f"{n(rows[-1][0].patients)}-patient database): {growth['kept']:.2f} MB as built, "
        f"{growth['retained']:.2f} MB after retention (phone links deleted 30 days after they expire, message "
        "texts pruned after 90 days; doses, events and every message's row stay)."
    )
    worst = max(busy.median / smallest for _b, _i, busy in rows)
    worst_cpu = max(cpu(busy) / cpu(rows[0][2]) for _b, _i, busy in rows)
    slowest_idle = max(idle.median for _b, idle, _t in rows)
    lines.append(
        f"\nTargets: tick ÷ smallest size at most 1.5 ({'met' if worst <= 1.5 else 'NOT met'}: {worst:.2f}; "
        f"CPU {worst_cpu:.2f}); idle tick under 20 ms ({'met' if slowest_idle < 0.02 else 'NOT met'}: "
        f"{ms(slowest_idle)}). Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs."
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Server:
    """A server subprocess on 127.0.0.1; stopped (only this process) on exit."""

    def __init__(self, args: list[str], port: int, ready_path: str, log_path: str):
        self.port, self.ready_path, self.log_path = port, ready_path, log_path
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT), stdin=subprocess.DEVNULL
        )

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.flush()
                raise SystemExit(f"server exited with {self.process.returncode}:\n{Path(self.log_path).read_text()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", self.ready_path)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"server on port {self.port} not ready in 60 s:\n{Path(self.log_path).read_text()}")

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    ok: int
    errors: dict
    latencies: list[float]
    connections: int
    client_cpu: float
    server_cpu: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def load(
    port: int,
    jobs: list[tuple[str, str, bytes, dict]],
    threads: int,
    time_limit: float,
    check,
    server_pid: int | None = None,
) -> LoadResult:
    """Send every job once from ``threads`` threads, each with its own keep-alive connection."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    done = {"ok": 0, "sent": 0, "connections": 0}
    deadline = time.monotonic() + time_limit

    def client():
        conn, mine, ok, sent, opened, bad = None, [], 0, 0, 0, {}
        while time.monotonic() < deadline:
            index = next(counter)
            if index >= len(jobs):
                break
            method, path, body, headers = jobs[index]
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                opened += 1
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                bad[type(error).__name__] = bad.get(type(error).__name__, 0) + 1
                conn.close()
                conn = None
                sent += 1
                continue
            mine.append(time.perf_counter() - t0)
            sent += 1
            problem = check(response.status, data)
            if problem:
                bad[problem] = bad.get(problem, 0) + 1
            else:
                ok += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)
            done["ok"] += ok
            done["sent"] += sent
            done["connections"] += opened
            for key, value in bad.items():
                errors[key] = errors.get(key, 0) + value

    server_before = cpu_seconds(server_pid) if server_pid else None
    cpu_before = time.process_time()
    started = time.perf_counter()
    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(time_limit + 60)
    seconds = time.perf_counter() - started
    server_after = cpu_seconds(server_pid) if server_pid else None
    return LoadResult(
        done["sent"],
        seconds,
        done["ok"],
        errors,
        latencies,
        done["connections"],
        time.process_time() - cpu_before,
        server_after - server_before if server_before is not None and server_after is not None else None,
    )


def confirm_check(status: int, data: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {data[:120]!r}"
    code = json.loads(data)["result"]["code"]
    return None if code == "taken" else f"code {code}"


def hello_check(status: int, data: bytes) -> str | None:
    return None if status == 200 and b"hello" in data else f"HTTP {status}"


def reminder_command() -> list[str]:
    script = Path(sys.executable).parent / "reminder"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "reminder.cli"]


# ---------------------------------------------------------------- SMS through a fake Twilio

SMS_FROM = "+15005550006"
SMS_BASE_URL = "https://reminder.example.org"  # live mode refuses a loopback base_url; nothing calls it here
SMS_FULL = 10_000  # the burst the capped runs are extrapolated to


class FakeTwilioProcess:
    """``bench/fake_twilio.py`` (the tests' FakeTwilio) in a subprocess on 127.0.0.1."""

    def __init__(self, log_path: str):
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fake_twilio.py")],
            cwd=str(ROOT),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.url = self._answer()["url"]

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.log.flush()
            raise SystemExit(f"the fake Twilio exited:\n{Path(self.log.name).read_text()}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.terminate()
                self.process.wait(timeout=10)
        self.log.close()


def build_sms(path: str, count: int, days_back: int) -> BenchDB:
    """``count`` patients in the due zone, each with one dose due at TICK_AT, SMS only, distinct +1 202 555 numbers."""
    if count > SMS_FULL:
        raise SystemExit(f"at most {SMS_FULL:,} SMS patients (one +1202555xxxx number each)")
    bench = build(path, background=0, cohort=count, days_back=days_back, history=False)
    db = dbmod.connect(path)
    try:
        with dbmod.immediate(db):
            db.execute("UPDATE users SET phone = printf('+1202555%04d', id - 1), channels = '[\"sms\"]'")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return bench


def sms_settings(path: str, fake_url: str, rate: float, concurrency: int) -> dict:
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from fakes import ACCOUNT_SID as FAKE_ACCOUNT_SID
    from fakes import AUTH_TOKEN as FAKE_AUTH_TOKEN

    return config.load(
        None,
        {
            "database.path": path,
            "server.base_url": SMS_BASE_URL,
            "notify.mode": "live",
            "sms.account_sid": FAKE_ACCOUNT_SID,
            "sms.auth_token": FAKE_AUTH_TOKEN,
            "sms.from_number": SMS_FROM,
            "sms.api_base_url": fake_url,
            "sms.max_per_second": rate,
            "notify.max_concurrent_sends": concurrency,
            "email.host": "",
        },
    )


class PoolDiscards(logging.Handler):
    """Counts urllib3's "Connection pool is full, discarding connection" warnings (and keeps them off stderr)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        if "pool is full" in record.getMessage():
            self.count += 1


@dataclass
class SmsRun:
    messages: int
    rate: float
    concurrency: int
    latency: float
    wall: float  # first run_tick called -> every message recorded sent
    ticks: list[tuple[float, dict, dict]]  # (seconds, counts, seconds per step) of each run_tick
    arrivals: list[float]  # monotonic seconds, at the fake
    connections: int  # TCP connections the fake accepted
    peak_in_flight: int  # most requests the fake was handling at once
    pool_discards: int
    claims: list[tuple[int, int, float]]  # (tick number from 1, messages claimed, seconds) of each deliver call
    send_errors: dict[str, int]  # TransportError reason -> how many sends raised it (each is retried later)

    @property
    def span(self) -> float:
        return self.arrivals[-1] - self.arrivals[0] if len(self.arrivals) > 1 else 0.0

    @property
    def provider_rate(self) -> float:
        return (len(self.arrivals) - 1) / self.span if self.span else 0.0

    @property
    def end_to_end_rate(self) -> float:
        return self.messages / self.wall

    @property
    def longest_tick(self) -> float:
        return max(seconds for seconds, _counts, _steps in self.ticks)

    def max_in_window(self, width: float = 1.0) -> int:
        best, j = 0, 0
        for i, t in enumerate(self.arrivals):
            while self.arrivals[j] <= t - width:
                j += 1
            best = max(best, i - j + 1)
        return best

    def step(self, name: str) -> float:
        return sum(steps.get(name, 0.0) for _seconds, _counts, steps in self.ticks)

    @property
    def label_row(self) -> str:
        cap = f"{self.rate:g}/s" if self.rate else "off"
        latency = f", fake answers after {self.latency * 1000:.0f} ms" if self.latency else ""
        return f"cap {cap}, {self.concurrency} concurrent sends{latency}"


def sms_run(
    template: BenchDB,
    path: str,
    fake: FakeTwilioProcess,
    rate: float,
    concurrency: int,
    latency: float = 0.0,
    max_ticks: int = 40,
) -> SmsRun:
    """Copy ``template``; ``run_tick`` every ``worker.tick_seconds`` of simulated time until every reminder is sent."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.copyfile(template.path, path)
    settings = sms_settings(path, fake.url, rate, concurrency)
    transport = make_transport(settings)  # once, as the worker makes it at start
    fake.ask(f"delay {latency}")
    fake.ask("reset")
    discards = PoolDiscards()
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addHandler(discards)
    pool_log.propagate = False
    count, ticks, now = template.patients, [], TICK_AT
    claims: list[tuple[int, int, float]] = []
    original_deliver = delivery.deliver

    def traced_deliver(*call_args, **call_kwargs):
        t0 = time.perf_counter()
        found = original_deliver(*call_args, **call_kwargs)
        claims.append((len(ticks) + 1, found, time.perf_counter() - t0))
        return found

    delivery.deliver = traced_deliver  # worker.deliver calls delivery.deliver: every call is recorded
    send_errors: dict[str, int] = {}
    errors_lock = threading.Lock()
    router_send = transport.send

    def counting_send(message):
        try:
            return router_send(message)
        except TransportError as error:
            cause = error.__cause__
            detail = error.reason
            if cause is not None:  # e.g. the urllib3 error behind "Twilio unreachable: ConnectionError"
                detail += " <- " + re.sub(r"0x[0-9a-f]+|port=\d+", "...", str(cause))[:200]
            with errors_lock:
                send_errors[detail] = send_errors.get(detail, 0) + 1
            raise

    transport.send = counting_send
    try:
        started = time.perf_counter()
        while True:
            ticks.append(timed_tick(path, now, settings, transport))
            check = sqlite3.connect(path)
            statuses = dict(
                check.execute(
                    "SELECT status, count(*) FROM messages WHERE created_at >= ? GROUP BY status", [to_iso(TICK_AT)]
                ).fetchall()
            )
            check.close()
            if statuses.get("sent", 0) >= count:
                break
            if set(statuses) - {"sent", "queued", "sending"} or len(ticks) >= max_ticks:
                raise SystemExit(
                    f"SMS run (cap {rate}, {concurrency} concurrent): after {len(ticks)} ticks "
                    f"messages are {statuses}; ticks {[t[1] for t in ticks]}"
                )
            now += timedelta(seconds=settings["worker.tick_seconds"])
        wall = time.perf_counter() - started
    finally:
        delivery.deliver = original_deliver
        pool_log.removeHandler(discards)
        pool_log.propagate = True
        session = getattr(
            getattr(getattr(transport.transports.get("sms"), "client", None), "http_client", None), "session", None
        )
        if session is not None:
            session.close()  # let the fake's threads for this run's kept-alive connections end
    seen = fake.ask("dump")
    arrivals = sorted(seen["arrivals"])
    if len(arrivals) != count or len(set(seen["to"])) != count:
        raise SystemExit(f"the fake got {len(arrivals)} requests for {len(set(seen['to']))} numbers, expected {count}")
    return SmsRun(
        messages=count,
        rate=rate,
        concurrency=concurrency,
        latency=latency,
        wall=wall,
        ticks=ticks,
        arrivals=arrivals,
        connections=seen["connections"],
        peak_in_flight=seen["peak_in_flight"],
        pool_discards=discards.count,
        claims=claims,
        send_errors=send_errors,
    )


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


# ---------------------------------------------------------------- output


def machine_info() -> list[str]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return [
        f"machine : {platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs "
        f"(nproc {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()})"
        + (f", {cpu}" if cpu else ""),
        f"python  : {platform.python_version()} ({sys.executable})",
        f"sqlite  : {sqlite3.sqlite_version} (journal WAL, synchronous NORMAL, as reminder.db.connect sets)",
        f"flask   : {_version('flask')}, werkzeug {_version('werkzeug')}",
    ]


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def n(value: int) -> str:
    return f"{value:,}"


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def sms_section(args, workdir: Path) -> tuple[list[SmsRun], dict]:
    """Section 4: reminders per second from the worker to a fake Twilio, rate cap off and on."""
    caps = []
    for item in filter(None, (part.strip() for part in args.sms_caps.split(","))):
        rate, _, count = item.partition(":")
        caps.append((float(rate), int(count.replace("_", "")) if count else args.sms_count))
    concurrencies = [int(c) for c in args.sms_concurrency.split(",") if c.strip()]
    defaults = config.load(None, {})
    tick_seconds, lease, batch = (
        defaults["worker.tick_seconds"],
        defaults["worker.send_lease_seconds"],
        defaults["worker.batch_size"],
    )
    live = sms_settings(str(workdir / "unused.db"), "http://127.0.0.1:1", 1000, 8)

    def sms_claim(rate: float, limit: int) -> int:
        """What deliver claims of SMS per call (delivery._budgets, so it follows the product's rule)."""
        return delivery._budgets({**live, "sms.max_per_second": rate}, limit)["sms"]

    window = sms_claim(1000, 10**9) / 1000  # seconds of sending one claim holds, with the limit out of the way
    section(
        f"4. SMS: {n(args.sms_count)} reminders due at once, worker -> real twilio client -> fake Twilio API "
        "(own process, 127.0.0.1), rate cap off and on"
    )
    sizes = sorted(
        {args.sms_count, *(count for _rate, count in caps), *([args.sms_latency_count] if args.sms_latency_ms else [])}
    )
    templates = {}
    for size in sizes:
        templates[size] = build_sms(str(workdir / f"sms-template-{size}.db"), size, args.days_back)
    print(
        f"databases: {', '.join(n(s) for s in sizes)} patients in {DUE_ZONE}, each with a +1202555xxxx phone, "
        f'channels ["sms"], one dose due at {to_iso(TICK_AT)}; built in '
        f"{sum(t.build_seconds for t in templates.values()):.1f}s; each run works on a fresh copy"
    )
    print(
        f"settings : notify.mode live, sms.api_base_url = the fake, server.base_url {SMS_BASE_URL} (only put in "
        f"the texts and StatusCallback), email.host empty; worker.tick_seconds "
        f"{tick_seconds}, worker.batch_size {batch}, worker.send_lease_seconds {lease}. run_tick is called back "
        f"to back on a fresh connection, `now` advanced {tick_seconds} s each call, until every reminder is "
        "recorded sent; one transport (make_transport) per run, as the worker makes one at start",
        flush=True,
    )

    plan = [(0.0, c, args.sms_count, 0.0) for c in concurrencies]
    plan += [(rate, concurrencies[0], count, 0.0) for rate, count in caps]
    if args.sms_latency_ms:
        plan += [
            (0.0, c, args.sms_latency_count, args.sms_latency_ms / 1000)
            for c in sorted({concurrencies[0], concurrencies[-1]})
        ]
    header = (
        f"{'run':<52} {'msgs':>6} {'ticks':>5} {'longest tick':>12} {'wall':>7} {'prompt':>7} {'deliver':>8} "
        f"{'msg/s fake':>10} {'msg/s e2e':>9} {'max/1s':>6} {'in flight':>9} {'conns':>5} {'discards':>8} "
        f"{'failed sends':>12}"
    )
    print(header)
    print("-" * len(header), flush=True)
    runs: list[SmsRun] = []
    fake = FakeTwilioProcess(str(workdir / "fake-twilio.log"))
    try:
        for rate, concurrency, count, latency in plan:
            r = sms_run(templates[count], str(workdir / "sms-run.db"), fake, rate, concurrency, latency)
            runs.append(r)
            print(
                f"{r.label_row:<52} {n(r.messages):>6} {len(r.ticks):>5} {r.longest_tick:>11.2f}s {r.wall:>6.2f}s "
                f"{r.step('prompt_due'):>6.2f}s {r.step('deliver'):>7.2f}s {r.provider_rate:>10,.0f} "
                f"{r.end_to_end_rate:>9,.0f} {r.max_in_window():>6} {r.peak_in_flight:>9} {r.connections:>5} "
                f"{r.pool_discards:>8} {sum(r.send_errors.values()):>12}",
                flush=True,
            )
    finally:
        fake.close()
    if not args.keep:
        for template in templates.values():
            os.remove(template.path)

    print(
        "  msg/s fake: (requests - 1) / (last - first arrival at the fake); msg/s e2e: messages / wall, wall = "
        "first run_tick called until every message is recorded sent (incl. prompt_due queueing them); max/1s: most "
        "requests arriving in any sliding 1 s window; in flight: most requests the fake was handling at once; "
        "conns: TCP connections it accepted (keep-alive); discards: urllib3 'Connection pool is full, discarding "
        "connection' warnings in the client; failed sends: TransportErrors (each retried by a later tick)"
    )
    for r in runs:
        if r.send_errors:
            print(
                f"  {r.label_row}: failed sends "
                + ", ".join(f"{count} x {reason!r}" for reason, count in sorted(r.send_errors.items()))
            )
    for r in runs:
        if not r.rate:
            continue
        gaps = [b - a for a, b in zip(r.arrivals, r.arrivals[1:], strict=False)]
        full = SMS_FULL / r.rate
        budget = sms_claim(r.rate, batch)
        peak = r.max_in_window()
        print(
            f"  cap {r.rate:g}/s: {n(r.messages)} messages, mean {r.provider_rate:.2f}/s at the fake, at most {peak} "
            f"in any 1 s window ({'within the cap' if peak <= r.rate else f'cap + {peak - r.rate:g}'}), smallest "
            f"gap between arrivals {min(gaps) * 1000:.1f} ms (the limiter's slots are {1000 / r.rate:.1f} ms apart); "
            f"all {n(SMS_FULL)} would take {duration(full)} at this rate",
            flush=True,
        )
        per_tick = {}
        for tick_no, found, seconds in r.claims:
            per_tick.setdefault(tick_no, []).append((found, seconds))
        described = "; ".join(
            f"tick {tick_no} ({r.ticks[tick_no - 1][0]:.1f} s): "
            + ", ".join(f"{found} in {seconds:.1f} s" for found, seconds in calls)
            for tick_no, calls in per_tick.items()
        )
        print(
            f"    deliver's SMS claim per call (delivery._budgets): min(batch_size {batch}, {r.rate:g}/s x "
            f"{window:g} s) = {budget}; "
            f"deliver calls: {described}",
            flush=True,
        )
        if budget >= batch:
            full_claims = sum(1 for _tick, found, _seconds in r.claims if found >= batch)
            evidence = (
                f"here {full_claims} full claim(s), each followed at once by another deliver call in the same tick"
                if full_claims
                else f"this run's {n(r.messages)} fit in one claim"
            )
            print(
                f"    NOTE: the claim ({budget}) equals batch_size, and a deliver that returns batch_size is called "
                f"again at once by run_tick (deliver is in worker.DRAINED): {evidence}. With the defaults this holds "
                f"for any cap >= {batch / window:.1f}/s, so a capped burst does not spread over ticks: all "
                f"{n(SMS_FULL)} would go out inside ONE run_tick of ~{duration(full)} (worker.tick_seconds "
                f"{tick_seconds}; no other step runs meanwhile, and /healthz reports the worker stale after "
                f"{STALE_TICKS * tick_seconds} s without a heartbeat)",
                flush=True,
            )
    return runs, {"tick_seconds": tick_seconds, "batch": batch, "window": window}


def sms_markdown(runs: list[SmsRun], info: dict) -> None:
    print(
        "| SMS: worker -> twilio client -> fake Twilio on 127.0.0.1 | Reminders | Ticks | Longest tick | "
        "Msg/s at the fake | Msg/s end to end | Most in any 1 s | All 10,000 would take |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        full = SMS_FULL / (r.rate or r.end_to_end_rate)
        print(
            f"| {r.label_row} | {n(r.messages)} | {len(r.ticks)} | {r.longest_tick:.1f} s | {r.provider_rate:,.0f} | "
            f"{r.end_to_end_rate:,.0f} | {r.max_in_window()} | {duration(full)} |"
        )
    print(
        f"\nEvery patient has one SMS reminder due at the same instant; `reminder.worker.run_tick` is called until all "
        f"are recorded sent, `now` advancing {info['tick_seconds']} s per call (default `worker.batch_size` "
        f"{info['batch']}). The fake Twilio is the tests' `FakeTwilio` in its own process with keep-alive; it "
        "answers at once unless a latency is given, so uncapped runs measure this machine's CPU "
        f"({os.cpu_count()} CPUs shared by worker and fake)."
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description="reminder benchmarks (see the module docstring).")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="patient counts for the tick benchmark")
    parser.add_argument(
        "--cache",
        default=str(ROOT / "bench" / ".cache"),
        help="folder of tick databases built once and reused by later runs ('' to rebuild every time)",
    )
    parser.add_argument("--due", type=int, default=100, help="doses due at the tick instant in every size")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per tick measurement (median printed)")
    parser.add_argument("--days-back", type=int, default=1, help="days of past doses in the ledger")
    parser.add_argument("--no-history", action="store_true", help="no messages, links or events for past doses")
    parser.add_argument("--burst", type=int, default=10000, help="reminders due at once for the outbox benchmark")
    parser.add_argument("--burst-reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="confirm requests (and /hello requests)")
    parser.add_argument("--warmup", type=int, default=100, help="requests sent before timing, not counted")
    parser.add_argument("--threads", type=int, default=4, help="client threads, one keep-alive connection each")
    parser.add_argument("--http-time-limit", type=float, default=120.0, help="seconds at most per HTTP run")
    parser.add_argument(
        "--sms-count",
        type=int,
        default=10000,
        help="SMS reminders due at once for the uncapped runs of the SMS section (at most 10,000)",
    )
    parser.add_argument(
        "--sms-concurrency",
        default="8,16,32",
        help="notify.max_concurrent_sends values for the uncapped runs (the first one for the rest)",
    )
    parser.add_argument(
        "--sms-caps", default="100:2000,25:500", help="sms.max_per_second:messages runs with the cap on"
    )
    parser.add_argument(
        "--sms-latency-ms",
        type=float,
        default=50,
        help="also run uncapped with the fake answering after this many ms (0: skip), to show sends overlap",
    )
    parser.add_argument("--sms-latency-count", type=int, default=1000, help="messages in each latency run")
    parser.add_argument(
        "--only",
        default="",
        help="run only these sections, comma-separated: tick, burst, http, sms, report, panel, upkeep (http "
        "builds the burst database)",
    )
    parser.add_argument("--no-sms", action="store_true", help="skip the SMS section")
    parser.add_argument("--panel-patients", type=int, default=10_000, help="patients on the clinic panel")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="sizes 1000,10000, 3 reps, a burst of 2000, 500 requests; SMS: 2000 uncapped, caps "
        "100:500,25:125, latency runs of 300",
    )
    parser.add_argument("--workdir", default=None, help="folder for the databases (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.reps, args.burst, args.burst_reps, args.requests, args.warmup = (
            "1000,10000",
            3,
            2000,
            2,
            500,
            50,
        )
        args.sms_count, args.sms_caps, args.sms_latency_count = 2000, "100:500,25:125", 300
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if any(size < args.due for size in sizes):
        parser.error("every size must be at least --due")
    sections = {s.strip() for s in args.only.split(",") if s.strip()} or set(SECTIONS)
    if args.no_sms and not args.only:
        sections.discard("sms")
    if sections - set(SECTIONS):
        parser.error(f"--only takes {', '.join(SECTIONS)}")
    if args.warmup + args.requests > args.burst:
        parser.error("--warmup + --requests must not exceed --burst (each request confirms a different due dose)")

    command = " ".join([".venv/bin/python", "bench/bench.py", *sys.argv[1:]])
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="reminder-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    run_started = time.perf_counter()
    flagged: list[str] = []

    print("reminder benchmark")
    print(f"command : {command}")
    for line in machine_info():
        print(line)
    print(f"workdir : {workdir}")
    if sections & {"tick", "burst", "http"}:
        print(
            f"scenario: baclofen 10 mg at {', '.join(TIMES)} local; patients in {DUE_ZONE} (the due cohort) and "
            f"{', '.join(BACKGROUND_ZONES)}; tick at {to_iso(TICK_AT)} = 13:00 in {DUE_ZONE}; ledger from "
            f"{args.days_back} day(s) back to 48 h ahead; past doses {'with' if not args.no_history else 'without'} "
            "their messages, links and events",
            flush=True,
        )

    try:
        tick_rows, http_rows, sms_runs, result, clinician = [], [], [], None, []
        if "tick" in sections:
            # ------------------------------------------------ 1. tick cost vs patients
            section(f"1. One worker tick (reminder.worker.run_tick), {args.due} doses due, median of {args.reps}")
            header = (
                f"{'patients':>9} {'doses':>9} {'messages':>9} {'due':>5} {'build':>7} {'db MB':>7} "
                f"{'idle tick':>10} {'tick':>10} {'generate':>9} {'prompt':>9} {'deliver':>9} {'per due dose':>12}"
            )
            print(header)
            print("-" * len(header), flush=True)
            tick_rows = []
            biggest = None
            for size in sizes:
                bench = cached_build(
                    Path(args.cache) if args.cache else workdir,
                    background=size - args.due,
                    cohort=args.due,
                    days_back=args.days_back,
                    history=not args.no_history,
                )
                idle = bench_tick(bench, TICK_AT - timedelta(minutes=1), args.reps, expect_due=0)
                busy = bench_tick(bench, TICK_AT, args.reps, expect_due=args.due)
                tick_rows.append((bench, idle, busy))
                print(
                    f"{n(size):>9} {n(bench.doses):>9} {n(bench.rows['messages']):>9} {args.due:>5} "
                    f"{bench.build_seconds:>6.1f}s {bench.size_mb:>7.1f} {ms(idle.median):>10} {ms(busy.median):>10} "
                    f"{ms(busy.steps['generate']):>9} {ms(busy.steps['prompt_due']):>9} {ms(busy.steps['deliver']):>9} "
                    f"{ms(busy.median / args.due):>12}",
                    flush=True,
                )
                if biggest is not None and not args.keep and not args.cache:
                    os.remove(biggest.path)
                biggest = bench
            print(
                "  idle tick: the same database one minute earlier, when nothing is due; generate/prompt/deliver: "
                "median seconds of those steps within the tick (recover_interrupted and close_windows found nothing)"
            )
            samples = "; ".join(
                f"{n(b.patients)}: " + ", ".join(f"{s * 1000:.1f}" for s in busy.samples)
                for b, _idle, busy in tick_rows
            )
            print(f"  every tick sample (ms): {samples}", flush=True)

            # Query plans of every statement one tick runs, on the largest database.
            marks = high_water(biggest.path)
            statements = collect_statements(lambda: timed_tick(biggest.path, TICK_AT, settings_for(biggest.path)))
            undo(biggest.path, marks, biggest.due_ids)
            flagged += print_plans(
                f"Query plans of the statements one tick runs ({n(biggest.patients)} patients):",
                plans(biggest.path, statements),
            )
            if not args.keep and not args.cache:
                os.remove(biggest.path)

        if sections & {"burst", "http"}:
            # ------------------------------------------------ 2. a burst through the outbox
            section(f"2. A burst: {n(args.burst)} reminders due at the same instant, through the outbox")
            burst_path = str(workdir / "burst.db")
            burst = build(
                burst_path, background=0, cohort=args.burst, days_back=args.days_back, history=not args.no_history
            )
            print(
                f"database: {n(burst.patients)} patients all in {DUE_ZONE}, {n(burst.doses)} doses, built in "
                f"{burst.build_seconds:.1f}s"
            )
            result = bench_tick(burst, TICK_AT, args.burst_reps, expect_due=args.burst, keep_last=True)
            sent = (
                sqlite3.connect(burst_path)
                .execute(
                    "SELECT count(*) FROM messages WHERE kind = 'reminder' AND status = 'sent' AND created_at = ?",
                    [to_iso(TICK_AT)],
                )
                .fetchone()[0]
            )
            assert sent == args.burst, sent
            header = (
                f"{'reminders':>9} {'tick (until all sent)':>22} {'reminders/s':>12} {'prompt_due':>11} {'deliver':>9}"
                f" {'CPU':>7}"
            )
            print(header)
            print("-" * len(header))
            print(
                f"{n(args.burst):>9} {result.median:>21.2f}s {args.burst / result.median:>12,.0f} "
                f"{result.steps['prompt_due']:>10.2f}s {result.steps['deliver']:>8.2f}s {result.steps['cpu']:>6.2f}s"
            )
            print(
                f"  median of {args.burst_reps}: "
                + ", ".join(f"{s:.2f}s" for s in result.samples)
                + f"; all {n(sent)} recorded as sent; counts {json.dumps(result.counts)}; CPU: the tick's "
                "process time (all threads), which a loaded machine does not inflate as it does wall time",
                flush=True,
            )

        if "http" in sections:
            # ------------------------------------------------ 3. HTTP
            section(
                f"3. HTTP requests/s: {args.threads} client threads (Python http.client, keep-alive), "
                f"{n(args.requests)} requests each run"
            )
            now_http = TICK_AT + timedelta(minutes=5)
            ManualClock(lambda: dbmod.connect(burst_path)).set(now_http)
            db = dbmod.connect(burst_path)
            patients = burst.due_patients[: args.warmup + args.requests + 1]
            dose_of = dict(
                db.execute(
                    "SELECT patient_id, id FROM doses WHERE scheduled_at = ? AND status = 'pending'", [to_iso(TICK_AT)]
                ).fetchall()
            )
            with dbmod.immediate(db):
                tokens = {pid: accounts.create_token(db, pid, now_http, label="bench") for pid in patients}
            db.close()
            jobs = [
                (
                    "POST",
                    f"/api/v1/doses/{dose_of[pid]}/confirm",
                    b'{"action": "taken"}',
                    {"Content-Type": "application/json", "Authorization": f"Bearer {tokens[pid]}"},
                )
                for pid in patients
            ]
            trace_job = jobs.pop()  # one dose kept for the traced request below

            config_path = workdir / "bench.toml"
            port = free_port()
            config_path.write_text(
                f'[database]\npath = "{burst_path}"\n\n[clock]\nmode = "manual"\n\n'
                f'[server]\nhost = "127.0.0.1"\nport = {port}\nbase_url = "{BASE_URL}"\nsecret_key = "bench"\n'
            )
            http_rows = []
            server_args = [
                *reminder_command(),
                "--config",
                str(config_path),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            with Server(server_args, port, "/api/v1/openapi.json", str(workdir / "serve.log")) as server:
                load(port, jobs[: args.warmup], args.threads, args.http_time_limit, confirm_check)
                confirm = load(
                    port, jobs[args.warmup :], args.threads, args.http_time_limit, confirm_check, server.process.pid
                )
            http_rows.append(("POST /api/v1/doses/{id}/confirm (reminder serve)", confirm))
            check = sqlite3.connect(burst_path)
            confirmed = check.execute(
                "SELECT count(*) FROM doses WHERE source = 'api' AND status = 'taken'"
            ).fetchone()[0]
            check.close()

            port = free_port()
            hello_jobs = [
                (
                    "POST",
                    "/hello",
                    b'{"action": "taken"}',
                    {"Content-Type": "application/json", "Authorization": "Bearer x"},
                )
            ] * (args.warmup + args.requests)
            with Server(
                [sys.executable, str(ROOT / "bench" / "hello_app.py"), "--port", str(port)],
                port,
                "/hello",
                str(workdir / "hello.log"),
            ) as server:
                load(port, hello_jobs[: args.warmup], args.threads, args.http_time_limit, hello_check)
                hello = load(
                    port, hello_jobs[args.warmup :], args.threads, args.http_time_limit, hello_check, server.process.pid
                )
            http_rows.append(("POST /hello (bare Flask, same server)", hello))

            header = (
                f"{'endpoint':<50} {'requests':>8} {'ok':>6} {'req/s':>7} {'p50':>8} {'p95':>8} {'p99':>8} "
                f"{'conns':>5} {'server CPU/req':>14} {'client CPU':>10}"
            )
            print(header)
            print("-" * len(header))
            for name, r in http_rows:
                per_req = (
                    f"{r.server_cpu / r.requests * 1000:.2f} ms" if r.server_cpu is not None and r.requests else "n/a"
                )
                print(
                    f"{name:<50} {r.requests:>8} {r.ok:>6} {r.rps:>7.0f} {r.pct(0.5):>6.1f}ms {r.pct(0.95):>6.1f}ms "
                    f"{r.pct(0.99):>6.1f}ms {r.connections:>5} {per_req:>14} {r.client_cpu:>9.1f}s"
                )
                if r.errors:
                    print(f"  errors: {r.errors}")
            print(
                f"  confirm: each request on a different pending due dose, with its patient's token; "
                f"{n(confirmed)} doses now recorded taken via the API (incl. {args.warmup} warm-up requests); "
                f"manual clock at {to_iso(now_http)}"
            )
            print(
                f"  client: Python http.client in this process ({args.threads} threads, GIL-bound; it shares the "
                f"{os.cpu_count()} CPUs with the server); wrk was not used",
                flush=True,
            )
            closes_every_time = all(r.connections >= r.requests for _name, r in http_rows)
            if closes_every_time:
                print(
                    "  conns: every response carried 'Connection: close' (Werkzeug's server does not keep connections "
                    "alive), so each request opened a new TCP connection although the client keeps them",
                    flush=True,
                )

            # Query plans of one confirm request, served in-process by the same app.
            from reminder import create_app

            app = create_app(str(config_path))
            method, path, body, headers = trace_job

            def one_confirm():
                response = app.test_client().open(path, method=method, data=body, headers=headers)
                assert response.status_code == 200, response.get_data(as_text=True)

            flagged += print_plans(
                "Query plans of the statements one confirm request runs:",
                plans(burst_path, collect_statements(one_confirm)),
            )

        # ------------------------------------------------ 4. SMS through a fake Twilio
        if "sms" in sections:
            sms_runs, sms_info = sms_section(args, workdir)

        # ------------------------------------------------ 5. the clinician's report and panel
        if sections & {"report", "panel", "upkeep"}:
            section("5. The clinician's side and upkeep: a patient-year report, the panel (bench/bench_reports.py)")
            cache = Path(args.cache) if args.cache else workdir
            report_settings = config.load(None, {"clock.mode": "manual"})
            if "report" in sections:
                clinician += bench_reports.report_section(cache, workdir, args.reps, report_settings)
            if "panel" in sections:
                clinician += bench_reports.panel_section(cache, workdir, args.panel_patients, args.reps)
            if "upkeep" in sections:
                clinician += bench_reports.upkeep_section(cache, workdir, args.panel_patients, args.reps)
            for timing in clinician:
                print(timing.line(), flush=True)

        # ------------------------------------------------ summary
        total = time.perf_counter() - run_started
        section(f"Done in {total:.0f} s")
        if flagged:
            print("Statements that scan a growing table:")
            for line in flagged:
                print(f"  {line}")
        print("\nMarkdown for README's Performance section:\n")
        cpu = machine_info()[0].split(": ", 1)[1]
        if tick_rows:
            history_note = "" if args.no_history else ", with the past doses' messages, phone links and events"
            print(
                f"Measured with `{command}` on {cpu}; Python {platform.python_version()}, SQLite "
                f"{sqlite3.sqlite_version}. Every patient takes baclofen at 08:00, 13:00 and 18:00 local time; the "
                f"ledger runs from {args.days_back} day(s) back to 48 h ahead{history_note}. A tick is one "
                f"`reminder.worker.run_tick` on a fresh connection, median of {args.reps}; at the tick exactly "
                f"{args.due} doses are due (a cohort in {DUE_ZONE}), the other patients live in six other zones and "
                "have nothing due. The idle tick is the same database a minute earlier.\n"
            )
            print(tick_markdown(tick_rows, args.due))
            print()
        if result is not None:
            print("| Burst through the outbox | One tick until all are sent | Reminders/s | Target |")
            print("|---|---:|---:|---|")
            print(
                f"| {n(args.burst)} reminders due at once ({n(burst.patients)} patients in {DUE_ZONE}) | "
                f"{result.median:.2f} s | {args.burst / result.median:,.0f} | under 2 s: "
                f"{'met' if result.median < 2 else 'NOT met'} |"
            )
            print()
        if http_rows:
            print(
                f"| HTTP: {args.threads} client threads (Python `http.client`), Werkzeug threaded server "
                "| Requests | Requests/s | p50 | p95 | p99 |"
            )
            print("|---|---:|---:|---:|---:|---:|")
            for name, r in http_rows:
                print(
                    f"| `{name.split(' (')[0]}` ({name.split(' (')[1][:-1]}) | {n(r.requests)} | {r.rps:,.0f} | "
                    f"{r.pct(0.5):.1f} ms | {r.pct(0.95):.1f} ms | {r.pct(0.99):.1f} ms |"
                )
            print(
                f"\nEach confirm is a different patient's due dose, with that patient's token, manual clock. Client "
                f"and server share the {os.cpu_count()} CPUs."
                + (
                    " Werkzeug's server closes the connection after every response, so each request opens a new one."
                    if closes_every_time
                    else ""
                )
            )
        if sms_runs:
            if sections == {"sms"}:
                print(
                    f"Measured with `{command}` on {cpu}; Python {platform.python_version()}, SQLite "
                    f"{sqlite3.sqlite_version}, twilio {_version('twilio')}.\n"
                )
            else:
                print()
            sms_markdown(sms_runs, sms_info)
        if clinician:
            print()
            print(bench_reports.markdown(clinician))
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

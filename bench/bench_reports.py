"""Benchmark the clinician's side: one patient's report over a year, and a clinic panel.

    .venv/bin/python bench/bench_reports.py [--panel-patients 10000] [--reps 5]

Builds databases with the real migrations, then bulk-inserts the ledger (no password hashing
per patient). Targets from issue 13: a year's report under 50 ms, a 10,000-patient panel
under 100 ms (from the summaries the worker keeps), on this 2-core machine. Not part of the test suite; stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reminder import config, reports, summaries  # noqa: E402
from reminder import db as dbmod
from reminder.schedule import resolve  # noqa: E402
from reminder.times import to_iso  # noqa: E402

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HASH = "scrypt:32768:8:1$bench$" + "0" * 128


def build(path: str, patients: int, days: int, medications_each: int) -> None:
    database = dbmod.connect(path)
    dbmod.upgrade(database)
    conn = database.conn
    created = to_iso(NOW - timedelta(days=days + 1))
    conn.execute(
        "INSERT INTO clinics (id, name, join_code, created_at) VALUES (1, 'Bench clinic', 'BENCH123', ?)", [created]
    )
    conn.executemany(
        "INSERT INTO users (id, email, password_hash, role, name, tz, created_at) VALUES (?, ?, ?, 'patient', ?, ?, ?)",
        ((i, f"p{i}@bench.example", HASH, f"Patient {i}", TZ.key, created) for i in range(1, patients + 1)),
    )
    conn.executemany(
        "INSERT INTO clinic_links (patient_id, clinic_id, created_at) VALUES (?, 1, ?)",
        ((i, created) for i in range(1, patients + 1)),
    )
    names = ["Baclofen", "Gabapentin", "Propranolol"]
    medication_rows, dose_rows = [], []
    times = ["08:00", "13:00", "18:00"]
    first_day = (NOW - timedelta(days=days)).astimezone(TZ).date()
    medication_id = 0
    for patient in range(1, patients + 1):
        for m in range(medications_each):
            medication_id += 1
            medication_rows.append(
                (medication_id, patient, names[m % 3], "10 mg", 1, created, to_iso(NOW + timedelta(days=3)))
            )
            for d in range(days):
                day = first_day + timedelta(days=d)
                for k, hhmm in enumerate(times):
                    at = resolve(day, datetime.strptime(hhmm, "%H:%M").time(), TZ)
                    if at > NOW:
                        continue
                    n = (patient + d + k) % 10
                    status = "taken" if n < 7 else ("missed" if n < 9 else "skipped")
                    taken = to_iso(at + timedelta(minutes=20 if n < 5 else 95)) if status == "taken" else None
                    dose_rows.append(
                        (
                            patient,
                            medication_id,
                            day.isoformat(),
                            hhmm,
                            TZ.key,
                            to_iso(at),
                            to_iso(at + timedelta(hours=2, minutes=30)),
                            10,
                            status,
                            taken,
                            created,
                        )
                    )
    conn.executemany(
        "INSERT INTO medications (id, patient_id, name, strength, withdrawal_risk, created_at, generated_until) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        medication_rows,
    )
    conn.executemany(
        "INSERT INTO regimen_steps (medication_id, start_date, times, amount, created_at) VALUES (?, ?, ?, 10, ?)",
        ((row[0], first_day.isoformat(), json.dumps(times), created) for row in medication_rows),
    )
    conn.executemany(
        "INSERT INTO doses (patient_id, medication_id, local_date, local_time, tz, scheduled_at, window_closes_at, "
        "amount, status, taken_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        dose_rows,
    )
    conn.commit()
    database.close()


def timed(fn, reps: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panel-patients", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    settings = config.load(None, {"clock.mode": "manual"})
    print("reminder report and panel benchmark")
    print(
        f"machine : {platform.platform()}, {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"sqlite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory() as folder:
        year = str(Path(folder) / "year.db")
        started = time.perf_counter()
        build(year, patients=1, days=365, medications_each=3)
        print(
            f"\n== report: one patient, 3 medications x 3 doses a day, one year ({time.perf_counter() - started:.1f}s to build) =="
        )
        database = dbmod.connect(year)
        first, last = (NOW - timedelta(days=364)).astimezone(TZ).date(), NOW.astimezone(TZ).date()
        median, samples = timed(lambda: reports.build(database, 1, first, last, NOW, settings), args.reps)
        rows = database.execute("SELECT count(*) FROM doses").fetchone()[0]
        print(
            f"doses in the ledger: {rows}; reports.build median {median:.1f} ms (samples {', '.join(f'{s:.1f}' for s in samples)})"
        )
        csv_median, _ = timed(lambda: reports.ledger_csv(database, 1, first, last), args.reps)
        print(f"ledger CSV of the year: median {csv_median:.1f} ms")
        database.close()

        panel_db = str(Path(folder) / "panel.db")
        started = time.perf_counter()
        build(panel_db, patients=args.panel_patients, days=30, medications_each=1)
        print(
            f"\n== panel: {args.panel_patients:,} patients, 30 days of 3 doses a day ({time.perf_counter() - started:.1f}s to build) =="
        )
        database = dbmod.connect(panel_db)
        rows = database.execute("SELECT count(*) FROM doses").fetchone()[0]
        # The worker keeps each patient's summary current (summaries.py); do its work once, timed.
        started = time.perf_counter()
        refreshed = 0
        while found := summaries.refresh(database, NOW, 500):
            refreshed += found
        refresh_ms = (time.perf_counter() - started) * 1000
        print(
            f"worker: {refreshed:,} patient summaries computed in {refresh_ms:.0f} ms "
            f"({refresh_ms / max(refreshed, 1):.2f} ms a patient, once a day and after each dose closes)"
        )
        median_panel, samples = timed(lambda: reports.panel(database, 1, NOW), args.reps)
        print(
            f"doses in the ledger: {rows:,}; reports.panel (first page of 50, at risk first) median {median_panel:.0f} ms "
            f"(samples {', '.join(f'{s:.0f}' for s in samples)})"
        )
        median_search, _ = timed(lambda: reports.panel(database, 1, NOW, q="patient 12", sort="name"), args.reps)
        print(f"reports.panel with a search and sort by name: median {median_search:.0f} ms")
        database.close()
    print("\n| What | Size | Median |\n|---|---|---:|")
    print(
        f"| one patient's report over a year | 3 medications, 3 doses a day ({rows and ''}3,285 doses) | {median:.0f} ms |"
    )
    print(f"| clinic panel | {args.panel_patients:,} patients, 30 days | {median_panel:.0f} ms |")
    print(
        f"| the worker's summary of one patient (panel_summaries) | 30 days | {refresh_ms / max(refreshed, 1):.2f} ms |"
    )


if __name__ == "__main__":
    main()

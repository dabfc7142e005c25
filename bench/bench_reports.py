"""Benchmark the clinician's side: one patient's report over a year, and a clinic panel.

    .venv/bin/python bench/bench_reports.py [--panel-patients 10000] [--reps 7]

or as sections of ``bench/bench.py --only report,panel``.
Builds databases with the real migrations, then bulk-inserts the ledger (no password hashing
per patient), once per schema into ``bench/.cache`` and copied for each run. Targets from issue 13:
a year's report under 50 ms, a 10,000-patient panel under 100 ms (from the summaries the worker
keeps), on this 2-core machine. Each timing prints its wall and CPU medians, its ratio to the
target and the load average, since other processes share the CPUs. Not part of the test suite;
stops by itself.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reminder import config, reports, summaries, upkeep  # noqa: E402
from reminder import db as dbmod  # noqa: E402
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


REPORT_TARGET_MS = 50  # issue 13: one patient-year report
PANEL_TARGET_MS = 100  # issue 13: the clinic panel of 10,000 patients


@dataclass
class Timing:
    what: str
    size: str
    median_ms: float
    cpu_ms: float
    samples: list[float]
    load: tuple[float, float, float]  # the 1-, 5- and 15-minute load averages when it was measured
    target_ms: float | None = None

    def line(self) -> str:
        ratio = (
            f"; ratio to the {self.target_ms:g} ms target {self.median_ms / self.target_ms:.2f}"
            if self.target_ms
            else ""
        )
        return (
            f"{self.what}: median {self.median_ms:.1f} ms wall, {self.cpu_ms:.1f} ms CPU{ratio} (load average "
            f"{self.load[0]:.2f}; samples {', '.join(f'{s:.1f}' for s in self.samples)})"
        )

    def row(self) -> str:
        verdict = ""
        if self.target_ms:
            met = "met" if self.median_ms < self.target_ms else "NOT met"
            verdict = f"under {self.target_ms:g} ms: {met} ({self.median_ms / self.target_ms:.2f})"
        return f"| {self.what} | {self.size} | {self.median_ms:.1f} ms | {self.cpu_ms:.1f} ms | {self.load[0]:.2f} | {verdict} |"


def timed(what: str, size: str, fn, reps: int, target_ms: float | None = None) -> Timing:
    """``fn`` once to warm up (imports, caches), then ``reps`` times: the median wall and CPU time."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return Timing(what, size, statistics.median(wall), statistics.median(cpu), wall, os.getloadavg(), target_ms)


def cached(folder: Path, name: str, make) -> Path:
    """The database ``make(path)`` builds, built once per schema and build code, then reused."""
    key = hashlib.sha256((dbmod.MIGRATIONS_FILE.read_text() + inspect.getsource(build)).encode()).hexdigest()[:10]
    path = folder / f"{name}-{key}.db"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make(str(path) + ".part")
        os.replace(str(path) + ".part", path)
    return path


def report_section(folder: Path, workdir: Path, reps: int, settings: dict) -> list[Timing]:
    """One patient's report over a year: 3 medications x 3 doses a day (3,285 doses)."""
    source = cached(folder, "report-year", lambda path: build(path, patients=1, days=365, medications_each=3))
    path = workdir / "report-year.db"
    shutil.copy(source, path)
    database = dbmod.connect(str(path))
    first, last = (NOW - timedelta(days=364)).astimezone(TZ).date(), NOW.astimezone(TZ).date()
    doses = database.execute("SELECT count(*) FROM doses").fetchone()[0]
    size = f"3 medications x 3 doses a day, a year ({doses:,} doses)"
    found = [
        timed(
            "reports.build, one patient-year",
            size,
            lambda: reports.build(database, 1, first, last, NOW, settings),
            reps,
            REPORT_TARGET_MS,
        ),
        timed("reports.ledger_csv, the same year", size, lambda: reports.ledger_csv(database, 1, first, last), reps),
    ]
    database.close()
    return found


def panel_section(folder: Path, workdir: Path, patients: int, reps: int) -> list[Timing]:
    """A clinic's panel of ``patients``, 30 days of 3 doses a day each, from the summaries the
    worker keeps (computed here once, as the worker would have)."""
    source = cached(
        folder, f"panel-{patients}", lambda path: build(path, patients=patients, days=30, medications_each=1)
    )
    path = workdir / "panel.db"
    shutil.copy(source, path)
    database = dbmod.connect(str(path))
    doses = database.execute("SELECT count(*) FROM doses").fetchone()[0]
    started = time.perf_counter()
    refreshed = 0
    while found := summaries.refresh(database, NOW, 500):
        refreshed += found
    refresh_ms = (time.perf_counter() - started) * 1000
    print(
        f"worker: {refreshed:,} patient summaries computed in {refresh_ms:.0f} ms "
        f"({refresh_ms / max(refreshed, 1):.2f} ms a patient, once a day and after each dose closes)"
    )
    size = f"{patients:,} patients, 30 days ({doses:,} doses)"
    timings = [
        timed(
            "reports.panel, first page of 50, at risk first",
            size,
            lambda: reports.panel(database, 1, NOW),
            reps,
            PANEL_TARGET_MS,
        ),
        timed(
            "reports.panel, a search, by name",
            size,
            lambda: reports.panel(database, 1, NOW, q="patient 12", sort="name"),
            reps,
        ),
    ]
    # Just after a tick at the 08:00 peak: 2 % of the patients have a dose that closed since the
    # worker's last refresh, so their line is computed from the ledger.
    database.execute("UPDATE panel_summaries SET stale = 1 WHERE patient_id % 50 = 0")
    database.conn.commit()
    timings.append(
        timed(
            "reports.panel, 2 % of summaries stale",
            size,
            lambda: reports.panel(database, 1, NOW),
            reps,
            PANEL_TARGET_MS,
        )
    )
    database.close()
    return timings


def upkeep_section(folder: Path, workdir: Path, patients: int, reps: int) -> list[Timing]:
    """Upkeep on the panel's database with every medication's stock tracked (a year's worth, so
    nothing is due): the first run projects every stock once (as after migration 0015), the next
    runs read only the stocks whose look has come."""
    source = cached(
        folder, f"panel-{patients}", lambda path: build(path, patients=patients, days=30, medications_each=1)
    )
    path = workdir / "upkeep.db"
    shutil.copy(source, path)
    database = dbmod.connect(str(path))
    database.execute("UPDATE medications SET stock = 1100")
    database.conn.commit()
    settings = config.load(None, {"clock.mode": "manual"})
    at = iter(NOW + timedelta(minutes=10 * i) for i in range(1, 1000))
    size = f"{patients:,} stock-tracked medications, none due"
    started, started_cpu = time.perf_counter(), time.process_time()
    upkeep.run(database, next(at), settings)
    first = Timing(
        "upkeep, first run: every stock projected",
        size,
        (time.perf_counter() - started) * 1000,
        (time.process_time() - started_cpu) * 1000,
        [],
        os.getloadavg(),
    )
    later = timed("upkeep, a later run", size, lambda: upkeep.run(database, next(at), settings), reps)
    database.close()
    return [first, later]


def markdown(timings: list[Timing]) -> str:
    lines = ["| What | Size | Median (wall) | CPU | Load average | Target (ratio) |", "|---|---|---:|---:|---:|---|"]
    return "\n".join(lines + [t.row() for t in timings])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panel-patients", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--cache", default=str(Path(__file__).resolve().parent / ".cache"))
    args = parser.parse_args()
    settings = config.load(None, {"clock.mode": "manual"})
    print("reminder report and panel benchmark")
    print(
        f"machine : {platform.platform()}, {os.cpu_count()} CPUs; python {platform.python_version()}; "
        f"sqlite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory() as folder:
        timings = report_section(Path(args.cache), Path(folder), args.reps, settings)
        timings += panel_section(Path(args.cache), Path(folder), args.panel_patients, args.reps)
        timings += upkeep_section(Path(args.cache), Path(folder), args.panel_patients, args.reps)
    for timing in timings:
        print(timing.line())
    print()
    print(markdown(timings))


if __name__ == "__main__":
    main()

"""Crash soak (issue 12 §2): kill the worker's tick at random moments and count the harm.

A small database on the manual clock, patients on baclofen three times a day (half of them with
a caregiver who gets alerts by SMS), live SMS to the tests' fake Twilio (the one
``bench/fake_twilio.py`` serves; here in this process, so its record of every body can be read).
The clock moves a minute at a time; at each minute a tick runs in a child process that is
SIGKILLed after a random delay, often mid-transaction or mid-send. Patients answer some due doses
between ticks. At the end, clean ticks let recovery finish, then it prints:

    doses lost                  doses answered "taken" that are not taken, plus schedule slots missing
    duplicate first reminders   doses with more than one "reminder" message on one channel
    non-prompt SMS twice        skip notices, alerts and the like that reached Twilio more often than recorded
    messages stuck              still "sending" or overdue in the queue after recovery (an "interrupted"
                                prompt is final: recovery asked the dose again in a new message)

Targets: 0 / 0 / 0 / 0.

    .venv/bin/python bench/soak.py                 # 500 kills, at most 15 minutes
    .venv/bin/python bench/soak.py --kills 50 --seconds 60 --exec   # kill `reminder tick` itself

By default the child is a fork of this process (imports done once, so hundreds of kills fit in
minutes); ``--exec`` runs the real ``reminder tick`` command instead (about a second per start).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from reminder import accounts, caregivers, config, ledger, medications, worker  # noqa: E402
from reminder import db as dbmod  # noqa: E402
from reminder.clock import ManualClock  # noqa: E402
from reminder.db import immediate  # noqa: E402
from reminder.delivery import CUT_OFF, PROMPT_KINDS  # noqa: E402
from reminder.notify import make_transport  # noqa: E402
from reminder.times import local_today, parse_instant, to_iso  # noqa: E402

from fakes import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402

START = parse_instant("2026-03-09T11:00:00Z")  # 07:00 in New York, before the first doses
PASSWORD = "correct-horse"
STEP = timedelta(minutes=10)  # the clock's move between ticks, and the worker's interval
FINISH_SHARE = 0.3  # ticks left to finish (the rest are killed at a random moment)


def write_config(folder: Path, fake_url: str) -> Path:
    path = folder / "soak.toml"
    path.write_text(
        f'[database]\npath = "{folder / "soak.db"}"\n[clock]\nmode = "manual"\n'
        '[server]\nbase_url = "https://reminder.example.org"\n'
        '[notify]\nmode = "live"\n'
        f'[sms]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\nfrom_number = "+15005550006"\n'
        f'api_base_url = "{fake_url}"\nmax_per_second = 0\n'
        f"[worker]\ntick_seconds = {STEP.seconds}\n"
    )
    return path


def build(settings: dict, patients: int, rng: random.Random) -> set[int]:
    """Patients, half with an SMS caregiver; returns the third who never answer (their misses
    bring skip notices and alerts: the non-prompt messages)."""
    path = settings["database.path"]
    database = dbmod.connect(path)
    dbmod.upgrade(database)
    ManualClock(lambda: dbmod.connect(path)).set(START)
    silent = set()
    for n in range(patients):
        phone = f"+1201555{100 + n:04d}"
        patient = accounts.create_user(
            database, email=f"p{n}@example.com", password=PASSWORD, role="patient", now=START, phone=phone,
            tz="America/New_York",
        )  # fmt: skip
        if n % 3 == 0:
            silent.add(patient)
        hour = 8 + rng.randrange(3)
        times = [f"{hour:02d}:{rng.randrange(60):02d}", f"{hour + 5:02d}:00", f"{hour + 10:02d}:30"]
        spec = medications.parse_medication(
            {"name": "Baclofen", "strength": "10 mg", "amount": 10, "times": times, "withdrawal_risk": True,
             "max_daily_amount": 80},
            local_today("America/New_York", START),
        )  # fmt: skip
        medications.create(database, patient, spec, START, timedelta(hours=settings["worker.horizon_hours"]))
        if n % 2 == 0:
            carer = accounts.create_user(
                database, email=f"c{n}@example.com", password=PASSWORD, role="caregiver", now=START,
                phone=f"+1201555{150 + n:04d}", tz="America/Chicago",
            )  # fmt: skip
            with immediate(database):
                _, token = caregivers.invite(database, patient, email=f"c{n}@example.com", phone=None, now=START)
            caregivers.accept(database, token, carer, START)
    database.execute("""UPDATE users SET channels = '["sms"]' WHERE phone IS NOT NULL""")
    database.close()
    return silent


def start_tick(settings: dict, now, config_path: Path, use_exec: bool):
    """A tick at ``now`` in a child process: (kind, handle)."""
    if use_exec:
        args = [sys.executable, "-m", "reminder.cli", "--config", str(config_path), "tick"]
        return "exec", subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    pid = os.fork()
    if pid == 0:  # the child: its own connection and transport, as a fresh worker has
        logging.disable(logging.CRITICAL)  # a gap after a run of kills is expected: counted at the end
        code = 0
        try:
            database = dbmod.connect(settings["database.path"])
            worker.run_tick(database, now, settings, make_transport(settings))
        except BaseException:
            code = 1
        os._exit(code)
    return "fork", pid


def finished(kind: str, handle, statuses: list[int]) -> bool:
    """Whether the tick ended by itself; its exit status goes on ``statuses``."""
    if kind == "exec":
        if handle.poll() is None:
            return False
        statuses.append(handle.returncode)
        return True
    done, status = os.waitpid(handle, os.WNOHANG)
    if done:
        statuses.append(os.waitstatus_to_exitcode(status))
    return done != 0


def kill(kind: str, handle) -> None:
    if kind == "exec":
        handle.kill()
        handle.wait()
    else:
        os.kill(handle, signal.SIGKILL)
        os.waitpid(handle, 0)


def answer_some(settings: dict, now, rng: random.Random, answered: set[int], silent: set[int]) -> None:
    """Patients (but the silent ones) take some of their due doses, from the web app's side."""
    database = dbmod.connect(settings["database.path"])
    try:
        due = database.execute(
            "SELECT id, patient_id FROM doses WHERE status = 'pending' AND scheduled_at <= ? AND window_closes_at > ?",
            [to_iso(now), to_iso(now)],
        ).fetchall()
        for dose_id, patient_id in due:
            if patient_id not in silent and rng.random() < 0.15:
                answer = ledger.Answer("taken", "link", None)
                ledger.answer_dose(database, dose_id, answer, now, timedelta(minutes=15))
                if ledger.load_dose(database, dose_id)["status"] == "taken":
                    answered.add(dose_id)
    finally:
        database.close()


def count_harm(settings: dict, fake: FakeTwilio, answered: set[int], now) -> dict:
    database = dbmod.connect(settings["database.path"])
    try:
        taken = {row[0] for row in database.execute("SELECT id FROM doses WHERE status = 'taken'")}
        slots = database.execute(
            "SELECT count(*) FROM (SELECT medication_id, local_date, count(*) AS n FROM doses "
            "WHERE local_date < (SELECT min(substr(generated_until, 1, 10)) FROM medications) "
            "GROUP BY medication_id, local_date HAVING n < 3)"
        ).fetchone()[0]
        first_twice = database.execute(
            "SELECT count(*) FROM (SELECT dose_id FROM messages WHERE kind = 'reminder' "
            "GROUP BY dose_id, channel HAVING count(*) > 1)"
        ).fetchone()[0]
        marks = ", ".join("?" for _ in PROMPT_KINDS)
        recorded = collections.Counter(
            (row[0], row[1])
            for row in database.execute(
                f"SELECT recipient, body FROM messages WHERE channel = 'sms' AND kind NOT IN ({marks}) "
                "AND status NOT IN ('queued', 'failed', 'interrupted', 'cancelled')",
                list(PROMPT_KINDS),
            )
        )
        stuck = database.execute(
            "SELECT count(*) FROM messages WHERE status = 'sending' "
            "OR (status = 'queued' AND next_attempt_at <= ? AND (valid_until IS NULL OR valid_until > ?))",
            [to_iso(now), to_iso(now)],
        ).fetchone()[0]
        stuck_kinds = database.execute(
            "SELECT kind, status, count(*) FROM messages WHERE status = 'sending' "
            "OR (status = 'queued' AND next_attempt_at <= ? AND (valid_until IS NULL OR valid_until > ?)) "
            "GROUP BY kind, status",
            [to_iso(now), to_iso(now)],
        ).fetchall()
        total = database.execute("SELECT count(*) FROM messages").fetchone()[0]
        cut_off = database.execute(
            "SELECT kind, count(*) FROM messages WHERE error = ? OR status = 'interrupted' GROUP BY kind", [CUT_OFF]
        ).fetchall()
        gaps = database.execute("SELECT count(*) FROM worker_gaps").fetchone()[0]
    finally:
        database.close()
    with fake.lock:
        arrived = collections.Counter((sent.params.get("To"), sent.params.get("Body")) for sent in fake.sent)
    twice = sum(max(0, count - recorded[key]) for key, count in arrived.items() if key in recorded)
    return {
        "doses lost": len(answered - taken) + slots,
        "duplicate first reminders": first_twice,
        "non-prompt SMS delivered twice": twice,
        "messages stuck": stuck,
        "stuck by kind": [" ".join(map(str, row)) for row in stuck_kinds],
        "messages": total,
        "cut off mid-send (still marked), by kind": dict(cut_off),
        "worker gaps noted": gaps,
        "sms at provider": sum(arrived.values()),
    }


def run(kills: int = 500, seconds: float = 900, patients: int = 30, use_exec: bool = False, seed: int = 1) -> dict:
    """Soak until ``kills`` ticks were killed or ``seconds`` passed; return the counts."""
    rng = random.Random(seed)
    fake = FakeTwilio()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        config_path = write_config(Path(folder), fake.start())
        try:
            settings = config.load(str(config_path))
            silent = build(settings, patients, rng)
            clock = ManualClock(lambda: dbmod.connect(settings["database.path"]))
            now, answered, killed, durations, statuses = START, set(), 0, [0.05], []
            while killed < kills and time.monotonic() - started < seconds:
                now += STEP
                clock.set(now)
                kind, handle = start_tick(settings, now, config_path, use_exec)
                began = time.monotonic()
                typical = sum(durations[-20:]) / len(durations[-20:])
                delay = 60.0 if rng.random() < FINISH_SHARE else rng.uniform(0, 1.2 * typical)
                ended = finished(kind, handle, statuses)
                while not ended and time.monotonic() - began < delay:
                    time.sleep(0.001)
                    ended = finished(kind, handle, statuses)
                if ended:
                    durations.append(time.monotonic() - began)
                else:
                    kill(kind, handle)
                    killed += 1
                answer_some(settings, now, rng, answered, silent)
            transport = make_transport(settings)
            database = dbmod.connect(settings["database.path"])
            for _ in range(settings["worker.send_lease_seconds"] // 60 + 10):  # recovery, uninterrupted
                now += STEP
                clock.set(now)
                worker.run_tick(database, now, settings, transport)
            database.close()
            result = count_harm(settings, fake, answered, now)
        finally:
            fake.stop()
    result.update(
        {"kills": killed, "ticks completed": len(statuses), "ticks failed": sum(1 for s in statuses if s), "simulated": f"{to_iso(START)} to {to_iso(now)}",
         "seconds": round(time.monotonic() - started, 1), "answered taken": len(answered)}
    )  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=900, help="Stop killing after this long.")
    parser.add_argument("--patients", type=int, default=30)
    parser.add_argument("--exec", dest="use_exec", action="store_true", help="Kill `reminder tick` processes.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.kills, args.seconds, args.patients, args.use_exec, args.seed)
    print(json.dumps(result, indent=2))
    harm = [result[key] for key in list(result)[:4]]
    print("doses lost / duplicate first reminders / non-prompt SMS twice / stuck: " + " / ".join(map(str, harm)))
    sys.exit(1 if any(harm) else 0)


if __name__ == "__main__":
    main()

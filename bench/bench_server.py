"""Requests per second on the production server (gunicorn, gthread), side by side:

    a bare Flask route     bench/hello_app.py's /hello under the same gunicorn settings: the floor
    the Today page         GET / for a logged-in patient with three medications
    the confirm route      POST /api/v1/doses/{id}/confirm, each request a different patient's open
                           dose with that patient's token (a read-decide-write transaction)

Loopback only; each measurement is bounded (``--seconds``, default 5) with ``--clients`` keep-alive
connections (default 8). The load generator runs in this process and shares the machine's cores
with the server: the numbers are for comparing the routes, not a capacity promise.

    .venv/bin/python bench/bench_server.py [--seconds 5] [--clients 8] [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reminder import accounts, medications  # noqa: E402
from reminder import db as dbmod  # noqa: E402
from reminder.clock import ManualClock  # noqa: E402
from reminder.times import local_today, parse_instant, to_iso  # noqa: E402

NOW = parse_instant("2026-03-09T18:30:00Z")  # 14:30 in New York: the day's first doses are due
PASSWORD = "correct-horse"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(folder: Path, port: int, workers: int, threads: int, patients: int) -> tuple[Path, list[tuple]]:
    """A database at NOW: Pat (who logs in for Today) and ``patients`` more, each on three
    medications; returns the config and, for every open due dose, (dose id, its patient's token)."""
    path = folder / "bench.db"
    config = folder / "bench.toml"
    config.write_text(
        f'[database]\npath = "{path}"\n[clock]\nmode = "manual"\n'
        f'[server]\nport = {port}\nworkers = {workers}\nthreads = {threads}\nsecret_key = "bench"\n'
    )
    database = dbmod.connect(str(path))
    dbmod.upgrade(database)
    ManualClock(lambda: dbmod.connect(str(path))).set(NOW)
    start = NOW - timedelta(days=1)
    tokens = {}
    for n in range(patients + 1):
        email = "pat@example.com" if n == 0 else f"p{n}@example.com"
        patient = accounts.create_user(
            database, email=email, password=PASSWORD, role="patient", now=start, tz="America/New_York"
        )
        accounts.PASSWORD_METHOD = "pbkdf2:sha256:1"  # Pat's is real; the others never log in
        for name in ("Baclofen", "Gabapentin", "Tizanidine"):
            data = {
                "name": name,
                "strength": "10 mg",
                "amount": 10,
                "times": ["08:00", "13:00", "18:00"],
                "acknowledge_interactions": True,  # three sedating drugs together: the warning, read
            }
            spec = medications.parse_medication(data, local_today("America/New_York", start))
            medications.create(database, patient, spec, start, timedelta(hours=48))
        tokens[patient] = accounts.create_token(database, patient, NOW, label="bench")
    due = database.execute(
        "SELECT id, patient_id FROM doses WHERE status = 'pending' AND scheduled_at <= ? AND window_closes_at > ?",
        [to_iso(NOW), to_iso(NOW)],
    ).fetchall()
    database.close()
    return config, [(dose_id, tokens[patient]) for dose_id, patient in due]


class Server:
    def __init__(self, args: list[str], port: int, ready: str, cwd: Path):
        self.port, self.ready = port, ready
        self.process = subprocess.Popen(args, cwd=str(cwd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready}", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit(f"server on {self.port} did not start:\n{self.process.stderr.read().decode()[-2000:]}")

    def __exit__(self, *exc):
        self.process.terminate()  # gunicorn's master stops its workers on SIGTERM
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def session_cookie(port: int) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://127.0.0.1:{port}/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": "pat@example.com", "password": PASSWORD, "csrf_token": csrf}).encode()
    opener.open(f"http://127.0.0.1:{port}/login", data=form).read()
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def measure(port: int, request, clients: int, seconds: float) -> dict:
    """``request(n) -> (method, path, body, headers)`` sent for ``seconds`` on ``clients`` connections."""
    counts, lock, statuses = [0], threading.Lock(), {}
    deadline = time.monotonic() + seconds

    def client(number: int):
        conn, sent, seen = http.client.HTTPConnection("127.0.0.1", port, timeout=30), 0, {}
        while time.monotonic() < deadline:
            try:
                method, path, body, headers = request(number * 1_000_000 + sent)
            except StopIteration:  # no work left
                break
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            seen[response.status] = seen.get(response.status, 0) + 1
            sent += 1
        conn.close()
        with lock:
            counts[0] += sent
            for status, n in seen.items():
                statuses[status] = statuses.get(status, 0) + n

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"requests": counts[0], "rps": round(counts[0] / elapsed), "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--patients", type=int, default=800, help="Patients whose open doses are confirmed.")
    args = parser.parse_args()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        hello = [gunicorn, "-k", "gthread", "-w", str(args.workers), "--threads", str(args.threads)]
        hello += ["--no-control-socket", "--error-logfile", str(Path(folder) / "hello.log")]
        with Server([*hello, "-b", f"127.0.0.1:{port}", "hello_app:app"], port, "/hello", ROOT / "bench"):
            results["bare Flask route (GET /hello)"] = measure(
                port, lambda n: ("GET", "/hello", None, {}), args.clients, args.seconds
            )
        port = free_port()
        config, due = build(Path(folder), port, args.workers, args.threads, args.patients)
        serve = [sys.executable, "-m", "reminder.cli", "--config", str(config), "serve"]
        with Server(serve, port, "/login", ROOT):  # /healthz says 503: no worker runs here
            cookie = session_cookie(port)
            results["Today page (GET /)"] = measure(
                port, lambda n: ("GET", "/", None, {"Cookie": cookie}), args.clients, args.seconds
            )
            body = json.dumps({"action": "taken"}).encode()
            jobs = iter(due)  # each request answers a different open dose once (next() is atomic)

            def confirm(_n):
                dose_id, token = next(jobs)
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                return "POST", f"/api/v1/doses/{dose_id}/confirm", body, headers

            results["confirm (POST /api/v1/doses/{id}/confirm)"] = measure(port, confirm, args.clients, args.seconds)
    setup = f"gunicorn gthread, {args.workers} workers x {args.threads} threads, {args.clients} keep-alive clients"
    print(f"{setup}, {args.seconds:g} s each, loopback")
    for name, result in results.items():
        print(f"  {name:<45} {result['rps']:>6} req/s   statuses {result['statuses']}")


if __name__ == "__main__":
    main()

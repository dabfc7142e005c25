"""The fixture stack: a real SQLite file with the real migrations, the app on the manual clock,
a test client, and builders. Each test gets its own database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reminder import accounts, create_app, ledger, medications, worker
from reminder import db as dbmod
from reminder.clock import ManualClock
from reminder.notify import make_transport
from reminder.times import local_today, parse_instant, to_iso

from fakes import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, SmtpServer

# The browser fixtures (Chromium, the live server, phones) for the browser test modules.
pytest_plugins = ["browser_kit"]

START = parse_instant("2026-03-07T12:00:00Z")  # a Saturday; New York springs forward on 2026-03-08
PASSWORD = "correct-horse"


@pytest.fixture
def db_path(tmp_path):
    path = str(tmp_path / "reminder.db")
    database = dbmod.connect(path)
    dbmod.upgrade(database)
    ManualClock(lambda: dbmod.connect(path)).set(START)
    database.close()
    return path


@pytest.fixture
def app(db_path):
    app = create_app(
        None,
        {"database.path": db_path, "clock.mode": "manual", "server.dev_mode": True, "server.secret_key": "test-secret"},
    )
    app.config["TESTING"] = True
    return app


@pytest.fixture
def db(db_path):
    database = dbmod.connect(db_path)
    yield database
    database.close()


@pytest.fixture
def clock(db_path):
    return ManualClock(lambda: dbmod.connect(db_path))


@pytest.fixture
def settings(app):
    return app.config["REMINDER"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tick(db, clock, settings):
    """Run one worker tick at the manual clock's time, or at ``at`` (which also sets the clock)."""

    def run(at: datetime | str | None = None) -> dict:
        if at is not None:
            clock.set(parse_instant(at) if isinstance(at, str) else at)
        return worker.run_tick(db, clock.now(), settings, make_transport(settings))

    return run


@pytest.fixture
def tick_until(tick, clock):
    """Tick every ``step`` seconds from the clock's time up to ``until``."""

    def run(until: str, step: int = 60) -> None:
        end = parse_instant(until)
        current = clock.now()
        while current < end:
            current = min(current + timedelta(seconds=step), end)
            tick(current)

    return run


@pytest.fixture
def fake_twilio():
    fake = FakeTwilio()
    fake.url = fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


PUBLIC_URL = "https://reminder.example.org"


@pytest.fixture
def live_settings(fake_twilio, smtp_server) -> dict:
    """Overrides for live mode: real Twilio client -> fake API, real smtplib -> aiosmtpd."""
    return {
        "notify.mode": "live",
        "server.base_url": PUBLIC_URL,
        "sms.account_sid": ACCOUNT_SID,
        "sms.auth_token": AUTH_TOKEN,
        "sms.from_number": "+15005550006",
        "sms.api_base_url": fake_twilio.url,
        "sms.max_per_second": 0,
        "email.host": "127.0.0.1",
        "email.port": smtp_server.port,
        "email.security": "none",
        "email.from_address": "reminder@example.org",
    }


@pytest.fixture
def live_app(db_path, live_settings):
    app = create_app(
        None, {"database.path": db_path, "clock.mode": "manual", "server.secret_key": "test-secret", **live_settings}
    )
    app.config["TESTING"] = True
    return app


@pytest.fixture
def live_tick(db, clock, live_app):
    """A worker tick in live mode, sending through the real transports (made at the first tick,
    as a worker makes them at start, so a test may change settings before it)."""
    transports = []

    def run(at: datetime | str | None = None) -> dict:
        if at is not None:
            clock.set(parse_instant(at) if isinstance(at, str) else at)
        if not transports:
            transports.append(make_transport(live_app.config["REMINDER"]))
        return worker.run_tick(db, clock.now(), live_app.config["REMINDER"], transports[0])

    return run


def make_patient(db, email="pat@example.com", tz="America/New_York", phone="+15005550006", **overrides) -> int:
    return accounts.create_user(
        db,
        email=email,
        password=PASSWORD,
        role=overrides.pop("role", "patient"),
        now=START,
        tz=tz,
        phone=phone,
        **overrides,
    )


def make_patients(db, count: int, tz="America/New_York") -> list[int]:
    """Many patients at once, sharing one password hash (hashing costs ~0.1 s each)."""
    first = make_patient(db, email="bulk0@example.com", tz=tz)
    hashed = accounts.find_user(db, id=first)["password_hash"]
    rows = [[f"bulk{n}@example.com", hashed, tz, to_iso(START)] for n in range(1, count)]
    db.conn.executemany(
        "INSERT INTO users (email, password_hash, role, tz, created_at) VALUES (?, ?, 'patient', ?, ?)", rows
    )
    db.conn.commit()
    return [first] + [
        row[0] for row in db.execute("SELECT id FROM users WHERE email LIKE 'bulk%' AND id != ?", [first])
    ]


def make_medication(db, patient_id, now=START, horizon_hours=72, **fields) -> int:
    data = {
        "name": "Baclofen",
        "strength": "10 mg",
        "amount": 10,
        "times": ["08:00", "13:00", "18:00"],
        "withdrawal_risk": True,
        "max_daily_amount": 80,
        **fields,
    }
    today = local_today(accounts.find_user(db, id=patient_id)["tz"], now)
    spec = medications.parse_medication(data, today)
    return medications.create(db, patient_id, spec, now, timedelta(hours=horizon_hours))


@pytest.fixture
def patient(db):
    return make_patient(db)


@pytest.fixture
def login(client):
    def run(email="pat@example.com", password=PASSWORD):
        with client.session_transaction():
            pass
        response = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf(client, "/login")}
        )
        assert response.status_code == 302, response.data
        return response

    return run


def csrf(client, path: str) -> str:
    """The CSRF token from the form on ``path``, as a browser would post it."""
    html = client.get(path).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def doses(db, **where) -> list[dict]:
    sql = "SELECT * FROM doses" + (" WHERE " + " AND ".join(f"{k} = ?" for k in where) if where else "")
    return list(db.query(sql + " ORDER BY scheduled_at", list(where.values())))


def messages(db, kind=None) -> list[dict]:
    sql = "SELECT * FROM messages" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return list(db.query(sql, [kind] if kind else []))


def live_through(db, clock, tick, patient_id: int, until: str, plan, step: int = 1800) -> None:
    """Tick every ``step`` seconds up to ``until``; after each tick the patient answers their
    due doses as ``plan(dose)`` says: minutes late to take it, "skip", or None (left to be missed)."""
    current, end = clock.now(), parse_instant(until)
    while current < end:
        current = min(current + timedelta(seconds=step), end)
        tick(current)
        for dose in db.query(
            "SELECT * FROM doses WHERE patient_id = ? AND status = 'pending' AND scheduled_at <= ?",
            [patient_id, to_iso(current)],
        ):
            late = plan(dose)
            if late == "skip":
                answer = ledger.Answer("skip", "web", patient_id, reason="too drowsy")
            elif late is not None and current >= parse_instant(dose["scheduled_at"]) + timedelta(minutes=late):
                answer = ledger.Answer("taken", "web", patient_id)
            else:
                continue
            ledger.answer_dose(db, dose["id"], answer, current, timedelta(minutes=10))


__all__ = [
    "START",
    "PASSWORD",
    "make_patient",
    "make_patients",
    "make_medication",
    "live_through",
    "csrf",
    "doses",
    "messages",
    "to_iso",
]

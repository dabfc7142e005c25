"""The fixture stack: a real SQLite file with the real migrations, the app on the manual clock,
a test client, and the live transports against local fakes. Each test gets its own database,
copied from one migrated per session. The builders live in ``builders.py``; the browser's
fixtures in ``browser/conftest.py``."""

from __future__ import annotations

import copy
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta

import pytest
from werkzeug.routing.rules import Rule

from reminder import accounts, config, create_app, ingredients, worker
from reminder import db as dbmod
from reminder.clock import ManualClock
from reminder.notify import make_transport
from reminder.times import parse_instant

from builders import PASSWORD, PUBLIC_URL, START, log_in, make_patient
from fakes import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, SmtpServer


@pytest.fixture(scope="session", autouse=True)
def drug_names_loaded():
    """The drug-name library's tables load once per test session, as the server loads them at start."""
    ingredients.warm()


# One PBKDF2 round instead of scrypt: hashing is most of the cost of a test that makes a user.
CHEAP_PASSWORD_METHOD = "pbkdf2:sha256:1"


@pytest.fixture(autouse=True)
def cheap_password_hashing(request, monkeypatch):
    """Every test hashes cheaply, except those marked ``production_password_hashing``."""
    if not request.node.get_closest_marker("production_password_hashing"):
        monkeypatch.setattr(accounts, "PASSWORD_METHOD", CHEAP_PASSWORD_METHOD)


@pytest.fixture(scope="session", autouse=True)
def routes_compiled_once():
    """Werkzeug compiles Python code for each of an app's ~90 routes, which is most of the cost of
    ``create_app``, and about 250 tests make an app. The compiled URL builder depends only on the
    rule's text, its parsed parts and its defaults, so the session keeps one per rule instead of
    compiling it again for every app. Routing itself is unchanged."""
    if not callable(getattr(Rule, "_compile_builder", None)):  # another Werkzeug: slower, not wrong
        yield
        return
    compile_builder = Rule._compile_builder
    builders = {}

    def compiled_once(rule, append_unknown=True):
        defaults = tuple(sorted((k, repr(v), type(rule._converters.get(k))) for k, v in (rule.defaults or {}).items()))
        key = (rule.rule, tuple(rule._trace), defaults, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(rule, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compiled_once)
        yield


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> str:
    """A database with every migration applied and the manual clock at ``START``, made once per
    session and only ever copied (the tests never open it)."""
    path = str(tmp_path_factory.mktemp("template") / "reminder.db")
    database = dbmod.connect(path)
    dbmod.upgrade(database)
    database.close()
    ManualClock(lambda: dbmod.connect(path)).set(START)
    database = dbmod.connect(path)
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the main file, which is what is copied
    database.close()
    return path


@pytest.fixture
def db_path(tmp_path, migrated_template):
    path = str(tmp_path / "reminder.db")
    shutil.copyfile(migrated_template, path)
    return path


def app_overrides(db_path: str) -> dict:
    return {
        "database.path": db_path,
        "clock.mode": "manual",
        "server.dev_mode": True,
        "server.secret_key": "test-secret",
    }


@pytest.fixture
def app(db_path):
    app = create_app(None, app_overrides(db_path))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def db(db_path):
    database = dbmod.connect(db_path)
    yield database
    database.close()


@pytest.fixture(scope="session")
def built_scenarios() -> dict:
    return {}


@pytest.fixture
def scenario(request, db, built_scenarios, tmp_path_factory):
    """``scenario(name, build)``: the first test of the session to ask runs ``build()`` on its own
    database and keeps a copy of what that left; every later test gets the copy restored into its
    database (SQLite's backup API, so open connections stay valid) and the same return value.

    For a long simulation that several tests of a module only read. What the tests use of it must
    be in the database alone: not in a fake server or the app's settings, and not in its messages'
    links (they carry the base URL of the test that built it)."""

    def run(name: str, build):
        key = (request.module.__name__, name)
        if key not in built_scenarios:
            result = build()
            path = tmp_path_factory.mktemp("scenario") / "reminder.db"
            with closing(sqlite3.connect(path)) as kept:
                db.conn.backup(kept)
            built_scenarios[key] = (path, result)
            return copy.deepcopy(result)
        path, result = built_scenarios[key]
        with closing(sqlite3.connect(path)) as kept:
            kept.backup(db.conn)
        return copy.deepcopy(result)

    return run


@pytest.fixture
def clock(db_path):
    return ManualClock(lambda: dbmod.connect(db_path))


@pytest.fixture
def settings(request, db_path):
    """The app's settings when the test has an app (one dict, so a change shows on both sides);
    otherwise the same settings without building an app, which costs more than most tests."""
    if "app" in request.fixturenames:
        return request.getfixturevalue("app").config["REMINDER"]
    return config.load(None, app_overrides(db_path))


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


@pytest.fixture
def patient(db):
    return make_patient(db)


@pytest.fixture
def login(client):
    """Log the test client in (as Pat unless told otherwise)."""

    def run(email="pat@example.com", password=PASSWORD):
        return log_in(client, email, password)

    return run

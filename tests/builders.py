"""The builders every test module shares: people, medications, clinics and links made through the
domain's own functions, and small readers of what the app wrote.

A plain module, not conftest.py: test modules import from it (``from builders import make_patient``),
which would be ambiguous between ``tests/conftest.py`` and ``tests/browser/conftest.py``.
Fixtures live in the conftest files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape

from reminder import accounts, caregivers, clinics, ledger, medications
from reminder.db import immediate
from reminder.times import local_today, parse_instant, to_iso

START = parse_instant("2026-03-07T12:00:00Z")  # a Saturday; New York springs forward on 2026-03-08
PASSWORD = "correct-horse"
PUBLIC_URL = "https://reminder.example.org"
DOCTOR = "doc@example.com"


def Z(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DDTHH:MM`` (a hand-computed expectation)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- people


def make_user(db, email: str, role: str, tz="America/New_York", phone=None, name="") -> int:
    """An account of any role with the shared test ``PASSWORD``."""
    return accounts.create_user(db, email=email, password=PASSWORD, role=role, now=START, tz=tz, phone=phone, name=name)


def make_patient(db, email="pat@example.com", tz="America/New_York", phone="+15005550006", **overrides) -> int:
    """A patient (or, with ``role=``, another account) in New York with a textable phone."""
    return make_user(db, email, overrides.pop("role", "patient"), tz=tz, phone=phone, **overrides)


def make_patients(db, count: int, tz="America/New_York") -> list[int]:
    """Many patients at once, sharing one password hash, in one insert."""
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


def user_id(db, email: str) -> int:
    return db.execute("SELECT id FROM users WHERE email = ?", [email]).fetchone()[0]


def link_caregiver(db, patient: int, email="carol@example.com", name="Carol Care", tz="America/Chicago") -> int:
    """A caregiver account linked to ``patient`` through an invitation they accepted; returns its id."""
    carer = make_user(db, email, "caregiver", tz=tz, name=name)
    with immediate(db):
        _, token = caregivers.invite(db, patient, email=email, phone=None, now=START)
    caregivers.accept(db, token, carer, START)
    return carer


def make_clinic(db, name: str) -> tuple[int, str]:
    """A clinic: (its id, its join code)."""
    return clinics.create_clinic(db, name, START)


def make_clinician(db, clinic_id: int, email: str = DOCTOR, name: str = "Dr. Lin", phone=None) -> int:
    """A clinician of ``clinic_id``; returns their id."""
    clinician = make_user(db, email, "clinician", phone=phone, name=name)
    db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [clinic_id, clinician])
    return clinician


# ---------------------------------------------------------------- medications


def make_medication(db, patient_id, now=START, horizon_hours=72, **fields) -> int:
    """Baclofen 10 mg at 08:00, 13:00 and 18:00 (withdrawal risk) unless ``fields`` say otherwise."""
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


# ---------------------------------------------------------------- over HTTP


def csrf(client, path: str) -> str:
    """The CSRF token from the form on ``path``, as a browser would post it."""
    html = client.get(path).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def log_in(client, email="pat@example.com", password=PASSWORD):
    """Log ``client`` in through the login form; returns the redirect."""
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf(client, "/login")})
    assert response.status_code == 302, response.data
    return response


def page_text(response) -> str:
    """The page as a person reads it (entities such as &#39; unescaped)."""
    return unescape(response.get_data(as_text=True))


def bearer(db, user_id: int) -> dict:
    """Request headers carrying a new API token of ``user_id``."""
    return {"Authorization": f"Bearer {accounts.create_token(db, user_id, START)}"}


# ---------------------------------------------------------------- what the app wrote


def doses(db, **where) -> list[dict]:
    sql = "SELECT * FROM doses" + (" WHERE " + " AND ".join(f"{k} = ?" for k in where) if where else "")
    return list(db.query(sql + " ORDER BY scheduled_at", list(where.values())))


def messages(db, kind=None) -> list[dict]:
    sql = "SELECT * FROM messages" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return list(db.query(sql, [kind] if kind else []))


def make_alert(db, patient: int, told: list[int]) -> int:
    """An open level-2 alert about ``patient`` that was sent to each of ``told``."""
    with immediate(db):
        alert = db.execute(
            "INSERT INTO alerts (patient_id, kind, level, run_key, summary, created_at) "
            "VALUES (?, 'missed_run', 2, 'run', 'Missed 2 doses', ?)",
            [patient, to_iso(START)],
        ).lastrowid
        for n, user in enumerate(told):
            db.execute(
                "INSERT INTO alert_recipients (alert_id, user_id, token_hash, expires_at, notified_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [alert, user, f"hash-{alert}-{n}", to_iso(START), to_iso(START)],
            )
    return alert


def step_form(*rows: tuple, fields=("start_date", "end_date", "amount", "times")) -> dict:
    """The step editor's form fields for ``rows`` (each a tuple in the order of ``fields``), as a
    browser posts them: ``start_date-1``, ``end_date-1``, ... and ``rows``."""
    form = {"rows": str(len(rows))}
    for number, row in enumerate(rows, 1):
        form |= {f"{key}-{number}": value for key, value in zip(fields, row, strict=False)}
    return form

"""Every statement a tick, a confirm, the Today page and a phone link run is bounded by an index;
so is every statement of the clinician's report and panel (functions and pages), of upkeep, and
of the patient's history, medications, pumps and messages pages.

A small database with realistic rows in every table (answered, missed and pending doses, sent
messages, open and resolved alerts, refills, pumps) is built through the real domain functions.
Every statement those paths run is recorded (sqlite3's trace callback gives it with its
parameters bound), and ``EXPLAIN QUERY PLAN`` of each must not read a whole table that grows
with patients or with time. This is what stops the next regression; the bench only measures it.

What counts as a full scan, precisely: a plan line ``SCAN t`` or ``SCAN t USING [COVERING]
INDEX i`` over a growing table reads every row of ``t`` (or every entry of ``i``), however the
database grows. ``SEARCH t USING ... (col=? ...)`` reads a bounded range and is what we want.
The one exception is a scan of a partial index whose ``WHERE`` keeps only work due now
(``DUE_WORK`` below): its size is what is due or being sent, not the ledger. Plans do not
depend on the database's size here: nobody runs ``ANALYZE``, so SQLite plans from the schema.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest

from reminder import (
    accounts,
    caregivers,
    clinics,
    kidneys,
    ledger,
    pumps,
    reports,
    side_effects,
    supply,
    upkeep,
    worker,
)
from reminder import db as dbmod
from reminder.notify import make_transport
from reminder.times import parse_instant, to_iso
from reminder.tokens import hash_token

from builders import DOCTOR, PASSWORD, START, csrf, make_clinic, make_clinician, make_medication, make_patient

GROWING = {
    "doses",
    "dose_events",
    "messages",
    "dose_links",
    "alerts",
    "alert_recipients",
    "refills",
    "pump_refills",
    "side_effects",
    "audit_log",
    "panel_summaries",
    "daily_adherence",
    # These grow with patients rather than time, and are read by every one of the paths above.
    "medications",
    "regimen_steps",
    "users",
    "clinic_links",
    "kidney_function",
    "pumps",
    "dose_groups",
    "dose_group_members",
    "dose_group_links",
}
# Partial indexes that hold only work due now, emptied by the step that reads them, so scanning
# one costs what is due, never the ledger: messages being sent, alerts marked for a look
# because a dose was taken or a refill recorded since the last tick, patients whose panel
# summary a closed dose made stale.
# Partial indexes of work due now: in flight, to resolve, stale, and intakes flagged but not yet alerted.
DUE_WORK = {"messages_in_flight", "alerts_to_resolve", "panel_summaries_stale", "doses_flag_alert_due"}
KEYWORDS = {"WHERE", "ON", "JOIN", "LEFT", "INNER", "CROSS", "ORDER", "GROUP", "LIMIT", "USING", "SET", "AS"}


def tables_by_name(sql: str) -> dict[str, str]:
    """Each name a plan may print for a table of ``sql`` (the table itself or its alias)."""
    names = {}
    for table, alias in re.findall(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql, re.I):
        names[table] = table
        if alias and alias.upper() not in KEYWORDS:
            names[alias] = table
    return names


# Indexes that span a growing table's whole history by time: a SEARCH on one of them with only an
# upper bound ("claimed_at < ?") reads the whole log, as a scan would. /healthz may; a tick may not
# (the worker's recovery once picked messages_by_claim over messages_in_flight: 0.7 s at 100,000).
HISTORY_INDEXES = {"messages_by_claim"}


def full_scans(db, sql: str) -> list[str]:
    """The plan lines of ``sql`` that read a whole growing table (see the module docstring)."""
    names = tables_by_name(sql)
    found = []
    for row in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
        detail = row[3]
        if any(f"INDEX {index} " in detail + " " for index in HISTORY_INDEXES):
            found.append(detail)
            continue
        match = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", detail)
        if match and names.get(match.group(1)) in GROWING and match.group(2) not in DUE_WORK:
            found.append(detail)
    return found


class Recorder:
    """Records every statement run on the given connection and on any opened meanwhile."""

    def __init__(self, monkeypatch, db):
        self.statements: list[str] = []
        self.db = db
        opened = sqlite3.connect

        def traced(*args, **kwargs):
            conn = opened(*args, **kwargs)
            if self.on:
                conn.set_trace_callback(self.statements.append)
            return conn

        self.on = False
        monkeypatch.setattr(dbmod.sqlite3, "connect", traced)

    def __enter__(self):
        self.on = True
        self.db.conn.set_trace_callback(self.statements.append)
        return self

    def __exit__(self, *exc):
        self.on = False
        self.db.conn.set_trace_callback(None)

    def offenders(self) -> list[str]:
        """One line per statement shape (its literals blanked) that reads a whole growing table."""
        bad = {}
        for sql in self.statements:
            first = sql.lstrip().split(None, 1)[0].upper()
            if first in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE"):
                continue
            shape = re.sub(r"\s+", " ", re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", sql)).strip()
            if shape not in bad:
                bad[shape] = full_scans(self.db, sql)
        return [f"{shape[:400]} => {scans}" for shape, scans in bad.items() if scans]


def with_caregiver(db, client, patient_id: int, email: str) -> int:
    carer = make_patient(db, email=email, phone=None, role="caregiver", name="Casey")
    with dbmod.immediate(db):
        _, token = caregivers.invite(db, patient_id, email=email, phone=None, now=START)
    caregivers.accept(db, token, carer, START)
    return carer


@pytest.fixture
def busy(db, client, clock, tick, settings):
    """Two days of four patients: one takes everything, one misses everything (open alerts),
    one misses two then answers (a resolved alert), one tracks stock, refills and has a pump."""
    people = {}
    for name in ("taker", "misser", "recoverer", "stocked"):
        patient = make_patient(db, email=f"{name}@example.com", name=name.title())
        make_medication(db, patient, **({"stock": 40} if name == "stocked" else {}))
        if name in ("taker", "misser"):  # a second medication at 13:00: one grouped reminder
            make_medication(db, patient, name="Omeprazole", strength="20 mg capsule", amount=20, times=["13:00"])
        with_caregiver(db, client, patient, f"carer-{name}@example.com")
        people[name] = patient
    pumps.create_pump(db, people["stocked"], None, "2026-03-12", None, people["stocked"], clock.now())

    def late_minutes(dose) -> int | None:
        if dose["patient_id"] == people["misser"]:
            return None
        if dose["patient_id"] == people["recoverer"] and dose["scheduled_at"] < "2026-03-08T17:00:00Z":
            return None
        return 5

    current = clock.now()
    while current < parse_instant("2026-03-09T09:00:00Z"):
        current += timedelta(minutes=30)
        tick(current)
        for dose in db.query("SELECT * FROM doses WHERE status = 'pending' AND scheduled_at <= ?", [to_iso(current)]):
            late = late_minutes(dose)
            if late is not None and current >= parse_instant(dose["scheduled_at"]) + timedelta(minutes=late):
                answer = ledger.Answer("taken", "web", dose["patient_id"])
                ledger.answer_dose(db, dose["id"], answer, current, timedelta(minutes=10))
        if current == parse_instant("2026-03-08T12:00:00Z"):
            supply.record_refill(db, medication_of(db, people["stocked"]), 30, "Boots", None, current)
    return people


def medication_of(db, patient_id: int) -> int:
    return db.execute("SELECT id FROM medications WHERE patient_id = ?", [patient_id]).fetchone()[0]


def test_the_scenario_has_rows_in_every_table_the_plans_are_checked_against(db, busy):
    counts = dict(
        db.execute(
            "SELECT 'taken', count(*) FROM doses WHERE status = 'taken' UNION ALL "
            "SELECT 'missed', count(*) FROM doses WHERE status = 'missed' UNION ALL "
            "SELECT 'pending', count(*) FROM doses WHERE status = 'pending' UNION ALL "
            "SELECT 'sent', count(*) FROM messages WHERE status = 'sent' UNION ALL "
            "SELECT 'open alerts', count(*) FROM alerts WHERE status = 'open' UNION ALL "
            "SELECT 'resolved alerts', count(*) FROM alerts WHERE status = 'resolved' UNION ALL "
            "SELECT 'refills', count(*) FROM refills UNION ALL SELECT 'pumps', count(*) FROM pumps UNION ALL "
            "SELECT 'links', count(*) FROM dose_links UNION ALL SELECT 'events', count(*) FROM dose_events UNION ALL "
            "SELECT 'group prompts', count(*) FROM messages WHERE dose_group_id IS NOT NULL UNION ALL "
            "SELECT 'group links', count(*) FROM dose_group_links UNION ALL "
            "SELECT 'missed in a group', count(*) FROM doses d JOIN dose_group_members g ON g.dose_id = d.id "
            "WHERE d.status = 'missed'"
        ).fetchall()
    )
    assert all(counts.values()), counts


def test_no_statement_of_a_tick_reads_a_whole_growing_table(db, busy, clock, settings, monkeypatch):
    recorder = Recorder(monkeypatch, db)
    due = clock.now()
    # Ticks across an afternoon: prompts, closes, escalations, repeats, upkeep and delivery all run.
    with recorder:
        for minutes in range(0, 12 * 60, 30):
            worker.run_tick(db, due + timedelta(minutes=minutes), settings, make_transport(settings))
    assert len(recorder.statements) > 100
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)


def test_an_escalation_scan_over_the_ledger_is_caught(db, busy):
    """The test itself: main's old escalation query is flagged."""
    old = (
        "SELECT DISTINCT d.medication_id FROM doses d JOIN medications m ON m.id = d.medication_id "
        "WHERE d.status IN ('missed', 'skipped', 'unknown') AND d.scheduled_at > '2026-03-06T00:00:00Z' "
        "AND d.scheduled_at <= '2026-03-09T00:00:00Z' AND m.ended_at IS NULL"
    )
    assert full_scans(db, old)


def test_confirm_today_and_the_phone_link_read_no_whole_growing_table(db, busy, client, clock, monkeypatch):
    taker = busy["taker"]
    token = accounts.create_token(db, taker, clock.now())
    pending = db.execute(
        "SELECT id FROM doses WHERE patient_id = ? AND status = 'pending' ORDER BY scheduled_at LIMIT 1", [taker]
    ).fetchone()[0]
    link = db.execute(
        "SELECT body FROM messages WHERE user_id = ? AND kind = 'reminder' ORDER BY id DESC LIMIT 1", [taker]
    ).fetchone()[0]
    link_token = re.search(r"/d/([\w-]+)", link).group(1)
    client.post(
        "/login", data={"email": "taker@example.com", "password": PASSWORD, "csrf_token": csrf(client, "/login")}
    )
    recorder = Recorder(monkeypatch, db)
    with recorder:
        assert client.get("/").status_code == 200
        assert client.get(f"/d/{link_token}").status_code in (200, 410)
        response = client.post(
            f"/api/v1/doses/{pending}/confirm", json={"action": "taken"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (200, 409)
    assert len(recorder.statements) > 10
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)


# ---------------------------------------------------------------- the clinician's side and upkeep


@pytest.fixture
def clinic_of_busy(db, busy, clock, settings):
    """The four patients of ``busy`` in one clinic with a clinician; the stocked one has a
    kidney measurement under 60 and a side effect, the misser a level-3 alert is likely."""
    clinic_id, code = make_clinic(db, "Plans clinic")
    doctor = make_clinician(db, clinic_id)
    for patient in busy.values():
        clinics.join(db, patient, code, clock.now())
    kidneys.record(
        db,
        busy["stocked"],
        {"egfr": 45, "measured_on": "2026-03-08"},
        doctor,
        clock.now().date(),
        clock.now(),
        settings,
    )
    side_effects.record(db, busy["stocked"], {"kind": "other", "severity": 1}, clock.now(), settings)
    return clinic_id, doctor


def test_the_report_and_the_panel_read_no_whole_growing_table(db, busy, clinic_of_busy, clock, settings, monkeypatch):
    clinic_id, _doctor = clinic_of_busy
    first, last = (START - timedelta(days=30)).date(), clock.now().date()
    recorder = Recorder(monkeypatch, db)
    with recorder:
        for patient in busy.values():
            reports.build(db, patient, first, last, clock.now(), settings)
            reports.ledger_csv(db, patient, first, last)
        for sort in sorted(reports.PANEL_SORTS):
            assert reports.panel(db, clinic_id, clock.now(), sort=sort)["total"] == 4
        assert reports.panel(db, clinic_id, clock.now(), q="stocked")["total"] == 1
    db.execute("UPDATE panel_summaries SET stale = 1")  # just after doses closed: computed from the ledger
    with recorder:
        assert reports.panel(db, clinic_id, clock.now())["total"] == 4
    assert len(recorder.statements) > 20
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)


def test_the_panel_and_report_pages_read_no_whole_growing_table(db, busy, clinic_of_busy, client, monkeypatch):
    client.post("/login", data={"email": DOCTOR, "password": PASSWORD, "csrf_token": csrf(client, "/login")})
    recorder = Recorder(monkeypatch, db)
    with recorder:
        assert client.get("/panel").status_code == 200
        assert client.get("/panel?sort=name&q=e").status_code == 200
        assert client.get(f"/panel/patients/{busy['stocked']}/report").status_code == 200
        assert client.get(f"/panel/patients/{busy['misser']}/report.csv").status_code == 200
    assert len(recorder.statements) > 10
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)


def test_upkeep_reads_only_the_stocks_due_a_look(db, busy, clock, settings, monkeypatch):
    stocked = medication_of(db, busy["stocked"])
    supply.record_refill(db, stocked, 2, None, None, clock.now())  # a look is due now
    db.execute("UPDATE worker_marks SET last_run_at = '' WHERE name = 'upkeep'")
    recorder = Recorder(monkeypatch, db)
    with recorder:
        upkeep.run(db, clock.now(), settings)
    assert any("supply_checked_at =" in sql for sql in recorder.statements)  # the look was scheduled
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)


def test_the_patients_history_and_medications_pages_read_no_whole_growing_table(db, busy, client, monkeypatch):
    client.post(
        "/login", data={"email": "stocked@example.com", "password": PASSWORD, "csrf_token": csrf(client, "/login")}
    )
    recorder = Recorder(monkeypatch, db)
    with recorder:
        for page in ("/", "/history", "/medications", "/pumps", "/messages"):
            assert client.get(page).status_code == 200, page
    assert len(recorder.statements) > 10


def test_the_page_of_doses_due_together_reads_no_whole_growing_table(db, busy, client, clock, monkeypatch):
    body = db.execute(
        "SELECT body FROM messages WHERE user_id = ? AND dose_group_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        [busy["taker"]],
    ).fetchone()[0]
    token = re.search(r"/g/([\w-]+)", body).group(1)
    clock.set(parse_instant("2026-03-09T00:00:00Z"))  # the link is still valid
    recorder = Recorder(monkeypatch, db)
    with recorder:
        assert client.get(f"/g/{token}").status_code == 200
        dose_id = db.execute(
            "SELECT dose_id FROM dose_group_members g JOIN dose_group_links l ON l.group_id = g.group_id "
            "WHERE l.token_hash = ?",
            [hash_token(token)],
        ).fetchone()[0]
        form = {"action": "taken", "dose_id": str(dose_id), "csrf_token": csrf(client, "/login")}
        assert client.post(f"/g/{token}", data=form).status_code == 200  # already recorded: says when
        assert client.post(f"/g/{token}", data={**form, "action": "taken_all"}).status_code == 200
    assert len(recorder.statements) > 5
    offenders = recorder.offenders()
    assert not offenders, "\n".join(offenders)

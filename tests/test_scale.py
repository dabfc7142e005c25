"""What keeps the product's cost flat as it grows: the panel's summaries the worker keeps, and
retention of derived rows (expired phone links, old message texts). The query plans themselves
are test_query_plans.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reminder import clinics, ledger, links, reports, retention, summaries
from reminder.times import parse_instant

from builders import START, live_through, make_medication, make_patient, messages


def miss_the_afternoons(dose: dict):
    return None if dose["local_time"] == "13:00" else 10


@pytest.fixture
def clinic_patient(db):
    clinic_id, code = clinics.create_clinic(db, "Neurology", START)
    patient = make_patient(db, name="Pat")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    return clinic_id, patient


def panel_line(db, clinic_id: int, now) -> dict:
    [line] = reports.panel(db, clinic_id, now)["patients"]
    return line


def test_the_panel_shows_the_summary_the_worker_keeps_and_a_dose_answered_since_updates_it(
    db, clock, tick, clinic_patient
):
    clinic_id, patient = clinic_patient
    live_through(db, clock, tick, patient, "2026-03-10T12:00:00Z", miss_the_afternoons)
    now = clock.now()
    stored = next(db.query("SELECT * FROM panel_summaries WHERE patient_id = ?", [patient]))
    assert stored["stale"] == 0 and stored["as_of"] <= "2026-03-10T12:00:00Z"
    line = panel_line(db, clinic_id, now)
    assert (line["taken_7"], line["closed_7"]) == (stored["taken_7"], stored["closed_7"]) == (6, 9)
    assert line["risk_misses_7"] == 3

    # The 13:00 dose taken on time: the row is stale at once, and the panel counts it.
    dose = next(
        db.query(
            "SELECT * FROM doses WHERE patient_id = ? AND scheduled_at > ? ORDER BY scheduled_at",
            [patient, "2026-03-10T12:00:00Z"],
        )
    )
    at = parse_instant(dose["scheduled_at"]) + timedelta(minutes=5)
    ledger.answer_dose(db, dose["id"], ledger.Answer("taken", "web", patient), at, timedelta(minutes=10))
    assert db.execute("SELECT stale FROM panel_summaries WHERE patient_id = ?", [patient]).fetchone()[0] == 1
    assert (panel_line(db, clinic_id, at)["taken_7"], panel_line(db, clinic_id, at)["closed_7"]) == (7, 10)
    assert summaries.refresh(db, at, 100) == 1
    assert panel_line(db, clinic_id, at)["taken_7"] == 7


def test_a_summary_over_a_day_old_is_not_trusted_and_the_worker_recomputes_it(db, clock, tick, clinic_patient):
    clinic_id, patient = clinic_patient
    live_through(db, clock, tick, patient, "2026-03-09T12:00:00Z", miss_the_afternoons)
    week_later = clock.now() + timedelta(days=8)
    assert panel_line(db, clinic_id, week_later)["closed_7"] == 0  # the closed doses left the 7-day window
    assert summaries.refresh(db, week_later, 100) == 1
    assert db.execute("SELECT closed_7 FROM panel_summaries WHERE patient_id = ?", [patient]).fetchone()[0] == 0


def test_expired_links_go_after_30_days_and_old_message_texts_after_90_while_doses_and_message_rows_stay(
    db, clock, tick, patient
):
    make_medication(db, patient)
    live_through(db, clock, tick, patient, "2026-03-08T20:00:00Z", lambda dose: 10)
    [first, *_] = messages(db, "reminder")
    token = re.search(r"/d/([\w-]+)", first["body"]).group(1)
    counts = db.execute("SELECT (SELECT count(*) FROM doses), (SELECT count(*) FROM messages)").fetchone()

    assert retention.run(db, clock.now() + timedelta(days=2)) == 0  # expired, but still says so
    with pytest.raises(links.LinkExpired):
        links.resolve(db, token, clock.now() + timedelta(days=2))

    assert retention.run(db, clock.now() + timedelta(days=40)) > 0
    with pytest.raises(links.LinkNotFound):
        links.resolve(db, token, clock.now() + timedelta(days=40))
    assert messages(db, "reminder")[0]["body"] == first["body"]  # texts stay 90 days

    retention.run(db, clock.now() + timedelta(days=91))
    pruned = messages(db, "reminder")[0]
    assert (pruned["body"], pruned["status"], pruned["sent_at"]) == ("", first["status"], first["sent_at"])
    assert db.execute("SELECT (SELECT count(*) FROM doses), (SELECT count(*) FROM messages)").fetchone() == counts

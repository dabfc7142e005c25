"""A backup taken while answers are being written, restored later: the worker resumes without
harm (issue 12 §5) and links sent after the backup answer a clear page."""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import closing
from datetime import timedelta

import pytest

from reminder import backup, ledger
from reminder import db as dbmod
from reminder.times import parse_instant

from builders import make_medication, make_patients, messages, page_text

PATIENTS = 24


def answer_all_in_a_thread(db_path: str, dose_ids: list[int], started: threading.Event) -> threading.Thread:
    """Pat answers every dose "taken" from another connection; ``started`` is set after the first few."""

    def write():
        database = dbmod.connect(db_path)
        try:
            for number, dose_id in enumerate(dose_ids):
                answer = ledger.Answer("taken", "link", None)
                ledger.answer_dose(database, dose_id, answer, parse_instant("2026-03-07T13:05:00Z"), timedelta(0))
                if number == 5:
                    started.set()
        finally:
            database.close()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def first_doses(db) -> list[int]:
    return [row[0] for row in db.execute("SELECT id FROM doses WHERE scheduled_at = '2026-03-07T13:00:00Z'")]


def taken(database) -> set[int]:
    return {row[0] for row in database.execute("SELECT id FROM doses WHERE status = 'taken'")}


def reminders_per_dose(database) -> dict[int, int]:
    rows = database.execute("SELECT dose_id, count(*) FROM messages WHERE kind = 'reminder' GROUP BY dose_id")
    return dict(rows.fetchall())


def test_a_backup_taken_under_load_restores_and_the_worker_resumes_without_harm(
    db, db_path, tick, tick_until, app, tmp_path
):
    for patient in make_patients(db, PATIENTS):
        make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")  # every patient's 08:00 reminder goes out
    assert len(messages(db, "reminder")) == PATIENTS
    started, target = threading.Event(), str(tmp_path / "backup.db")
    writer = answer_all_in_a_thread(db_path, first_doses(db), started)
    started.wait(timeout=30)
    backup.take(db_path, target)
    writer.join(timeout=60)
    assert len(taken(db)) == PATIENTS

    with closing(sqlite3.connect(target)) as saved:
        assert saved.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        taken_in_backup, reminders_in_backup = taken(saved), reminders_per_dose(saved)
    assert 6 <= len(taken_in_backup) <= PATIENTS  # whatever the snapshot caught, whole answers only

    tick("2026-03-07T18:00:00Z")  # the 13:00 reminders, with links issued after the backup
    late_link = re.search(r"/d/([A-Za-z0-9_-]+)", messages(db, "reminder")[-1]["body"]).group(1)
    assert backup.restore(target, db_path) == []

    tick_until("2026-03-08T04:00:00Z", step=600)
    assert taken_in_backup <= taken(db)  # no dose taken in the restored data is marked missed
    after = reminders_per_dose(db)
    assert {dose: after[dose] for dose in taken_in_backup} == {d: reminders_in_backup[d] for d in taken_in_backup}
    gone = app.test_client().get(f"/d/{late_link}")
    assert gone.status_code == 410 and "no longer valid" in page_text(gone) and "Today" in page_text(gone)


def test_a_file_that_is_not_a_reminder_database_is_not_restored(db_path, tmp_path):
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE notes (text)")
        conn.commit()
    with pytest.raises(backup.BackupError, match="not a reminder database"):
        backup.restore(str(other), db_path)


def test_a_backup_never_overwrites_an_existing_file(db_path, tmp_path):
    (tmp_path / "kept.db").write_text("precious")
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.take(db_path, str(tmp_path / "kept.db"))
    assert (tmp_path / "kept.db").read_text() == "precious"

"""The worker at the level an operator meets it: ticks, restarts, crashes and two workers."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from reminder import ledger, worker
from reminder.notify import OutboxTransport, TransportError
from reminder.times import local_today, parse_instant, to_iso

from builders import START, csrf, doses, make_medication, make_patient, make_patients, messages

SNOOZE = timedelta(minutes=15)


def test_ticking_twice_at_the_same_instant_sends_one_reminder(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    tick("2026-03-07T13:00:00Z")
    tick("2026-03-07T13:00:20Z")
    assert [m["kind"] for m in messages(db)] == ["reminder"]


def test_generation_is_idempotent_and_keeps_at_least_48_hours_ahead(db, patient, tick, settings):
    make_medication(db, patient)
    before = len(doses(db))
    for _ in range(3):
        tick("2026-03-07T12:00:00Z")
    assert len(doses(db)) == before
    tick("2026-03-08T12:30:00Z")  # a day later: the horizon moves
    last = parse_instant(doses(db)[-1]["scheduled_at"])
    assert last - parse_instant("2026-03-08T12:30:00Z") >= timedelta(hours=48)
    instants = [d["scheduled_at"] for d in doses(db)]
    assert len(instants) == len(set(instants))


def test_an_unanswered_reminder_gets_one_follow_up_that_says_not_to_take_another(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    tick("2026-03-07T13:29:00Z")
    assert len(messages(db)) == 1
    tick("2026-03-07T13:30:00Z")
    tick("2026-03-07T14:10:00Z")
    follow_ups = messages(db, "follow_up")
    assert len(follow_ups) == 1
    assert "If you already took it, don't take another; just confirm" in follow_ups[0]["body"]
    assert "/d/" in follow_ups[0]["body"]


def test_a_taken_dose_gets_no_follow_up_and_no_skip_message(db, patient, tick, clock):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    dose = doses(db, local_time="08:00")[0]
    ledger.answer_dose(db, dose["id"], ledger.Answer("taken", "web", patient), clock.now(), SNOOZE)
    tick("2026-03-07T13:30:00Z")
    tick("2026-03-07T16:00:00Z")
    assert [m["kind"] for m in messages(db) if m["dose_id"] == dose["id"]] == ["reminder"]
    assert doses(db, id=dose["id"])[0]["status"] == "taken"


def test_a_closed_window_makes_the_dose_missed_and_sends_one_skip_message(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    tick("2026-03-07T15:29:00Z")  # 08:00 + 2.5 h closes at 10:30 New York = 15:30Z
    assert doses(db, local_time="08:00")[0]["status"] == "pending"
    tick("2026-03-07T15:30:00Z")
    tick("2026-03-07T15:31:00Z")
    assert doses(db, local_time="08:00")[0]["status"] == "missed"
    notices = messages(db, "skip_notice")
    assert len(notices) == 1
    assert notices[0]["body"] == (
        "Your 8:00 AM dose was missed. Skip it: take your next dose at its usual time (1:00 PM). Do not take two doses."
    )


def test_a_snoozed_dose_is_reminded_again_after_15_minutes_in_the_follow_up_wording(db, patient, tick, clock):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    dose = doses(db, local_time="08:00")[0]
    clock.set(parse_instant("2026-03-07T13:05:00Z"))
    decision = ledger.answer_dose(db, dose["id"], ledger.Answer("snooze", "link", None), clock.now(), SNOOZE)
    assert decision.code == "snoozed"
    tick("2026-03-07T13:19:00Z")
    assert len(messages(db)) == 1
    tick("2026-03-07T13:20:00Z")
    kinds = [m["kind"] for m in messages(db)]
    assert kinds == ["reminder", "follow_up"]


class Crash(BaseException):
    """Stands in for the process dying mid-send (SIGKILL, power cut)."""


class CrashingTransport(OutboxTransport):
    def send(self, message):
        raise Crash()


def test_a_reminder_cut_off_mid_send_is_sent_again_in_the_follow_up_wording(db, patient, settings, clock):
    make_medication(db, patient)
    at = parse_instant("2026-03-07T13:00:00Z")
    with pytest.raises(Crash):
        worker.run_tick(db, at, settings, CrashingTransport(settings))
    [cut_off] = messages(db)
    assert cut_off["status"] == "sending"  # recorded before the send, never lost

    # A restarted worker within the lease leaves it alone: it may still be in flight.
    worker.run_tick(db, at + timedelta(seconds=30), settings, OutboxTransport(settings))
    assert len(messages(db)) == 1

    worker.run_tick(db, at + timedelta(seconds=150), settings, OutboxTransport(settings))
    first, again = messages(db)
    assert first["status"] == "interrupted"
    assert again["kind"] == "follow_up" and again["status"] == "sent"
    assert "don't take another" in again["body"]
    # and no third prompt later: the follow-up was that resend
    worker.run_tick(db, at + timedelta(minutes=45), settings, OutboxTransport(settings))
    assert len(messages(db, "follow_up")) == 1


class FlakyTransport(OutboxTransport):
    def __init__(self, settings, failures, permanent=False):
        super().__init__(settings)
        self.failures, self.permanent, self.calls = failures, permanent, 0

    def send(self, message):
        self.calls += 1
        if self.calls <= self.failures:
            raise TransportError("provider said 503", permanent=self.permanent)
        return super().send(message)


def test_a_transient_failure_is_retried_and_a_permanent_one_is_not(db, patient, settings):
    make_medication(db, patient)
    at = parse_instant("2026-03-07T13:00:00Z")
    flaky = FlakyTransport(settings, failures=1)
    worker.run_tick(db, at, settings, flaky)
    assert messages(db)[0]["status"] == "queued" and messages(db)[0]["error"] == "provider said 503"
    worker.run_tick(db, at + timedelta(seconds=30), settings, flaky)
    assert messages(db)[0]["status"] == "sent" and messages(db)[0]["attempts"] == 2


def test_a_dose_whose_reminders_all_failed_ends_unknown_not_missed(db, patient, settings):
    make_medication(db, patient)
    broken = FlakyTransport(settings, failures=1000, permanent=True)
    for minutes in range(0, 160, 10):
        worker.run_tick(db, parse_instant("2026-03-07T13:00:00Z") + timedelta(minutes=minutes), settings, broken)
    dose = doses(db, local_time="08:00")[0]
    assert dose["status"] == "unknown"
    assert all(m["status"] == "failed" for m in messages(db))
    assert not messages(db, "skip_notice")


def test_reminders_follow_local_time_across_the_spring_dst_change(db, patient, tick, tick_until):
    make_medication(db, patient)
    tick_until("2026-03-09T12:00:00Z", step=300)
    reminders = [m["created_at"] for m in messages(db, "reminder")]
    assert reminders == [
        "2026-03-07T13:00:00Z",
        "2026-03-07T18:00:00Z",
        "2026-03-07T23:00:00Z",  # EST, UTC-5
        "2026-03-08T12:00:00Z",
        "2026-03-08T17:00:00Z",
        "2026-03-08T22:00:00Z",  # EDT, UTC-4
        "2026-03-09T12:00:00Z",
    ]
    assert len(messages(db, "skip_notice")) == 6


def test_reminders_follow_local_time_across_the_autumn_dst_change(db, clock, tick_until):
    clock.set(parse_instant("2026-10-31T12:00:00Z"))
    patient = make_patient(db, email="fall@example.com")
    make_medication(db, patient, now=clock.now(), times=["01:30", "09:00"], max_daily_amount=None)
    tick_until("2026-11-02T12:00:00Z", step=300)
    reminders = [m["created_at"] for m in messages(db, "reminder")]
    assert reminders == [
        "2026-10-31T13:00:00Z",  # 09:00 EDT
        "2026-11-01T05:30:00Z",  # 01:30 happens twice on 2026-11-01: once, at the first (EDT)
        "2026-11-01T14:00:00Z",  # 09:00 EST
        "2026-11-02T06:30:00Z",
    ]


def test_two_worker_processes_never_send_the_same_reminder_twice(tmp_path, db, db_path, clock):
    for patient in make_patients(db, 60):
        make_medication(db, patient)
    clock.set(parse_instant("2026-03-07T13:00:00Z"))
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{db_path}"\n[clock]\nmode = "manual"\n[worker]\nbatch_size = 7\n')
    command = [sys.executable, "-m", "reminder.cli", "--config", str(config), "tick"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in workers:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    reminders = messages(db, "reminder")
    assert len(reminders) == 60
    assert len({m["dose_id"] for m in reminders}) == 60
    assert all(m["status"] == "sent" for m in reminders)


def test_healthz_reports_a_stale_worker_with_503(client, tick, clock):
    assert client.get("/healthz").status_code == 503  # no tick yet
    tick("2026-03-07T12:00:00Z")
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["age_seconds"] == 0
    clock.set(parse_instant("2026-03-07T12:01:30Z"))
    assert client.get("/healthz").status_code == 200  # three 30 s intervals
    clock.set(parse_instant("2026-03-07T12:01:31Z"))
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.json["status"] == "worker stale"


def test_a_schedule_change_rewrites_only_future_unreminded_doses(db, patient, tick, settings, clock):
    from reminder import medications

    medication = make_medication(db, patient, name="Paracetamol", withdrawal_risk=False, max_daily_amount=None)
    tick("2026-03-07T18:00:00Z")  # the 13:00 dose was reminded; 08:00 closed as unknown
    history = {d["id"]: d for d in doses(db) if d["scheduled_at"] <= "2026-03-07T18:00:00Z"}
    today = local_today("America/New_York", clock.now())
    medications.update(db, medication, {"times": ["09:00", "21:00"]}, today, clock.now(), timedelta(hours=72))
    after = {d["id"]: d for d in doses(db)}
    closed = [i for i, d in history.items() if d["status"] != "pending"]
    assert closed and all(after[i] == history[i] for i in closed)  # history untouched
    # The reminded 13:00 dose stays; only its window now runs to the new next dose (21:00).
    open_dose = after[next(i for i, d in history.items() if d["status"] == "pending")]
    assert (open_dose["local_time"], open_dose["prompt_count"]) == ("13:00", 1)
    assert open_dose["window_closes_at"] == "2026-03-07T22:00:00Z"  # min(13+4, 21-2) = 17:00 EST
    after = list(after.values())
    future = [d["local_time"] for d in after if d["scheduled_at"] > "2026-03-07T18:00:00Z"]
    assert "18:00" not in future and "13:00" not in future
    assert future[:3] == ["21:00", "09:00", "21:00"]


def test_a_new_time_zone_moves_future_reminders_to_local_time_there(client, db, patient, login, tick):
    make_medication(db, patient)
    login()
    response = client.post(
        "/settings",
        data={
            "csrf_token": csrf(client, "/settings"),
            "name": "",
            "email": "pat@example.com",
            "phone": "+15005550006",
            "tz": "Europe/London",
            "channels": "sms",
        },
    )
    assert response.status_code == 302
    upcoming = [d for d in doses(db) if d["scheduled_at"] > to_iso(START)]
    assert upcoming[0]["tz"] == "Europe/London"
    assert (upcoming[0]["local_time"], upcoming[0]["scheduled_at"]) == ("13:00", "2026-03-07T13:00:00Z")


def test_a_retried_reminder_is_worded_as_a_repeat_and_dropped_once_the_dose_is_answered(db, patient, settings, clock):
    make_medication(db, patient)
    at = parse_instant("2026-03-07T13:00:00Z")
    flaky = FlakyTransport(settings, failures=1)
    worker.run_tick(db, at, settings, flaky)
    [queued] = messages(db)
    assert queued["status"] == "queued" and queued["kind"] == "follow_up"
    assert "If you already took it, don't take another; just confirm" in queued["body"]
    dose = doses(db, local_time="08:00")[0]
    ledger.answer_dose(db, dose["id"], ledger.Answer("taken", "web", patient), at + timedelta(seconds=10), SNOOZE)
    worker.run_tick(db, at + timedelta(seconds=40), settings, flaky)
    [cancelled] = messages(db)
    assert cancelled["status"] == "cancelled" and flaky.calls == 1


def test_ending_a_medication_stops_its_follow_ups_and_skip_messages(db, patient, tick, clock, settings):
    from reminder import medications

    medication = make_medication(db, patient, name="Paracetamol", withdrawal_risk=False)
    tick("2026-03-07T13:00:00Z")
    clock.set(parse_instant("2026-03-07T13:10:00Z"))
    medications.end(db, medication, local_today("America/New_York", clock.now()), clock.now())
    tick("2026-03-07T13:30:00Z")
    tick("2026-03-07T20:00:00Z")
    assert [m["kind"] for m in messages(db)] == ["reminder"]

"""When things break: provider outages, our own downtime, a clock that steps back, and a
/healthz that says so. Providers are the loopback fakes (tests/fakes.py) driven by the real
twilio client and smtplib; time is the manual clock."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest

from reminder import caregivers, delivery, ledger, upkeep, worker
from reminder.db import immediate
from reminder.notify import OutboxTransport, TransportError, make_transport
from reminder.times import parse_instant, to_iso

from builders import START, doses, make_medication, make_patient, make_patients, messages

PHONE = "+12025550123"


def link_caregiver(db, patient: int, email="carol@example.com", phone="+12025550188") -> int:
    """A caregiver who chose SMS and email, linked to ``patient`` through an accepted invitation."""
    carol = make_patient(db, email=email, name="Carol", role="caregiver", phone=phone)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["sms", "email"]), carol])
    with immediate(db):
        _, token = caregivers.invite(db, patient, email=email, phone=None, now=START)
    caregivers.accept(db, token, carol, START)
    return carol


def skip(db, patient: int, local_time: str, at) -> None:
    [dose] = [d for d in doses(db, local_time=local_time, status="pending") if d["scheduled_at"] <= to_iso(at)][:1]
    ledger.answer_dose(db, dose["id"], ledger.Answer("skip", "web", patient), at, timedelta(minutes=10))


class Failing(OutboxTransport):
    """Every send fails transiently (a provider answering 503)."""

    def send(self, message):
        raise TransportError("provider said 503")


# ---------------------------------------------------------------- delivery through outages


@pytest.mark.parametrize(
    "attempts, wait",
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 600), (43, 600), (10_000, 600)],
)
def test_the_wait_before_a_retry_doubles_up_to_ten_minutes_and_never_overflows(attempts, wait):
    assert delivery.retry_delay(attempts) == timedelta(seconds=wait)


def test_an_alert_on_its_43rd_failed_try_is_queued_again_ten_minutes_later_without_a_crash(db, patient, settings):
    carol = link_caregiver(db, patient)
    make_medication(db, patient)
    from reminder import escalation

    with immediate(db):
        escalation.raise_alert(
            db, settings, patient_id=patient, medication_id=None, kind="pause", run_key="x", summary="Paused", now=START
        )
    db.execute("UPDATE messages SET attempts = 42 WHERE user_id = ?", [carol])
    worker.run_tick(db, START, settings, Failing(settings))
    [alert] = [m for m in messages(db, "alert") if m["user_id"] == carol]
    assert (alert["status"], alert["attempts"]) == ("queued", 43)
    assert alert["next_attempt_at"] == to_iso(START + timedelta(minutes=10))


def test_every_alert_raised_during_an_eight_hour_outage_goes_out_when_the_providers_return(
    db, live_tick, fake_twilio, smtp_server, clock
):
    patient = make_patient(db, phone=PHONE)
    make_medication(db, patient)
    carol = link_caregiver(db, patient)
    fake_twilio.down(20500, 500)
    smtp_server.handler.refuse_all = "451 4.3.0 try again later"
    outage_ends = parse_instant("2026-03-07T20:30:00Z")
    current = parse_instant("2026-03-07T12:30:00Z")
    while current < outage_ends:  # a tick every 5 minutes; the patient skips 08:00 and 13:00
        live_tick(current)
        for local_time, at in (("08:00", "2026-03-07T13:05:00Z"), ("13:00", "2026-03-07T18:05:00Z")):
            if current == parse_instant(at):
                skip(db, patient, local_time, current)
        current += timedelta(minutes=5)
    raised = [m for m in messages(db) if m["user_id"] == carol and m["kind"] in ("alert", "alert_repeat")]
    assert raised and not fake_twilio.sent and not smtp_server.messages
    assert all(m["status"] == "queued" for m in raised)  # still trying, hours in

    fake_twilio.up()
    smtp_server.handler.refuse_all = None
    for minute in range(0, 11, 1):
        live_tick(outage_ends + timedelta(minutes=minute))
    alerts = [m for m in messages(db) if m["user_id"] == carol and m["kind"] == "alert"]
    assert {m["channel"] for m in alerts} == {"sms", "email"}
    assert all(m["status"] == "sent" for m in alerts)
    texts = [s.params["Body"] for s in fake_twilio.sent if s.params["To"] == "+12025550188"]
    assert any("contact their prescriber" in text or "Acknowledge" in text for text in texts)
    assert [e for e in smtp_server.messages if e["To"] == "carol@example.com"]


def test_a_reminder_that_cannot_go_by_sms_goes_by_email_on_the_next_try_and_only_once(
    db, live_tick, fake_twilio, smtp_server
):
    patient = make_patient(db, phone=PHONE)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["sms"]), patient])
    make_medication(db, patient)
    fake_twilio.down(20500, 500)
    live_tick("2026-03-07T13:00:00Z")
    [email] = smtp_server.messages
    assert email["To"] == "pat@example.com"
    assert "If you already took it, don't take another" in email.get_body(("plain",)).get_content()

    fake_twilio.up()  # the SMS retry finds its email went out: it is dropped, not sent as well
    live_tick("2026-03-07T13:00:30Z")
    live_tick("2026-03-07T13:02:00Z")
    assert not fake_twilio.sent
    sms = [m for m in messages(db) if m["channel"] == "sms"]
    assert [(m["status"], m["error"]) for m in sms] == [("cancelled", "sent on another channel")]


def test_a_throttled_sms_waits_for_twilio_instead_of_moving_to_email(db, live_tick, fake_twilio, smtp_server):
    patient = make_patient(db, phone=PHONE)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["sms"]), patient])
    make_medication(db, patient)
    fake_twilio.fail_next(1, 20429, 429)
    live_tick("2026-03-07T13:00:00Z")
    live_tick("2026-03-07T13:00:30Z")
    assert not smtp_server.messages and len(fake_twilio.sent) == 1


def test_a_message_whose_outcome_cannot_be_recorded_keeps_the_error_and_the_others_go_out(db, settings):
    for patient in make_patients(db, 3):
        make_medication(db, patient)
    broken_id = None

    class FirstFails(OutboxTransport):
        def send(self, message):
            if message.id == broken_id:
                raise TransportError("provider said 503")
            return super().send(message)

    at = parse_instant("2026-03-07T13:00:00Z")
    worker.run_tick(db, at - timedelta(minutes=1), settings, OutboxTransport(settings))
    # A reminder whose stored context cannot be read: re-wording it for the retry fails.
    worker.prompt_due(worker.Tick(db, at, settings, OutboxTransport(settings)))
    broken_id = messages(db, "reminder")[0]["id"]
    db.execute("UPDATE messages SET context = 'not json' WHERE id = ?", [broken_id])
    worker.run_tick(db, at, settings, FirstFails(settings))
    by_id = {m["id"]: m for m in messages(db, "reminder")}
    assert by_id.pop(broken_id)["error"].startswith("could not record the outcome: JSONDecodeError")
    assert len(by_id) == 2 and all(m["status"] == "sent" for m in by_id.values())


# ---------------------------------------------------------------- our downtime


def test_doses_whose_windows_fell_while_the_worker_was_down_are_unknown_and_alert_nobody(
    db, patient, tick, client, caplog
):
    make_medication(db, patient)
    link_caregiver(db, patient)
    tick("2026-03-07T12:00:00Z")
    with caplog.at_level("WARNING", logger="reminder.worker"):
        tick("2026-03-10T12:00:00Z")  # three days later
    closed = [d for d in doses(db) if d["scheduled_at"] < "2026-03-10T12:00:00Z"]
    assert len(closed) == 9 and {d["status"] for d in closed} == {"unknown"}
    codes = {json.loads(e[0])["code"] for e in db.execute("SELECT detail FROM dose_events WHERE kind = 'unknown'")}
    assert codes == {"worker_down"}
    assert not messages(db, "skip_notice") and not messages(db, "alert")
    assert [r.getMessage() for r in caplog.records if "did not tick" in r.getMessage()] != []
    gap = client.get("/healthz").json["last_gap"]
    assert gap == {"kind": "gap", "from": "2026-03-07T12:00:00Z", "to": "2026-03-10T12:00:00Z", "seconds": 259200}

    tick("2026-03-10T12:00:30Z")  # noted once
    assert db.execute("SELECT count(*) FROM worker_gaps").fetchone()[0] == 1


def test_the_first_tick_after_a_long_gap_reminds_only_the_doses_still_open(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T12:00:00Z")
    tick("2026-03-10T13:10:00Z")  # 08:10 in New York: only today's 08:00 dose is still open
    assert [(m["kind"], m["dose_id"]) for m in messages(db)] == [
        ("reminder", doses(db, scheduled_at="2026-03-10T12:00:00Z")[0]["id"])
    ]


def test_no_skip_notice_goes_out_once_the_next_dose_is_due(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")  # the 08:00 reminder goes out
    tick("2026-03-07T18:10:00Z")  # the worker was down from 08:00 to 13:10 New York time
    assert doses(db, local_time="08:00")[0]["status"] == "missed"
    assert not messages(db, "skip_notice")


def test_a_skip_notice_is_retried_until_the_next_dose_and_no_later(db, patient, tick, settings):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    at = parse_instant("2026-03-07T15:30:00Z")
    worker.run_tick(db, at, settings, Failing(settings))
    [notice] = messages(db, "skip_notice")
    assert notice["valid_until"] == "2026-03-07T18:00:00Z" and notice["status"] == "queued"
    for minutes in range(10, 160, 10):
        worker.run_tick(db, at + timedelta(minutes=minutes), settings, Failing(settings))
    [notice] = messages(db, "skip_notice")
    assert notice["status"] == "failed" and notice["next_attempt_at"] < "2026-03-07T18:00:00Z"


# ---------------------------------------------------------------- /healthz


def test_healthz_is_ok_after_a_tick_and_lists_no_problems(client, tick):
    tick("2026-03-07T12:00:00Z")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert (response.json["status"], response.json["problems"], response.json["last_gap"]) == ("ok", [], None)


def test_healthz_fails_when_the_clock_moves_backwards_and_upkeep_keeps_running(client, db, tick, clock, settings):
    tick("2026-03-07T12:00:00Z")
    clock.set(parse_instant("2026-03-07T11:00:00Z"))  # the clock steps back an hour
    stepped = client.get("/healthz")
    assert stepped.status_code == 503 and stepped.json["status"] == "clock moved backwards"
    tick("2026-03-07T11:00:00Z")  # the worker ticks on, notes the step ...
    assert client.get("/healthz").json["problems"] == ["clock moved backwards"]
    assert client.get("/healthz").json["last_gap"]["kind"] == "clock_back"
    # ... and upkeep (refills, pumps) keeps its 10-minute interval instead of waiting an hour
    assert not upkeep.due(db, parse_instant("2026-03-07T11:05:00Z"))
    assert upkeep.due(db, parse_instant("2026-03-07T11:10:00Z"))
    tick("2026-03-07T12:01:00Z")
    assert client.get("/healthz").status_code == 200  # an hour after the step


def test_healthz_fails_when_messages_fail_on_every_channel(client, db, settings, tick, clock):
    for patient in make_patients(db, 8):
        make_medication(db, patient)
    tick("2026-03-07T12:00:00Z")
    at = parse_instant("2026-03-07T13:00:00Z")
    clock.set(at)
    worker.run_tick(db, at, settings, Failing(settings))
    failing = client.get("/healthz")
    assert failing.status_code == 503 and failing.json["problems"] == ["messages failing on every channel"]
    clock.set(at + timedelta(seconds=30))
    worker.run_tick(db, clock.now(), settings, OutboxTransport(settings))
    assert client.get("/healthz").status_code == 200


def test_healthz_fails_when_the_database_cannot_be_written(client, db_path, tick):
    tick("2026-03-07T12:00:00Z")
    holder = sqlite3.connect(db_path)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock and never lets go
    try:
        response = client.get("/healthz")
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503
    assert response.json["problems"] == ["database not writable: database is locked"]


def test_healthz_fails_when_the_disk_is_nearly_full(app, client, tick):
    tick("2026-03-07T12:00:00Z")
    app.config["REMINDER"]["health.min_free_mb"] = 10**12  # more than any disk here has free
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"].startswith("disk nearly full: ")


# ---------------------------------------------------------------- at most one copy


class Crash(BaseException):
    """Stands in for the process dying mid-send (SIGKILL, power cut)."""


class DiesAfterSending:
    """The provider takes the message, then the worker dies before recording it."""

    def __init__(self, transport):
        self.transport = transport

    def send(self, message):
        self.transport.send(message)
        raise Crash()


class DiesBeforeSending:
    def send(self, message):
        raise Crash()


def test_an_sms_cut_off_after_twilio_took_it_is_recorded_as_sent_and_not_sent_again(
    db, live_app, live_tick, fake_twilio
):
    patient = make_patient(db, phone=PHONE)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["sms"]), patient])
    make_medication(db, patient)
    settings = live_app.config["REMINDER"]
    at = parse_instant("2026-03-07T13:00:00Z")
    with pytest.raises(Crash):
        worker.run_tick(db, at, settings, DiesAfterSending(make_transport(settings)))
    assert messages(db)[0]["status"] == "sending"
    live_tick(at + timedelta(seconds=150))  # past the send lease: Twilio is asked, and has it
    [reminder] = messages(db)
    assert (reminder["status"], reminder["provider_id"]) == ("sent", fake_twilio.sent[0].sid)
    assert len(fake_twilio.sent) == 1
    live_tick(at + timedelta(minutes=30))  # the usual follow-up, no sooner
    assert [s.params["Body"].split(".")[0] for s in fake_twilio.sent] == [
        "Time for your 8:00 AM dose: 10 mg (1 tablet)",
        "Your 8:00 AM dose (10 mg) isn't confirmed",
    ]


def test_an_sms_cut_off_before_twilio_got_it_is_sent_in_the_if_you_already_took_it_wording(
    db, live_app, live_tick, fake_twilio
):
    patient = make_patient(db, phone=PHONE)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["sms"]), patient])
    make_medication(db, patient)
    at = parse_instant("2026-03-07T13:00:00Z")
    with pytest.raises(Crash):
        worker.run_tick(db, at, live_app.config["REMINDER"], DiesBeforeSending())
    live_tick(at + timedelta(seconds=150))
    [sent] = fake_twilio.sent
    assert "If you already took it, don't take another" in sent.params["Body"]
    assert [m["status"] for m in messages(db)] == ["interrupted", "sent"]


def test_a_skip_notice_email_cut_off_mid_send_is_sent_again_saying_it_may_be_a_repeat(
    db, live_app, live_tick, smtp_server
):
    patient = make_patient(db, phone=None)
    make_medication(db, patient)
    live_tick("2026-03-07T13:00:00Z")
    at = parse_instant("2026-03-07T15:30:00Z")
    with pytest.raises(Crash):
        worker.run_tick(
            db, at, live_app.config["REMINDER"], DiesAfterSending(make_transport(live_app.config["REMINDER"]))
        )
    live_tick(at + timedelta(seconds=150))
    first, again = [e for e in smtp_server.messages if "missed" in e["Subject"]]
    assert first["Subject"] == "Your 8:00 AM dose was missed: skip it"
    assert again["Subject"] == "Possibly a repeat: Your 8:00 AM dose was missed: skip it"
    assert again.get_body(("plain",)).get_content().startswith("This may repeat a message we sent you before")
    [notice] = messages(db, "skip_notice")
    assert notice["status"] == "sent"


def test_healthz_fails_for_a_dead_worker_even_when_the_manual_clock_stands_still(client, db, tick):
    tick("2026-03-07T12:00:00Z")
    assert client.get("/healthz").status_code == 200
    # The worker died 100 real seconds ago; the manual clock has not moved since.
    db.execute("UPDATE worker_heartbeat SET wall_seconds = wall_seconds - 100")
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.json["status"] == "worker stale"


def test_a_miss_after_our_downtime_is_not_read_as_days_without_a_dose(db, patient, tick, tick_until):
    make_medication(db, patient)
    link_caregiver(db, patient)
    tick("2026-03-07T13:00:00Z")
    dose = doses(db, local_time="08:00")[0]
    ledger.answer_dose(db, dose["id"], ledger.Answer("taken", "web", patient), tick_at(13, 1), timedelta(minutes=10))
    tick("2026-03-10T12:00:00Z")  # the worker was down for three days
    tick_until("2026-03-10T16:00:00Z", step=300)  # then the 08:00 dose is reminded and missed
    assert doses(db, scheduled_at="2026-03-10T12:00:00Z")[0]["status"] == "missed"
    assert not messages(db, "alert")  # one miss, not "1 dose in a row, about 73 hours without a dose"


def tick_at(hour: int, minute: int):
    return parse_instant(f"2026-03-07T{hour:02d}:{minute:02d}:00Z")

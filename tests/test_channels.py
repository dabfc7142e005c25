"""SMS through the real twilio client against a fake Twilio API, email through smtplib to a real
SMTP server, signed webhooks, replies, opt-out, failures and fallback."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from reminder import accounts
from reminder import messages as message_texts
from reminder.times import parse_instant

from builders import PUBLIC_URL, bearer, doses, log_in, make_medication, make_patient, messages
from fakes import AUTH_TOKEN

PHONE = "+12025550123"
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@pytest.fixture
def web(live_app):
    return live_app.test_client()


def patient_with(db, channels, phone=PHONE, email="pat@example.com"):
    patient = make_patient(db, email=email, phone=phone)
    if channels is not None:
        db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(channels), patient])
    make_medication(db, patient)
    return patient


def signed_post(client, path, params, url=None, token=AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(url or f"{PUBLIC_URL}{path}", params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def reply(client, body, sender=PHONE):
    response = signed_post(
        client, "/hooks/twilio/sms", {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SMinbound"}
    )
    assert response.status_code == 200 and response.mimetype == "application/xml"
    found = re.search(r"<Message>(.*)</Message>", response.get_data(as_text=True), re.S)
    return found.group(1).replace("&apos;", "'") if found else None


# ---------------------------------------------------------------- sending


def test_a_day_of_reminders_flows_through_both_channels(db, live_tick, fake_twilio, smtp_server):
    patient = patient_with(db, ["sms", "email"])
    for minute in range(0, 24 * 60, 10):
        live_tick(parse_instant("2026-03-07T12:00:00Z") + timedelta(minutes=minute))
    about_doses = [m for m in messages(db) if m["alert_id"] is None]
    kinds = [m["kind"] for m in about_doses if m["channel"] == "sms"]
    assert kinds == ["reminder", "follow_up", "skip_notice"] * 3
    assert [m["kind"] for m in about_doses if m["channel"] == "email"] == kinds
    # With nobody else linked, the run of missed baclofen is told to the patient (issue 10 section 1).
    alerts = [m for m in messages(db) if m["alert_id"] is not None]
    assert {m["kind"] for m in alerts} >= {"alert"} and {m["user_id"] for m in alerts} == {patient}
    assert all(m["status"] == "sent" for m in messages(db))
    sms = len([m for m in messages(db) if m["channel"] == "sms"])
    assert len(fake_twilio.sent) == sms and len(smtp_server.messages) == len(messages(db)) - sms
    first = fake_twilio.sent[0].params
    assert (first["To"], first["From"]) == (PHONE, "+15005550006")
    assert first["StatusCallback"] == f"{PUBLIC_URL}/hooks/twilio/status"
    assert (
        first["Body"].startswith("Time for your 8:00 AM dose: 10 mg (1 tablet).")
        and f"{PUBLIC_URL}/d/" in first["Body"]
    )
    # Twilio may hold it no longer than the dose's window: 08:00 closes at 10:30, 2.5 h
    assert 0 < int(first["ValidityPeriod"]) <= 9000
    assert messages(db, "reminder")[0]["provider_id"] == fake_twilio.sent[0].sid


def test_sms_texts_fit_one_gsm7_segment():
    link = f"{PUBLIC_URL}/d/{'x' * 22}"
    context = {
        "name": "Pat",
        "time": "12:30 PM",
        "medication": "",
        "link": link,
        "next_time": "10:30 AM",
        "amount": "12.5 mg (1¼ tablets)",
        "amount_plain": "12.5 mg (1 1/4 tablets)",
        "amount_short": "12.5 mg",
    }
    for kind in ("reminder", "follow_up", "skip_notice"):
        body = message_texts.compose(kind, "sms", context).body
        assert len(body) <= 160, (kind, len(body), body)
        assert set(body) <= GSM7, (kind, set(body) - GSM7)


def test_an_email_reminder_has_both_parts_the_link_and_no_medication_name(db, live_tick, smtp_server):
    patient_with(db, ["email"])
    live_tick("2026-03-07T13:00:00Z")
    [email] = smtp_server.messages
    assert email["From"] == "reminder@example.org" and email["To"] == "pat@example.com"
    assert email["Subject"] == "Time for your 8:00 AM dose"
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    link = re.search(r"https://reminder\.example\.org/d/[\w-]+", text).group(0)
    assert f'href="{link}"' in html
    assert "Baclofen" not in text + html + email["Subject"]


def test_sending_runs_concurrently(db, live_tick, fake_twilio):
    fake_twilio.delay = 0.2
    in_flight, peak = [0], [0]
    original = fake_twilio.server.RequestHandlerClass.do_POST

    def counting(handler):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        try:
            original(handler)
        finally:
            in_flight[0] -= 1

    fake_twilio.server.RequestHandlerClass.do_POST = counting
    for n in range(6):
        patient_with(db, ["sms"], phone=f"+1202555010{n}", email=f"p{n}@example.com")
    live_tick("2026-03-07T13:00:00Z")
    assert len(fake_twilio.sent) == 6
    assert peak[0] > 1


def test_the_sms_rate_cap_spaces_sends_and_queues_the_rest(db, live_app, live_tick, fake_twilio):
    live_app.config["REMINDER"]["sms.max_per_second"] = 5
    live_app.config["REMINDER"]["worker.tick_seconds"] = 1  # a tick may claim 5 SMS
    for n in range(8):
        patient_with(db, ["sms"], phone=f"+1202555010{n}", email=f"p{n}@example.com")
    live_tick("2026-03-07T13:00:00Z")
    assert len(fake_twilio.sent) == 5
    assert len([m for m in messages(db) if m["status"] == "queued"]) == 3
    arrivals = [sent.at for sent in fake_twilio.sent]
    assert arrivals[4] - arrivals[0] >= 0.7  # five sends take four 1/5 s slots, less network jitter
    live_tick("2026-03-07T13:00:01Z")
    assert len(fake_twilio.sent) == 8
    arrivals = [sent.at for sent in fake_twilio.sent]
    assert arrivals[5] - arrivals[0] >= 0.9  # never more than 5 in any second, across ticks


# ---------------------------------------------------------------- failures


def test_a_permanent_sms_failure_is_not_retried_and_email_takes_over(db, live_tick, fake_twilio, smtp_server, web):
    patient_with(db, ["sms"])
    fake_twilio.fail(PHONE, 21211)
    live_tick("2026-03-07T13:00:00Z")
    live_tick("2026-03-07T13:05:00Z")
    [sms] = [m for m in messages(db) if m["channel"] == "sms"]
    assert (sms["status"], sms["error_code"], sms["attempts"]) == ("failed", "21211", 1)
    [email] = [m for m in messages(db) if m["channel"] == "email"]
    assert email["status"] == "sent" and email["kind"] == "reminder" and email["fallback_of"] == sms["id"]
    assert smtp_server.messages[0]["Subject"] == "Time for your 8:00 AM dose"


def test_a_transient_failure_is_retried_with_backoff(db, live_tick, fake_twilio):
    patient_with(db, ["sms"])
    fake_twilio.fail_next(2, 20429, 429)
    live_tick("2026-03-07T13:00:00Z")
    assert messages(db)[0]["status"] == "queued" and messages(db)[0]["error_code"] == "20429"
    live_tick("2026-03-07T13:00:20Z")  # before the 30 s backoff: not yet
    assert messages(db)[0]["attempts"] == 1
    live_tick("2026-03-07T13:00:30Z")
    live_tick("2026-03-07T13:01:30Z")  # the second wait is 60 s
    assert messages(db)[0]["status"] == "sent" and messages(db)[0]["attempts"] == 3
    assert len([m for m in messages(db) if m["channel"] == "email"]) == 0


def test_a_server_error_is_retried_but_never_past_the_dose_window(db, live_tick, fake_twilio, smtp_server):
    patient_with(db, ["sms"])
    smtp_server.handler.refuse["pat@example.com"] = "450 4.2.1 mailbox busy"
    fake_twilio.fail_next(1000, 20500, 503)
    for minute in range(0, 151, 1):
        live_tick(parse_instant("2026-03-07T13:00:00Z") + timedelta(minutes=minute))
    prompts = [m for m in messages(db) if m["dose_id"] == doses(db, local_time="08:00")[0]["id"]]
    assert prompts and all(m["status"] == "failed" for m in prompts)
    assert all(m["next_attempt_at"] < "2026-03-07T15:30:00Z" for m in prompts)  # the window closes at 15:30Z
    assert doses(db, local_time="08:00")[0]["status"] == "unknown"


def test_a_patient_no_channel_reaches_ends_unknown_not_missed(db, live_tick, fake_twilio, smtp_server):
    patient_with(db, ["sms", "email"])
    fake_twilio.fail(PHONE, 21614)
    smtp_server.handler.refuse["pat@example.com"] = "550 5.1.1 no such user"
    for minute in range(0, 180, 10):
        live_tick(parse_instant("2026-03-07T13:00:00Z") + timedelta(minutes=minute))
    morning = [m for m in messages(db) if m["kind"] == "reminder" and m["created_at"] == "2026-03-07T13:00:00Z"]
    assert {(m["channel"], m["status"], m["error_code"]) for m in morning} == {
        ("sms", "failed", "21614"),
        ("email", "failed", "550"),
    }
    assert doses(db, local_time="08:00")[0]["status"] == "unknown"
    assert not messages(db, "skip_notice")


# ---------------------------------------------------------------- opt-out


def test_stop_turns_sms_off_email_takes_over_and_start_turns_it_back_on(db, live_app, live_tick, fake_twilio, web):
    patient = patient_with(db, ["sms"])
    assert reply(web, "STOP") is None
    assert accounts.find_user(db, id=patient)["sms_opted_out_at"] == "2026-03-07T12:00:00Z"
    live_tick("2026-03-07T13:00:00Z")
    assert [m["channel"] for m in messages(db)] == ["email"] and not fake_twilio.sent
    with web.session_transaction():
        pass
    log_in(web, "pat@example.com")
    assert "You replied STOP" in web.get("/settings").get_data(as_text=True)
    assert reply(web, "start") == "Text reminders are back on."
    live_tick("2026-03-07T18:00:00Z")
    assert [s.params["Body"].splitlines()[0] for s in fake_twilio.sent if s.params["Body"].startswith("Time")] == [
        "Time for your 1:00 PM dose: 10 mg (1 tablet)."
    ]


def test_a_21610_on_send_marks_the_patient_opted_out_and_uses_email(db, live_tick, fake_twilio):
    patient = patient_with(db, ["sms"])
    fake_twilio.fail(PHONE, 21610)
    live_tick("2026-03-07T13:00:00Z")
    assert accounts.find_user(db, id=patient)["sms_opted_out_at"] is not None
    assert [(m["channel"], m["status"]) for m in messages(db)] == [("sms", "failed"), ("email", "sent")]
    live_tick("2026-03-07T13:30:00Z")  # the follow-up goes by email only
    assert [m["channel"] for m in messages(db, "follow_up")] == ["email"]


# ---------------------------------------------------------------- webhooks


@pytest.mark.parametrize("headers_for", ["missing", "forged", "wrong url", "wrong token"])
def test_a_webhook_without_a_good_signature_gets_403_and_changes_nothing(db, web, live_tick, headers_for):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    params = {"From": PHONE, "Body": "1", "MessageSid": "SMx"}
    signatures = {
        "missing": None,
        "forged": "bm90IGEgc2lnbmF0dXJl",
        "wrong url": RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/hooks/twilio/sms", params),
        "wrong token": RequestValidator("other-token").compute_signature(f"{PUBLIC_URL}/hooks/twilio/sms", params),
    }
    headers = {"X-Twilio-Signature": signatures[headers_for]} if signatures[headers_for] else {}
    assert web.post("/hooks/twilio/sms", data=params, headers=headers).status_code == 403
    status = {"MessageSid": messages(db)[0]["provider_id"], "MessageStatus": "failed", "ErrorCode": "30003"}
    assert web.post("/hooks/twilio/status", data=status, headers=headers).status_code == 403
    assert doses(db, local_time="08:00")[0]["status"] == "pending"
    assert messages(db)[0]["status"] == "sent" and len(messages(db)) == 1


def test_status_callbacks_record_delivery_and_never_go_backwards(db, web, live_tick):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    sid = messages(db)[0]["provider_id"]
    for status in ("sent", "delivered", "sent"):
        assert signed_post(web, "/hooks/twilio/status", {"MessageSid": sid, "MessageStatus": status}).status_code == 204
    row = messages(db)[0]
    assert (row["status"], row["provider_status"]) == ("delivered", "delivered")


def test_an_undelivered_sms_is_recorded_with_its_code_and_sent_by_email(db, web, live_tick, smtp_server):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    sid = messages(db)[0]["provider_id"]
    signed_post(web, "/hooks/twilio/status", {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    sms, email = messages(db)
    assert (sms["status"], sms["error_code"]) == ("undelivered", "30003")
    assert (email["channel"], email["kind"], email["status"]) == ("email", "reminder", "queued")
    live_tick("2026-03-07T13:00:30Z")
    assert len(smtp_server.messages) == 1


# ---------------------------------------------------------------- replies


def test_replying_1_confirms_the_current_dose_and_a_second_reply_changes_nothing(db, web, live_tick, clock):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    clock.set(parse_instant("2026-03-07T13:07:00Z"))
    assert reply(web, "1") == "Your 8:00 AM dose: Recorded: taken at 8:07 AM."
    dose = doses(db, local_time="08:00")[0]
    assert (dose["status"], dose["source"], dose["taken_at"]) == ("taken", "sms", "2026-03-07T13:07:00Z")
    assert reply(web, "TAKEN").startswith("Your 8:00 AM dose: Already recorded at 8:07 AM")
    assert db.execute("SELECT count(*) FROM dose_events WHERE kind = 'taken'").fetchone()[0] == 1


def test_replying_skip_skips_and_yes_is_not_a_confirmation(db, web, live_tick):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    assert reply(web, "yes") == "Text reminders are back on."  # an opt-in word, never a dose answer
    assert doses(db, local_time="08:00")[0]["status"] == "pending"
    assert reply(web, "2").startswith("Your 8:00 AM dose: Recorded: skipped.")
    assert doses(db, local_time="08:00")[0]["status"] == "skipped"


def test_a_late_taken_reply_gets_the_skip_explanation_and_is_not_recorded(db, web, live_tick):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T13:00:00Z")
    live_tick("2026-03-07T15:31:00Z")  # the 08:00 window closed at 15:30Z
    text = reply(web, "TAKEN")
    assert "Skip this dose" in text and "Don't take two doses" in text and "link in your reminder" in text
    assert doses(db, local_time="08:00")[0]["status"] == "missed"


def test_help_unknown_words_and_unknown_numbers_get_plain_answers(db, web, live_tick):
    patient_with(db, ["sms"])
    assert reply(web, "HELP").startswith("Reply 1 or TAKEN")
    assert reply(web, "what?").startswith("Reply 1 or TAKEN")
    assert reply(web, "1").startswith("There is no dose to confirm right now.")
    assert reply(web, "1", sender="+12025550199") == "This number is not linked to a reminder account."


def test_end_to_end_from_tick_to_provider_to_status_callback_to_a_taken_reply(db, web, live_tick, fake_twilio, clock):
    patient_with(db, ["sms"])
    live_tick("2026-03-07T18:00:00Z")
    [sent] = [s for s in fake_twilio.sent if "1:00 PM" in s.params["Body"]]
    signed_post(web, "/hooks/twilio/status", {"MessageSid": sent.sid, "MessageStatus": "delivered"})
    assert messages(db, "reminder")[-1]["status"] == "delivered"
    clock.set(parse_instant("2026-03-07T18:03:00Z"))
    assert reply(web, "1") == "Your 1:00 PM dose: Recorded: taken at 1:03 PM."
    assert doses(db, local_time="13:00")[0]["status"] == "taken"


# ---------------------------------------------------------------- choosing channels


def test_patients_choose_their_channels_through_the_api(db, live_app):
    patient = make_patient(db, phone=None)
    client = live_app.test_client()
    headers = bearer(db, patient)
    assert client.get("/api/v1/me", headers=headers).json["channels"] == ["email"]
    refused = client.patch("/api/v1/me", json={"channels": ["sms"]}, headers=headers)
    assert refused.status_code == 400 and refused.json["error"]["field"] == "channels"
    assert client.patch("/api/v1/me", json={"channels": ["pigeon"]}, headers=headers).status_code == 400
    assert client.patch("/api/v1/me", json={"channels": []}, headers=headers).status_code == 400
    both = client.patch("/api/v1/me", json={"phone": "+1 202 555 0123", "channels": ["email", "sms"]}, headers=headers)
    assert both.status_code == 200 and both.json["channels"] == ["sms", "email"] and both.json["phone"] == PHONE
    assert client.patch("/api/v1/me", json={"phone": ""}, headers=headers).json["error"]["field"] == "channels"
    assert accounts.find_user(db, id=patient)["phone"] == PHONE


def test_the_messages_page_shows_what_was_sent_and_what_failed(db, web, live_tick, fake_twilio):
    patient_with(db, ["sms"])
    fake_twilio.fail(PHONE, 21211)
    live_tick("2026-03-07T13:00:00Z")
    log_in(web, "pat@example.com")
    page = web.get("/messages").get_data(as_text=True)
    assert "Not delivered: Twilio 400 21211" in page and "Email to pat@example.com" in page
    assert "Sat 07 Mar 8:00 AM" in page
    assert "1 message to you could not be delivered today" in web.get("/").get_data(as_text=True)


def test_an_api_write_with_a_session_cookie_but_no_token_is_refused(db, client, patient, login):
    login()
    response = client.post("/api/v1/medications", json={"name": "X", "amount": 1, "times": ["08:00"]})
    assert response.status_code == 400 and response.json["error"]["code"] == "csrf"
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 0


def test_a_bare_reply_never_guesses_between_two_open_doses_or_two_people(db, web, live_tick, clock):
    patient = patient_with(db, ["sms"])
    make_medication(
        db, patient, name="Gabapentin", times=["09:00"], max_daily_amount=None, acknowledge_interactions=True
    )
    live_tick("2026-03-07T14:05:00Z")  # 09:05: the 08:00 baclofen and 09:00 gabapentin doses are both open
    text = reply(web, "1")
    assert "more than one dose open (9:00 AM and 8:00 AM)" in text and "Nothing was recorded" in text
    assert not [d for d in doses(db) if d["status"] == "taken"]
    other = make_patient(db, email="partner@example.com", phone=PHONE)
    make_medication(db, other)
    assert "shared by more than one account" in reply(web, "1")
    assert reply(web, "STOP") is None
    assert all(accounts.find_user(db, id=u)["sms_opted_out_at"] for u in (patient, other))


def test_a_provider_answering_nonsense_does_not_stop_the_batch(db, live_tick, fake_twilio):
    patient_with(db, ["sms"])
    second = make_patient(db, email="second@example.com", phone="+12025550124")
    make_medication(db, second)
    original = fake_twilio.server.RequestHandlerClass.do_POST

    def broken_for_first(handler):
        length = int(handler.headers.get("Content-Length", 0))
        body = handler.rfile.read(length)
        if b"%2B12025550123" in body:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", "6")
            handler.end_headers()
            handler.wfile.write(b"<html>")
            return
        handler.rfile = __import__("io").BytesIO(body)
        original(handler)

    fake_twilio.server.RequestHandlerClass.do_POST = broken_for_first
    live_tick("2026-03-07T13:00:00Z")
    by_recipient = {m["recipient"]: m for m in messages(db) if m["channel"] == "sms"}
    assert by_recipient["+12025550124"]["status"] == "sent"
    assert by_recipient[PHONE]["status"] == "queued" and "unexpected" in by_recipient[PHONE]["error"]


def test_landlines_and_toll_free_numbers_are_refused_at_entry(db, patient):
    from reminder.errors import InputError

    for number in ("+44 20 7946 0958", "+1 800 555 0100"):
        with pytest.raises(InputError, match="cannot receive text messages"):
            accounts.check_phone(number)
    assert accounts.check_phone("+33 6 12 34 56 78") == "+33612345678"


def test_an_email_has_a_date_and_goes_only_to_its_recipient(db, live_tick, smtp_server):
    patient_with(db, ["email"])
    live_tick("2026-03-07T13:00:00Z")
    [(_, recipients, email)] = smtp_server.handler.received
    assert recipients == ["pat@example.com"] and email["Date"]
    from reminder.errors import InputError

    with pytest.raises(InputError):
        accounts.check_email("a,b@example.com")


def test_a_channel_added_to_the_registry_is_checked_offered_routed_and_sent(monkeypatch):
    from reminder import config, delivery, notify
    from reminder.config import ConfigError

    class PigeonTransport(notify.OutboxTransport):
        def send(self, message):
            return f"pigeon-{message.id}"

    pigeon = notify.Channel(
        "pigeon",
        PigeonTransport,
        enabled=lambda settings: True,
        problem=lambda settings: None if settings["email.from_address"] else "email.from_address names the loft",
        reaches=lambda user: bool(user.get("email")),
        address_field="email",
        label="pigeons",
        provider="the loft",
    )
    monkeypatch.setitem(notify.CHANNELS, "pigeon", pigeon)
    live = {"notify.mode": "live", "server.base_url": "https://reminder.example.org"}
    settings = config.load(None, live)
    assert notify.channels_available(settings) == ("pigeon",)
    with pytest.raises(ConfigError, match="names the loft"):
        config.load(None, {**live, "email.from_address": ""})
    assert json.loads(accounts.check_channels(["pigeon"], None)) == ["pigeon"]
    user = {"id": 1, "email": "pat@example.com", "channels": '["pigeon"]'}
    assert delivery.routes(user, settings) == [("pigeon", "pat@example.com")]
    message = notify.OutgoingMessage(7, "pigeon", "pat@example.com", "reminder", "", "Time for your dose")
    assert notify.make_transport(settings).send(message) == "pigeon-7"

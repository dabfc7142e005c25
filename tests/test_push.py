"""Web push (issue 14 section 1): the real ``pywebpush`` against a push service on loopback that
keeps what it receives, decrypted with the test browser's own keys (``http_ece``); the
notification's Taken and Snooze through the dose link's token; taps a phone queued offline; the
manifest and the service worker the install needs."""

from __future__ import annotations

import base64
import json
import struct
from datetime import timedelta

import pytest

from reminder import links, push
from reminder.times import parse_instant

from builders import START, csrf, doses, log_in, make_medication, make_patient, messages
from fakes import FakePushService

CONTACT = "mailto:ops@example.org"


@pytest.fixture
def push_service():
    service = FakePushService()
    service.start()
    yield service
    service.stop()


@pytest.fixture
def live_settings(live_settings, push_service):
    """Live mode with SMS, email and web push."""
    return {**live_settings, "push.contact": CONTACT}


def push_patient(db, *browsers, channels=("push",)):
    """A patient with Baclofen at 8:00, 13:00 and 18:00 New York, push on in each of ``browsers``."""
    patient = make_patient(db)
    make_medication(db, patient)
    push.vapid_keys(db, START)  # what Settings does before a browser may subscribe
    for browser in browsers:
        push.subscribe(db, patient, push.read_subscription(browser.subscription), "test", START)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(list(channels)), patient])
    return patient


def link_to(db, local_time: str) -> str:
    dose = doses(db, local_time=local_time)[0]
    return links.issue(db, dose["id"], parse_instant(dose["window_closes_at"]) + timedelta(hours=24), START)


# ---------------------------------------------------------------- sending


def test_a_reminder_reaches_every_browser_encrypted_with_taken_and_snooze(db, live_tick, push_service):
    phone, laptop = push_service.browser("phone"), push_service.browser("laptop")
    push_patient(db, phone, laptop)
    live_tick("2026-03-07T13:00:00Z")
    assert sorted(d.path for d in push_service.received) == ["/push/laptop", "/push/phone"]
    delivery = next(d for d in push_service.received if d.path == "/push/phone")
    shown = phone.decrypt(delivery.body)
    assert shown["title"] == "reminder"
    assert shown["body"].startswith("Time for your 8:00 AM dose")
    assert shown["dose_link"].startswith("https://reminder.example.org/d/")
    assert delivery.headers["content-encoding"] == "aes128gcm" and delivery.headers["urgency"] == "high"
    # A reminder is worth nothing after its window closes: the push service may drop it then.
    assert 0 < int(delivery.headers["ttl"]) <= 3 * 3600
    _private, public = push.vapid_keys(db, START)
    assert f"k={public}" in delivery.headers["authorization"]
    [message] = messages(db, "reminder")
    assert (message["channel"], message["status"]) == ("push", "sent")


def test_the_vapid_keys_are_made_once_and_kept(db, live_app):
    first = push.vapid_keys(db, START)
    assert push.vapid_keys(db, START + timedelta(days=400)) == first
    assert db.execute("SELECT count(*) FROM push_keys").fetchone()[0] == 1


def test_a_subscription_the_browser_dropped_is_removed_and_the_reminder_goes_by_sms(
    db, live_tick, push_service, fake_twilio
):
    phone = push_service.browser("phone")
    patient = push_patient(db, phone, channels=("push",))
    push_service.gone.add("/push/phone")
    live_tick("2026-03-07T13:00:00Z")
    assert push.subscriptions_of(db, patient) == []
    assert db.execute("SELECT push_devices FROM users WHERE id = ?", [patient]).fetchone()[0] == 0
    sent = {m["channel"]: m["status"] for m in messages(db, "reminder")}
    assert sent == {"push": "failed", "sms": "sent"}
    assert len(fake_twilio.sent) == 1 and "8:00 AM dose" in fake_twilio.sent[0].params["Body"]


def test_a_push_service_outage_is_retried_while_the_prompt_goes_by_sms_at_once(
    db, live_tick, push_service, fake_twilio
):
    phone = push_service.browser("phone")
    patient = push_patient(db, phone)
    push_service.status = 503
    live_tick("2026-03-07T13:00:00Z")
    push_message = next(m for m in messages(db) if m["channel"] == "push")
    assert (push_message["status"], push_message["error"]) == ("queued", "push service answered 503")
    assert len(fake_twilio.sent) == 1  # the other channel, now
    assert len(push.subscriptions_of(db, patient)) == 1  # an outage is not a dropped subscription


# ---------------------------------------------------------------- answering from the notification


def test_taken_on_the_notification_records_the_dose_once_without_a_login(client, db, patient, clock):
    make_medication(db, patient)
    token = link_to(db, "08:00")
    clock.set(parse_instant("2026-03-07T13:04:00Z"))
    first = client.post(f"/api/v1/links/{token}/answer", json={"action": "taken"})
    assert first.status_code == 200
    assert first.json["result"]["message"] == "Recorded: taken at 8:04 AM."
    again = client.post(f"/api/v1/links/{token}/answer", json={"action": "taken"})
    assert again.status_code == 200 and again.json["result"]["code"] == "already_recorded"
    dose = doses(db, local_time="08:00")[0]
    assert (dose["status"], dose["taken_at"], dose["source"]) == ("taken", "2026-03-07T13:04:00Z", "link")


def test_taken_on_a_notification_before_the_dose_is_due_is_not_recorded(client, db, patient, clock):
    make_medication(db, patient)
    token = link_to(db, "13:00")
    clock.set(parse_instant("2026-03-07T13:04:00Z"))  # 8:04 AM: the 1:00 PM dose is not due
    response = client.post(f"/api/v1/links/{token}/answer", json={"action": "taken"})
    assert response.status_code == 409 and response.json["error"]["code"] == "not_due_yet"
    assert doses(db, local_time="13:00")[0]["status"] == "pending"


def test_taken_on_a_notification_too_soon_after_the_last_intake_is_not_recorded(client, db, patient, clock):
    make_medication(db, patient)
    noon = link_to(db, "13:00")
    # The morning dose was taken late, at 11:50 AM.
    db.execute(
        "UPDATE doses SET status = 'taken', taken_at = '2026-03-07T16:50:00Z' "
        "WHERE local_date = '2026-03-07' AND local_time = '08:00'"
    )
    clock.set(parse_instant("2026-03-07T17:30:00Z"))  # 12:30 PM: the 1:00 PM reminder's Taken
    response = client.post(f"/api/v1/links/{noon}/answer", json={"action": "taken"})
    assert response.status_code == 409 and response.json["error"]["code"] == "too_soon"
    assert doses(db, local_time="13:00")[0]["status"] == "pending"


def test_snooze_on_the_notification_postpones_the_reminder(client, db, patient, clock):
    make_medication(db, patient)
    token = link_to(db, "08:00")
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    response = client.post(f"/api/v1/links/{token}/answer", json={"action": "snooze"})
    assert response.status_code == 200 and response.json["result"]["code"] == "snoozed"
    assert doses(db, local_time="08:00")[0]["next_prompt_at"] == "2026-03-07T13:17:00Z"


def test_an_unknown_link_answers_404_and_records_nothing(client, db, patient):
    make_medication(db, patient)
    before = doses(db)
    response = client.post("/api/v1/links/not-a-real-token/answer", json={"action": "taken"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert doses(db) == before


# ---------------------------------------------------------------- taps queued offline


def test_a_tap_made_offline_is_recorded_at_the_time_it_was_tapped(client, db, patient, clock):
    make_medication(db, patient)
    token = link_to(db, "08:00")
    clock.set(parse_instant("2026-03-07T15:30:00Z"))  # back online after the window closed
    response = client.post(
        f"/api/v1/links/{token}/answer", json={"action": "taken", "tapped_at": "2026-03-07T13:05:00Z"}
    )
    assert response.status_code == 200, response.json
    dose = doses(db, local_time="08:00")[0]
    assert (dose["status"], dose["taken_at"]) == ("taken", "2026-03-07T13:05:00Z")


def test_a_tap_made_offline_after_the_window_closed_is_refused_as_a_tap_then_would_be(client, db, patient, clock):
    make_medication(db, patient)
    token = link_to(db, "08:00")
    clock.set(parse_instant("2026-03-07T19:00:00Z"))
    late = "2026-03-07T17:00:00Z"  # noon: the 8:00 AM dose's window had closed
    response = client.post(f"/api/v1/links/{token}/answer", json={"action": "taken", "tapped_at": late})
    assert response.status_code == 409 and response.json["error"]["code"] == "window_closed"
    assert doses(db, local_time="08:00")[0]["status"] != "taken"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "taken", "tapped_at": "2026-03-07T13:20:00Z"}, "in the future"),
        ({"action": "taken", "tapped_at": "2026-03-06T13:05:00Z"}, "over 24 hours old"),
        ({"action": "taken", "tapped_at": "2026-03-07T11:00:00Z"}, "before this dose was due"),
        ({"action": "taken", "tapped_at": "yesterday"}, "ISO-8601"),
        ({"action": "snooze", "tapped_at": "2026-03-07T13:05:00Z"}, "taken or skip only"),
    ],
)
def test_an_offline_tap_with_a_time_out_of_bounds_is_refused_and_nothing_is_written(
    client, db, patient, clock, body, words
):
    make_medication(db, patient)
    token = link_to(db, "08:00")
    clock.set(parse_instant("2026-03-07T13:10:00Z"))
    before = doses(db)
    response = client.post(f"/api/v1/links/{token}/answer", json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "tapped_at" and words in response.json["error"]["message"]
    assert doses(db) == before


def test_a_tap_queued_offline_on_the_patients_own_dose_page_keeps_its_time(client, db, patient, clock):
    make_medication(db, patient)
    dose = doses(db, local_time="08:00")[0]
    log_in(client)
    clock.set(parse_instant("2026-03-07T13:50:00Z"))
    form = {"csrf_token": csrf(client, "/"), "action": "taken", "tapped_at": "2026-03-07T13:06:00-00:00"}
    response = client.post(f"/doses/{dose['id']}", data=form)
    assert response.status_code == 200 and "Recorded: taken at 8:06 AM" in response.get_data(as_text=True)
    assert doses(db, local_time="08:00")[0]["taken_at"] == "2026-03-07T13:06:00Z"


# ---------------------------------------------------------------- turning push on in Settings


def test_turning_push_on_keeps_the_browser_and_adds_push_to_the_channels(db, live_app, push_service):
    web = live_app.test_client()
    patient = make_patient(db)
    log_in(web)
    key = web.get("/push/key").json["public_key"]
    assert len(base64.urlsafe_b64decode(key + "=")) == 65  # an uncompressed P-256 point
    assert "Turn on notifications" in web.get("/settings").get_data(as_text=True)
    token = csrf(web, "/settings")
    browser = push_service.browser("phone")
    response = web.post("/push/subscriptions", json=browser.subscription, headers={"X-CSRFToken": token})
    assert response.status_code == 201 and response.json["devices"] == 1
    assert json.loads(db.execute("SELECT channels FROM users WHERE id = ?", [patient]).fetchone()[0]) == [
        "sms",
        "push",
    ]
    off = web.post("/push/subscriptions/remove", json={"endpoint": browser.endpoint}, headers={"X-CSRFToken": token})
    assert off.json == {"removed": True, "devices": 0}
    assert json.loads(db.execute("SELECT channels FROM users WHERE id = ?", [patient]).fetchone()[0]) == ["sms"]


@pytest.mark.parametrize(
    "subscription",
    [
        {"endpoint": "ftp://push.example/x", "keys": {"p256dh": "A" * 87, "auth": "A" * 22}},
        {"endpoint": "https://push.example/x", "keys": {"p256dh": "short", "auth": "A" * 22}},
        {"endpoint": "https://push.example/x"},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_subscription_is_refused_and_nothing_is_kept(db, live_app, subscription):
    web = live_app.test_client()
    make_patient(db)
    log_in(web)
    response = web.post("/push/subscriptions", json=subscription, headers={"X-CSRFToken": csrf(web, "/settings")})
    assert response.status_code == 400
    assert db.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


def test_a_subscription_without_the_pages_csrf_token_is_refused(db, live_app, push_service):
    web = live_app.test_client()
    make_patient(db)
    log_in(web)
    response = web.post("/push/subscriptions", json=push_service.browser("phone").subscription)
    assert response.status_code == 400
    assert db.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] == 0


# ---------------------------------------------------------------- installable


def png_size(data: bytes) -> str:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return f"{width}x{height}"


def test_the_manifest_lists_png_icons_of_the_sizes_it_claims_and_a_maskable_one(client):
    manifest = client.get("/manifest.webmanifest").json
    pngs = {icon["sizes"]: icon for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= set(pngs)
    assert any(icon["purpose"] == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        if icon["type"] == "image/png":
            with client.get(icon["src"]) as response:
                assert png_size(response.data) == icon["sizes"]
    assert (manifest["display"], manifest["scope"], manifest["theme_color"]) == ("standalone", "/", "#1f5f8b")
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png"' in page
    with client.get("/static/icons/apple-touch-icon.png") as response:
        assert png_size(response.data) == "180x180"


def test_the_service_worker_is_served_from_the_site_root_as_javascript(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert "notificationclick" in response.get_data(as_text=True)


def test_the_offline_pages_are_today_and_the_dose_pages_of_the_next_48_hours(client, db, patient, clock):
    make_medication(db, patient)  # 72 h of doses from START
    log_in(client)
    listing = client.get("/offline/pages").json
    pages = listing["pages"]
    assert listing["now"] == "2026-03-07T12:00:00Z"
    ahead = [d for d in doses(db) if parse_instant(d["scheduled_at"]) < START + timedelta(hours=48)]
    assert pages == ["/", *(f"/doses/{d['id']}" for d in ahead)]


def test_without_a_login_no_page_is_kept_offline_but_the_servers_clock_is_told(client):
    assert client.get("/offline/pages").json == {"pages": [], "now": "2026-03-07T12:00:00Z"}

"""The web app over HTTP: accounts, CSRF, the phone link, Today, medications and settings."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from reminder.times import local_today, parse_instant
from reminder.tokens import hash_token

from builders import csrf, doses, log_in, make_medication, make_patient, messages, page_text


def link_token(body: str) -> str:
    return re.search(r"/d/([A-Za-z0-9_-]+)", body).group(1)


def users(db) -> int:
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def register(client, email="Ann@Example.com", **fields):
    data = {"csrf_token": csrf(client, "/register"), "name": "Ann", "email": email, "password": "long enough"}
    return client.post("/register", data={"tz": "Europe/London", **data, **fields})


def confirm_link(db) -> str:
    return re.search(r"/register/confirm/[\w-]+", messages(db, "confirm_signup")[-1]["body"]).group(0)


@pytest.mark.production_password_hashing
def test_a_patient_registers_confirms_the_email_and_lands_on_adding_a_medication(client, db):
    response = register(client)
    assert response.status_code == 200 and "Check your email" in page_text(response)
    assert users(db) == 0  # nothing until the link comes back
    link = confirm_link(db)
    assert messages(db, "confirm_signup")[0]["recipient"] == "ann@example.com"
    assert client.get(link).status_code == 200 and users(db) == 0  # a look (a mail scanner) creates nothing
    response = client.post(link, data={"csrf_token": csrf(client, link)})
    assert response.status_code == 302 and response.location.endswith("/medications/new")
    row = db.execute("SELECT email, role, tz, password_hash FROM users").fetchone()
    assert row[:3] == ("ann@example.com", "patient", "Europe/London")
    assert row[3].startswith("scrypt:")
    assert db.execute("SELECT count(*) FROM email_confirmations").fetchone()[0] == 0  # spent: not kept
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    log_in(client.application.test_client(), "ann@example.com", "long enough")
    again = client.application.test_client()
    assert again.post(link, data={"csrf_token": csrf(again, "/login")}).status_code == 404  # works once
    assert users(db) == 1


def test_registering_answers_the_same_for_a_taken_and_a_free_email(client, db, patient):
    def answer(email):
        response = register(client, email)
        return response.status_code, page_text(response).replace(email.lower(), "EMAIL")

    assert answer("pat@example.com") == answer("new@example.com")
    assert users(db) == 1
    (notice,) = messages(db, "account_exists")
    assert notice["recipient"] == "pat@example.com"
    assert "/password/forgot" in notice["body"] and "/login" in notice["body"]
    assert [m["recipient"] for m in messages(db, "confirm_signup")] == ["new@example.com"]


@pytest.mark.production_password_hashing
def test_registering_takes_as_long_for_a_taken_email_as_for_a_free_one(app, db, patient):
    def median_seconds(make_email):
        times = []
        for n in range(3):
            client = app.test_client()
            token = csrf(client, "/register")
            started = time.perf_counter()
            client.post(
                "/register",
                data={"csrf_token": token, "email": make_email(n), "password": "long enough", "tz": "UTC"},
                environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
            )
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    median_seconds(lambda n: f"warm{n}@example.com")
    taken, free = median_seconds(lambda n: "pat@example.com"), median_seconds(lambda n: f"new{n}@example.com")
    assert free / 3 < taken < free * 3, (taken, free)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"tz": ""}, "unknown time zone"),
        ({"email": "not-an-email"}, "valid email"),
        ({"password": "short"}, "at least 8"),
    ],
)
def test_bad_registration_is_refused_with_a_message_and_no_account(client, db, fields, message):
    data = {
        "csrf_token": csrf(client, "/register"),
        "email": "a@example.com",
        "password": "long enough",
        "tz": "Europe/London",
        **fields,
    }
    response = client.post("/register", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert users(db) == 0


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(client, db):
    response = client.post("/register", data={"email": "a@example.com", "password": "long enough", "tz": "UTC"})
    assert response.status_code == 400
    assert "form has expired" in response.get_data(as_text=True)
    assert users(db) == 0


def test_a_wrong_password_does_not_log_in(client, patient):
    response = client.post(
        "/login", data={"csrf_token": csrf(client, "/login"), "email": "pat@example.com", "password": "nope-nope"}
    )
    assert response.status_code == 401 and "match an account" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_pages_need_a_login(client):
    for path in ("/", "/history", "/medications", "/medications/new", "/settings", "/doses/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location


def test_adding_a_medication_from_the_form_shows_it_and_its_doses_today(client, db, patient, login):
    login()
    response = client.post(
        "/medications/new",
        data={
            "csrf_token": csrf(client, "/medications/new"),
            "name": "Baclofen",
            "strength": "10 mg",
            "amount": "10",
            "unit": "mg",
            "times": "08:00, 13:00 18:00",
            "withdrawal_risk": "on",
            "max_daily_amount": "80",
        },
    )
    assert response.status_code == 302
    assert "Baclofen" in client.get("/medications").get_data(as_text=True)
    today = client.get("/").get_data(as_text=True)
    assert today.count('class="card dose"') == 3  # 08:00, 13:00 and 18:00 on Sat 07 Mar
    assert "8:00 AM" in today and "6:00 PM" in today


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"times": "25:00"}, "not a time of day"),
        ({"times": "08:00 08:00"}, "listed twice"),
        ({"name": ""}, "name is required"),
        ({"amount": "0"}, "amount must be more than 0"),
        ({"amount": "-1"}, "amount must be more than 0"),
        ({"amount": "100000"}, "at most 10000"),
        ({"max_daily_amount": "15"}, "over the maximum of 15"),
    ],
)
def test_a_bad_medication_form_is_refused_with_a_message_and_nothing_written(
    client, db, patient, login, fields, message
):
    login()
    data = {
        "csrf_token": csrf(client, "/medications/new"),
        "name": "Baclofen",
        "amount": "10",
        "times": "08:00 13:00",
        **fields,
    }
    response = client.post("/medications/new", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 0
    assert doses(db) == []


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tz", "Nowhere/Land", "unknown time zone"),
        ("phone", "555-1234", "country code"),
        ("email", "a@b", "valid email"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(client, db, patient, login, field, value, message):
    login()
    data = {
        "csrf_token": csrf(client, "/settings"),
        "name": "Pat",
        "email": "pat@example.com",
        "phone": "+15005550006",
        "tz": "America/New_York",
        field: value,
    }
    response = client.post("/settings", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    row = db.execute("SELECT email, phone, tz FROM users").fetchone()
    assert row == ("pat@example.com", "+15005550006", "America/New_York")


def reminded_link(db, patient, tick, at="2026-03-07T13:00:00Z"):
    make_medication(db, patient)
    tick(at)
    return link_token(messages(db, "reminder")[0]["body"])


def test_opening_a_phone_link_changes_nothing_and_needs_no_login(client, db, patient, tick):
    token = reminded_link(db, patient, tick)
    before = doses(db)
    page = client.get(f"/d/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "8:00 AM dose" in html and "Baclofen" in html and "Take 1 tablet (10 mg)" in html
    for button in ("Taken", "Skip this dose", "Snooze 15 min"):
        assert button in html
    assert doses(db) == before


def test_taken_from_the_link_records_the_dose_once(client, db, patient, tick, clock):
    token = reminded_link(db, patient, tick)
    clock.set(parse_instant("2026-03-07T13:04:00Z"))
    first = client.post(f"/d/{token}", data={"csrf_token": csrf(client, f"/d/{token}"), "action": "taken"})
    assert first.status_code == 200 and "Recorded: taken at 8:04 AM." in first.get_data(as_text=True)
    clock.set(parse_instant("2026-03-07T13:40:00Z"))  # the same page, tapped again
    second = client.post(f"/d/{token}", data={"csrf_token": csrf(client, "/login"), "action": "taken"})
    assert "Already recorded at 8:04 AM" in second.get_data(as_text=True)
    dose = doses(db, local_time="08:00")[0]
    assert (dose["status"], dose["taken_at"], dose["source"]) == ("taken", "2026-03-07T13:04:00Z", "link")
    assert db.execute("SELECT count(*) FROM dose_events WHERE kind = 'taken'").fetchone()[0] == 1


def test_a_late_tap_on_the_link_is_not_recorded_and_offers_an_earlier_time(client, db, patient, tick, clock):
    token = reminded_link(db, patient, tick)
    clock.set(parse_instant("2026-03-07T15:45:00Z"))  # 10:45, the window closed at 10:30
    late = client.post(f"/d/{token}", data={"csrf_token": csrf(client, f"/d/{token}"), "action": "taken"})
    html = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "too close to your next dose" in html and "I already took it at" in html
    assert doses(db, local_time="08:00")[0]["status"] == "pending"
    earlier = client.post(
        f"/d/{token}", data={"csrf_token": csrf(client, f"/d/{token}"), "action": "taken", "taken_at": "08:30"}
    )
    assert earlier.status_code == 200
    assert doses(db, local_time="08:00")[0]["taken_at"] == "2026-03-07T13:30:00Z"


def test_unknown_tampered_and_expired_links_get_a_clear_page(client, db, patient, tick, clock):
    token = reminded_link(db, patient, tick)
    assert client.get("/d/nonsense").status_code == 410
    tampered = client.get(f"/d/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}")
    assert tampered.status_code == 410 and "no longer valid" in tampered.get_data(as_text=True)
    assert "Open Today" in tampered.get_data(as_text=True)
    assert client.post("/d/nonsense", data={"csrf_token": csrf(client, "/login"), "action": "taken"}).status_code == 410
    clock.set(parse_instant("2026-03-08T15:29:59Z"))  # window closed 15:30Z on the 7th; 24 h more
    assert client.get(f"/d/{token}").status_code == 200
    clock.set(parse_instant("2026-03-08T15:30:00Z"))
    expired = client.get(f"/d/{token}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)


def test_link_tokens_are_random_and_stored_only_hashed(db, patient, tick):
    token = reminded_link(db, patient, tick)
    assert len(token) >= 22  # 16 random bytes, base64url
    stored = db.execute("SELECT token_hash FROM dose_links").fetchone()[0]
    assert stored == hash_token(token) and token not in stored


def test_a_patient_cannot_open_another_patients_dose(client, db, patient, login):
    other = make_patient(db, email="other@example.com")
    make_medication(db, other)
    login()
    dose_id = doses(db, patient_id=other)[0]["id"]
    assert client.get(f"/doses/{dose_id}").status_code == 404
    assert (
        client.post(f"/doses/{dose_id}", data={"csrf_token": csrf(client, "/"), "action": "taken"}).status_code == 404
    )
    assert doses(db, id=dose_id)[0]["status"] == "pending"


def test_today_confirms_with_one_tap_and_shows_the_new_state(client, db, patient, login, clock):
    make_medication(db, patient)
    login()
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    dose_id = doses(db, local_time="08:00")[0]["id"]
    response = client.post(f"/doses/{dose_id}", data={"csrf_token": csrf(client, "/"), "action": "taken"})
    assert response.status_code == 200
    today = client.get("/").get_data(as_text=True)
    assert f'id="dose-{dose_id}" data-status="taken"' in today and "taken at 8:02 AM" in today
    assert doses(db, id=dose_id)[0]["source"] == "web"


def test_ending_a_medication_keeps_its_history(client, db, patient, login, tick):
    medication = make_medication(db, patient, name="Paracetamol", withdrawal_risk=False)
    tick("2026-03-07T13:00:00Z")
    login()
    response = client.post(f"/medications/{medication}/end", data={"csrf_token": csrf(client, "/medications")})
    assert response.status_code == 302
    assert doses(db, local_time="08:00")  # the reminded dose stays
    assert "Ended" in client.get("/medications").get_data(as_text=True)
    assert "No doses today" not in client.get("/history").get_data(as_text=True)


def test_the_outbox_lists_messages_only_in_dev_mode(app, client, db, patient, tick):
    reminded_link(db, patient, tick)
    page = client.get("/dev/outbox").get_data(as_text=True)
    assert "Time for your 8:00 AM dose: 10 mg (1 tablet)." in page and 'href="http://127.0.0.1:8000/d/' in page
    app.config["REMINDER"]["server.dev_mode"] = False
    assert client.get("/dev/outbox").status_code == 404


def test_a_message_names_no_medication_by_default(db, patient, tick):
    reminded_link(db, patient, tick)
    assert "Baclofen" not in messages(db)[0]["body"]


def test_a_dose_not_yet_due_shows_when_it_is_due_and_no_buttons(client, db, patient, login):
    make_medication(db, patient)
    login()
    tomorrow = doses(db, local_date="2026-03-08", local_time="08:00")[0]["id"]
    html = client.get(f"/doses/{tomorrow}").get_data(as_text=True)
    assert "This dose is due at 8:00 AM on Sun 08 Mar" in html
    assert 'value="taken"' not in html and "I already took it at" not in html


def test_an_ended_medication_cannot_be_edited_from_the_web(client, db, patient, login):
    from reminder import medications as meds

    medication = make_medication(db, patient, name="Paracetamol", withdrawal_risk=False)
    meds.end(
        db,
        medication,
        local_today("America/New_York", parse_instant("2026-03-07T12:00:00Z")),
        parse_instant("2026-03-07T12:00:00Z"),
    )
    login()
    assert client.get(f"/medications/{medication}/edit").status_code == 409
    response = client.post(
        f"/medications/{medication}/edit",
        data={"csrf_token": csrf(client, "/"), "name": "X", "amount": "1", "times": "08:00"},
    )
    assert response.status_code == 409
    assert db.execute("SELECT name FROM medications").fetchone()[0] == "Paracetamol"


def test_sessions_survive_a_restart_because_the_generated_key_is_kept(db_path, patient):
    from reminder import create_app

    def fresh_app():  # no secret_key configured, as with `make run`
        return create_app(None, {"database.path": db_path, "clock.mode": "manual"})

    before = fresh_app().test_client()
    response = before.post(
        "/login", data={"csrf_token": csrf(before, "/login"), "email": "pat@example.com", "password": "correct-horse"}
    )
    assert response.status_code == 302
    after = fresh_app().test_client()  # the server restarted
    after.set_cookie("session", before.get_cookie("session").value)
    assert after.get("/").status_code == 200


def test_a_side_effect_can_be_tapped_on_the_phone_link_page(client, db, patient, tick):
    token = reminded_link(db, patient, tick)
    page = client.get(f"/d/{token}").get_data(as_text=True)
    assert f'action="/d/{token}/side-effects"' in page
    logged = client.post(
        f"/d/{token}/side-effects",
        data={"csrf_token": csrf(client, f"/d/{token}"), "kind": "dizziness", "severity": "2", "note": ""},
    )
    assert logged.status_code == 302
    row = db.execute("SELECT patient_id, kind, severity, dose_id FROM side_effects").fetchone()
    assert row == (patient, "dizziness", 2, doses(db, local_time="08:00")[0]["id"])
    bad = client.post(
        f"/d/{token}/side-effects", data={"csrf_token": csrf(client, f"/d/{token}"), "kind": "itch", "severity": "2"}
    )
    assert bad.status_code == 400
    assert (
        client.post(
            "/d/nonsense/side-effects",
            data={"csrf_token": csrf(client, "/login"), "kind": "dizziness", "severity": "2"},
        ).status_code
        == 410
    )
    assert db.execute("SELECT count(*) FROM side_effects").fetchone()[0] == 1


def test_a_second_baclofen_on_the_form_asks_to_confirm_and_is_added_only_when_confirmed(client, db, patient, login):
    login()
    form = {"name": "Baclofen", "strength": "10 mg", "amount": "10", "unit": "mg", "times": "08:00 18:00"}
    assert (
        client.post("/medications/new", data={"csrf_token": csrf(client, "/medications/new"), **form}).status_code
        == 302
    )
    lioresal = {**form, "name": "Lioresal", "amount": "5", "times": "13:00"}
    asked = client.post("/medications/new", data={"csrf_token": csrf(client, "/medications/new"), **lioresal})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409 and "also baclofen" in page and 'name="confirm_duplicate"' in page
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 1
    confirmed = client.post(
        "/medications/new",
        data={"csrf_token": csrf(client, "/medications/new"), **lioresal, "confirm_duplicate": "on"},
    )
    assert confirmed.status_code == 302
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 2

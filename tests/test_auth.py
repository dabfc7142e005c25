"""Sessions, passwords, API tokens, guessing limits, phone verification and where ``next`` leads
(issue 11, findings 3, 4, 7 and 11)."""

from __future__ import annotations

import json
import re
import statistics
import time
from datetime import timedelta

import pytest

from reminder import accounts, clinics, sms_replies
from reminder.throttle import LIMIT

from builders import PASSWORD, START, bearer, csrf, log_in, make_clinic, make_medication, make_patient, messages

NEW_PASSWORD = "battery-staple-9"


def cookie(client, name: str) -> str:
    return client.get_cookie(name).value


def fresh_client(app, **cookies):
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def post_form(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf(client, form_page or path)})


# ---------------------------------------------------------------- logging out ends something


def test_after_logout_the_old_session_cookie_gets_the_login_page(app, client, patient):
    log_in(client)
    stolen = cookie(client, "session")
    assert fresh_client(app, session=stolen).get("/").status_code == 200
    post_form(client, "/logout", {}, "/settings")
    assert fresh_client(app, session=stolen).get("/").status_code == 302
    assert "/login" in fresh_client(app, session=stolen).get("/").location


def test_after_logout_the_remember_cookie_alone_gets_the_login_page(app, client, patient):
    log_in(client)
    remembered = cookie(client, "remember_token")
    assert fresh_client(app, remember_token=remembered).get("/").status_code == 200
    post_form(client, "/logout", {}, "/settings")
    assert fresh_client(app, remember_token=remembered).get("/").status_code == 302


def test_logging_out_on_one_device_logs_out_every_other(app, client, patient):
    log_in(client)
    phone = app.test_client()
    log_in(phone)
    post_form(phone, "/settings", {}, "/settings")  # nothing; phone is logged in
    post_form(client, "/logout", {}, "/settings")
    assert phone.get("/").status_code == 302


# ---------------------------------------------------------------- changing and resetting a password


def test_a_password_changed_through_the_api_ends_every_web_session_and_the_old_password(app, client, db, patient):
    log_in(client)
    headers = bearer(db, patient)
    wrong = client.post(
        "/api/v1/me/password", json={"current_password": "nope-nope", "new_password": NEW_PASSWORD}, headers=headers
    )
    assert wrong.status_code == 403 and client.get("/").status_code == 200
    changed = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=headers
    )
    assert changed.status_code == 204
    assert client.get("/").status_code == 302
    assert accounts.authenticate(db, "pat@example.com", PASSWORD) is None
    log_in(app.test_client(), password=NEW_PASSWORD)


def test_a_too_short_new_password_is_refused_and_the_old_one_still_works(client, db, patient):
    response = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=bearer(db, patient)
    )
    assert response.status_code == 400 and response.json["error"]["field"] == "password"
    assert accounts.authenticate(db, "pat@example.com", PASSWORD)


def test_changing_the_password_in_settings_keeps_this_session_and_ends_the_others(app, client, patient):
    log_in(client)
    other = app.test_client()
    log_in(other)
    response = post_form(
        client, "/settings", {"action": "password", "current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302


def reset_link(db) -> str:
    (message,) = messages(db, "password_reset")
    return re.search(r"/password/reset/[\w-]+", message["body"]).group(0)


def test_the_login_page_offers_a_reset_and_the_link_works_once(app, client, db, patient):
    assert "/password/forgot" in client.get("/login").get_data(as_text=True)
    log_in(client)
    post_form(app.test_client(), "/password/forgot", {"email": "PAT@example.com"})
    link = reset_link(db)
    assert "minutes" in messages(db, "password_reset")[0]["body"]
    stranger = app.test_client()
    assert post_form(stranger, link, {"password": NEW_PASSWORD}).status_code == 302
    assert client.get("/").status_code == 302  # the reset ended the session that was open
    log_in(app.test_client(), password=NEW_PASSWORD)
    assert stranger.get(link).status_code == 404
    assert db.execute("SELECT count(*) FROM auth_codes WHERE code_hash LIKE ?", [f"%{link[-10:]}%"]).fetchone()[0] == 0


def test_a_reset_link_expires_after_an_hour(app, client, db, clock, patient):
    post_form(client, "/password/forgot", {"email": "pat@example.com"})
    clock.set(START + timedelta(minutes=61))
    assert client.get(reset_link(db)).status_code == 404


def without_csrf(page: str) -> str:
    """The page less its CSRF tokens, which carry the second they were made (two answers compared
    a second apart must not differ by them)."""
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', page)


def test_asking_for_a_reset_answers_the_same_whether_or_not_the_email_has_an_account(client, db, patient):
    def asked(email):
        text = post_form(client, "/password/forgot", {"email": email}).get_data(as_text=True)
        return without_csrf(text.replace(email, "EMAIL"))

    assert asked("pat@example.com") == asked("nobody@example.com")
    assert len(messages(db, "password_reset")) == 1


# ---------------------------------------------------------------- API tokens


def test_api_tokens_are_listed_without_the_token_and_a_revoked_one_gets_401(client, db, patient, clock):
    headers = bearer(db, patient)
    made = client.post("/api/v1/me/tokens", json={"label": "home script"}, headers=headers)
    assert made.status_code == 201
    other = {"Authorization": f"Bearer {made.json['token']}"}
    assert client.get("/api/v1/me", headers=other).status_code == 200
    listed = client.get("/api/v1/me/tokens", headers=headers).json["tokens"]
    assert [t["label"] for t in listed] == ["home script", ""]
    assert listed[0]["last_used_at"] == "2026-03-07T12:00:00Z" and listed[0]["expires_at"] is None
    assert made.json["token"] not in json.dumps(listed)
    assert client.delete(f"/api/v1/me/tokens/{made.json['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=other).status_code == 401


def test_nobody_revokes_someone_elses_token(client, db, patient):
    mallory = make_patient(db, email="mallory@example.com")
    pats = client.get("/api/v1/me/tokens", headers=bearer(db, patient)).json["tokens"][0]["id"]
    assert client.delete(f"/api/v1/me/tokens/{pats}", headers=bearer(db, mallory)).status_code == 404


def test_a_token_with_an_expiry_stops_working_when_it_expires(client, db, patient, clock):
    made = client.post("/api/v1/me/tokens", json={"expires_in_days": 7}, headers=bearer(db, patient)).json
    assert made["expires_at"] == "2026-03-14T12:00:00Z"
    headers = {"Authorization": f"Bearer {made['token']}"}
    clock.set(START + timedelta(days=7, seconds=-1))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    clock.set(START + timedelta(days=7))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_settings_list_tokens_and_revoke_one(client, db, patient):
    log_in(client)
    post_form(client, "/settings", {"action": "token", "label": "my watch", "expires_in_days": "30"})
    page = client.get("/settings").get_data(as_text=True)
    assert "my watch" in page and "never" in page
    token_id = accounts.tokens_of(db, patient)[0]["id"]
    post_form(client, "/settings", {"action": "revoke_token", "token_id": str(token_id)})
    assert accounts.tokens_of(db, patient) == []


# ---------------------------------------------------------------- guessing


def failed_login(client, email="pat@example.com", password="wrong-password"):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf(client, "/login")})


def test_after_ten_wrong_passwords_even_the_right_one_gets_429_for_fifteen_minutes(app, client, clock, patient):
    for _ in range(LIMIT):
        assert failed_login(client).status_code == 401
    refused = failed_login(client, password=PASSWORD)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many tries" in refused.get_data(as_text=True)
    clock.set(START + timedelta(minutes=15, seconds=1))
    log_in(client)


def test_the_limit_and_its_window_are_settings(app, client, clock, patient):
    app.config["REMINDER"].update({"limits.failed_attempts": 3, "limits.window_minutes": 2})
    for _ in range(3):
        assert failed_login(client).status_code == 401
    refused = failed_login(client, password=PASSWORD)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 2 * 60
    clock.set(START + timedelta(minutes=2, seconds=1))
    log_in(client)


def test_guessing_across_many_accounts_from_one_address_is_limited_too(client, db, patient):
    for n in range(LIMIT):
        assert failed_login(client, email=f"guess{n}@example.com").status_code == 401
    assert failed_login(client, email="pat@example.com", password=PASSWORD).status_code == 429


def test_the_invitation_login_is_limited_like_the_login(client, db, patient):
    from reminder import caregivers
    from reminder.db import immediate

    make_patient(db, email="carol@example.com", role="caregiver")
    with immediate(db):
        _, token = caregivers.invite(db, patient, email="carol@example.com", phone=None, now=START)
    path = f"/invitations/{token}/login"
    for _ in range(LIMIT):
        post_form(client, path, {"email": "carol@example.com", "password": "wrong-password"})
    response = post_form(client, path, {"email": "carol@example.com", "password": PASSWORD})
    assert response.status_code == 429


def test_the_api_password_change_is_limited_and_says_when_to_retry(client, db, patient):
    headers = bearer(db, patient)
    body = {"current_password": "wrong-password", "new_password": NEW_PASSWORD}
    for _ in range(LIMIT):
        assert client.post("/api/v1/me/password", json=body, headers=headers).status_code == 403
    refused = client.post("/api/v1/me/password", json={**body, "current_password": PASSWORD}, headers=headers)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "throttled"
    assert int(refused.headers["Retry-After"]) > 0


def test_clinic_join_codes_are_twelve_characters_and_guesses_are_limited(client, db, patient):
    _, code = make_clinic(db, "Riverside")
    assert len(code) >= 12
    headers = bearer(db, patient)
    for n in range(LIMIT):
        guess = client.post("/api/v1/me/clinics", json={"code": f"WRONG{n:07d}"}, headers=headers)
        assert guess.status_code == 404
    refused = client.post("/api/v1/me/clinics", json={"code": code}, headers=headers)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert clinics.clinics_of(db, patient) == []


@pytest.mark.production_password_hashing
def test_logging_in_takes_as_long_for_an_unknown_email_as_for_a_known_one(db, patient):
    def median_seconds(email):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            accounts.authenticate(db, email, "wrong-password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    accounts.authenticate(db, "nobody@example.com", "warm-up")
    known, unknown = median_seconds("pat@example.com"), median_seconds("nobody@example.com")
    assert unknown > known / 3, (known, unknown)


# ---------------------------------------------------------------- phone numbers


def test_a_new_phone_number_gets_no_reminder_until_its_code_comes_back(db, live_app, live_tick, fake_twilio, clock):
    patient = make_patient(db, phone=None)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(["email"]), patient])
    make_medication(db, patient)
    web, headers = live_app.test_client(), bearer(db, patient)
    clock.set(START + timedelta(minutes=30))
    changed = web.patch("/api/v1/me", json={"phone": "+12025550123", "channels": ["sms"]}, headers=headers)
    assert changed.status_code == 200 and changed.json["phone_verified"] is False
    live_tick("2026-03-07T13:00:00Z")
    reminders = [m for m in messages(db) if m["kind"] == "reminder"]
    assert [m["channel"] for m in reminders] == ["email"]
    assert not [s for s in fake_twilio.sent if "dose" in s.params["Body"].lower()]
    # The phone got the code; the stored body no longer holds it once handed to the provider.
    assert "[sent]" in messages(db, "phone_code")[0]["body"]
    (text,) = [s.params["Body"] for s in fake_twilio.sent if "code is" in s.params["Body"]]
    code = re.search(r"\d{6}", text).group(0)
    wrong = "000000" if code != "000000" else "111111"
    assert web.post("/api/v1/me/phone/verify", json={"code": wrong}, headers=headers).status_code == 400
    verified = web.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers)
    assert verified.status_code == 200 and verified.json["phone_verified"] is True
    live_tick("2026-03-07T18:00:00Z")
    assert [m["channel"] for m in messages(db) if m["kind"] == "reminder"][-1] == "sms"


def test_a_number_set_by_an_admin_or_already_stored_counts_as_verified(client, db, patient):
    assert client.get("/api/v1/me", headers=bearer(db, patient)).json["phone_verified"] is True


def test_a_reply_from_a_number_someone_else_typed_in_goes_to_its_verified_owner(client, db, patient, clock):
    mallory = make_patient(db, email="mallory@example.com", phone=None)
    client.patch("/api/v1/me", json={"phone": "+15005550006"}, headers=bearer(db, mallory))
    reply = sms_replies.answer(db, "+15005550006", "1", clock.now(), timedelta(minutes=10))
    assert "shared" not in reply
    sms_replies.answer(db, "+15005550006", "STOP", clock.now(), timedelta(minutes=10))
    assert accounts.find_user(db, id=patient)["sms_opted_out_at"]
    assert accounts.find_user(db, id=mallory)["sms_opted_out_at"] is None


def test_the_phone_code_is_verified_in_settings_and_guesses_are_limited(client, db, patient):
    log_in(client)
    post_form(
        client, "/settings", {"email": "pat@example.com", "phone": "+12025550123", "tz": "UTC", "channels": "email"}
    )
    assert "Verify your phone" in client.get("/settings").get_data(as_text=True)
    for _ in range(LIMIT):
        assert post_form(client, "/settings", {"action": "verify_phone", "code": "999999x"}).status_code == 400
    code = re.search(r"\d{6}", messages(db, "phone_code")[0]["body"]).group(0)
    assert post_form(client, "/settings", {"action": "verify_phone", "code": code}).status_code == 429


# ---------------------------------------------------------------- where next leads


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/x\r\nLocation: //e",
        "https://evil.example",
    ],
)
def test_next_never_leads_off_the_site(client, patient, target):
    response = client.post(
        f"/login?next={target}",
        data={"email": "pat@example.com", "password": PASSWORD, "csrf_token": csrf(client, "/login")},
    )
    assert response.status_code == 302 and response.location == "/"


def test_next_leads_back_to_the_page_that_asked_for_a_login(client, patient):
    assert client.get("/history").location.startswith("/login?next=")
    response = client.post(
        "/login?next=/history",
        data={"email": "pat@example.com", "password": PASSWORD, "csrf_token": csrf(client, "/login")},
    )
    assert response.location == "/history"


def test_a_side_effects_next_with_a_tab_goes_home(client, patient):
    log_in(client)
    response = post_form(
        client, "/side-effects", {"kind": "headache", "severity": "1", "next": "/\t/evil.example"}, "/"
    )
    assert response.status_code == 302 and not response.location.startswith("//")


def test_reset_requests_from_one_address_are_limited_and_the_eleventh_sends_nothing(client, db, patient):
    for n in range(LIMIT):
        assert post_form(client, "/password/forgot", {"email": f"who{n}@example.com"}).status_code == 200
    assert post_form(client, "/password/forgot", {"email": "pat@example.com"}, "/login").status_code == 429
    assert messages(db, "password_reset") == []


def test_lone_surrogates_in_passwords_emails_and_codes_are_refused_not_a_500(client, db, patient):
    headers = bearer(db, patient)
    for body in (
        {"current_password": "\ud800", "new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": "long enough \ud800"},
    ):
        assert client.post("/api/v1/me/password", json=body, headers=headers).status_code in (400, 403)
    assert client.post("/api/v1/me/phone/verify", json={"code": "\udc00"}, headers=headers).status_code == 400
    assert client.post("/api/v1/me/tokens", json={"label": "\ud800"}, headers=headers).status_code == 400
    assert accounts.log_in(db, "pat\ud800@example.com", PASSWORD, "127.0.0.1", START) is None
    assert accounts.log_in(db, "pat@example.com", "\ud800", "127.0.0.1", START) is None


# ---------------------------------------------------------------- a new email


def test_a_new_email_changes_only_when_the_link_sent_to_it_comes_back(app, client, db, patient):
    make_patient(db, email="taken@example.com", phone=None)
    headers = bearer(db, patient)
    taken = client.patch("/api/v1/me", json={"email": "taken@example.com"}, headers=headers)
    free = client.patch("/api/v1/me", json={"email": "new@example.com"}, headers=headers)
    assert taken.status_code == free.status_code == 200
    assert taken.json["email"] == free.json["email"] == "pat@example.com"
    assert taken.json["pending_email"] == "taken@example.com" and free.json["pending_email"] == "new@example.com"
    (sent,) = messages(db, "confirm_email")  # nothing goes to an address another account has
    assert sent["recipient"] == "new@example.com"
    link = re.search(r"/email/confirm/[\w-]+", sent["body"]).group(0)
    visitor = app.test_client()
    assert visitor.get(link).status_code == 200 and accounts.find_user(db, id=patient)["email"] == "pat@example.com"
    assert post_form(visitor, link, {}, "/login").status_code == 302
    assert accounts.find_user(db, id=patient)["email"] == "new@example.com"
    assert client.get("/api/v1/me", headers=headers).json["pending_email"] is None
    assert post_form(app.test_client(), link, {}, "/login").status_code == 404  # works once
    log_in(app.test_client(), "new@example.com")


def test_changing_the_email_in_settings_says_where_the_link_went(client, db, patient):
    log_in(client)
    form = {"action": "profile", "name": "Pat", "email": "pat2@example.com", "tz": "America/New_York"}
    response = client.post(
        "/settings",
        data={**form, "phone": "+15005550006", "channels": "email", "csrf_token": csrf(client, "/settings")},
    )
    assert response.status_code == 302
    assert "open the link we sent to pat2@example.com" in client.get("/settings").get_data(as_text=True)
    assert accounts.find_user(db, id=patient)["email"] == "pat@example.com"


# ---------------------------------------------------------------- a reset code by SMS


def reset_code(db) -> str:
    (message,) = messages(db, "reset_code")
    return re.search(r"code is (\d{6})", message["body"]).group(1)


def test_a_reset_code_by_sms_goes_to_the_verified_phone_and_works_once(app, client, db, patient):
    log_in(client)
    asked = post_form(app.test_client(), "/password/forgot", {"email": "pat@example.com", "by": "sms"})
    assert asked.status_code == 200 and "texted it a six-digit code" in asked.get_data(as_text=True)
    assert messages(db, "reset_code")[0]["recipient"] == "+15005550006"
    code, stranger = reset_code(db), app.test_client()
    form = {"email": "pat@example.com", "code": code, "password": NEW_PASSWORD}
    assert post_form(stranger, "/password/code", form, "/password/forgot").status_code == 302
    assert client.get("/").status_code == 302  # every session ended
    log_in(app.test_client(), password=NEW_PASSWORD)
    again = post_form(stranger, "/password/code", {**form, "password": "another-one-9"}, "/password/forgot")
    assert again.status_code == 400 and again.json is None
    log_in(app.test_client(), password=NEW_PASSWORD)


def test_asking_for_a_code_answers_the_same_with_or_without_an_account_or_a_verified_phone(client, db, patient):
    make_patient(db, email="unverified@example.com", phone="+12025550150")
    db.execute("UPDATE users SET phone_verified = 0 WHERE email = 'unverified@example.com'")

    def asked(email):
        text = post_form(client, "/password/forgot", {"email": email, "by": "sms"}).get_data(as_text=True)
        return without_csrf(text.replace(email, "EMAIL"))

    assert asked("pat@example.com") == asked("nobody@example.com") == asked("unverified@example.com")
    assert [m["recipient"] for m in messages(db, "reset_code")] == ["+15005550006"]


def test_wrong_reset_codes_are_limited_and_an_expired_code_fails(app, client, db, clock, patient):
    post_form(client, "/password/forgot", {"email": "pat@example.com", "by": "sms"})
    code = reset_code(db)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(LIMIT):
        form = {"email": "pat@example.com", "code": wrong, "password": NEW_PASSWORD}
        assert post_form(client, "/password/code", form, "/password/forgot").status_code == 400
    right = {"email": "pat@example.com", "code": code, "password": NEW_PASSWORD}
    refused = post_form(client, "/password/code", right, "/password/forgot")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    clock.set(START + timedelta(minutes=16))
    assert post_form(client, "/password/code", right, "/password/forgot").status_code == 400  # expired by now
    log_in(app.test_client())

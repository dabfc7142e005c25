"""The caregiver, alert, supply, pause, taper and pump pages over HTTP (issue 4).

The patient, Pat, lives in New York and takes baclofen (withdrawal risk) at 08:00, 13:00 and
18:00; the clock starts at 2026-03-07T12:00Z, 07:00 EST. Pat and each caregiver use their own
test client, as two phones would.
"""

from __future__ import annotations

import json
import re

import pytest

from reminder import caregivers
from reminder.times import parse_instant

from builders import (
    PASSWORD,
    START,
    bearer,
    csrf,
    doses,
    log_in,
    make_medication,
    make_patient,
    messages,
    page_text,
    step_form,
    user_id,
)

THIRTEEN_HUNDRED = "2026-03-07T18:00:00Z"  # 13:00 in New York
BOTH_WINDOWS_CLOSED = "2026-03-07T20:31:00Z"  # the 08:00 and 13:00 doses are closed as missed


@pytest.fixture
def pat(db):
    return make_patient(db, name="Pat Example")


@pytest.fixture
def browser_of(app):
    """A new logged-in test client for ``email``: one person's phone."""

    def open_as(email: str):
        client = app.test_client()
        log_in(client, email)
        return client

    return open_as


def invitation_token(db) -> str:
    return re.search(r"/invitations/([A-Za-z0-9_-]+)", messages(db, "invitation")[-1]["body"]).group(1)


def invite(client, **fields):
    return client.post("/caregivers", data={"csrf_token": csrf(client, "/caregivers"), **fields})


def accept_as_new_caregiver(app, token: str, email="carol@example.com", name="Carol Care"):
    """A new phone opens the invitation and creates a caregiver account there; returns its client."""
    client = app.test_client()
    path = f"/invitations/{token}"
    response = client.post(
        f"{path}/register",
        data={
            "csrf_token": csrf(client, path),
            "name": name,
            "email": email,
            "password": "carol-cares",
            "tz": "America/Chicago",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def carol(app, db, pat, browser_of):
    """Carol, linked as Pat's caregiver through an invitation she accepted: (her id, her client)."""
    invite(browser_of("pat@example.com"), email="carol@example.com")
    client = accept_as_new_caregiver(app, invitation_token(db))
    return user_id(db, "carol@example.com"), client


def post(client, path: str, form_page: str, **fields):
    return client.post(path, data={"csrf_token": csrf(client, form_page), **fields})


def dose_at(db, patient: int, local_time: str, local_date="2026-03-07") -> dict:
    return doses(db, patient_id=patient, local_date=local_date, local_time=local_time)[0]


def miss_two_baclofen_doses(db, pat, tick) -> int:
    """Tick through the day until the 08:00 and 13:00 doses close as missed: a level-2 alert."""
    medication = make_medication(db, pat)
    for at in ("2026-03-07T13:00:00Z", THIRTEEN_HUNDRED, BOTH_WINDOWS_CLOSED):
        tick(at)
    return medication


def ack_token(db) -> str:
    return re.search(r"/a/([A-Za-z0-9_-]+)", messages(db, "alert")[-1]["body"]).group(1)


def alert_row(db) -> dict:
    return list(db.query("SELECT * FROM alerts ORDER BY id"))[-1]


# ---------------------------------------------------------------- inviting and accepting


def test_pages_need_a_login_except_the_invitation_and_acknowledge_links(client):
    for path in ("/caregivers", "/patients", "/patients/1", "/alerts", "/pumps"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.location, path
    assert client.get("/invitations/nonsense").status_code == 404
    assert client.get("/a/nonsense").status_code == 410


def test_a_patient_invites_a_caregiver_by_email_and_the_invitation_goes_out_with_its_link(db, pat, browser_of):
    phone = browser_of("pat@example.com")
    response = invite(phone, email="Carol@Example.com")
    assert response.status_code == 302
    sent = messages(db, "invitation")
    assert len(sent) == 1 and sent[0]["recipient"] == "carol@example.com" and sent[0]["user_id"] is None
    assert "Pat Example asks you to be their caregiver" in sent[0]["body"]
    assert re.search(r"http://127\.0\.0\.1:8000/invitations/[A-Za-z0-9_-]{22,}$", sent[0]["body"])
    page = page_text(phone.get("/caregivers"))
    assert "Invitation sent to carol@example.com" in page
    assert 'data-status="invited"' in page and "waiting for them to accept" in page


def test_an_invitation_by_phone_goes_out_by_text(db, pat, browser_of):
    assert invite(browser_of("pat@example.com"), phone="+1 415 555 2671").status_code == 302
    assert messages(db, "invitation")[0]["recipient"] == "+14155552671"
    assert db.execute("SELECT invite_phone FROM care_links").fetchone()[0] == "+14155552671"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "Give the caregiver's email or mobile number"),
        ({"email": "not-an-email"}, "valid email"),
        ({"email": "pat@example.com"}, "cannot be your own caregiver"),
        ({"phone": "555-1234"}, "country code"),
    ],
)
def test_a_bad_invitation_is_refused_with_a_message_and_nothing_written(db, pat, browser_of, fields, message):
    response = invite(browser_of("pat@example.com"), **fields)
    assert response.status_code == 400 and message in page_text(response)
    assert db.execute("SELECT count(*) FROM care_links").fetchone()[0] == 0
    assert messages(db) == []


def test_a_new_caregiver_opens_the_invitation_creates_an_account_and_sees_the_patient(app, db, pat, browser_of, tick):
    make_medication(db, pat)
    invite(browser_of("pat@example.com"), email="carol@example.com")
    token = invitation_token(db)

    visitor = app.test_client()
    page = visitor.get(f"/invitations/{token}")
    assert page.status_code == 200
    assert "Pat Example</strong> invites you to be their caregiver" in page_text(page)
    assert 'value="carol@example.com"' in page_text(page)  # the invited address, prefilled
    assert f'href="/invitations/{token}/login"' in page_text(page)
    assert db.execute("SELECT status FROM care_links").fetchone()[0] == "invited"  # a GET accepts nothing

    response = visitor.post(
        f"/invitations/{token}/register",
        data={
            "csrf_token": csrf(visitor, f"/invitations/{token}"),
            "name": "Carol Care",
            "email": "carol@example.com",
            "password": "carol-cares",
            "tz": "America/Chicago",
        },
    )
    assert response.status_code == 302 and response.location == f"/patients/{pat}"
    carol = user_id(db, "carol@example.com")
    assert db.execute("SELECT role FROM users WHERE id = ?", [carol]).fetchone()[0] == "caregiver"
    link = db.execute("SELECT status, caregiver_id FROM care_links").fetchone()
    assert link == ("active", carol)

    view = visitor.get(f"/patients/{pat}")
    assert view.status_code == 200
    assert "You are now Pat Example's caregiver" in page_text(view)
    listing = page_text(visitor.get("/patients"))
    assert "Pat Example" in listing and f'href="/patients/{pat}"' in listing
    assert page_text(view).count('class="card dose"') == 3 and "8:00 AM" in page_text(view)
    assert "Times are Pat Example's local times (America/New_York)" in page_text(view)
    assert visitor.get("/").location == "/patients"  # a caregiver's start page
    assert "Pat Example" in page_text(browser_of("pat@example.com").get("/caregivers"))  # Pat sees Carol ...
    assert "Carol Care" in page_text(browser_of("pat@example.com").get("/caregivers"))


def test_a_bad_account_on_the_invitation_page_is_refused_and_the_invitation_stays_open(app, db, pat, browser_of):
    invite(browser_of("pat@example.com"), email="carol@example.com")
    token = invitation_token(db)
    visitor = app.test_client()
    response = visitor.post(
        f"/invitations/{token}/register",
        data={
            "csrf_token": csrf(visitor, f"/invitations/{token}"),
            "email": "carol@example.com",
            "password": "short",
            "tz": "America/Chicago",
        },
    )
    assert response.status_code == 400 and "at least 8 characters" in page_text(response)
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    assert db.execute("SELECT status FROM care_links").fetchone()[0] == "invited"


def test_someone_with_an_account_logs_in_from_the_invitation_and_accepts(app, db, pat, browser_of):
    sam = make_patient(db, email="sam@example.com", name="Sam", role="caregiver")
    invite(browser_of("pat@example.com"), email="sam@example.com")
    token = invitation_token(db)
    visitor = app.test_client()
    login_path = f"/invitations/{token}/login"
    wrong = visitor.post(
        login_path, data={"csrf_token": csrf(visitor, login_path), "email": "sam@example.com", "password": "wrong-one"}
    )
    assert wrong.status_code == 401
    response = visitor.post(
        login_path, data={"csrf_token": csrf(visitor, login_path), "email": "sam@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302 and response.location == f"/invitations/{token}"
    page = page_text(visitor.get(f"/invitations/{token}"))
    assert ">Accept</button>" in page and "Create your account" not in page
    accepted = visitor.post(f"/invitations/{token}/accept", data={"csrf_token": csrf(visitor, f"/invitations/{token}")})
    assert accepted.status_code == 302 and accepted.location == f"/patients/{pat}"
    assert caregivers.active_link(db, sam, pat) is not None


def test_unknown_expired_and_used_invitation_links_get_a_clear_page_and_create_nothing(app, db, pat, browser_of, clock):
    invite(browser_of("pat@example.com"), email="carol@example.com")
    token = invitation_token(db)
    visitor = app.test_client()
    unknown = visitor.get("/invitations/not-a-token")
    assert unknown.status_code == 404 and "doesn't match an open invitation" in page_text(unknown)

    clock.set(parse_instant("2026-03-21T12:00:00Z"))  # 14 days later
    expired = visitor.get(f"/invitations/{token}")
    assert expired.status_code == 410 and "expired: ask for a new one" in page_text(expired)
    late = visitor.post(
        f"/invitations/{token}/register",
        data={
            "csrf_token": csrf(visitor, "/login"),
            "email": "carol@example.com",
            "password": "carol-cares",
            "tz": "UTC",
        },
    )
    assert late.status_code == 410
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 1

    clock.set(START)
    accept_as_new_caregiver(app, token)
    used = app.test_client().get(f"/invitations/{token}")
    assert used.status_code == 409 and "already accepted" in page_text(used)


def test_a_patient_withdraws_an_invitation_and_its_link_stops_working(app, db, pat, browser_of):
    phone = browser_of("pat@example.com")
    invite(phone, email="carol@example.com")
    token = invitation_token(db)
    link_id = db.execute("SELECT id FROM care_links").fetchone()[0]
    response = post(phone, f"/caregivers/{link_id}/revoke", "/caregivers")
    assert response.status_code == 302
    assert "Invitation withdrawn" in page_text(phone.get("/caregivers"))
    assert app.test_client().get(f"/invitations/{token}").status_code == 404


# ---------------------------------------------------------------- who may see whom


def test_a_caregiver_who_is_not_linked_gets_404_on_the_patient_and_cannot_give_a_dose(
    app, db, pat, carol, browser_of, clock
):
    make_medication(db, pat)
    make_patient(db, email="mallory@example.com", name="Mallory", role="caregiver")
    mallory = browser_of("mallory@example.com")
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    dose = dose_at(db, pat, "08:00")
    assert "Pat Example" not in page_text(mallory.get("/patients"))
    assert mallory.get(f"/patients/{pat}").status_code == 404
    gave = post(mallory, f"/patients/{pat}/doses/{dose['id']}/given", "/patients")
    assert gave.status_code == 404
    assert post(mallory, f"/patients/{pat}/alert-settings", "/patients", scope="all").status_code == 404
    assert dose_at(db, pat, "08:00")["status"] == "pending"
    assert mallory.get("/caregivers").status_code == 404  # a caregiver has no caregivers to invite


def test_a_patient_cannot_open_another_patients_caregiver_view(db, pat, browser_of):
    make_patient(db, email="other@example.com")
    other = browser_of("other@example.com")
    assert other.get(f"/patients/{pat}").status_code == 404
    assert browser_of("pat@example.com").get(f"/patients/{pat}").status_code == 404  # their own view is Today


def test_revoking_a_caregiver_removes_access_at_once(db, pat, carol, browser_of, clock):
    make_medication(db, pat)
    carol_id, phone = carol
    assert phone.get(f"/patients/{pat}").status_code == 200
    link_id = db.execute("SELECT id FROM care_links WHERE caregiver_id = ?", [carol_id]).fetchone()[0]
    pat_phone = browser_of("pat@example.com")
    asked = post(pat_phone, f"/caregivers/{link_id}/revoke", "/caregivers")
    assert asked.status_code == 409 and "nobody else hears from us" in page_text(asked)  # on baclofen
    response = post(pat_phone, f"/caregivers/{link_id}/revoke", "/caregivers", confirm="yes")
    assert response.status_code == 302
    assert "Carol Care can no longer see your doses" in page_text(pat_phone.get("/caregivers"))

    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    dose = dose_at(db, pat, "08:00")
    assert phone.get(f"/patients/{pat}").status_code == 404
    assert post(phone, f"/patients/{pat}/doses/{dose['id']}/given", "/patients").status_code == 404
    assert "Pat Example" not in page_text(phone.get("/patients"))
    assert dose_at(db, pat, "08:00")["status"] == "pending"
    assert post(pat_phone, f"/caregivers/{link_id}/revoke", "/caregivers").status_code == 404  # already revoked


def test_a_caregivers_dose_url_must_name_a_dose_of_that_patient(db, pat, carol, clock):
    other = make_patient(db, email="other@example.com")
    make_medication(db, other)
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    foreign = dose_at(db, other, "08:00")
    assert post(carol[1], f"/patients/{pat}/doses/{foreign['id']}/given", "/patients").status_code == 404
    assert dose_at(db, other, "08:00")["status"] == "pending"


# ---------------------------------------------------------------- "I gave it"


def test_i_gave_it_records_the_caregiver_as_actor_and_a_second_tap_says_already_recorded(db, pat, carol, clock):
    make_medication(db, pat)
    carol_id, phone = carol
    clock.set(parse_instant("2026-03-07T13:02:00Z"))  # 08:02 in New York
    dose = dose_at(db, pat, "08:00")
    assert f'action="/patients/{pat}/doses/{dose["id"]}/given"' in page_text(phone.get(f"/patients/{pat}"))

    first = post(phone, f"/patients/{pat}/doses/{dose['id']}/given", f"/patients/{pat}")
    assert first.status_code == 200 and "Recorded: taken at 8:02 AM." in page_text(first)
    row = dose_at(db, pat, "08:00")
    assert (row["status"], row["source"], row["actor_id"], row["taken_at"]) == (
        "taken",
        "caregiver",
        carol_id,
        "2026-03-07T13:02:00Z",
    )

    clock.set(parse_instant("2026-03-07T13:10:00Z"))
    second = post(phone, f"/patients/{pat}/doses/{dose['id']}/given", f"/patients/{pat}")
    assert second.status_code == 200 and "Already recorded at 8:02 AM" in page_text(second)
    assert (
        db.execute("SELECT count(*) FROM dose_events WHERE dose_id = ? AND kind = 'taken'", [dose["id"]]).fetchone()[0]
        == 1
    )
    assert dose_at(db, pat, "08:00")["actor_id"] == carol_id


def test_i_gave_it_too_soon_after_the_last_dose_is_refused_unless_a_reason_is_given(db, pat, carol, clock, browser_of):
    make_medication(db, pat)
    carol_id, phone = carol
    clock.set(parse_instant("2026-03-07T15:20:00Z"))  # Pat takes the 08:00 dose late, at 10:20
    morning = dose_at(db, pat, "08:00")
    assert post(browser_of("pat@example.com"), f"/doses/{morning['id']}", "/", action="taken").status_code == 200
    clock.set(parse_instant("2026-03-07T17:05:00Z"))  # 12:05: the 13:00 dose is due, but 2.5 h must pass
    noon = dose_at(db, pat, "13:00")
    refused = post(phone, f"/patients/{pat}/doses/{noon['id']}/given", f"/patients/{pat}")
    assert refused.status_code == 409
    assert "taken at 10:20 AM, too close to this one. Wait until 12:50 PM" in page_text(refused)
    assert "Record it anyway, with a reason" in page_text(refused)
    assert dose_at(db, pat, "13:00")["status"] == "pending"

    given = post(
        phone,
        f"/patients/{pat}/doses/{noon['id']}/given",
        f"/patients/{pat}",
        reason="The prescriber said to give it early before the flight.",
    )
    assert given.status_code == 200 and "Recorded: taken at 12:05 PM." in page_text(given)
    event = db.execute(
        "SELECT actor_id, detail FROM dose_events WHERE dose_id = ? AND kind = 'taken'", [noon["id"]]
    ).fetchone()
    assert event[0] == carol_id and json.loads(event[1])["reason"].startswith("The prescriber said")


def test_i_gave_it_after_the_window_closed_is_not_recorded(db, pat, carol, clock):
    make_medication(db, pat)
    clock.set(parse_instant("2026-03-07T15:45:00Z"))  # 10:45: the 08:00 window closed at 10:30
    dose = dose_at(db, pat, "08:00")
    response = post(carol[1], f"/patients/{pat}/doses/{dose['id']}/given", f"/patients/{pat}")
    assert response.status_code == 409 and "too close to your next dose" in page_text(response)
    assert dose_at(db, pat, "08:00")["taken_at"] is None


def test_a_long_reason_is_refused_and_nothing_is_recorded(db, pat, carol, clock):
    make_medication(db, pat)
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    dose = dose_at(db, pat, "08:00")
    response = post(carol[1], f"/patients/{pat}/doses/{dose['id']}/given", f"/patients/{pat}", reason="x" * 501)
    assert response.status_code == 400 and "under 500 characters" in page_text(response)
    assert dose_at(db, pat, "08:00")["status"] == "pending"


# ---------------------------------------------------------------- alerts and the acknowledge link


def test_the_acknowledge_link_shows_the_alert_on_get_and_acknowledges_on_post(app, db, pat, carol, tick):
    carol_id, _ = carol
    miss_two_baclofen_doses(db, pat, tick)
    alert = alert_row(db)
    assert (alert["kind"], alert["level"], alert["status"]) == ("missed_run", 2, "open")
    token = ack_token(db)
    assert messages(db, "alert")[-1]["user_id"] == carol_id

    visitor = app.test_client()  # the link opens on a phone with no session
    page = visitor.get(f"/a/{token}")
    assert page.status_code == 200
    assert "Pat Example has missed 2 doses in a row of Baclofen." in page_text(page)
    assert "I have seen this" in page_text(page)
    assert alert_row(db) == alert  # a GET changes nothing

    response = visitor.post(f"/a/{token}", data={"csrf_token": csrf(visitor, f"/a/{token}")})
    assert response.status_code == 200
    assert "Thank you: acknowledged" in page_text(response) and "You acknowledged this at" in page_text(response)
    after = alert_row(db)
    assert (after["status"], after["acknowledged_by"], after["acknowledged_at"], after["next_repeat_at"]) == (
        "acknowledged",
        carol_id,
        "2026-03-07T20:31:00Z",
        None,
    )
    assert "I have seen this" not in page_text(visitor.get(f"/a/{token}"))


def test_unknown_expired_and_revoked_acknowledge_links_get_a_clear_page(app, db, pat, carol, tick, clock, browser_of):
    miss_two_baclofen_doses(db, pat, tick)
    token = ack_token(db)
    visitor = app.test_client()
    unknown = visitor.get("/a/not-a-token")
    assert unknown.status_code == 410 and "no longer valid" in page_text(unknown)
    assert visitor.post("/a/not-a-token", data={"csrf_token": csrf(visitor, "/login")}).status_code == 410

    clock.set(parse_instant("2026-03-14T20:31:00Z"))  # the link lasts 7 days
    expired = visitor.get(f"/a/{token}")
    assert expired.status_code == 410 and "expired" in page_text(expired)
    assert visitor.post(f"/a/{token}", data={"csrf_token": csrf(visitor, "/login")}).status_code == 410

    clock.set(parse_instant("2026-03-07T21:00:00Z"))
    link_id = db.execute("SELECT id FROM care_links").fetchone()[0]
    post(browser_of("pat@example.com"), f"/caregivers/{link_id}/revoke", "/caregivers", confirm="yes")
    assert visitor.get(f"/a/{token}").status_code == 404
    assert visitor.post(f"/a/{token}", data={"csrf_token": csrf(visitor, "/login")}).status_code == 404
    assert alert_row(db)["status"] == "open"


def test_the_alerts_page_shows_who_was_told_and_lets_a_told_caregiver_acknowledge(db, pat, carol, tick, browser_of):
    carol_id, phone = carol
    miss_two_baclofen_doses(db, pat, tick)
    alert = alert_row(db)

    page = page_text(phone.get("/alerts"))
    assert "Missed doses, Baclofen" in page and "Told: Carol Care at" in page
    assert f'action="/alerts/{alert["id"]}/ack"' in page
    assert f'id="alert-{alert["id"]}"' in page_text(phone.get(f"/patients/{pat}"))  # and on the patient view

    make_patient(db, email="mallory@example.com", role="caregiver")
    assert post(browser_of("mallory@example.com"), f"/alerts/{alert['id']}/ack", "/alerts").status_code == 404
    pat_phone = browser_of("pat@example.com")
    assert f'action="/alerts/{alert["id"]}/ack"' not in page_text(pat_phone.get("/alerts"))  # Pat was not told
    assert post(pat_phone, f"/alerts/{alert['id']}/ack", "/alerts").status_code == 404
    assert alert_row(db)["status"] == "open"

    response = post(phone, f"/alerts/{alert['id']}/ack", "/alerts")
    assert response.status_code == 302
    assert "Acknowledged: the alert stops repeating." in page_text(phone.get("/alerts"))
    assert (alert_row(db)["status"], alert_row(db)["acknowledged_by"]) == ("acknowledged", carol_id)
    assert "Acknowledged by Carol Care at" in page_text(pat_phone.get("/alerts"))
    again = post(phone, f"/alerts/{alert['id']}/ack", "/alerts")
    assert again.status_code == 302 and "already acknowledged" in page_text(phone.get("/alerts"))


def test_the_caregiver_view_shows_misses_open_alerts_and_supply(db, pat, carol, tick, browser_of):
    medication = miss_two_baclofen_doses(db, pat, tick)
    post(browser_of("pat@example.com"), f"/medications/{medication}/refills", "/medications", quantity="30")
    page = page_text(carol[1].get(f"/patients/{pat}"))
    misses = page[page.index("Missed in the last 7 days") : page.index("<h2>Supply")]
    assert misses.count('class="miss dose-row"') == 2
    assert "Sat 07 Mar, 8:00 AM · Baclofen" in misses and "Sat 07 Mar, 1:00 PM · Baclofen" in misses
    assert "Open alerts" in page and "Pat Example has missed 2 doses in a row" in page
    assert re.search(r"Baclofen</strong>: 30 in stock, about \d+ days left", page)


# ---------------------------------------------------------------- a caregiver's alert settings


def test_a_caregiver_chooses_which_medications_and_which_channel(db, pat, carol):
    baclofen = make_medication(db, pat)
    make_medication(db, pat, name="Vitamin D", withdrawal_risk=False, times=["09:00"])
    carol_id, phone = carol
    response = post(
        phone,
        f"/patients/{pat}/alert-settings",
        f"/patients/{pat}",
        scope="some",
        medication_ids=str(baclofen),
        channel="email",
        all_medications="on",
    )
    assert response.status_code == 302
    link = caregivers.active_link(db, carol_id, pat)
    assert (json.loads(link["medication_ids"]), link["channel"], link["all_medications"]) == ([baclofen], "email", 1)
    page = page_text(phone.get(f"/patients/{pat}"))
    assert "Alert settings saved." in page and f'value="{baclofen}" checked' in page

    post(phone, f"/patients/{pat}/alert-settings", f"/patients/{pat}", scope="all", channel="")
    link = caregivers.active_link(db, carol_id, pat)
    assert (link["medication_ids"], link["channel"], link["all_medications"]) == (None, None, 0)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"scope": "some"}, "Tick at least one medication"),
        ({"scope": "some", "medication_ids": "999"}, "this patient's medication ids"),
        ({"scope": "all", "channel": "pigeon"}, 'channel must be "sms", "email"'),
    ],
)
def test_bad_alert_settings_are_refused_and_nothing_changes(db, pat, carol, fields, message):
    make_medication(db, pat)
    carol_id, phone = carol
    before = caregivers.active_link(db, carol_id, pat)
    response = post(phone, f"/patients/{pat}/alert-settings", f"/patients/{pat}", **fields)
    assert response.status_code == 400 and message in page_text(response)
    assert caregivers.active_link(db, carol_id, pat) == before


# ---------------------------------------------------------------- no sudden stops


def test_ending_baclofen_shows_the_taper_page_and_a_valid_taper_applies(db, pat, browser_of):
    medication = make_medication(db, pat)
    phone = browser_of("pat@example.com")
    refused = post(phone, f"/medications/{medication}/end", "/medications")
    page = page_text(refused)
    assert refused.status_code == 409
    assert "Baclofen must not be stopped suddenly" in page and "at least 14 days" in page
    # The suggested plan: three decreasing steps from tomorrow over 14 days, in whole and half
    # 10 mg tablets (issue 9: never 7.5 or 2.5 mg), dropping the midday dose before splitting;
    # one row per step (issue 14: not raw lines), and a blank row for one more.
    assert shown_rows(page) == [
        ("2026-03-08", "2026-03-12", "10", "08:00 18:00"),
        ("2026-03-13", "2026-03-17", "5", "08:00 18:00"),
        ("2026-03-18", "2026-03-21", "5", "08:00"),
        ("", "", "", ""),
    ]
    assert db.execute("SELECT ended_at, ends_at FROM medications").fetchone() == (None, None)

    steps = step_form(
        ("2026-03-08", "2026-03-12", "10", "08:00 18:00"),
        ("", "", "", ""),  # a row left blank is skipped
        ("", "2026-03-17", "5", "08:00 18:00"),  # no first day: the day after the row above
        ("2026-03-18", "2026-03-21", "5", "08:00"),
    )
    response = post(phone, f"/medications/{medication}/taper", f"/medications/{medication}/taper", **steps)
    assert response.status_code == 302
    assert db.execute("SELECT ends_at FROM medications").fetchone()[0] == "2026-03-22T04:00:00Z"  # midnight EDT
    assert [(d["local_time"], d["amount"]) for d in doses(db, local_date="2026-03-08")] == [
        ("08:00", 10),
        ("18:00", 10),
    ]
    page = page_text(phone.get("/medications"))
    assert "Taper plan saved: 3 steps from Sun 08 Mar. Baclofen ends after Sat 21 Mar." in page
    assert "Tapering: ends after Sat 21 Mar" in page
    # The card shows the step in effect and the next one (issue 14 §2), and leads back to the plan.
    assert "Now: 10 mg (1 tablet) at 08:00, 13:00, 18:00" in page
    assert "From Sun 08 Mar: 10 mg (1 tablet) at 08:00, 18:00" in page
    assert f'href="/medications/{medication}/taper">Taper plan</a>' in page


def shown_rows(page: str) -> list[tuple[str, ...]]:
    """The step editor's rows as shown: (first day, last day, amount, times) each."""
    value = r'name="{}-(\d+)"[^>]*value="([^"]*)"'
    found = {key: dict(re.findall(value.format(key), page)) for key in ("start_date", "end_date", "amount", "times")}
    return [tuple(found[key][n] for key in found) for n in sorted(found["amount"], key=int)]


@pytest.mark.parametrize(
    "rows, message, step",
    [
        ([("2026-03-08", "2026-03-10", "5")], "must last at least 14 days; this one lasts 3", None),
        ([("2026-03-08", "2026-03-21", "10")], "lower than the one before it", 1),
        ([("2026-03-08", "2026-03-14", "5"), ("2026-03-16", "2026-03-22", "2.5")], "day after day", 2),
        ([("2026-03-01", "2026-03-21", "5")], "cannot start in the past", None),
        ([("2026-03-08", "", "5")], "needs an end_date on or after its start_date", 1),
        ([("2026-03-08", "2026-03-21", "five")], "amount must be a number", 1),
        ([("2026-03-08", "2026-03-07", "5")], "needs an end_date on or after its start_date", 1),
        ([("", "", "", "")], "Enter at least one step", None),
        (
            [("2026-03-08", "2026-03-14", "10", "08:00 18:00"), ("2026-03-15", "2026-03-21", "7.5", "08:00 18:00")],
            "whole or half",
            2,
        ),
    ],
)
def test_a_bad_taper_is_refused_with_a_message_beside_its_step_and_nothing_written(
    db, pat, browser_of, rows, message, step
):
    medication = make_medication(db, pat)
    phone = browser_of("pat@example.com")
    before = list(db.query("SELECT * FROM regimen_steps"))
    path = f"/medications/{medication}/taper"
    response = post(phone, path, path, **step_form(*rows))
    page = page_text(response)
    assert response.status_code in (400, 422) and message in page
    assert list(db.query("SELECT * FROM regimen_steps")) == before
    assert db.execute("SELECT ends_at FROM medications").fetchone()[0] is None
    typed = [row + ("",) * (4 - len(row)) for row in rows if any(row)]
    assert shown_rows(page)[: len(typed)] == typed  # what was typed is kept
    if step is not None:
        beside = re.search(rf'id="step-{step}-error">([^<]*)<', page)
        assert beside and message in beside.group(1)


def test_add_a_step_shows_one_more_row_and_keeps_what_was_typed(db, pat, browser_of):
    medication = make_medication(db, pat)
    phone = browser_of("pat@example.com")
    path = f"/medications/{medication}/taper"
    form = step_form(("2026-03-08", "2026-03-14", "10", "08:00 18:00"), ("", "", "", ""))
    response = post(phone, path, path, action="add", **form)
    assert response.status_code == 200
    assert shown_rows(page_text(response)) == [("2026-03-08", "2026-03-14", "10", "08:00 18:00")] + [("",) * 4] * 2
    assert db.execute("SELECT count(*) FROM regimen_steps").fetchone()[0] == 1


def test_a_medication_without_withdrawal_risk_still_ends_at_once(db, pat, browser_of):
    medication = make_medication(db, pat, name="Vitamin D", withdrawal_risk=False)
    assert post(browser_of("pat@example.com"), f"/medications/{medication}/end", "/medications").status_code == 302
    assert db.execute("SELECT ended_at FROM medications").fetchone()[0] is not None


def test_pausing_today_is_recorded_and_the_caregiver_is_told(db, pat, carol, browser_of):
    medication = make_medication(db, pat)
    carol_id, _ = carol
    phone = browser_of("pat@example.com")
    assert post(phone, f"/medications/{medication}/pause", "/medications").status_code == 302
    page = page_text(phone.get("/medications"))
    assert "No more reminders for Baclofen today. Your caregiver was told about the pause." in page
    assert "Reminders paused today" in page and "Pause reminders today" not in page
    assert db.execute("SELECT local_date, actor_id FROM pauses").fetchall() == [("2026-03-07", pat)]
    notice = messages(db, "notice")
    assert len(notice) == 1 and notice[0]["user_id"] == carol_id
    assert "Pat Example paused reminders for Baclofen on Sat 07 Mar" in notice[0]["body"]
    assert all(d["next_prompt_at"] is None for d in doses(db, local_date="2026-03-07"))

    post(phone, f"/medications/{medication}/pause", "/medications")
    assert "already paused today" in page_text(phone.get("/medications"))
    assert len(messages(db, "notice")) == 1


# ---------------------------------------------------------------- supply and pumps


def test_recording_a_refill_updates_the_stock_and_shows_the_days_left(db, pat, browser_of):
    medication = make_medication(db, pat)
    phone = browser_of("pat@example.com")
    assert "Stock not counted" in page_text(phone.get("/medications"))
    response = post(phone, f"/medications/{medication}/refills", "/medications", quantity="30", pharmacy="Main St")
    assert response.status_code == 302
    assert db.execute("SELECT stock FROM medications").fetchone()[0] == 30
    assert db.execute("SELECT quantity, pharmacy, actor_id FROM refills").fetchall() == [(30, "Main St", pat)]
    # 30 tablets, one a dose, three doses a day from 08:00 today: the 31st dose is on Tue 17 Mar.
    page = page_text(phone.get("/medications"))
    assert "Refill recorded for Baclofen: 30 in stock, about 10 days left." in page
    assert "<strong>Baclofen</strong>: 30 in stock, about 10 days left" in page_text(phone.get("/"))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"quantity": ""}, "quantity is required"),
        ({"quantity": "0"}, "quantity must be more than 0"),
        ({"quantity": "lots"}, "quantity must be a number"),
        ({"quantity": "30", "pharmacy": "x" * 101}, "pharmacy is too long"),
    ],
)
def test_a_bad_refill_is_refused_with_a_message_and_nothing_written(db, pat, browser_of, fields, message):
    medication = make_medication(db, pat)
    response = post(browser_of("pat@example.com"), f"/medications/{medication}/refills", "/medications", **fields)
    assert response.status_code == 400 and message in page_text(response)
    assert db.execute("SELECT stock FROM medications").fetchone()[0] is None
    assert db.execute("SELECT count(*) FROM refills").fetchone()[0] == 0


def test_a_patient_cannot_touch_another_patients_medication_or_pump(db, pat, browser_of):
    other = make_patient(db, email="other@example.com")
    medication = make_medication(db, other)
    phone = browser_of("pat@example.com")
    for action, fields in (
        ("refills", {"quantity": "30"}),
        ("pause", {}),
        ("taper", step_form(("2026-03-08", "2026-03-21", "5"))),
        ("end", {}),
    ):
        assert post(phone, f"/medications/{medication}/{action}", "/medications", **fields).status_code == 404, action
    assert phone.get(f"/medications/{medication}/taper").status_code == 404
    other_phone = browser_of("other@example.com")
    post(other_phone, "/pumps", "/pumps", alarm_date="2026-04-10")
    pump = db.execute("SELECT id FROM pumps").fetchone()[0]
    assert post(phone, f"/pumps/{pump}/refills", "/pumps", alarm_date="2026-06-10").status_code == 404
    assert db.execute("SELECT count(*) FROM refills").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM pauses").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM pump_refills").fetchone()[0] == 0


def test_a_pump_is_recorded_with_a_default_refill_by_date_and_a_refill_moves_it(db, pat, browser_of):
    medication = make_medication(db, pat)
    phone = browser_of("pat@example.com")
    response = post(phone, "/pumps", "/pumps", medication=str(medication), alarm_date="2026-04-10", refill_by="")
    assert response.status_code == 302
    pump = list(db.query("SELECT * FROM pumps"))[0]
    assert (pump["medication_id"], pump["alarm_date"], pump["refill_by"]) == (medication, "2026-04-10", "2026-04-05")
    page = page_text(phone.get("/pumps"))
    assert "Pump (Baclofen)" in page and "Refill by <strong>Sun 05 Apr</strong> (in 29 days)" in page

    refill = post(phone, f"/pumps/{pump['id']}/refills", "/pumps", alarm_date="2026-06-10")
    assert refill.status_code == 302
    assert "Next refill by Fri 05 Jun (alarm date Wed 10 Jun)" in page_text(phone.get("/pumps"))
    assert db.execute("SELECT alarm_date, refill_by FROM pumps").fetchone() == ("2026-06-10", "2026-06-05")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"alarm_date": ""}, "alarm_date is required"),
        ({"alarm_date": "10/04/2026"}, "alarm_date must be a date in YYYY-MM-DD"),
        (
            {"alarm_date": "2025-01-01"},
            "alarm_date is in the past",
        ),  # over a year: a recent date is urgent, not refused
        ({"alarm_date": "2026-04-10", "refill_by": "2026-04-12"}, "refill_by must be on or before the alarm date"),
        ({"alarm_date": "2026-04-10", "medication": "999"}, "one of the patient's medications"),
    ],
)
def test_a_bad_pump_is_refused_with_a_message_and_nothing_written(db, pat, browser_of, fields, message):
    response = post(browser_of("pat@example.com"), "/pumps", "/pumps", **fields)
    assert response.status_code == 400 and message in page_text(response)
    assert db.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0


def test_a_pump_refill_needs_a_new_alarm_date(db, pat, browser_of):
    phone = browser_of("pat@example.com")
    post(phone, "/pumps", "/pumps", alarm_date="2026-04-10")
    pump = db.execute("SELECT id FROM pumps").fetchone()[0]
    response = post(phone, f"/pumps/{pump}/refills", "/pumps", alarm_date="")
    assert response.status_code == 400 and "alarm_date is required" in page_text(response)
    assert db.execute("SELECT count(*) FROM pump_refills").fetchone()[0] == 0


def test_the_caregiver_view_shows_the_patients_pumps(db, pat, carol, browser_of):
    post(browser_of("pat@example.com"), "/pumps", "/pumps", alarm_date="2026-03-20")
    page = page_text(carol[1].get(f"/patients/{pat}"))
    assert "Refill by Sun 15 Mar (in 8 days)" in page and "Low-reservoir alarm Fri 20 Mar" in page


def test_the_caregiver_sees_when_messages_could_not_reach_the_patient(client, db, patient):
    make_medication(db, patient)
    carer = make_patient(db, email="watch@example.com", role="caregiver", phone=None)
    db.execute(
        "INSERT INTO care_links (patient_id, caregiver_id, invite_email, token_hash, status, created_at, expires_at) "
        "VALUES (?, ?, 'watch@example.com', 'z', 'active', '2026-03-07T12:00:00Z', '2026-03-21T12:00:00Z')",
        [patient, carer],
    )
    db.execute(
        "INSERT INTO messages (user_id, channel, recipient, kind, body, status, error, created_at) "
        "VALUES (?, 'sms', '+15005550006', 'reminder', 'x', 'failed', 'Twilio 400 21211', '2026-03-07T11:00:00Z')",
        [patient],
    )
    log_in(client, "watch@example.com")
    page = client.get(f"/patients/{patient}").get_data(as_text=True)
    assert "1 message to" in page and "could not be delivered in the last 24 hours" in page


def test_i_gave_it_is_refused_for_a_medication_outside_the_caregivers_scope(db, pat, carol, clock):
    baclofen = make_medication(db, pat)
    other = make_medication(
        db,
        pat,
        name="Vitamin D",
        strength="1000 IU",
        amount=1000,
        max_daily_amount=4000,
        withdrawal_risk=False,
        times=["09:00"],
    )
    carol_id, phone = carol
    db.execute("UPDATE care_links SET medication_ids = ? WHERE caregiver_id = ?", [f"[{baclofen}]", carol_id])
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    outside = doses(db, medication_id=other, local_date="2026-03-07")[0]
    refused = post(phone, f"/patients/{pat}/doses/{outside['id']}/given", f"/patients/{pat}")
    assert refused.status_code == 403 and "does not cover this medication" in page_text(refused)
    api = phone.post(
        f"/api/v1/patients/{pat}/doses/{outside['id']}/confirm", json={"action": "taken"}, headers=bearer(db, carol_id)
    )
    assert api.status_code == 403 and api.json["error"]["code"] == "not_a_caregiver"
    assert doses(db, medication_id=other, local_date="2026-03-07")[0]["status"] == "pending"
    inside = dose_at(db, pat, "08:00")
    assert post(phone, f"/patients/{pat}/doses/{inside['id']}/given", f"/patients/{pat}").status_code == 200


def log_in_client(app, email: str):
    client = app.test_client()
    log_in(client, email)
    return client


def register_at_invitation(app, token: str, email: str):
    visitor = app.test_client()
    data = {"csrf_token": csrf(visitor, f"/invitations/{token}"), "email": email, "password": "carol-cares"}
    return visitor, visitor.post(f"/invitations/{token}/register", data={**data, "tz": "UTC"})


def test_signing_up_at_an_invitation_with_a_taken_email_says_check_your_email_and_tells_its_owner(app, db, pat):
    make_patient(db, email="carol@example.com", phone=None)
    invite(log_in_client(app, "pat@example.com"), email="carol@example.com")
    _, response = register_at_invitation(app, invitation_token(db), "carol@example.com")
    assert response.status_code == 200 and "Check your email" in page_text(response)
    assert "already" not in page_text(response)
    (notice,) = messages(db, "account_exists")
    assert notice["recipient"] == "carol@example.com" and "/login" in notice["body"]
    assert db.execute("SELECT status FROM care_links").fetchone()[0] == "invited"


def test_a_text_invitation_sign_up_answers_the_same_for_any_email_and_the_emailed_link_finishes_it(app, db, pat):
    make_patient(db, email="taken@example.com", phone=None)
    invite(log_in_client(app, "pat@example.com"), phone="+12025550188")
    token = re.search(r"/invitations/([A-Za-z0-9_-]+)", messages(db, "invitation")[-1]["body"]).group(1)
    _, taken = register_at_invitation(app, token, "taken@example.com")
    visitor, free = register_at_invitation(app, token, "carol@example.com")
    assert (taken.status_code, page_text(taken).replace("taken@", "X@")) == (
        free.status_code,
        page_text(free).replace("carol@", "X@"),
    )
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 2  # no account before the link comes back
    link = re.search(r"/register/confirm/[\w-]+", messages(db, "confirm_signup")[0]["body"]).group(0)
    done = visitor.post(link, data={"csrf_token": csrf(visitor, link)})
    assert done.status_code == 302 and done.location == f"/patients/{pat}"
    carol = db.execute("SELECT id, role, phone FROM users WHERE email = 'carol@example.com'").fetchone()
    assert tuple(carol)[1:] == ("caregiver", "+12025550188")
    assert db.execute("SELECT status, caregiver_id FROM care_links").fetchone() == ("active", carol[0])

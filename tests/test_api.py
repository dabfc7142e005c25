"""JSON API v1 over HTTP: auth, medications, doses, confirmations and bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reminder import accounts
from reminder.times import parse_instant

from builders import doses, make_medication, make_patient, messages


@pytest.fixture
def token(db, patient, clock):
    return accounts.create_token(db, patient, clock.now())


@pytest.fixture
def api(client, token):
    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
                return getattr(client, method)(f"/api/v1{path}", headers=headers, **kwargs)

            return call

    return Api()


def row_counts(db) -> dict:
    return {
        t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("medications", "regimen_steps", "doses", "dose_events", "messages", "users")
    }


BACLOFEN = {
    "name": "Baclofen",
    "strength": "10 mg tablet",
    "amount": 10,
    "unit": "mg",
    "times": ["08:00", "13:00", "18:00"],
    "withdrawal_risk": True,
    "max_daily_amount": 80,
}


def test_every_route_needs_a_token(client):
    for path in ("/api/v1/me", "/api/v1/medications", "/api/v1/doses"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer rmd_forged"}).status_code == 401


def test_tokens_are_stored_hashed(db, token):
    stored = db.execute("SELECT token_hash FROM api_tokens").fetchone()[0]
    assert token not in stored and len(stored) == 64


def test_a_token_records_when_it_was_last_used_at_most_once_a_minute(db, api, clock):
    def last_used() -> str | None:
        return db.execute("SELECT last_used_at FROM api_tokens").fetchone()[0]

    assert last_used() is None
    api.get("/me")
    assert last_used() == "2026-03-07T12:00:00Z"
    clock.set(clock.now() + timedelta(seconds=59))
    api.get("/me")
    assert last_used() == "2026-03-07T12:00:00Z"  # a busy client does not write on every request
    clock.set(clock.now() + timedelta(seconds=1))
    api.get("/me")
    assert last_used() == "2026-03-07T12:01:00Z"


def test_me_returns_the_tokens_user(api):
    body = api.get("/me").json
    assert body["email"] == "pat@example.com" and body["tz"] == "America/New_York" and "password_hash" not in body


def test_creating_a_medication_generates_its_doses_at_least_48_hours_ahead(api, db):
    response = api.post("/medications", json=BACLOFEN)
    assert response.status_code == 201
    body = response.json
    assert body["times"] == ["08:00", "13:00", "18:00"] and body["withdrawal_risk"] is True
    assert body["steps"][0]["end_date"] is None
    assert body["on_time_minutes"] == 60 and body["skip_fraction"] == 0.5 and body["min_gap_fraction"] == 0.5
    assert len(doses(db)) >= 6
    assert api.get("/medications").json["medications"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"times": ["25:00"]}, "times"),
        ({"times": ["8am"]}, "times"),
        ({"times": ["08:00", "08:00"]}, "times"),
        ({"times": []}, "times"),
        ({"times": "not a list of times"}, "times"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 1e9}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": float("nan")}, "amount"),
        ({"max_daily_amount": 20}, "max_daily_amount"),  # 3 x 10 mg = 30 > 20
        ({"days": ["someday"]}, "days"),
        ({"start_date": "07/03/2026"}, "start_date"),
        ({"skip_fraction": 5}, "skip_fraction"),
        ({"withdrawal_risk": "maybe"}, "withdrawal_risk"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_medication_is_refused_with_its_field_and_nothing_is_written(api, db, change, field):
    before = row_counts(db)
    response = api.post("/medications", json={**BACLOFEN, **change})
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field
    assert response.json["error"]["message"]
    assert row_counts(db) == before


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("", "text/plain"),
        ('{"name": ', "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_a_400_not_a_500(api, db, body, content_type):
    before = row_counts(db)
    response = api.post("/medications", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("Send a JSON object")
    assert row_counts(db) == before


def test_doses_are_filtered_by_a_half_open_instant_range_with_offsets(api, db, patient):
    make_medication(db, patient)
    body = api.get("/doses?from=2026-03-08T08:00:00-04:00&to=2026-03-08T18:00:00-04:00").json
    assert [d["local_time"] for d in body["doses"]] == ["08:00", "13:00"]  # 18:00 is excluded
    dose = body["doses"][0]
    assert dose["scheduled_at"] == "2026-03-08T12:00:00Z"
    for key in ("id", "medication_id", "amount", "status", "taken_at", "confirmed_at", "source", "actor"):
        assert key in dose
    assert api.get("/doses?status=pending").status_code == 200
    assert api.get("/doses?from=yesterday").json["error"]["field"] == "from"
    assert api.get("/doses?from=2026-03-08T08:00:00").status_code == 400  # no offset
    assert api.get("/doses?status=lost").json["error"]["field"] == "status"


def _first(db, local_time="08:00"):
    return doses(db, local_time=local_time)[0]


def test_confirming_taken_records_intake_confirmation_source_and_actor(api, db, patient, clock):
    make_medication(db, patient)
    clock.set(parse_instant("2026-03-07T13:10:00Z"))
    response = api.post(f"/doses/{_first(db)['id']}/confirm", json={"action": "taken"})
    assert response.status_code == 200
    dose = response.json["dose"]
    assert (dose["status"], dose["taken_at"], dose["confirmed_at"], dose["source"], dose["actor"]) == (
        "taken",
        "2026-03-07T13:10:00Z",
        "2026-03-07T13:10:00Z",
        "api",
        patient,
    )
    again = api.post(f"/doses/{dose['id']}/confirm", json={"action": "taken"})
    assert again.status_code == 200 and again.json["result"]["code"] == "already_recorded"
    assert "8:10 AM" in again.json["result"]["message"]
    assert again.json["dose"]["confirmed_at"] == "2026-03-07T13:10:00Z"


def test_taken_after_the_window_closed_is_refused_and_an_earlier_time_is_accepted(api, db, patient, clock):
    make_medication(db, patient)
    dose_id = _first(db)["id"]
    clock.set(parse_instant("2026-03-07T16:00:00Z"))  # 11:00, the window closed at 10:30
    late = api.post(f"/doses/{dose_id}/confirm", json={"action": "taken"})
    assert late.status_code == 409 and late.json["error"]["code"] == "window_closed"
    assert "Skip this dose" in late.json["error"]["message"]
    assert doses(db, id=dose_id)[0]["status"] == "pending"
    earlier = api.post(f"/doses/{dose_id}/confirm", json={"action": "taken", "taken_at": "08:20"})
    assert earlier.status_code == 200
    assert earlier.json["dose"]["taken_at"] == "2026-03-07T13:20:00Z"


def test_taken_at_accepts_an_offset_and_rejects_nonsense(api, db, patient, clock):
    make_medication(db, patient)
    dose_id = _first(db)["id"]
    clock.set(parse_instant("2026-03-07T14:00:00Z"))
    assert (
        api.post(f"/doses/{dose_id}/confirm", json={"action": "taken", "taken_at": "soon"}).json["error"]["field"]
        == "taken_at"
    )
    assert (
        api.post(f"/doses/{dose_id}/confirm", json={"action": "taken", "taken_at": "2026-03-07T08:15:00"}).status_code
        == 400
    )
    future = api.post(f"/doses/{dose_id}/confirm", json={"action": "taken", "taken_at": "2026-03-07T09:30:00-05:00"})
    assert future.status_code == 400 and future.json["error"]["code"] == "bad_time"
    ok = api.post(f"/doses/{dose_id}/confirm", json={"action": "taken", "taken_at": "2026-03-07T08:15:00-05:00"})
    assert ok.json["dose"]["taken_at"] == "2026-03-07T13:15:00Z"


def test_a_confirmation_too_close_to_another_intake_is_refused(api, db, patient, clock):
    make_medication(db, patient)
    morning, midday = _first(db)["id"], _first(db, "13:00")["id"]
    clock.set(parse_instant("2026-03-07T15:00:00Z"))  # took the 08:00 dose late, at 10:00
    assert api.post(f"/doses/{morning}/confirm", json={"action": "taken"}).status_code == 200
    clock.set(parse_instant("2026-03-07T17:10:00Z"))  # 12:10: 2h10 after, the gap is 2h30
    refused = api.post(f"/doses/{midday}/confirm", json={"action": "taken"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_soon"
    assert "Wait until 12:30 PM" in refused.json["error"]["message"]
    assert doses(db, id=midday)[0]["status"] == "pending"


def test_a_confirmation_over_the_daily_maximum_is_refused(api, db, patient, clock):
    make_medication(db, patient, amount=25, max_daily_amount=80, times=["08:00", "13:00", "18:00"])
    ids = [d["id"] for d in doses(db) if d["local_date"] == "2026-03-07"]
    for dose_id, at in zip(ids, ("13:00", "18:00"), strict=False):
        clock.set(parse_instant(f"2026-03-07T{at}:00Z"))
        assert api.post(f"/doses/{dose_id}/confirm", json={"action": "taken"}).status_code == 200
    # a third 25 mg dose would make 75: allowed; at 35 mg it makes 85, over 80
    db.execute("UPDATE doses SET amount = 35 WHERE id = ?", [ids[2]])
    clock.set(parse_instant("2026-03-07T23:00:00Z"))
    refused = api.post(f"/doses/{ids[2]}/confirm", json={"action": "taken"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "over_daily_maximum"


def test_skip_and_snooze(api, db, patient, clock):
    make_medication(db, patient)
    clock.set(parse_instant("2026-03-07T13:05:00Z"))
    snoozed = api.post(f"/doses/{_first(db)['id']}/confirm", json={"action": "snooze"})
    assert snoozed.status_code == 200 and snoozed.json["result"]["code"] == "snoozed"
    assert doses(db, id=_first(db)["id"])[0]["next_prompt_at"] == "2026-03-07T13:20:00Z"
    skipped = api.post(f"/doses/{_first(db)['id']}/confirm", json={"action": "skip", "reason": "felt dizzy"})
    assert skipped.json["dose"]["status"] == "skipped" and skipped.json["dose"]["skip_reason"] == "felt dizzy"
    assert api.post(f"/doses/{_first(db)['id']}/confirm", json={"action": "jump"}).json["error"]["field"] == "action"


def test_another_patients_dose_and_medication_are_not_found(api, db, clock):
    other = make_patient(db, email="other@example.com")
    medication = make_medication(db, other)
    dose_id = doses(db, patient_id=other)[0]["id"]
    assert api.post(f"/doses/{dose_id}/confirm", json={"action": "taken"}).status_code == 404
    assert api.get(f"/medications/{medication}").status_code == 404
    assert api.patch(f"/medications/{medication}", json={"name": "x"}).status_code == 404
    assert api.delete(f"/medications/{medication}").status_code == 404
    assert doses(db, id=dose_id)[0]["status"] == "pending"


def test_patch_changes_the_plan_from_today_and_delete_ends_it_keeping_history(api, db, patient, clock, tick):
    medication = api.post("/medications", json={**BACLOFEN, "name": "Paracetamol", "withdrawal_risk": False}).json["id"]
    tick("2026-03-07T13:00:00Z")
    changed = api.patch(f"/medications/{medication}", json={"times": ["09:00", "21:00"], "amount": 15})
    assert changed.status_code == 200
    assert changed.json["times"] == ["09:00", "21:00"] and len(changed.json["steps"]) == 2
    assert api.patch(f"/medications/{medication}", json={"times": ["26:00"]}).status_code == 400
    assert api.get(f"/medications/{medication}").json["times"] == ["09:00", "21:00"]
    reminded = _first(db)
    ended = api.delete(f"/medications/{medication}")
    assert ended.status_code == 200 and ended.json["ended_at"] == "2026-03-07T13:00:00Z"
    assert doses(db, id=reminded["id"])  # history kept
    assert not [d for d in doses(db) if d["scheduled_at"] > "2026-03-07T13:00:00Z"]
    assert api.get("/medications").json["medications"] == []
    assert api.patch(f"/medications/{medication}", json={"name": "x"}).status_code == 409


def test_patch_me_checks_each_field(api, db):
    assert api.patch("/me", json={"tz": "Mars/Olympus"}).json["error"]["field"] == "tz"
    assert api.patch("/me", json={"phone": "12345"}).json["error"]["field"] == "phone"
    assert api.patch("/me", json={"email": "not-an-email"}).json["error"]["field"] == "email"
    assert api.patch("/me", json={"role": "admin"}).json["error"]["field"] == "role"
    assert api.get("/me").json["tz"] == "America/New_York"
    assert api.patch("/me", json={"phone": "+33 6 12 34 56 78"}).json["phone"] == "+33612345678"


def test_every_api_route_is_in_the_openapi_document(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<id:(medication_id|dose_id|patient_id|link_id|alert_id|pump_id|token_id)>", "{id}", rule.rule)
        path = path.replace("/doses/{id}/confirm", "/doses/{id}/confirm")
        if path.startswith("/api/v1/patients/{id}/doses/"):
            path = "/api/v1/patients/{id}/doses/{dose_id}/confirm"
        if re.match(r"^/api/v1/patients/\{id\}/medications/\{id\}(/titration|/pause)?$", path):
            path = path.replace("/medications/{id}", "/medications/{medication_id}")
        path = path.replace("<id:clinic_id>", "{id}")
        path = path.replace("<token>", "{token}")
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {path}"


def test_a_dose_not_yet_due_cannot_be_snoozed_or_skipped_ahead_and_keeps_its_reminder(api, db, patient, tick):
    make_medication(db, patient)
    tomorrow = doses(db, local_date="2026-03-08", local_time="08:00")[0]["id"]
    for action in ("snooze", "skip"):
        refused = api.post(f"/doses/{tomorrow}/confirm", json={"action": action})
        assert refused.status_code == 409 and refused.json["error"]["code"] == "not_due_yet"
    tick("2026-03-07T12:15:00Z")
    assert not [m for m in messages(db) if m["dose_id"] == tomorrow]
    tick("2026-03-08T12:00:00Z")
    assert [m["kind"] for m in messages(db) if m["dose_id"] == tomorrow] == ["reminder"]


def test_the_minimum_gap_reaches_back_a_week_for_a_weekly_medication(api, db, patient, clock, tick):
    make_medication(db, patient, times=["08:00"], days=["sat"], max_daily_amount=None)
    this_week = _first(db)["id"]  # Sat 2026-03-07 08:00 EST = 13:00Z; the next is 2026-03-14 12:00Z
    clock.set(parse_instant("2026-03-11T00:10:00Z"))  # its window closes 83.5 h later, at 00:30Z
    assert api.post(f"/doses/{this_week}/confirm", json={"action": "taken"}).status_code == 200
    tick("2026-03-13T12:00:00Z")  # the worker generates next week's dose
    next_week = doses(db, local_date="2026-03-14")[0]["id"]
    clock.set(parse_instant("2026-03-14T11:05:00Z"))  # 82.9 h after that intake: the gap is 83.5 h
    refused = api.post(f"/doses/{next_week}/confirm", json={"action": "taken"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_soon"


def test_changing_times_on_the_same_day_keeps_the_gap_after_a_dose_already_taken(api, db, patient, clock):
    medication = make_medication(db, patient)
    clock.set(parse_instant("2026-03-07T13:00:00Z"))  # 08:00 New York
    assert api.post(f"/doses/{_first(db)['id']}/confirm", json={"action": "taken"}).status_code == 200
    clock.set(parse_instant("2026-03-07T13:30:00Z"))
    assert api.patch(f"/medications/{medication}", json={"times": ["09:00", "14:00", "19:00"]}).status_code == 200
    nine = doses(db, local_date="2026-03-07", local_time="09:00")[0]["id"]
    clock.set(parse_instant("2026-03-07T14:00:00Z"))  # 09:00, one hour after the 08:00 intake
    refused = api.post(f"/doses/{nine}/confirm", json={"action": "taken"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_soon"


def test_an_earlier_time_must_fall_before_the_next_dose_and_may_be_after_midnight(api, db, patient, clock):
    make_medication(db, patient, times=["08:00", "23:00"], max_daily_amount=None)
    morning = _first(db)["id"]
    clock.set(parse_instant("2026-03-08T05:00:00Z"))  # midnight in New York, the 08:00 window long closed
    late = api.post(f"/doses/{morning}/confirm", json={"action": "taken", "taken_at": "23:30"})
    assert late.status_code == 400 and "after your next dose" in late.json["error"]["message"]
    night = doses(db, local_date="2026-03-07", local_time="23:00")[0]["id"]
    clock.set(parse_instant("2026-03-08T06:00:00Z"))  # 01:00
    ok = api.post(f"/doses/{night}/confirm", json={"action": "taken", "taken_at": "00:15"})
    assert ok.status_code == 200 and ok.json["dose"]["taken_at"] == "2026-03-08T05:15:00Z"


PLAIN = {**BACLOFEN, "name": "Paracetamol", "withdrawal_risk": False, "max_daily_amount": None}


def test_a_new_plan_from_a_later_date_leaves_no_day_without_doses(api, db, patient):
    medication = api.post("/medications", json=PLAIN).json["id"]
    assert api.patch(f"/medications/{medication}", json={"amount": 5, "start_date": "2026-03-10"}).status_code == 200
    by_day = {}
    for dose in doses(db):
        by_day.setdefault(dose["local_date"], set()).add(dose["amount"])
    assert by_day["2026-03-08"] == {10} and by_day["2026-03-09"] == {10}
    steps = api.get(f"/medications/{medication}").json["steps"]
    assert [(s["start_date"], s["end_date"], s["amount"]) for s in steps] == [
        ("2026-03-07", "2026-03-09", 10),
        ("2026-03-10", None, 5),
    ]


def test_editing_a_medication_that_has_not_started_keeps_its_start(api, db, patient):
    medication = api.post("/medications", json={**PLAIN, "start_date": "2026-03-09"}).json["id"]
    assert api.patch(f"/medications/{medication}", json={"amount": 5}).status_code == 200
    assert {d["local_date"] for d in doses(db)} >= {"2026-03-09"}
    assert min(d["local_date"] for d in doses(db)) == "2026-03-09"
    assert {d["amount"] for d in doses(db)} == {5}


def test_a_name_change_keeps_every_dose_and_its_id(api, db, patient):
    medication = api.post("/medications", json=BACLOFEN).json["id"]
    before = [(d["id"], d["scheduled_at"]) for d in doses(db)]
    assert api.patch(f"/medications/{medication}", json={"name": "Lioresal"}).json["name"] == "Lioresal"
    assert [(d["id"], d["scheduled_at"]) for d in doses(db)] == before


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/medications/99999999999999999999", None),
        ("post", "/doses/99999999999999999999/confirm", {"action": "taken"}),
        ("get", "/doses?from=0001-01-01T00:00:00%2B01:00", None),
        ("get", "/doses?to=9999-12-31T23:59:59-01:00", None),
        ("post", "/medications", {**BACLOFEN, "amount": 10**400}),
        ("post", "/medications", {**BACLOFEN, "name": "\x00"}),
        ("post", "/medications", {**BACLOFEN, "on_time_minutes": 30.5}),
        ("post", "/medications", {**BACLOFEN, "amount": "1_000"}),
        ("patch", "/me", {"tz": "Factory"}),
        ("patch", "/me", {"tz": "localtime"}),
        ("patch", "/me", {"name": {"a": 1}}),
    ],
)
def test_odd_input_gets_a_4xx_never_a_500(api, db, patient, method, path, body):
    before = row_counts(db)
    response = getattr(api, method)(path, **({"json": body} if body is not None else {}))
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.json["error"]["message"]
    assert row_counts(db) == before


def test_an_out_of_range_taken_at_is_a_400(api, db, patient, clock):
    make_medication(db, patient)
    clock.set(parse_instant("2026-03-07T13:10:00Z"))
    response = api.post(
        f"/doses/{_first(db)['id']}/confirm", json={"action": "taken", "taken_at": "9999-12-31T23:59:59-01:00"}
    )
    assert response.status_code == 400 and response.json["error"]["field"] == "taken_at"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 5},
        {"times": ["08:00"]},
        {"days": ["mon"]},
        {"name": "Muscle relaxant", "withdrawal_risk": False, "amount": 0.001},
    ],
)
def test_a_withdrawal_risk_medication_cannot_be_cut_down_by_an_edit(api, db, patient, change):
    medication = api.post("/medications", json=BACLOFEN).json["id"]
    before = [(d["id"], d["amount"]) for d in doses(db)]
    refused = api.patch(f"/medications/{medication}", json=change)
    assert refused.status_code == 409 and "taper plan" in refused.json["error"]["message"]
    assert [(d["id"], d["amount"]) for d in doses(db)] == before


def test_renaming_a_withdrawal_risk_medication_keeps_its_mark(api, db, patient):
    medication = api.post("/medications", json=BACLOFEN).json["id"]
    renamed = api.patch(f"/medications/{medication}", json={"name": "Muscle relaxant", "withdrawal_risk": False})
    assert renamed.status_code == 200 and renamed.json["withdrawal_risk"] is True
    assert api.delete(f"/medications/{medication}").status_code == 409

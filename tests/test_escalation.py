"""The escalation ladder, caregivers through the API, no sudden stops, and supply alerts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reminder import escalation, worker
from reminder.escalation import Ladder, level_for
from reminder.notify import make_transport
from reminder.times import parse_instant

from builders import bearer, csrf, doses, make_medication, make_patient, messages

# ---------------------------------------------------------------- the ladder, as a table

LADDER = Ladder()


@pytest.mark.parametrize(
    "run, hours, risk, level",
    [
        (0, None, True, 0),
        (1, 5, True, 1),  # one miss: the patient's skip message only
        (2, 10, True, 2),  # two in a row of a withdrawal-risk drug: caregivers
        (3, 15, True, 3),  # three in a row: the clinician
        (1, 24, True, 3),  # 24 h since the last taken dose
        (1, 23.9, True, 1),
        (2, 30, True, 3),
        (2, 10, False, 1),  # no withdrawal risk: runs of 3, for caregivers who opted in
        (3, 40, False, 2),
        (5, 80, False, 2),  # never level 3 without withdrawal risk
    ],
)
def test_the_ladder_level_for_a_run(run, hours, risk, level):
    assert level_for(run, hours, risk, LADDER) == level


def test_every_threshold_is_a_setting():
    strict = Ladder(caregiver_run=1, clinician_run=2, clinician_hours=12)
    assert level_for(1, 2, True, strict) == 2
    assert level_for(2, 2, True, strict) == 3
    assert level_for(1, 12, True, strict) == 3


# ---------------------------------------------------------------- through the API


@pytest.fixture
def family(db, client, patient):
    """A patient on baclofen with a caregiver who accepted an invitation; returns ids and headers."""
    make_medication(db, patient)
    carer = make_patient(db, email="carer@example.com", phone="+12025550177", role="caregiver", name="Casey")
    patient_api, carer_api = bearer(db, patient), bearer(db, carer)
    invited = client.post("/api/v1/caregivers", json={"email": "carer@example.com"}, headers=patient_api)
    assert invited.status_code == 201 and invited.json["status"] == "invited"
    [invitation] = messages(db, "invitation")
    assert invitation["recipient"] == "carer@example.com"
    token = re.search(r"/invitations/([\w-]+)", invitation["body"]).group(1)
    accepted = client.post(f"/api/v1/invitations/{token}/accept", headers=carer_api)
    assert accepted.status_code == 200
    return {
        "patient": patient,
        "carer": carer,
        "patient_api": patient_api,
        "carer_api": carer_api,
        "link": invited.json["id"],
        "token": token,
    }


def test_two_missed_baclofen_doses_alert_the_caregiver_once(db, client, family, tick_until):
    tick_until("2026-03-07T20:31:00Z", step=300)  # the 08:00 and 13:00 doses close unanswered
    alerts = [m for m in messages(db, "alert") if m["user_id"] == family["carer"]]
    assert len(alerts) == 1
    body = alerts[0]["body"]
    assert "missed 2 doses in a row of Baclofen" in body and "hallucinations, seizures and a high fever" in body
    assert "prescriber" in body and "/a/" in body
    assert not re.search(r"\btake\b", body.lower())  # an alert never advises a dose
    tick_until("2026-03-07T21:00:00Z", step=60)  # more ticks, no second alert at that level
    assert len([m for m in messages(db, "alert") if m["user_id"] == family["carer"]]) == 1
    listed = client.get("/api/v1/alerts", headers=family["carer_api"]).json["alerts"]
    assert [(a["level"], a["status"], [t["user_id"] for t in a["told"]]) for a in listed] == [
        (2, "open", [family["carer"]])
    ]


def test_a_third_miss_reaches_level_3_marked_for_the_clinician(db, client, family, tick_until):
    tick_until("2026-03-08T05:31:00Z", step=600)  # 08:00, 13:00 and 18:00 all missed
    levels = {a["level"]: a for a in client.get("/api/v1/alerts", headers=family["patient_api"]).json["alerts"]}
    assert set(levels) == {2, 3}
    assert levels[3]["for_clinician"] is True and levels[3]["summary"].startswith("URGENT")
    assert "Contact their prescriber now" in levels[3]["summary"]


def test_an_unacknowledged_alert_repeats_every_4_hours_until_acknowledged_by_link(db, client, family, tick_until, tick):
    tick_until("2026-03-07T20:31:00Z", step=300)
    tick("2026-03-08T00:30:00Z")
    tick("2026-03-08T00:31:00Z")  # the repeat is due 4 h after the alert
    repeats = [m for m in messages(db, "alert_repeat") if m["user_id"] == family["carer"]]
    assert len(repeats) == 1
    token = re.search(r"/a/([\w-]+)", repeats[0]["body"]).group(1)
    assert client.get(f"/a/{token}").status_code == 200  # a look changes nothing
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "open"
    assert client.post(f"/a/{token}", data={"csrf_token": csrf(client, f"/a/{token}")}).status_code == 200
    row = db.execute("SELECT status, acknowledged_by FROM alerts").fetchone()
    assert row == ("acknowledged", family["carer"])
    tick("2026-03-08T05:00:00Z")
    assert len(messages(db, "alert_repeat")) == 1


def test_a_taken_dose_ends_the_run_resolves_the_alert_and_tells_the_caregiver(db, client, family, tick_until, clock):
    tick_until("2026-03-07T20:31:00Z", step=300)
    evening = doses(db, local_date="2026-03-07", local_time="18:00")[0]["id"]
    clock.set(parse_instant("2026-03-07T23:05:00Z"))
    taken = client.post(f"/api/v1/doses/{evening}/confirm", json={"action": "taken"}, headers=family["patient_api"])
    assert taken.status_code == 200
    tick_until("2026-03-07T23:06:00Z")
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "resolved"
    [resolved] = [m for m in messages(db, "alert_resolved") if m["user_id"] == family["carer"]]
    assert "run of missed doses has ended" in resolved["body"]


def test_a_worker_restart_or_a_second_worker_mid_run_alerts_nobody_twice(db, family, settings, clock):
    transport = make_transport(settings)
    at = parse_instant("2026-03-07T12:00:00Z")
    while at < parse_instant("2026-03-07T20:31:00Z"):
        at += timedelta(minutes=5)
        worker.run_tick(db, at, settings, transport)
    # two more "workers" tick the same instant, as after a restart
    for _ in range(2):
        worker.run_tick(db, at, settings, transport)
    escalation.escalate(db, at, settings)
    assert db.execute("SELECT count(*) FROM alert_recipients").fetchone()[0] == 1
    assert len(messages(db, "alert")) == 1


def test_a_caregiver_sees_only_linked_patients_and_nothing_after_revocation(db, client, family):
    stranger = make_patient(db, email="stranger@example.com", role="caregiver")
    stranger_api = bearer(db, stranger)
    patient = family["patient"]
    dose = doses(db)[0]["id"]
    for method, path in (
        ("get", f"/api/v1/patients/{patient}/doses"),
        ("get", f"/api/v1/patients/{patient}/medications"),
        ("post", f"/api/v1/patients/{patient}/doses/{dose}/confirm"),
    ):
        kwargs = {"json": {"action": "taken"}} if method == "post" else {}
        assert getattr(client, method)(path, headers=stranger_api, **kwargs).status_code == 404
        assert getattr(client, method)(path, headers=family["carer_api"], **kwargs).status_code in (200, 409)
    assert client.get("/api/v1/patients", headers=stranger_api).json["patients"] == []
    assert [p["id"] for p in client.get("/api/v1/patients", headers=family["carer_api"]).json["patients"]] == [patient]
    last = client.delete(f"/api/v1/caregivers/{family['link']}", headers=family["patient_api"])
    assert last.status_code == 409 and last.json["error"]["code"] == "last_safety_contact"  # on baclofen
    revoked = client.delete(f"/api/v1/caregivers/{family['link']}?confirm=true", headers=family["patient_api"])
    assert revoked.status_code == 200
    [ended] = messages(db, "link_ended")  # the caregiver is told the link ended
    assert ended["user_id"] == family["carer"] and "ended your link as their caregiver" in ended["body"]
    assert client.get(f"/api/v1/patients/{patient}/doses", headers=family["carer_api"]).status_code == 404
    assert client.get("/api/v1/patients", headers=family["carer_api"]).json["patients"] == []
    assert client.delete(f"/api/v1/caregivers/{family['link']}", headers=stranger_api).status_code == 404


def test_i_gave_it_records_the_caregiver_under_the_same_rules(db, client, family, clock):
    patient, dose = family["patient"], doses(db, local_time="08:00")[0]["id"]
    clock.set(parse_instant("2026-03-07T13:02:00Z"))
    gave = client.post(
        f"/api/v1/patients/{patient}/doses/{dose}/confirm", json={"action": "taken"}, headers=family["carer_api"]
    )
    assert gave.status_code == 200
    assert (gave.json["dose"]["source"], gave.json["dose"]["actor"]) == ("caregiver", family["carer"])
    again = client.post(
        f"/api/v1/patients/{patient}/doses/{dose}/confirm", json={"action": "taken"}, headers=family["patient_api"]
    )
    assert again.json["result"]["code"] == "already_recorded"
    midday = doses(db, local_time="13:00")[0]["id"]
    clock.set(parse_instant("2026-03-07T17:00:00Z"))  # 12:00, 4 h after: within the 2.5 h gap? no: allowed
    assert (
        client.post(
            f"/api/v1/patients/{patient}/doses/{midday}/confirm", json={"action": "taken"}, headers=family["carer_api"]
        ).status_code
        == 200
    )


def test_an_invitation_link_is_single_use_and_bad_tokens_are_refused(db, client, family):
    carer_api = family["carer_api"]
    assert client.post(f"/api/v1/invitations/{family['token']}/accept", headers=carer_api).status_code == 409
    assert client.post("/api/v1/invitations/nonsense/accept", headers=carer_api).status_code == 404
    bad = client.post("/api/v1/caregivers", json={"email": "not-an-email"}, headers=family["patient_api"])
    assert bad.status_code == 400 and bad.json["error"]["field"] == "email"
    assert client.post("/api/v1/caregivers", json={}, headers=family["patient_api"]).status_code == 400


def test_caregiver_alert_settings_choose_medications_and_channel(db, client, family):
    patient = family["patient"]
    other = make_medication(db, patient, name="Paracetamol", withdrawal_risk=False)
    path = f"/api/v1/patients/{patient}/alert-settings"
    ok = client.patch(path, json={"medication_ids": [other], "channel": "sms"}, headers=family["carer_api"])
    assert ok.status_code == 200 and ok.json["medication_ids"] == [other] and ok.json["channel"] == "sms"
    assert client.patch(path, json={"medication_ids": [99999]}, headers=family["carer_api"]).status_code == 400
    assert client.patch(path, json={"channel": "pigeon"}, headers=family["carer_api"]).status_code == 400


# ---------------------------------------------------------------- no sudden stops


def test_baclofen_cannot_simply_be_ended(db, client, family):
    medication = doses(db)[0]["medication_id"]
    refused = client.delete(f"/api/v1/medications/{medication}", headers=family["patient_api"])
    assert refused.status_code == 409
    assert "must not be stopped suddenly" in refused.json["error"]["message"]
    assert "taper plan of at least 14 days" in refused.json["error"]["message"]
    assert db.execute("SELECT ended_at FROM medications WHERE id = ?", [medication]).fetchone()[0] is None


def test_a_formulary_drug_is_withdrawal_risk_even_when_unticked(db, client, family):
    made = client.post(
        "/api/v1/medications",
        headers=family["patient_api"],
        json={"name": "Clonidine", "amount": 0.1, "times": ["08:00"]},
    )
    assert made.json["withdrawal_risk"] is True
    # Issue 9: asking for the mark off is loosening a floor, which only a clinician may do.
    refused = client.post(
        "/api/v1/medications",
        headers=family["patient_api"],
        json={"name": "Catapres", "amount": 0.1, "times": ["20:00"], "withdrawal_risk": False},
    )
    assert refused.status_code == 403 and refused.json["error"]["code"] == "clinician_only"


TAPER = {
    "steps": [
        {"start_date": "2026-03-08", "end_date": "2026-03-14", "amount": 5, "times": ["08:00", "13:00", "18:00"]},
        {"start_date": "2026-03-15", "end_date": "2026-03-18", "amount": 5, "times": ["08:00", "18:00"]},
        # Issue 9: the last step before stopping is at most a quarter of the starting 30 mg a day.
        {"start_date": "2026-03-19", "end_date": "2026-03-21", "amount": 5, "times": ["08:00"]},
    ]
}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"steps": []}, "steps"),
        ({"steps": [{**TAPER["steps"][0], "end_date": "2026-03-10"}]}, "end_date"),  # 3 days, under 14
        ({"steps": [TAPER["steps"][0], {**TAPER["steps"][1], "start_date": "2026-03-16"}]}, "start_date"),  # a gap
        ({"steps": [TAPER["steps"][0], {**TAPER["steps"][1], "amount": 10}]}, "amount"),  # rises again
        ({"steps": [{**TAPER["steps"][0], "start_date": "2026-03-01"}, TAPER["steps"][1]]}, "start_date"),  # past
        (
            {"steps": [{**TAPER["steps"][0], "end_date": "2026-03-30", "amount": 0.01, "times": ["08:00"]}]},
            "amount",
        ),  # one cliff
        ({"steps": [TAPER["steps"][0], {**TAPER["steps"][1], "end_date": "9999-12-31"}]}, "end_date"),  # absurd end
    ],
)
def test_a_bad_taper_plan_is_refused_and_changes_nothing(db, client, family, change, field):
    medication = doses(db)[0]["medication_id"]
    before = [(d["id"], d["amount"]) for d in doses(db)]
    refused = client.post(f"/api/v1/medications/{medication}/taper", json=change, headers=family["patient_api"])
    assert refused.status_code == 400 and refused.json["error"]["field"] == field
    assert [(d["id"], d["amount"]) for d in doses(db)] == before


def test_a_taper_plan_drives_the_doses_and_ends_the_medication(db, client, family, tick, settings):
    medication = doses(db)[0]["medication_id"]
    tapered = client.post(f"/api/v1/medications/{medication}/taper", json=TAPER, headers=family["patient_api"])
    assert tapered.status_code == 200 and tapered.json["taper_ends_at"] == "2026-03-22T04:00:00Z"
    by_day = {}
    tick("2026-03-16T12:00:00Z")
    for dose in doses(db):
        by_day.setdefault(dose["local_date"], []).append((dose["local_time"], dose["amount"]))
    assert by_day["2026-03-07"][0] == ("08:00", 10)
    assert by_day["2026-03-08"] == [("08:00", 5), ("13:00", 5), ("18:00", 5)]
    assert by_day["2026-03-16"] == [("08:00", 5), ("18:00", 5)]
    tick("2026-03-22T04:00:00Z")
    assert db.execute("SELECT end_reason FROM medications WHERE id = ?", [medication]).fetchone()[0] == "taper finished"
    assert max(d["local_date"] for d in doses(db)) == "2026-03-21"


def test_pausing_for_a_day_is_recorded_and_the_caregiver_is_told(db, client, family, tick):
    medication = doses(db)[0]["medication_id"]
    paused = client.post(f"/api/v1/medications/{medication}/pause", headers=family["patient_api"])
    assert paused.status_code == 201 and paused.json["paused_on"] == "2026-03-07"
    [notice] = [m for m in messages(db, "notice") if m["user_id"] == family["carer"]]
    assert "paused reminders for Baclofen" in notice["body"] and "must not be stopped suddenly" in notice["body"]
    tick("2026-03-07T13:00:00Z")
    assert not messages(db, "reminder")
    assert client.post(f"/api/v1/medications/{medication}/pause", headers=family["patient_api"]).status_code == 200


# ---------------------------------------------------------------- supply


def test_a_withdrawal_risk_medication_running_out_alerts_the_caregiver_and_a_refill_resolves_it(
    db, client, family, tick
):
    medication = doses(db)[0]["medication_id"]
    db.execute("UPDATE medications SET stock = 6 WHERE id = ?", [medication])  # two days of 3 x 1 tablet
    body = client.get(f"/api/v1/medications/{medication}", headers=family["patient_api"]).json
    assert body["stock"] == 6 and body["days_left"] is not None and body["days_left"] < 3
    tick("2026-03-07T12:10:00Z")
    assert [m["kind"] for m in messages(db) if m["user_id"] == family["patient"]] == ["notice"]  # time to order
    [alert] = [m for m in messages(db, "alert") if m["user_id"] == family["carer"]]
    assert "will run out of Baclofen" in alert["body"]
    refilled = client.post(
        f"/api/v1/medications/{medication}/refills",
        json={"quantity": 90, "pharmacy": "Main St"},
        headers=family["patient_api"],
    )
    assert refilled.status_code == 201 and refilled.json["stock"] == 96
    tick("2026-03-07T12:20:00Z")
    assert db.execute("SELECT status FROM alerts WHERE kind = 'supply'").fetchone()[0] == "resolved"
    assert (
        client.post(
            f"/api/v1/medications/{medication}/refills", json={"quantity": -1}, headers=family["patient_api"]
        ).status_code
        == 400
    )


def test_pumps_are_recorded_with_a_default_refill_by_and_refilled(db, client, family):
    made = client.post("/api/v1/pumps", json={"alarm_date": "2026-04-01"}, headers=family["patient_api"])
    assert made.status_code == 201 and made.json["refill_by"] == "2026-03-27"
    refilled = client.post(
        f"/api/v1/pumps/{made.json['id']}/refills", json={"alarm_date": "2026-05-20"}, headers=family["patient_api"]
    )
    assert refilled.status_code == 201 and refilled.json["alarm_date"] == "2026-05-20"
    assert client.post("/api/v1/pumps", json={"alarm_date": "soon"}, headers=family["patient_api"]).status_code == 400
    assert (
        client.post(
            f"/api/v1/pumps/{made.json['id']}/refills", json={"alarm_date": "2026-05-20"}, headers=family["carer_api"]
        ).status_code
        == 404
    )


def test_end_to_end_by_email_missed_doses_acknowledge_link_and_the_run_ending(
    db, live_app, live_tick, smtp_server, clock
):
    """Baclofen three times a day, two doses missed: the caregiver's email arrives at a real SMTP
    server, they acknowledge through its link, a dose is taken, and they are told the run ended."""
    patient = make_patient(db)
    db.execute("UPDATE users SET channels = '[\"email\"]' WHERE id = ?", [patient])
    make_medication(db, patient)
    carer = make_patient(db, email="carer@example.com", phone=None, role="caregiver", name="Casey")
    db.execute(
        "INSERT INTO care_links (patient_id, caregiver_id, invite_email, token_hash, status, created_at, expires_at, "
        "accepted_at) VALUES (?, ?, 'carer@example.com', 'x', 'active', '2026-03-07T12:00:00Z', "
        "'2026-03-21T12:00:00Z', '2026-03-07T12:00:00Z')",
        [patient, carer],
    )
    at = parse_instant("2026-03-07T12:00:00Z")
    while at < parse_instant("2026-03-07T20:31:00Z"):
        at += timedelta(minutes=5)
        live_tick(at)
    to_carer = [m for m in smtp_server.messages if m["To"] == "carer@example.com"]
    assert len(to_carer) == 1 and to_carer[0]["Subject"] == "Medication alert: please read"
    text = to_carer[0].get_body(("plain",)).get_content()
    assert "missed 2 doses in a row of Baclofen" in text
    link = re.search(r"https://reminder\.example\.org(/a/[\w-]+)", text).group(1)
    web = live_app.test_client()
    assert web.post(link, data={"csrf_token": csrf(web, link)}).status_code == 200
    assert db.execute("SELECT status, acknowledged_by FROM alerts").fetchone() == ("acknowledged", carer)
    evening = doses(db, local_date="2026-03-07", local_time="18:00")[0]["id"]
    from reminder import ledger

    ledger.answer_dose(
        db,
        evening,
        ledger.Answer("taken", "web", patient),
        parse_instant("2026-03-07T23:02:00Z"),
        timedelta(minutes=15),
    )
    live_tick("2026-03-07T23:03:00Z")
    resolved = [
        m for m in smtp_server.messages if m["To"] == "carer@example.com" and m["Subject"].startswith("Resolved")
    ]
    assert len(resolved) == 1
    assert "run of missed doses has ended" in resolved[0].get_body(("plain",)).get_content()


def test_two_medications_running_out_together_each_alert_the_caregiver(db, client, family, tick):
    first = doses(db)[0]["medication_id"]
    second = make_medication(
        db,
        family["patient"],
        name="Clonazepam",
        times=["08:00", "20:00"],
        amount=1,
        max_daily_amount=None,
        acknowledge_interactions=True,  # baclofen with a benzodiazepine: the patient read the warning
    )
    db.execute("UPDATE medications SET stock = 2, units_per_dose = 1 WHERE id IN (?, ?)", [first, second])
    tick("2026-03-07T12:10:00Z")
    bodies = [m["body"] for m in messages(db, "alert") if m["user_id"] == family["carer"]]
    assert any("Baclofen" in b for b in bodies) and any("Clonazepam" in b for b in bodies)

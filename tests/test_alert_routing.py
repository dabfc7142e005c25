"""Who is told about a run of missed doses, in which words (issue 10 sections 1 and 5): the
routing table for every kind of household, repeats that keep their link and grow their count,
and texts that never advise a dose."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reminder import alert_texts, clinics, escalation, ledger, worker
from reminder.db import immediate
from reminder.notify import OutboxTransport, TransportError
from reminder.times import parse_instant

from builders import (
    DOCTOR,
    bearer,
    csrf,
    link_caregiver,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    messages,
)

TWO_MISSED = "2026-03-07T20:31:00Z"  # 08:00 and 13:00 New York closed unanswered
THREE_MISSED = "2026-03-08T05:31:00Z"  # and 18:00


def household(db, patient, who: str) -> dict:
    """Link nobody, a caregiver, a clinic with one clinician, or both; return their ids."""
    people = {"patient": patient}
    if who in ("caregiver", "both"):
        people["caregiver"] = link_caregiver(db, patient)
    if who in ("clinic", "both"):
        clinic_id, code = make_clinic(db, "Neuro Clinic")
        people["clinician"] = make_clinician(db, clinic_id)
        clinics.join(db, patient, code, parse_instant("2026-03-07T12:00:00Z"))
    return people


def told(db, level: int) -> dict[str, str]:
    """role -> the alert text each recipient of the run's ``level`` alert got."""
    rows = db.execute(
        "SELECT r.role, m.body FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id "
        "JOIN messages m ON m.alert_id = a.id AND m.user_id = r.user_id AND m.kind = 'alert' WHERE a.level = ?",
        [level],
    ).fetchall()
    return dict(rows)


@pytest.mark.parametrize(
    "linked, level_2, level_3",
    [
        ("nobody", {"patient"}, {"patient"}),
        ("caregiver", {"caregiver"}, {"caregiver"}),
        ("clinic", {"patient"}, {"clinician"}),
        ("both", {"caregiver"}, {"caregiver", "clinician"}),
    ],
)
def test_every_run_of_missed_baclofen_reaches_someone(db, patient, tick_until, linked, level_2, level_3):
    household(db, patient, linked)
    make_medication(db, patient)
    tick_until(THREE_MISSED, step=600)
    assert set(told(db, 2)) == level_2
    assert set(told(db, 3)) == level_3
    assert db.execute(
        "SELECT count(*) FROM alerts a WHERE NOT EXISTS (SELECT 1 FROM alert_recipients r WHERE r.alert_id = a.id)"
    ).fetchone() == (0,)


def test_a_patient_with_nobody_linked_is_told_the_signs_and_when_to_get_help(db, patient, tick_until):
    make_medication(db, patient)
    tick_until(THREE_MISSED, step=600)
    urgent = told(db, 3)["patient"]
    assert "You have missed 3 doses in a row of Baclofen" in urgent
    assert "hallucinations, seizures and a high fever" in urgent
    assert "Call your prescriber today" in urgent
    assert "Call emergency services (911) if you have hallucinations, a seizure or a high fever" in urgent


def test_a_clinician_is_asked_to_contact_the_patient_not_their_prescriber(db, patient, tick_until):
    household(db, patient, "both")
    make_medication(db, patient, name="Baclofen")
    db.execute("UPDATE users SET name = 'Pat' WHERE id = ?", [patient])
    tick_until(THREE_MISSED, step=600)
    texts = told(db, 3)
    assert "Please contact Pat today" in texts["clinician"] and "prescriber" not in texts["clinician"]
    assert "Contact their prescriber now" in texts["caregiver"]


def test_a_medication_without_withdrawal_risk_opens_no_alert_nobody_would_read(db, patient, tick_until):
    make_medication(db, patient, name="Vitamin D", withdrawal_risk=False, max_daily_amount=None)
    tick_until(THREE_MISSED, step=600)
    assert db.execute("SELECT count(*) FROM alerts").fetchone() == (0,)


class Failing(OutboxTransport):
    """Every channel fails: Twilio and the mail server both refuse."""

    def send(self, message):
        raise TransportError("refused", permanent=True)


def test_when_no_channel_reaches_the_patient_the_alert_says_we_could_not_reach_them(db, patient, settings, clock):
    household(db, patient, "caregiver")
    db.execute("UPDATE users SET name = 'Pat' WHERE id = ?", [patient])
    make_medication(db, patient)
    at = clock.now()
    while at < parse_instant(TWO_MISSED):
        at += timedelta(minutes=10)
        worker.run_tick(db, at, settings, Failing(settings))
    [alert] = db.query("SELECT * FROM alerts")
    assert alert["kind"] == "unreachable"
    text = told(db, alert["level"])["caregiver"]
    assert "We could not reach Pat about 2 doses of Baclofen" in text
    assert "has not taken" not in text and "missed" not in text


def test_the_alert_json_lists_its_recipients_and_the_patient_sees_their_own(db, client, patient, tick_until):
    people = household(db, patient, "caregiver")
    make_medication(db, patient)
    tick_until(TWO_MISSED, step=300)
    mine = client.get("/api/v1/alerts", headers=bearer(db, patient)).json["alerts"]
    assert [a["recipients"] for a in mine] == [
        [
            {
                "user_id": people["caregiver"],
                "name": "Carol Care",
                "role": "caregiver",
                "channel": "outbox",
                "acknowledged": False,
            }
        ]
    ]


# ---------------------------------------------------------------- repeats


def test_a_repeat_keeps_the_first_link_and_tells_the_current_count(db, client, patient, tick_until, tick):
    household(db, patient, "caregiver")
    make_medication(db, patient)
    tick_until(TWO_MISSED, step=300)
    [first] = messages(db, "alert")
    tick_until("2026-03-08T05:31:00Z", step=600)  # the 18:00 dose is missed too
    tick("2026-03-08T08:40:00Z")
    level_2 = db.execute("SELECT id FROM alerts WHERE level = 2").fetchone()[0]
    repeats = [m for m in messages(db, "alert_repeat") if m["alert_id"] == level_2]
    link = re.search(r"/a/[\w-]+", first["body"]).group(0)
    assert repeats and all(link in m["body"] for m in repeats)
    level_3 = db.execute("SELECT id FROM alerts WHERE level = 3").fetchone()[0]
    tick("2026-03-08T09:40:00Z")
    urgent_repeat = [m for m in messages(db, "alert_repeat") if m["alert_id"] == level_3][-1]
    assert "3 doses in a row" in urgent_repeat["body"]
    assert client.get(link).status_code == 200
    assert client.post(link, data={"csrf_token": csrf(client, link)}).status_code == 200


def test_repeats_stop_when_the_medication_ends(db, patient, tick_until, tick):
    household(db, patient, "caregiver")
    medication = make_medication(db, patient)
    tick_until(TWO_MISSED, step=300)
    with immediate(db):
        db.execute("UPDATE medications SET ended_at = ? WHERE id = ?", ["2026-03-07T21:00:00Z", medication])
    tick("2026-03-08T00:31:00Z")
    tick("2026-03-08T04:31:00Z")
    assert messages(db, "alert_repeat") == []


def test_a_long_run_keeps_one_urgent_alert(db, patient, tick_until):
    household(db, patient, "caregiver")
    make_medication(db, patient, horizon_hours=24 * 20)
    tick_until("2026-03-25T12:00:00Z", step=3600 * 3)
    missed = db.execute("SELECT count(*) FROM doses WHERE status = 'missed'").fetchone()[0]
    assert missed > escalation.RUN_LOOKBACK
    assert db.execute("SELECT count(*) FROM alerts WHERE level = 3").fetchone() == (1,)


# ---------------------------------------------------------------- the texts


FACTS = dict(
    who="Pat",
    medication="Baclofen",
    last_taken="8:00 AM on Sat 07 Mar",
    risk="Stopping baclofen suddenly can cause hallucinations, seizures and a high fever.",
    emergency=alert_texts.EMERGENCY["baclofen"],
)


@pytest.mark.parametrize("role", alert_texts.ROLES)
@pytest.mark.parametrize("kind", ["missed_run", "unreachable"])
@pytest.mark.parametrize("count, hours, level", [(2, 10, 2), (3, 15, 3), (6, 52, 3)])
def test_no_alert_text_ever_advises_a_dose(role, kind, count, hours, level):
    text = alert_texts.summary(alert_texts.RunFacts(count=count, hours=hours, level=level, kind=kind, **FACTS), role)
    assert not re.search(r"\btake\b|\bdouble\b|extra dose", text.lower()), text
    assert f"{count} doses" in text
    if level == 3 and kind == "missed_run" and hours >= 24:
        assert f"about {hours} hours" in text
    assert ("could not reach" in text) == (kind == "unreachable")


def test_the_skip_advice_says_one_skip_is_all_right_and_several_are_not():
    advice = alert_texts.skip_advice(FACTS["risk"], FACTS["emergency"])
    assert "One skipped dose is all right" in advice and "several can cause withdrawal" in advice
    assert "hallucinations" in advice and "911" in advice


def test_the_skip_notice_after_two_misses_in_a_row_of_baclofen_gives_the_withdrawal_signs(db, patient, tick_until):
    make_medication(db, patient)
    tick_until(TWO_MISSED, step=300)
    first, second = messages(db, "skip_notice")
    assert "withdrawal" not in first["body"]
    assert "One skipped dose is all right, but skipping several can cause withdrawal" in second["body"]
    assert "hallucinations" in second["body"] and "Call your prescriber today" not in second["body"]
    assert "call your prescriber today" in second["body"]


def test_skipping_a_withdrawal_risk_dose_says_one_skip_is_all_right_but_not_several(db, client, patient, clock):
    make_medication(db, patient)
    dose = db.execute("SELECT id FROM doses ORDER BY scheduled_at").fetchone()[0]
    clock.set(parse_instant("2026-03-07T13:05:00Z"))
    skipped = client.post(f"/api/v1/doses/{dose}/confirm", json={"action": "skip"}, headers=bearer(db, patient))
    assert skipped.status_code == 200
    assert (
        "One skipped dose is all right, but skipping several can cause withdrawal" in skipped.json["result"]["message"]
    )


def test_a_clinicians_alerts_page_lists_what_they_were_sent_and_their_link_opens_a_page_they_can_see(
    db, client, patient, tick_until
):
    people = household(db, patient, "clinic")
    make_medication(db, patient)
    tick_until(THREE_MISSED, step=600)
    [urgent] = [m for m in messages(db, "alert") if m["user_id"] == people["clinician"]]
    listed = client.get("/api/v1/alerts", headers=bearer(db, people["clinician"])).json["alerts"]
    assert [a["level"] for a in listed if a["status"] == "open"] == [3, 2]
    link = re.search(r"/a/[\w-]+", urgent["body"]).group(0)
    page = client.get(link).get_data(as_text=True)
    see = re.search(r'href="([^"]+)">See their doses', page).group(1)
    log_in(client, email=DOCTOR)
    assert client.get(see).status_code == 200
    assert "Your patient" in client.get("/alerts").get_data(as_text=True)


def test_adding_baclofen_with_nobody_linked_asks_for_a_caregiver_or_clinic_weekly_until_one_is_linked(
    db, client, patient, clock
):
    api = bearer(db, patient)
    fields = {"name": "Baclofen", "strength": "10 mg", "amount": 10, "times": ["08:00", "13:00", "18:00"]}
    added = client.post("/api/v1/medications", json={**fields, "max_daily_amount": 80}, headers=api)
    assert added.status_code == 201 and "Invite a caregiver or join your clinic" in added.json["safety_contact_notice"]
    log_in(client)
    assert 'id="safety-contact"' in client.get("/").get_data(as_text=True)
    client.post("/safety-contact/later", data={"csrf_token": csrf(client, "/")})
    assert 'id="safety-contact"' not in client.get("/").get_data(as_text=True)
    clock.set(clock.now() + timedelta(days=7))
    assert 'id="safety-contact"' in client.get("/").get_data(as_text=True)  # asked again a week later
    link_caregiver(db, patient)
    assert 'id="safety-contact"' not in client.get("/").get_data(as_text=True)


def test_a_taken_dose_ends_a_could_not_reach_alert_and_tells_the_caregiver(db, patient, settings, clock):
    household(db, patient, "caregiver")
    make_medication(db, patient)
    at = clock.now()
    while at < parse_instant(TWO_MISSED):
        at += timedelta(minutes=10)
        worker.run_tick(db, at, settings, Failing(settings))
    evening = db.execute("SELECT id FROM doses WHERE local_time = '18:00' ORDER BY scheduled_at").fetchone()[0]
    at = parse_instant("2026-03-07T23:05:00Z")
    ledger.answer_dose(db, evening, ledger.Answer("taken", "web", patient), at, timedelta(minutes=10))
    worker.run_tick(db, at + timedelta(minutes=1), settings, Failing(settings))
    assert db.execute("SELECT kind, status FROM alerts").fetchall() == [("unreachable", "resolved")]
    assert len(messages(db, "alert_resolved")) == 1

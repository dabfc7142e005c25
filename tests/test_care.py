"""Issue 10 sections 2-4: the Safety page, combined sedation, pumps whose alarm date has passed.

The patient lives in America/New_York; the tests start on Saturday 2026-03-07 (builders.START).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder import (
    clinics,
    formulary,
    interactions,
    kidneys,
    missed_dose,
    pumps,
    regimen,
    safety_limits,
    safety_texts,
    schedule,
    side_effects,
)
from reminder.errors import InputError
from reminder.schedule import Step
from reminder.times import parse_instant

from builders import (
    DOCTOR,
    START,
    bearer,
    csrf,
    doses,
    link_caregiver,
    make_clinic,
    make_clinician,
    make_medication,
    messages,
    page_text,
)

BACLOFEN = {"name": "Baclofen", "amount": 10, "unit": "mg", "times": ["08:00", "13:00", "18:00"]}


# ---------------------------------------------------------------- combined sedation


@pytest.mark.parametrize(
    "first, second, flagged",
    [
        ("Baclofen", "Diazepam", True),  # benzodiazepine
        ("Baclofen", "OxyContin", True),  # opioid
        ("Baclofen", "Ambien", True),  # z-drug
        ("Baclofen", "Lyrica", True),  # gabapentinoid
        ("Baclofen", "Benadryl", True),  # sedating antihistamine
        ("Baclofen", "Flexeril", True),  # another muscle relaxant
        ("Baclofen", "Zanaflex", True),
        ("Diazepam", "Lioresal", True),  # the reverse, by brand
        ("Baclofen", "Lisinopril", False),
        ("Baclofen", "Metformin", False),
        ("Lioresal", "Baclofen", False),  # one ingredient: a duplicate, not an interaction
        ("Diazepam", "Lisinopril", False),
    ],
)
def test_a_sedating_medication_beside_baclofen_is_combined_sedation(first, second, flagged):
    found = interactions.combined_sedation(second, "oral", [(first, "oral")])
    assert bool(found) is flagged


def test_entering_diazepam_beside_baclofen_asks_for_an_acknowledgement_and_writes_nothing(db, client, patient):
    api = bearer(db, patient)
    assert client.post("/api/v1/medications", json=BACLOFEN, headers=api).status_code == 201
    diazepam = {"name": "Diazepam", "amount": 5, "unit": "mg", "times": ["21:00"]}
    refused = client.post("/api/v1/medications", json=diazepam, headers=api)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "interaction_warning"
    assert "slow your breathing" in refused.json["error"]["message"] and "FDA" in refused.json["error"]["message"]
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 1
    accepted = client.post("/api/v1/medications", json={**diazepam, "acknowledge_interactions": True}, headers=api)
    assert accepted.status_code == 201


def test_the_medication_form_asks_to_acknowledge_the_interaction(db, client, patient, login):
    make_medication(db, patient)
    login()
    data = {"csrf_token": csrf(client, "/medications/new"), "name": "Ambien", "amount": "5", "times": "22:00"}
    refused = client.post("/medications/new", data=data)
    assert refused.status_code == 409 and 'name="acknowledge_interactions"' in page_text(refused)
    added = client.post("/medications/new", data={**data, "acknowledge_interactions": "on"})
    assert added.status_code == 302 and added.location.endswith("/safety/zolpidem")


# ---------------------------------------------------------------- the Safety page


def test_the_baclofen_safety_page_says_what_the_seed_says_each_with_its_source(client):
    text = page_text(client.get("/safety/baclofen"))
    for words in (
        "Never stop suddenly",
        "hallucinations, seizures",
        "emergency services (911)",
        "sleep aids, opioid",
        "slow your breathing",
        "Do not drive",
        "Kidney disease",
        "rash, swelling, or shortness of breath",
        "Pregnancy and breastfeeding",
        "drink of water",
        "not in checked luggage",
        "pump card",
        "https://medlineplus.gov/druginfo/meds/a682530.html",
    ):
        assert words in text, words
    assert text.count("Source:") == len(safety_texts.BACLOFEN)


@pytest.mark.parametrize(
    "name, words",
    [
        ("Clonidine", "dangerous rise in blood pressure"),  # a withdrawal-risk class: its risk leads
        ("Lisinopril", "Take it as prescribed"),  # the generic fallback
        ("Frobnicator", "Take it as prescribed"),  # unknown to every source
    ],
)
def test_other_medications_get_the_generic_safety_texts(client, name, words):
    response = client.get(f"/safety/{name}")
    assert response.status_code == 200 and words in page_text(response)


def test_a_medication_carries_its_safety_url_and_its_card_and_dose_page_link_it(db, client, patient, login):
    api = bearer(db, patient)
    made = client.post("/api/v1/medications", json={**BACLOFEN, "name": "Lioresal"}, headers=api)
    assert made.json["safety_url"] == "/safety/baclofen"
    login()
    assert 'href="/safety/baclofen"' in page_text(client.get("/medications"))
    dose_id = db.execute("SELECT id FROM doses ORDER BY scheduled_at LIMIT 1").fetchone()[0]
    assert 'href="/safety/baclofen"' in page_text(client.get(f"/doses/{dose_id}"))


# ---------------------------------------------------------------- pumps


@pytest.fixture
def watched(db, patient):
    """The patient on intrathecal baclofen with a caregiver and a clinic."""
    medication = make_medication(
        db, patient, name="Gablofen", unit="mcg", amount=100, times=["08:00"], max_daily_amount=None
    )
    carer = link_caregiver(db, patient)
    clinic_id, code = make_clinic(db, "Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    return {"medication": medication, "carer": carer, "doctor": doctor}


def test_a_pump_alarm_date_3_days_past_is_accepted_and_everyone_is_told_at_once(db, patient, watched, tick):
    pump_id = pumps.create_pump(db, patient, watched["medication"], "2026-03-04", None, patient, START)
    assert pumps.get_pump(db, pump_id)["refill_by"] == "2026-02-27"
    tick("2026-03-07T12:01:00Z")
    mine = [m for m in messages(db) if m["user_id"] == patient]
    urgent = [m for m in mine if "pump clinic today" in m["body"]]
    assert urgent and "hallucinations" in urgent[0]["body"]
    assert not any("-5 day" in m["body"] or "(-" in m["body"] for m in mine)
    assert any(m["user_id"] == watched["carer"] and m["kind"] == "alert" for m in messages(db))
    assert any(m["user_id"] == watched["doctor"] and m["kind"] == "alert" for m in messages(db))


@pytest.mark.parametrize(
    "days_until, words",
    [(3, "(in 3 days)"), (1, "(in 1 day)"), (0, "(today)"), (-2, "2 days ago. Call your pump clinic today")],
)
def test_the_pump_reminder_never_says_a_negative_number_of_days(days_until, words):
    assert words in pumps.reminder_text(date(2026, 3, 10), days_until)


def test_the_pump_card_shows_the_dates_and_what_emergency_staff_must_know(db, client, patient, login):
    medication = make_medication(
        db, patient, name="Gablofen", unit="mcg", amount=100, times=["08:00"], max_daily_amount=None
    )
    card = {"concentration": "2000 mcg/mL", "clinic_phone": "+1 555 010 0199"}
    pump_id = pumps.create_pump(db, patient, medication, "2026-04-10", None, patient, START, card=card)
    login()
    assert f'href="/pumps/{pump_id}/card"' in page_text(client.get("/pumps"))
    text = page_text(client.get(f"/pumps/{pump_id}/card"))
    assert "Gablofen" in text and "withdrawal" in text and "Print" in text
    assert "2000 mcg/mL" in text and 'href="tel:+1 555 010 0199"' in text and "Sun 05 Apr" in text


@pytest.mark.parametrize(
    "field, value", [("clinic_phone", "call me"), ("concentration", "<b>lots</b>"), ("clinic_phone", 12)]
)
def test_a_bad_pump_card_detail_is_refused_and_writes_nothing(db, patient, field, value):
    with pytest.raises(InputError) as refused:
        pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START, card={field: value})
    assert refused.value.field == field
    assert db.execute("SELECT count(*) FROM pumps").fetchone()[0] == 0


# ---------------------------------------------------------------- side-effect triage


@pytest.mark.parametrize(
    "kind, severity, note, urgency",
    [
        ("drowsiness", 3, "can't stay awake, breathing slow", "emergency"),
        ("drowsiness", 2, "I can’t stay awake", "emergency"),  # a curly apostrophe from a phone
        ("other", 1, "short of breath", "emergency"),
        ("other", 2, "had a seizure this morning", "emergency"),
        ("other", 2, "rash and my lips are swelling", "emergency"),
        ("other", 2, "rash all over, shortness of breath", "emergency"),
        ("other", 2, "hallucinations at night", "prescriber"),
        ("other", 1, "high fever since lunch", "prescriber"),
        ("dizziness", 3, "", "prescriber"),  # severe is never "Noted" alone
        ("drowsiness", 2, "after lunch", None),
        ("headache", 1, "", None),
        ("other", 2, "a rash on my arm", None),  # a rash alone, without swelling or breathing trouble
    ],
)
def test_side_effects_with_danger_signs_say_what_to_do_at_once(kind, severity, note, urgency):
    found = side_effects.triage(kind, severity, note)
    assert (found.urgency if found else None) == urgency
    if found:
        assert ("911" in found.text) and ("prescriber" in found.text or urgency == "emergency")
        assert not re.search(r"\btake\b", found.text.lower())  # never advises a dose


def test_a_dangerous_side_effect_answers_what_to_do_and_alerts_caregivers_and_the_clinic(db, client, patient, watched):
    response = client.post(
        "/api/v1/side-effects",
        json={"kind": "drowsiness", "severity": 3, "note": "can't stay awake, breathing slow"},
        headers=bearer(db, patient),
    )
    assert response.status_code == 201 and response.json["advice"]["urgency"] == "emergency"
    assert "emergency services (911)" in response.json["advice"]["text"]
    [alert] = db.execute("SELECT kind, level FROM alerts").fetchall()
    assert tuple(alert) == ("side_effect", 3)
    told = {m["user_id"] for m in messages(db, "alert")}
    assert {watched["carer"], watched["doctor"]} <= told


def test_the_side_effect_form_never_answers_noted_alone_for_a_danger_sign(db, client, patient, login):
    make_medication(db, patient)
    login()
    data = {"csrf_token": csrf(client, "/"), "kind": "other", "severity": "2", "note": "seeing things", "next": "/"}
    assert client.post("/side-effects", data=data).status_code == 302
    text = page_text(client.get("/"))
    assert "Call your prescriber today" in text and "Noted" not in text


# ---------------------------------------------------------------- schedules that are not daily

NEW_YORK = ZoneInfo("America/New_York")


def every_other_day(start: date, every: int = 2) -> Step:
    return regimen.new_step(start, None, ["08:00"], 10, every_days=every)


@pytest.mark.parametrize(
    "start, every, first, last, expected",
    [
        # across spring-forward (Sun 8 Mar 2026): still 08:00 local on each dose day
        (date(2026, 3, 6), 2, date(2026, 3, 6), date(2026, 3, 12), ["03-06", "03-08", "03-10", "03-12"]),
        (date(2026, 3, 7), 2, date(2026, 3, 6), date(2026, 3, 12), ["03-07", "03-09", "03-11"]),
        # across fall-back (Sun 1 Nov 2026)
        (date(2026, 10, 30), 3, date(2026, 10, 28), date(2026, 11, 6), ["10-30", "11-02", "11-05"]),
        (date(2026, 3, 1), 7, date(2026, 3, 1), date(2026, 3, 22), ["03-01", "03-08", "03-15", "03-22"]),
    ],
)
def test_every_n_days_counts_local_calendar_days_from_the_start_across_dst(start, every, first, last, expected):
    steps = [every_other_day(start, every)]
    found = []
    day = first
    while day <= last:
        found += [o for o in schedule.occurrences_on(steps, day, NEW_YORK)]
        day += timedelta(days=1)
    assert [o.local_date.strftime("%m-%d") for o in found] == expected
    assert {o.scheduled_at.astimezone(NEW_YORK).strftime("%H:%M") for o in found} == {"08:00"}


@pytest.mark.parametrize(
    "days, every_days, words",
    [
        ([0, 2, 4], None, "Mon, Wed, Fri"),
        ([6], None, "Sun"),
        (None, None, "every day"),
        (None, 2, "every other day"),
        (None, 3, "every 3 days"),
    ],
)
def test_dosing_days_read_as_weekday_names(days, every_days, words):
    assert schedule.days_words(days, every_days) == words


@pytest.mark.parametrize(
    "instant, words",
    [
        ("2026-03-07T20:00:00Z", "3:00 PM"),
        ("2026-03-08T12:00:00Z", "8:00 AM tomorrow"),
        ("2026-03-09T12:00:00Z", "8:00 AM on Mon 9 Mar"),
    ],
)
def test_a_next_dose_names_its_day_when_it_is_not_today(instant, words):
    assert schedule.next_dose_words(parse_instant(instant), date(2026, 3, 7), NEW_YORK) == words


def test_every_other_day_is_entered_shown_and_scheduled(db, client, patient, login):
    api = bearer(db, patient)
    made = client.post(
        "/api/v1/medications",
        json={"name": "Metformin", "amount": 500, "times": ["07:00"], "every_days": 2, "start_date": "2026-03-08"},
        headers=api,
    )
    assert made.status_code == 201 and made.json["every_days"] == 2 and made.json["steps"][0]["every_days"] == 2
    assert [d["local_date"] for d in doses(db)] == ["2026-03-08", "2026-03-10"]  # not 9 March
    both = client.post(
        "/api/v1/medications",
        json={"name": "Aspirin", "amount": 75, "times": ["08:00"], "every_days": 2, "days": ["mon"]},
        headers=api,
    )
    assert both.status_code == 400 and both.json["error"]["field"] == "every_days"
    login()
    assert "7:00 AM, every other day" in page_text(client.get("/medications"))


def test_a_weekly_medication_shows_weekday_names_not_numbers(db, client, patient, login):
    make_medication(db, patient, name="Methotrexate", times=["08:00"], days=["mon"], max_daily_amount=None)
    login()
    text = page_text(client.get("/medications"))
    assert "8:00 AM, Mon" in text and "on 0" not in text


# ---------------------------------------------------------------- kidneys


@pytest.mark.parametrize(
    "egfr, caution, ceiling",
    [
        (None, False, 80),
        (90, False, 80),
        (60, False, 80),
        (59, True, 80),
        (30, True, 80),
        (29, True, 40),  # "cut in half or less" (the seed)
        (10, True, 40),
    ],
)
def test_kidney_function_flags_caution_under_60_and_halves_baclofens_ceiling_under_30(egfr, caution, ceiling):
    facts = formulary.facts("Baclofen")
    assert kidneys.renal_caution(egfr) is caution
    assert safety_limits.floor(facts, {}, egfr)["max_daily_amount"] == ceiling


def test_a_clinicians_own_ceiling_stands_whatever_the_kidneys():
    assert safety_limits.floor(formulary.facts("Baclofen"), {"max_daily_amount": 60}, 20)["max_daily_amount"] == 60


def test_a_drug_not_cleared_by_the_kidneys_keeps_its_ceiling():
    assert safety_limits.floor(formulary.facts("Diazepam"), {}, 20)["max_daily_amount"] == 40


@pytest.fixture
def doctor_api(db, client, patient):
    clinic_id, code = make_clinic(db, "Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    return bearer(db, doctor)


def test_an_egfr_under_30_lowers_baclofens_ceiling_and_flags_the_report_and_panel(db, client, patient, doctor_api):
    medication = make_medication(db, patient, times=["08:00", "18:00"])  # 20 mg a day
    make_medication(
        db, patient, name="Diazepam", amount=5, times=["21:00"], max_daily_amount=None, acknowledge_interactions=True
    )
    bad = client.post(f"/api/v1/patients/{patient}/kidney-function", json={"egfr": "lots"}, headers=doctor_api)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "egfr"
    recorded = client.post(
        f"/api/v1/patients/{patient}/kidney-function",
        json={"egfr": 25, "measured_on": "2026-03-05"},
        headers=doctor_api,
    )
    assert recorded.status_code == 201 and recorded.json["kidney_function"]["egfr"] == 25
    flags = {f["flag"]: f for f in recorded.json["flags"]}
    assert set(flags) == {"combined sedation", "renal caution"}
    assert (
        "Baclofen with Diazepam" in flags["combined sedation"]["detail"]
        and "FDA" in flags["combined sedation"]["source"]
    )
    assert "halved" in flags["renal caution"]["detail"]
    stored = db.execute("SELECT max_daily_amount FROM medications WHERE id = ?", [medication]).fetchone()[0]
    assert stored == 40
    # The patient may not raise baclofen past the halved ceiling.
    over = client.patch(
        f"/api/v1/medications/{medication}",
        json={"times": ["08:00", "13:00", "18:00"], "amount": 15},
        headers=bearer(db, patient),
    )
    assert over.status_code == 422 and over.json["error"]["code"] == "over_ceiling"
    [row] = client.get("/api/v1/patients", headers=doctor_api).json["patients"]
    assert row["flags"] == ["combined sedation", "renal caution"]


def test_a_patient_or_caregiver_cannot_record_kidney_function(db, client, patient, doctor_api):
    response = client.post(
        f"/api/v1/patients/{patient}/kidney-function",
        json={"egfr": 25, "measured_on": "2026-03-05"},
        headers=bearer(db, patient),
    )
    assert response.status_code == 404
    assert db.execute("SELECT count(*) FROM kidney_function").fetchone()[0] == 0


def test_the_report_shows_the_flags_and_a_clinician_records_egfr_on_it(db, client, patient, login):
    clinic_id, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    make_medication(db, patient)
    login(DOCTOR)
    report = f"/panel/patients/{patient}/report"
    form = {"csrf_token": csrf(client, report), "egfr": "45", "measured_on": "2026-03-02"}
    assert client.post(f"/panel/patients/{patient}/kidney-function", data=form).status_code == 302
    text = page_text(client.get(report))
    assert "renal caution" in text and "eGFR 45 on 2026-03-02" in text and "halved" not in text
    assert "renal caution" in page_text(client.get("/panel"))


# ---------------------------------------------------------------- a finished taper

TAPER = {
    "steps": [
        {"start_date": "2026-03-08", "end_date": "2026-03-14", "amount": 5, "times": ["08:00", "13:00", "18:00"]},
        {"start_date": "2026-03-15", "end_date": "2026-03-18", "amount": 5, "times": ["08:00", "18:00"]},
        {"start_date": "2026-03-19", "end_date": "2026-03-21", "amount": 5, "times": ["08:00"]},
    ]
}


def test_a_finished_taper_tells_the_patient_the_caregivers_and_the_clinic(db, client, patient, watched, tick):
    api = bearer(db, patient)
    baclofen = make_medication(db, patient)
    assert client.post(f"/api/v1/medications/{baclofen}/taper", json=TAPER, headers=api).status_code == 200
    tick("2026-03-22T04:00:00Z")
    tick("2026-03-22T04:01:00Z")  # a second tick tells nobody twice
    finished = [m for m in messages(db, "notice") if "taper has finished" in m["body"]]
    assert sorted(m["user_id"] for m in finished) == sorted([patient, watched["carer"], watched["doctor"]])
    mine = next(m for m in finished if m["user_id"] == patient)
    assert "call your prescriber today" in mine["body"] and "911" in mine["body"]
    assert not re.search(r"\btake\b", mine["body"].lower())


def test_a_caregivers_alert_about_baclofen_links_its_safety_page(db, client, patient, watched, tick_until):
    make_medication(db, patient)
    tick_until("2026-03-07T20:31:00Z", step=300)  # the 08:00 and 13:00 doses close unanswered
    alerts = [m for m in messages(db, "alert") if m["user_id"] == watched["carer"]]
    assert alerts and "/safety/baclofen" in alerts[0]["body"]


def test_a_skip_notice_links_the_safety_page_only_where_it_may_name_the_medication(db, patient, tick_until, settings):
    make_medication(db, patient)
    tick_until("2026-03-07T15:31:00Z", step=300)
    assert "/safety/" not in messages(db, "skip_notice")[0]["body"]  # a lock screen is not private
    settings["notify.name_medication"] = True
    tick_until("2026-03-07T20:31:00Z", step=300)
    assert "/safety/baclofen" in messages(db, "skip_notice")[-1]["body"]


def test_recording_a_pump_whose_alarm_date_passed_says_at_once_to_call_the_pump_clinic(db, client, patient, login):
    login()
    data = {"csrf_token": csrf(client, "/pumps"), "alarm_date": "2026-03-04"}
    assert client.post("/pumps", data=data).status_code == 302
    text = page_text(client.get("/pumps"))
    assert "URGENT" in text and "Call your pump clinic today" in text and "911" in text


def test_after_midnight_the_closed_window_advice_calls_this_mornings_dose_today():
    dose = missed_dose.Dose(
        scheduled_at=parse_instant("2026-03-07T23:00:00Z"),  # 6:00 PM New York
        window_closes_at=parse_instant("2026-03-08T01:30:00Z"),
        amount=10,
        status="missed",
        next_scheduled_at=parse_instant("2026-03-08T12:00:00Z"),  # 8:00 AM EDT
    )
    after_midnight = missed_dose.skip_advice(dose, NEW_YORK, parse_instant("2026-03-08T06:00:00Z"))
    evening = missed_dose.skip_advice(dose, NEW_YORK, parse_instant("2026-03-08T02:00:00Z"))
    assert "8:00 AM." in after_midnight and "8:00 AM tomorrow." in evening

"""The FHIR R4 export: a Bundle built and validated with fhir.resources' R4B classes, and its route."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from reminder import clinics, fhir, ledger, medications
from reminder.times import parse_instant, to_iso

from builders import START, bearer, doses, link_caregiver, make_clinic, make_clinician, make_medication

SNOOZE = timedelta(minutes=15)
FIRST, LAST = date(2026, 3, 7), date(2026, 3, 8)


def answer(db, clock, patient, dose_id, action, at, **kwargs):
    clock.set(parse_instant(at))
    decision = ledger.answer_dose(db, dose_id, ledger.Answer(action, "web", patient, **kwargs), clock.now(), SNOOZE)
    assert decision.outcome, decision


@pytest.fixture
def history(db, patient, clock, tick, tick_until, scenario):
    """Two days of baclofen (08:00, 13:00, 18:00 New York) with a caregiver linked:

    - 03-07 08:00 taken, 13:00 and 18:00 missed (the run of 2 alerts the caregiver),
    - 03-08 08:00 skipped ("felt dizzy"; the run of 3 reaches level 3), 13:00 unknown (the
      worker was down for the whole window, so no reminder went out), 18:00 still pending.

    Plus a titration step from 03-10 and a stopped Vitamin D taken on Mondays and Thursdays.
    """

    def two_days():
        db.execute("UPDATE users SET name = 'Pat Doe' WHERE id = ?", [patient])
        carer = link_caregiver(db, patient, "carer@example.com", "Casey", tz="America/New_York")
        baclofen = make_medication(db, patient)
        medications.update(db, baclofen, {"amount": 15, "start_date": "2026-03-10"}, FIRST, START, timedelta(hours=72))
        vitamin_d = make_medication(
            db,
            patient,
            name="Vitamin D",
            strength="1000 IU",
            amount=1,
            unit="tablet",
            times=["09:00"],
            days=["mon", "thu"],
            withdrawal_risk=False,
            max_daily_amount=None,
        )
        medications.end(db, vitamin_d, FIRST, START, reason="side effects")

        by_time = lambda day, hhmm: doses(db, medication_id=baclofen, local_date=day, local_time=hhmm)[0]["id"]  # noqa: E731
        tick_until("2026-03-07T13:10:00Z", step=300)
        answer(db, clock, patient, by_time("2026-03-07", "08:00"), "taken", "2026-03-07T13:10:00Z")
        tick_until("2026-03-08T05:31:00Z", step=600)  # 13:00 and 18:00 close unanswered
        tick_until("2026-03-08T12:05:00Z", step=600)
        answer(db, clock, patient, by_time("2026-03-08", "08:00"), "skip", "2026-03-08T12:05:00Z", reason="felt dizzy")
        tick("2026-03-08T12:10:00Z")
        tick("2026-03-08T19:31:00Z")  # one tick after the 13:00 window closed: it was never asked
        statuses = {
            (d["local_date"], d["local_time"]): d["status"]
            for d in doses(db, medication_id=baclofen)
            if d["local_date"] <= "2026-03-08"
        }
        assert statuses == {
            ("2026-03-07", "08:00"): "taken",
            ("2026-03-07", "13:00"): "missed",
            ("2026-03-07", "18:00"): "missed",
            ("2026-03-08", "08:00"): "skipped",
            ("2026-03-08", "13:00"): "unknown",
            ("2026-03-08", "18:00"): "pending",
        }
        levels = [
            row[0]
            for row in db.execute(
                "SELECT a.level FROM alerts a JOIN alert_recipients r ON r.alert_id = a.id "
                "WHERE r.user_id = ? ORDER BY a.id",
                [carer],
            )
        ]
        assert levels == [2, 3]
        return {"patient": patient, "carer": carer, "baclofen": baclofen, "vitamin_d": vitamin_d}

    return scenario("two days of baclofen with a caregiver", two_days)


def export(db, history, clock):
    return fhir.bundle(db, history["patient"], FIRST, LAST, clock.now())


def resources(body, kind):
    return [entry["resource"] for entry in body["entry"] if entry["resource"]["resourceType"] == kind]


def references(node):
    """Every ``reference`` string anywhere in the JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_the_bundle_validates_as_r4b_and_every_reference_resolves(db, history, clock):
    body = export(db, history, clock)
    parsed = Bundle.model_validate(body)
    assert parsed.type == "collection" and parsed.timestamp is not None
    assert parsed.model_dump(mode="json", exclude_none=True) == body  # a lossless round trip
    assert body["timestamp"] == "2026-03-08T19:31:00Z"
    assert Counter(entry["resource"]["resourceType"] for entry in body["entry"]) == {
        "Patient": 1,
        "MedicationRequest": 2,
        "MedicationAdministration": 5,
        "RelatedPerson": 1,
        "Communication": 2,
    }
    urls = [entry["fullUrl"] for entry in body["entry"]]
    assert len(set(urls)) == len(urls)
    assert all(entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}" for entry in body["entry"])
    found = list(references(body))
    assert found and set(found) <= set(urls)
    # stable ids: the same rows give the same fullUrls in a later export
    assert urls == [entry["fullUrl"] for entry in export(db, history, clock)["entry"]]


def test_patient_and_caregiver(db, history, clock):
    body = export(db, history, clock)
    [patient] = resources(body, "Patient")
    assert patient["name"] == [{"text": "Pat Doe"}]
    assert {(t["system"], t["value"]) for t in patient["telecom"]} == {
        ("email", "pat@example.com"),
        ("phone", "+15005550006"),
    }
    [carer] = resources(body, "RelatedPerson")
    assert carer["name"] == [{"text": "Casey"}] and carer["telecom"] == [
        {"system": "email", "value": "carer@example.com"}
    ]
    assert carer["relationship"] == [{"text": "caregiver"}] and carer["active"] is True
    assert carer["patient"]["reference"] == f"urn:uuid:{patient['id']}"


def test_a_revoked_caregiver_is_not_exported(db, history, clock):
    db.execute("UPDATE care_links SET status = 'revoked', revoked_at = ?", [to_iso(clock.now())])
    body = export(db, history, clock)
    assert resources(body, "RelatedPerson") == []
    for communication in resources(body, "Communication"):  # still named as who was told
        assert communication["recipient"] == [{"display": "Casey (caregiver)"}]
    Bundle.model_validate(body)


def test_medication_requests_carry_each_regimen_step(db, history, clock):
    body = export(db, history, clock)
    requests = {r["medicationCodeableConcept"]["text"]: r for r in resources(body, "MedicationRequest")}
    assert set(requests) == {"Baclofen 10 mg", "Vitamin D 1000 IU"}
    baclofen = requests["Baclofen 10 mg"]
    assert (baclofen["status"], baclofen["intent"]) == ("active", "order")
    assert baclofen["authoredOn"] == "2026-03-07T07:00:00-05:00"
    first, second = baclofen["dosageInstruction"]
    assert [first["sequence"], second["sequence"]] == [1, 2]
    for step in (first, second):
        assert step["timing"]["repeat"]["timeOfDay"] == ["08:00:00", "13:00:00", "18:00:00"]
        assert "dayOfWeek" not in step["timing"]["repeat"]
        assert step["maxDosePerPeriod"] == {
            "numerator": {"value": 80, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
            "denominator": {"value": 1, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
        }
    assert first["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-07", "end": "2026-03-09"}
    assert second["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-10"}
    assert first["doseAndRate"][0]["doseQuantity"]["value"] == 10
    assert second["doseAndRate"][0]["doseQuantity"]["value"] == 15

    vitamin_d = requests["Vitamin D 1000 IU"]
    assert vitamin_d["status"] == "stopped" and vitamin_d["statusReason"] == {"text": "side effects"}
    [step] = vitamin_d["dosageInstruction"]
    assert step["timing"]["repeat"]["dayOfWeek"] == ["mon", "thu"]
    assert step["timing"]["repeat"]["timeOfDay"] == ["09:00:00"]
    assert step["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "tablet"}  # not a UCUM unit
    assert "maxDosePerPeriod" not in step


@pytest.mark.parametrize(
    "ended_at, reason, status",
    [
        (None, None, "active"),
        ("2026-03-08T04:00:00Z", "taper finished", "completed"),
        ("2026-03-08T04:00:00Z", "clinician: switching to tizanidine", "stopped"),
        ("2026-03-08T04:00:00Z", None, "stopped"),
    ],
)
def test_request_status_follows_how_the_medication_ended(ended_at, reason, status):
    assert fhir._request_status({"ended_at": ended_at, "end_reason": reason}) == status


def test_one_administration_per_final_dose_and_none_for_pending(db, history, clock):
    body = export(db, history, clock)
    requests = {
        r["medicationCodeableConcept"]["text"]: f"urn:uuid:{r['id']}" for r in resources(body, "MedicationRequest")
    }
    administrations = resources(body, "MedicationAdministration")
    summary = [
        (a["status"], [r["text"] for r in a.get("statusReason", [])], a["effectiveDateTime"]) for a in administrations
    ]
    assert summary == [
        ("completed", [], "2026-03-07T08:10:00-05:00"),  # taken_at
        ("not-done", ["missed: no answer before the window closed"], "2026-03-07T13:00:00-05:00"),
        ("not-done", ["missed: no answer before the window closed"], "2026-03-07T18:00:00-05:00"),
        ("not-done", ["skipped by patient: felt dizzy"], "2026-03-08T08:00:00-04:00"),  # after the DST change
        ("unknown", [], "2026-03-08T13:00:00-04:00"),
    ]
    for administration in administrations:
        assert administration["request"]["reference"] == requests["Baclofen 10 mg"]
        assert administration["dosage"]["dose"] == {
            "value": 10,
            "unit": "mg",
            "system": "http://unitsofmeasure.org",
            "code": "mg",
        }
        assert administration["medicationCodeableConcept"] == {"text": "Baclofen 10 mg"}
    assert administrations[0]["performer"][0]["actor"]["reference"] == f"urn:uuid:{resources(body, 'Patient')[0]['id']}"
    assert "unknown" in administrations[4]["note"][0]["text"]
    exported = {a["id"] for a in administrations}
    pending = [d for d in doses(db, status="pending") if d["local_date"] <= "2026-03-08"]
    assert [d["local_time"] for d in pending] == ["18:00"]
    assert fhir._id("dose", pending[0]["id"]) not in exported
    assert len(exported) == len([d for d in doses(db) if d["status"] != "pending" and d["local_date"] <= "2026-03-08"])


def test_alerts_are_communications_to_the_caregiver(db, history, clock):
    body = export(db, history, clock)
    [carer] = resources(body, "RelatedPerson")
    [patient] = resources(body, "Patient")
    communications = resources(body, "Communication")
    assert [c["priority"] for c in communications] == ["routine", "urgent"]
    alerts = list(db.query("SELECT * FROM alerts ORDER BY id"))
    for communication, alert in zip(communications, alerts, strict=True):
        assert communication["status"] == "completed"
        assert communication["category"][0]["text"] == "medication adherence alert"
        assert communication["payload"] == [{"contentString": alert["summary"]}]
        assert parse_instant(communication["sent"]) == parse_instant(alert["created_at"])
        assert communication["recipient"] == [{"reference": f"urn:uuid:{carer['id']}", "display": "Casey"}]
        assert communication["subject"]["reference"] == f"urn:uuid:{patient['id']}"
    assert "missed 2 doses in a row of Baclofen" in communications[0]["payload"][0]["contentString"]


def test_the_period_limits_doses_and_alerts(db, history, clock):
    body = fhir.bundle(db, history["patient"], FIRST, FIRST, clock.now())
    assert [a["status"] for a in resources(body, "MedicationAdministration")] == ["completed", "not-done", "not-done"]
    assert resources(body, "Communication") == []  # the first alert was raised at 00:30 on 03-08, New York time
    Bundle.model_validate(body)


def test_an_alert_nobody_was_told_is_not_exported(db, patient, clock, tick_until):
    make_medication(db, patient)  # no caregiver, no clinic: since issue 10 the patient is told
    tick_until("2026-03-07T20:31:00Z", step=600)
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
    # An alert from before issue 10, when such alerts had nobody to tell, is still in old databases.
    db.execute("DELETE FROM alert_recipients")
    body = fhir.bundle(db, patient, FIRST, LAST, clock.now())
    assert resources(body, "Communication") == []
    assert [a["status"] for a in resources(body, "MedicationAdministration")] == ["not-done", "not-done"]


def test_a_dose_a_caregiver_gave_and_an_alert_a_clinician_heard(db, patient, clock, tick_until):
    """The caregiver who gave a dose is its performer; a clinician told of a level-3 alert is
    named as a recipient (there is no Practitioner in the bundle to point at)."""
    _, code = clinician_of(db, "North Clinic")
    clinics.join(db, patient, code, START)
    carer = link_caregiver(db, patient, "carer@example.com", "Casey", tz="America/New_York")
    baclofen = make_medication(db, patient)
    tick_until("2026-03-08T05:31:00Z", step=600)  # 08:00, 13:00 and 18:00 missed: levels 2 and 3
    tick_until("2026-03-08T12:05:00Z", step=600)
    morning = doses(db, medication_id=baclofen, local_date="2026-03-08", local_time="08:00")[0]["id"]
    answer_as = ledger.Answer("taken", "caregiver", carer)
    assert ledger.answer_dose(db, morning, answer_as, clock.now(), SNOOZE).outcome == "taken"

    body = fhir.bundle(db, patient, FIRST, LAST, clock.now())
    Bundle.model_validate(body)
    [related] = resources(body, "RelatedPerson")
    given = [a for a in resources(body, "MedicationAdministration") if a["status"] == "completed"]
    assert [a["performer"][0]["actor"] for a in given] == [
        {"reference": f"urn:uuid:{related['id']}", "display": "Casey"}
    ]
    recipients = [c["recipient"] for c in resources(body, "Communication")]
    assert recipients == [
        [{"reference": f"urn:uuid:{related['id']}", "display": "Casey"}],
        [{"reference": f"urn:uuid:{related['id']}", "display": "Casey"}, {"display": "Dr North Clinic (clinician)"}],
    ]
    assert set(references(body)) <= {entry["fullUrl"] for entry in body["entry"]}


# ---------------------------------------------------------------- the route


def clinician_of(db, name):
    clinic_id, code = make_clinic(db, name)
    return make_clinician(db, clinic_id, f"dr@{name.lower().replace(' ', '')}.example", f"Dr {name}"), code


def test_the_route_serves_the_bundle_to_the_patients_clinician_only(db, client, history, clock):
    mine, code = clinician_of(db, "North Clinic")
    clinics.join(db, history["patient"], code, clock.now())
    other, _ = clinician_of(db, "South Clinic")
    url = f"/api/v1/patients/{history['patient']}/fhir?from=2026-03-07&to=2026-03-08"

    response = client.get(url, headers=bearer(db, mine))
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    body = response.get_json(force=True)
    assert body == fhir.bundle(db, history["patient"], FIRST, LAST, clock.now())
    Bundle.model_validate(body)
    assert len(resources(body, "MedicationAdministration")) == 5
    audit = list(db.query("SELECT * FROM audit_log"))
    assert [(a["actor_id"], a["patient_id"], a["action"]) for a in audit] == [
        (mine, history["patient"], "exported FHIR")
    ]
    assert "/fhir?from=2026-03-07&to=2026-03-08" in audit[0]["detail"]

    response = client.get(url, headers=bearer(db, other))
    assert response.status_code == 404
    assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1

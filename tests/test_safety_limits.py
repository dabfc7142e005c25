"""Safety limits (issue 9): ingredients not names, ceilings, units, spacing, duplicate therapy, and
floors only a clinician may loosen. Every refusal is a 4xx with its code and writes nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder import accounts, amounts, clinics, formulary, ingredients, missed_dose, safety_limits, tapering
from reminder.errors import InputError
from reminder.times import parse_instant

from builders import doses, make_medication, make_patient, messages

BACLOFEN = {"name": "Baclofen", "strength": "10 mg", "amount": 10, "unit": "mg", "times": ["08:00", "13:00", "18:00"]}


def bearer(db, user_id):
    return {"Authorization": f"Bearer {accounts.create_token(db, user_id, parse_instant('2026-03-07T12:00:00Z'))}"}


def table_counts(db) -> dict:
    tables = ("medications", "regimen_steps", "doses", "medication_changes")
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def patient(db):
    return make_patient(db)


@pytest.fixture
def patient_api(db, patient):
    return bearer(db, patient)


@pytest.fixture
def doctor_api(db, client, patient, patient_api, clock):
    """A clinician of a clinic the patient joined."""
    clinic_id, code = clinics.create_clinic(db, "Neurology", clock.now())
    doctor = make_patient(db, email="doc@example.com", role="clinician", name="Dr A", phone=None)
    db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [clinic_id, doctor])
    assert client.post("/api/v1/me/clinics", json={"code": code}, headers=patient_api).status_code == 201
    return bearer(db, doctor)


@pytest.mark.parametrize(
    "typed, ingredient",
    [
        ("Lioresal", "baclofen"),
        ("Ozobax", "baclofen"),
        ("Kemstro", "baclofen"),
        ("baclophen", "baclofen"),
        ("baclofen 10mg", "baclofen"),
        ("Fleqsuvy", "baclofen"),  # our own table: the library does not know it
        ("Lyvispah", "baclofen"),
        ("Xanax", "alprazolam"),
        ("Klonopin", "clonazepam"),
        ("Valium", "diazepam"),
        ("Catapres", "clonidine"),
        ("Neurontin", "gabapentin"),
        ("Lyrica", "pregabalin"),
        ("Keppra", "levetiracetam"),
        ("OxyContin", "oxycodone"),
        ("Zanaflex", "tizanidine"),
        ("Ambien", "zolpidem"),
        ("Inderal", "propranolol"),
        ("St. John's Wort", None),
        ("Iron", None),
    ],
)
def test_brands_and_misspellings_resolve_to_their_ingredient(typed, ingredient):
    found = ingredients.resolve(typed)
    assert (found.name if found else None) == ingredient


@pytest.mark.parametrize(
    "typed, route, drug_class, withdrawal_risk",
    [
        ("Lioresal", None, "baclofen", True),
        ("Gablofen", None, "baclofen", True),  # an intrathecal product, whatever was chosen
        ("Zanaflex", None, "tizanidine", True),
        ("Xanax", None, "benzodiazepine", True),
        ("Depakote", None, "antiepileptic", True),
        ("Metformin", None, None, False),
    ],
)
def test_the_formulary_marks_withdrawal_risk_by_ingredient(typed, route, drug_class, withdrawal_risk):
    facts = formulary.facts(typed, route)
    assert (facts.drug_class, facts.withdrawal_risk) == (drug_class, withdrawal_risk)


def test_intrathecal_baclofen_has_its_own_route_and_no_oral_ceiling():
    facts = formulary.facts("Gablofen", "oral")
    assert facts.route == "intrathecal" and facts.limits.unit == "mcg" and facts.limits.max_daily is None


@pytest.mark.parametrize(
    "field, value, floor_value, looser",
    [
        ("on_time_minutes", 240, 60, True),
        ("on_time_minutes", 30, 60, False),
        ("skip_fraction", 1.0, 0.5, True),
        ("skip_hours_before_next", 0, 2, True),
        ("skip_hours_before_next", 3, 2, False),
        ("min_gap_fraction", 0, 0.5, True),
        ("min_gap_fraction", 0.6, 0.5, False),
        ("max_daily_amount", None, 80, True),
        ("max_daily_amount", 100, 80, True),
        ("max_daily_amount", 60, 80, False),
        ("max_daily_amount", None, None, False),
        ("max_single_amount", 50, 40, True),
        ("withdrawal_risk", False, True, True),
        ("withdrawal_risk", True, False, False),
    ],
)
def test_looser_is_judged_against_the_floor(field, value, floor_value, looser):
    assert safety_limits.is_looser(field, value, floor_value) is looser


@pytest.mark.parametrize(
    "times, refused",
    [
        (["08:00", "08:01", "08:02"], True),
        (["08:00", "09:59"], True),
        (["08:00", "10:00"], False),
        (["23:00", "00:30"], True),  # across midnight
        (["08:00", "13:00", "18:00"], False),
    ],
)
def test_dose_times_of_one_medication_are_at_least_two_hours_apart(times, refused):
    if refused:
        with pytest.raises(InputError) as caught:
            safety_limits.check_spacing(times)
        assert caught.value.code == "times_too_close" and caught.value.status == 422
    else:
        safety_limits.check_spacing(times)


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"amount": 5000, "times": ["08:00", "20:00"]}, 422, "over_ceiling"),
        ({"amount": 120, "times": ["08:00"]}, 422, "over_ceiling"),  # one dose over half the daily maximum
        ({"amount": 30, "times": ["08:00", "13:00", "18:00"]}, 422, "over_ceiling"),  # 90 mg a day
        ({"amount": 10, "unit": "g"}, 422, "unit_mismatch"),
        ({"max_daily_amount": 100}, 403, "clinician_only"),
        ({"min_gap_fraction": 0}, 403, "clinician_only"),
        ({"on_time_minutes": 240}, 403, "clinician_only"),
        ({"withdrawal_risk": False}, 403, "clinician_only"),
        ({"times": ["08:00", "08:01", "08:02"]}, 422, "times_too_close"),
    ],
)
def test_a_patient_cannot_create_baclofen_over_its_limits(db, client, patient_api, change, status, code):
    before = table_counts(db)
    response = client.post("/api/v1/medications", json={**BACLOFEN, **change}, headers=patient_api)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert table_counts(db) == before


def test_baclofen_takes_its_ceilings_and_ingredient_from_the_formulary(client, patient_api):
    created = client.post("/api/v1/medications", json={**BACLOFEN, "name": "Lioresal"}, headers=patient_api)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["max_daily_amount"] == 80 and body["max_single_amount"] == 40 and body["withdrawal_risk"]
    assert body["ingredient"]["name"] == "baclofen" and body["ingredient"]["drugbank_id"] == "DB00181"
    assert body["route"] == "oral"


def test_the_loosening_the_issue_reproduced_is_refused_and_writes_nothing(db, client, patient_api):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    before = table_counts(db)
    for change in (
        {"on_time_minutes": 240, "min_gap_fraction": 0, "skip_fraction": 1},
        {"max_daily_amount": None},
        {"amount": 5000},
    ):
        response = client.patch(f"/api/v1/medications/{medication['id']}", json=change, headers=patient_api)
        assert response.status_code in (403, 422), (change, response.json)
        assert response.json["error"]["code"] in ("clinician_only", "over_ceiling")
    assert table_counts(db) == before
    again = client.get(f"/api/v1/medications/{medication['id']}", headers=patient_api).json
    assert (again["on_time_minutes"], again["min_gap_fraction"], again["max_daily_amount"]) == (60, 0.5, 80)


def test_a_patient_tightens_and_undoes_it_but_never_past_the_floor(client, patient_api):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    path = f"/api/v1/medications/{medication['id']}"
    assert (
        client.patch(path, json={"max_daily_amount": 60, "min_gap_fraction": 0.7}, headers=patient_api).status_code
        == 200
    )
    assert (
        client.patch(path, json={"max_daily_amount": 80, "min_gap_fraction": 0.5}, headers=patient_api).status_code
        == 200
    )
    refused = client.patch(path, json={"max_daily_amount": 81}, headers=patient_api)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "clinician_only"


def test_a_clinician_loosens_with_a_reason_and_that_becomes_the_floor(db, client, patient_api, doctor_api, patient):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    path = f"/api/v1/patients/{patient}/medications/{medication['id']}"
    no_reason = client.patch(path, json={"max_daily_amount": 100}, headers=doctor_api)
    assert no_reason.status_code == 400
    changed = client.patch(
        path, json={"max_daily_amount": 100, "reason": "spasticity, renal function normal"}, headers=doctor_api
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["max_daily_amount"] == 100
    reason = db.execute("SELECT reason FROM medication_changes WHERE medication_id = ?", [medication["id"]]).fetchone()
    assert reason[0] == "spasticity, renal function normal"
    own = f"/api/v1/medications/{medication['id']}"
    assert client.patch(own, json={"max_daily_amount": 90}, headers=patient_api).status_code == 200
    assert client.patch(own, json={"max_daily_amount": 100}, headers=patient_api).status_code == 200
    assert client.patch(own, json={"max_daily_amount": 110}, headers=patient_api).status_code == 403


def test_a_second_entry_of_one_ingredient_needs_confirming_and_shares_the_daily_maximum(db, client, patient_api):
    assert client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).status_code == 201
    before = table_counts(db)
    lioresal = {**BACLOFEN, "name": "Lioresal", "amount": 20, "times": ["10:00", "15:00", "20:00"]}
    duplicate = client.post("/api/v1/medications", json=lioresal, headers=patient_api)
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "duplicate_ingredient"
    assert "Baclofen" in duplicate.json["error"]["message"]
    over = client.post("/api/v1/medications", json={**lioresal, "confirm_duplicate": True}, headers=patient_api)
    assert over.status_code == 422 and over.json["error"]["code"] == "over_ceiling"  # 30 + 60 mg a day
    assert table_counts(db) == before
    within = {**lioresal, "amount": 20, "times": ["10:00"], "confirm_duplicate": True}
    assert client.post("/api/v1/medications", json=within, headers=patient_api).status_code == 201


def test_a_medication_the_formulary_does_not_know_keeps_the_patients_own_limits(db, patient):
    medication = make_medication(
        db,
        patient,
        name="Metformin",
        amount=500,
        max_daily_amount=None,
        withdrawal_risk=False,
        times=["08:00", "20:00"],
    )
    row = db.execute("SELECT max_daily_amount, ingredient FROM medications WHERE id = ?", [medication]).fetchone()
    assert row == (None, "metformin")


# ---------------------------------------------------------------- never double, across entries and zones

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def taken(at: str, amount: float = 20) -> missed_dose.Intake:
    return missed_dose.Intake(parse_instant(at), parse_instant(at), amount)


@pytest.mark.parametrize(
    "new_at, zone, others, most",
    [
        # Three 20 mg doses in Paris (07:00, 12:00, 17:00 UTC), then a Los Angeles evening dose at
        # 03:00 UTC: a new local day in LA, but 80 mg in 20 hours.
        (
            "2026-06-02T03:00:00Z",
            LOS_ANGELES,
            ["2026-06-01T07:00:00Z", "2026-06-01T12:00:00Z", "2026-06-01T17:00:00Z"],
            80,
        ),
        # ... and one more at 05:00 UTC: 100 mg in 22 hours, whatever the calendar says.
        (
            "2026-06-02T05:00:00Z",
            LOS_ANGELES,
            ["2026-06-01T07:00:00Z", "2026-06-01T12:00:00Z", "2026-06-01T17:00:00Z", "2026-06-02T03:00:00Z"],
            100,
        ),
        # A window that ends after the new intake counts too (an earlier-time report).
        ("2026-06-01T06:00:00Z", PARIS, ["2026-06-01T12:00:00Z", "2026-06-02T05:00:00Z"], 60),
        # Intakes exactly 24 hours apart are in different windows.
        ("2026-06-02T07:00:00Z", UTC, ["2026-06-01T07:00:00Z"], 20),
    ],
)
def test_the_daily_maximum_holds_over_any_rolling_24_hours(new_at, zone, others, most):
    assert missed_dose.most_in_a_day(20, parse_instant(new_at), zone, [taken(o) for o in others]) == most


def test_a_dose_of_a_duplicate_entry_counts_against_the_minimum_gap(db, client, patient_api, clock):
    first = client.post("/api/v1/medications", json={**BACLOFEN, "amount": 10}, headers=patient_api).json
    lioresal = {**BACLOFEN, "name": "Lioresal", "amount": 5, "times": ["08:01"], "confirm_duplicate": True}
    second = client.post("/api/v1/medications", json=lioresal, headers=patient_api).json
    clock.set(parse_instant("2026-03-07T13:01:00Z"))  # 08:01 in New York
    worker_doses = {
        row[0]: row[1]
        for row in db.execute(
            "SELECT medication_id, id FROM doses WHERE local_date = '2026-03-08' AND local_time LIKE '08:0%'"
        )
    }
    assert set(worker_doses) == {first["id"], second["id"]}
    clock.set(parse_instant("2026-03-08T12:01:00Z"))  # 08:01 EDT on Sunday
    took = client.post(
        f"/api/v1/doses/{worker_doses[first['id']]}/confirm", json={"action": "taken"}, headers=patient_api
    )
    assert took.status_code == 200, took.json
    again = client.post(
        f"/api/v1/doses/{worker_doses[second['id']]}/confirm", json={"action": "taken"}, headers=patient_api
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "too_soon"
    assert "take two" not in again.json["error"]["message"].lower().replace("don't take two", "")


# ---------------------------------------------------------------- the truth about what was taken


def Z(text: str):
    return parse_instant(text + ":00Z")


def test_a_refused_intake_asks_if_it_was_already_taken_and_yes_records_it_flagged():
    dose = missed_dose.Dose(Z("2026-03-10T17:00"), Z("2026-03-10T19:30"), 20, next_scheduled_at=Z("2026-03-10T22:00"))
    earlier = [missed_dose.Intake(Z("2026-03-10T16:30"), Z("2026-03-10T12:00"), 20)]
    rule, now = missed_dose.DoseRule(), Z("2026-03-10T17:05")
    refused = missed_dose.decide_taken(dose, now, rule, NY, earlier, 80)
    assert (refused.code, refused.outcome, refused.ask_if_already_taken) == ("too_soon", None, True)
    recorded = missed_dose.decide_taken(dose, now, rule, NY, earlier, 80, already_taken=True, watch_for="Watch.")
    assert (recorded.code, recorded.outcome, recorded.flags) == ("taken", "taken", ("too_soon",))
    assert recorded.taken_at == now and "Watch." in recorded.message and "two" not in recorded.message


def test_an_intake_over_the_daily_maximum_reported_afterwards_is_recorded_and_flagged():
    dose = missed_dose.Dose(Z("2026-03-11T00:00"), Z("2026-03-11T02:00"), 40, next_scheduled_at=Z("2026-03-11T12:00"))
    day = [missed_dose.Intake(Z(f"2026-03-10T{h}:00"), Z(f"2026-03-10T{h}:00"), 20) for h in ("12", "17", "22")]
    reported = Z("2026-03-11T00:10")
    refused = missed_dose.decide_taken(dose, Z("2026-03-11T03:00"), missed_dose.DoseRule(), NY, day, 80, reported)
    assert refused.code == "over_daily_maximum" and refused.ask_if_already_taken
    recorded = missed_dose.decide_taken(
        dose, Z("2026-03-11T03:00"), missed_dose.DoseRule(), NY, day, 80, reported, already_taken=True
    )
    assert recorded.outcome == "taken" and recorded.taken_at == reported and recorded.flags == ("over_daily_maximum",)


@pytest.fixture
def family(db, client, patient, patient_api, doctor_api):
    """The patient on baclofen 20 mg at 08:00, 13:00, 18:00 with a caregiver and a clinic."""
    medication = client.post(
        "/api/v1/medications", json={**BACLOFEN, "amount": 20, "strength": "10 mg"}, headers=patient_api
    ).json
    carer = make_patient(db, email="carer@example.com", phone=None, role="caregiver", name="Casey")
    invited = client.post("/api/v1/caregivers", json={"email": "carer@example.com"}, headers=patient_api)
    [invitation] = messages(db, "invitation")
    token = re.search(r"/invitations/([\w-]+)", invitation["body"]).group(1)
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=bearer(db, carer)).status_code == 200
    assert invited.status_code == 201
    return {"medication": medication, "carer": carer}


def test_a_too_soon_intake_the_patient_already_took_is_recorded_flagged_and_alerts_everyone(
    db, client, patient_api, family, tick, clock
):
    tick("2026-03-07T13:00:00Z")  # 08:00 in New York: the 08:00 dose is due
    morning, noon = doses(db, local_date="2026-03-07")[:2]
    clock.set(parse_instant("2026-03-07T14:55:00Z"))  # taken late, at 09:55
    taken = client.post(f"/api/v1/doses/{morning['id']}/confirm", json={"action": "taken"}, headers=patient_api)
    assert taken.status_code == 200
    clock.set(parse_instant("2026-03-07T17:00:00Z"))  # 12:00: the 13:00 dose opens, 2 h 05 after the last
    tap = {"action": "taken"}
    refused = client.post(f"/api/v1/doses/{noon['id']}/confirm", json=tap, headers=patient_api)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_soon"
    assert doses(db, id=noon["id"])[0]["status"] == "pending"
    recorded = client.post(
        f"/api/v1/doses/{noon['id']}/confirm", json={**tap, "already_taken": True}, headers=patient_api
    )
    assert recorded.status_code == 200, recorded.json
    assert recorded.json["dose"]["status"] == "taken" and recorded.json["dose"]["flags"] == ["too_soon"]
    assert "emergency services" in recorded.json["result"]["message"]
    tick("2026-03-07T17:01:00Z")
    [alert] = db.execute("SELECT kind, level, summary FROM alerts WHERE kind = 'possible_overdose'").fetchall()
    assert alert[1] == 3 and "Possible overdose" in alert[2] and "too soon" in alert[2]
    told = {row[0] for row in db.execute("SELECT user_id FROM messages WHERE kind = 'alert'")}
    assert family["carer"] in told and len(told) == 2  # the caregiver and the clinician
    tick("2026-03-07T17:02:00Z")
    assert db.execute("SELECT count(*) FROM alerts WHERE kind = 'possible_overdose'").fetchone()[0] == 1


def test_already_taken_goes_with_taken_only(db, client, patient_api, family, tick):
    tick("2026-03-07T13:00:00Z")
    morning = doses(db, local_date="2026-03-07")[0]
    response = client.post(
        f"/api/v1/doses/{morning['id']}/confirm", json={"action": "skip", "already_taken": True}, headers=patient_api
    )
    assert response.status_code == 400 and response.json["error"]["field"] == "already_taken"


@pytest.mark.parametrize(
    "days_later, change, status",
    [
        (3, {"amount": 15}, 200),  # 30 -> 45 mg a day after 3 days: one titration step
        (3, {"amount": 20}, 403),  # 30 -> 60 mg a day: two steps at once
        (1, {"amount": 15}, 403),  # a step after one day: too fast
        (1, {"amount": 5}, 409),  # a cut is not a titration: a taper or the clinician
        (1, {"times": ["08:00", "14:00", "20:00"]}, 200),  # the same total at other times
    ],
)
def test_a_patient_raises_baclofen_only_as_fast_as_start_low_go_slow_allows(
    client, patient_api, clock, days_later, change, status
):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    clock.set(parse_instant("2026-03-07T12:00:00Z") + timedelta(days=days_later))
    response = client.patch(f"/api/v1/medications/{medication['id']}", json=change, headers=patient_api)
    assert response.status_code == status, response.json
    if status == 403:
        assert (
            response.json["error"]["code"] == "clinician_only"
            and "Start low, go slow" in response.json["error"]["message"]
        )


def test_a_clinician_may_raise_faster_with_a_reason(client, patient_api, doctor_api, patient):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    path = f"/api/v1/patients/{patient}/medications/{medication['id']}"
    changed = client.patch(path, json={"amount": 20, "reason": "inpatient titration"}, headers=doctor_api)
    assert changed.status_code == 200 and changed.json["amount"] == 20


# ---------------------------------------------------------------- tapers that tablets can give


def taper(*steps):
    """Steps as (first day, last day, amount, times) over baclofen 10 mg three times a day."""
    return {"steps": [{"start_date": a, "end_date": b, "amount": c, "times": t} for a, b, c, t in steps]}


TID = ["08:00", "13:00", "18:00"]


@pytest.mark.parametrize(
    "plan, message",
    [
        # Like the issue's 60 -> 30 mg a day for 13 days -> 15 for 1 day -> stop: a one-day step.
        (
            taper(
                ("2026-03-08", "2026-03-14", 5, TID),
                ("2026-03-15", "2026-03-20", 5, ["08:00", "18:00"]),
                ("2026-03-21", "2026-03-21", 5, ["08:00"]),
            ),
            "Step 3 lasts 1 day",
        ),
        # 7.5 mg is three quarters of a 10 mg tablet.
        (
            taper(
                ("2026-03-08", "2026-03-11", 7.5, TID),
                ("2026-03-12", "2026-03-15", 5, TID),
                ("2026-03-16", "2026-03-18", 5, ["08:00", "18:00"]),
                ("2026-03-19", "2026-03-21", 5, ["08:00"]),
            ),
            "Step 1 needs 7.5 mg",
        ),
        # The last step (10 mg a day) is over a quarter of 30.
        (taper(("2026-03-08", "2026-03-14", 5, TID), ("2026-03-15", "2026-03-21", 5, ["08:00", "18:00"])), "quarter"),
    ],
)
def test_a_taper_tablets_cannot_give_or_that_stops_from_too_high_is_refused(db, client, patient_api, plan, message):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    before = table_counts(db)
    refused = client.post(f"/api/v1/medications/{medication['id']}/taper", json=plan, headers=patient_api)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "taper_invalid", refused.json
    assert message in refused.json["error"]["message"]
    assert table_counts(db) == before


@pytest.mark.parametrize(
    "amount, times, strength",
    [(10, TID, "10 mg"), (20, TID, "10 mg"), (10, ["08:00", "20:00"], "10 mg"), (20, TID + ["22:00"], "10 mg")],
)
def test_the_suggested_taper_passes_its_own_rules_in_whole_and_half_tablets(amount, times, strength):
    current = {
        "name": "Baclofen",
        "amount": amount,
        "times": times,
        "strength": strength,
        "unit": "mg",
        "min_taper_days": 14,
        "max_single_amount": 40,
    }
    steps = tapering.suggest(current, date(2026, 3, 7))
    assert steps, "a plan exists for whole and half 10 mg tablets"
    tapering.check_steps_can_be_given(steps, current)
    assert all(amounts.giveable(step.amount, strength, "mg") for step in steps)
    assert all(step.amount not in (11.2, 3.75, 7.5, 2.5) for step in steps)


@pytest.mark.parametrize(
    "amount, strength, unit, shown, giveable",
    [
        (10, "10 mg", "mg", "10 mg (1 tablet)", True),
        (15, "10 mg tablet", "mg", "15 mg (1½ tablets)", True),
        (5, "10 mg", "mg", "5 mg (½ tablet)", True),
        (7.5, "10 mg", "mg", "7.5 mg (¾ tablet)", False),
        (3.75, "10 mg", "mg", "3.75 mg (0.375 tablets)", False),
        (300, "300 mg capsule", "mg", "300 mg (1 capsule)", True),
        (150, "300 mg capsule", "mg", "150 mg (½ capsule)", False),
        (7.5, "5 mg/5 mL", "mL", "7.5 mL", True),
    ],
)
def test_amounts_read_as_tablets_where_the_strength_allows(amount, strength, unit, shown, giveable):
    assert amounts.in_hand(amount, strength, unit) == shown
    assert amounts.giveable(amount, strength, unit) is giveable


# ---------------------------------------------------------------- editing during a taper


def test_editing_times_during_a_taper_keeps_every_step_and_an_amount_change_is_refused(db, client, patient_api, clock):
    medication = client.post("/api/v1/medications", json=BACLOFEN, headers=patient_api).json
    path = f"/api/v1/medications/{medication['id']}"
    plan = taper(
        ("2026-03-08", "2026-03-14", 5, TID),
        ("2026-03-15", "2026-03-18", 5, ["08:00", "18:00"]),
        ("2026-03-19", "2026-03-21", 5, ["08:00"]),
    )
    assert client.post(f"{path}/taper", json=plan, headers=patient_api).status_code == 200
    clock.set(parse_instant("2026-03-10T14:00:00Z"))  # Tue 10 Mar, on the first step
    shown = client.get(path, headers=patient_api).json
    assert (shown["amount"], shown["times"]) == (5, TID)  # the step in effect, not the last one

    moved = client.patch(path, json={"times": ["09:00", "14:00", "19:00"]}, headers=patient_api)
    assert moved.status_code == 200, moved.json
    steps = [(s["start_date"], s["end_date"], s["amount"], s["times"]) for s in moved.json["steps"]]
    assert steps[-3:] == [
        ("2026-03-10", "2026-03-14", 5, ["09:00", "14:00", "19:00"]),
        ("2026-03-15", "2026-03-18", 5, ["09:00", "19:00"]),
        ("2026-03-19", "2026-03-21", 5, ["09:00"]),
    ]
    for change in ({"amount": 10}, {"amount": 2.5}, {"times": ["09:00", "19:00"]}):
        before = table_counts(db)
        refused = client.patch(path, json=change, headers=patient_api)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "plan_running", (change, refused.json)
        assert table_counts(db) == before


# ---------------------------------------------------------------- corrections


@pytest.fixture
def morning(db, client, patient_api, tick):
    """Baclofen 10 mg three times a day; the 08:00 dose due (13:00Z)."""
    client.post("/api/v1/medications", json={**BACLOFEN, "strength": "10 mg"}, headers=patient_api)
    db.execute("UPDATE medications SET stock = 30")
    tick("2026-03-07T13:00:00Z")
    return doses(db, local_date="2026-03-07")[0]["id"]


def confirm(client, patient_api, dose_id, **body):
    return client.post(f"/api/v1/doses/{dose_id}/confirm", json=body, headers=patient_api)


def test_a_wrong_taken_is_corrected_to_not_taken_while_the_window_is_open(db, client, patient_api, morning, clock):
    assert confirm(client, patient_api, morning, action="taken").status_code == 200
    assert db.execute("SELECT stock FROM medications").fetchone()[0] == 29
    clock.set(parse_instant("2026-03-07T13:20:00Z"))
    undone = confirm(client, patient_api, morning, action="correct", to="not_taken")
    assert undone.status_code == 200 and undone.json["dose"]["status"] == "pending", undone.json
    assert undone.json["dose"]["taken_at"] is None
    assert db.execute("SELECT stock FROM medications").fetchone()[0] == 30  # the tablet is back
    events = [row[0] for row in db.execute("SELECT kind FROM dose_events WHERE dose_id = ? ORDER BY id", [morning])]
    assert events == ["taken", "corrected"]  # the first answer is kept, the correction added
    again = confirm(client, patient_api, morning, action="taken")
    assert again.status_code == 200 and again.json["dose"]["status"] == "taken"


def test_a_skip_is_corrected_to_taken_under_the_never_double_rules(db, client, patient_api, morning, clock):
    assert confirm(client, patient_api, morning, action="skip").status_code == 200
    clock.set(parse_instant("2026-03-07T13:30:00Z"))
    corrected = confirm(client, patient_api, morning, action="correct", to="taken", taken_at="08:10")
    assert corrected.status_code == 200, corrected.json
    assert corrected.json["dose"]["status"] == "taken" and corrected.json["dose"]["taken_at"] == "2026-03-07T13:10:00Z"


def test_a_correction_after_the_window_and_the_hour_is_refused(db, client, patient_api, morning, clock):
    assert confirm(client, patient_api, morning, action="taken").status_code == 200
    clock.set(parse_instant("2026-03-07T16:00:00Z"))  # 11:00: the window closed at 10:30, the answer was at 08:00
    refused = confirm(client, patient_api, morning, action="correct", to="not_taken")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "too_late_to_correct"
    assert doses(db, id=morning)[0]["status"] == "taken"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "correct"}, "to"),
        ({"action": "correct", "to": "double"}, "to"),
        ({"action": "taken", "to": "skip"}, "to"),
    ],
)
def test_a_bad_correction_is_a_400_naming_its_field(db, client, patient_api, morning, body, field):
    response = confirm(client, patient_api, morning, **body)
    assert response.status_code == 400 and response.json["error"]["field"] == field


# ---------------------------------------------------------------- a dose change told the day before


def test_a_titration_step_is_announced_the_day_before_once_with_its_tablets(db, client, patient_api, tick):
    medication = client.post("/api/v1/medications", json={**BACLOFEN, "strength": "10 mg"}, headers=patient_api).json
    raised = client.patch(
        f"/api/v1/medications/{medication['id']}", json={"amount": 15, "start_date": "2026-03-10"}, headers=patient_api
    )
    assert raised.status_code == 200, raised.json
    tick("2026-03-09T02:00:00Z")  # 22:00 on Sun 8 Mar in New York: not at night
    assert not [m for m in messages(db, "notice") if "From tomorrow" in m["body"]]
    tick("2026-03-09T14:00:00Z")  # 10:00 on Mon 9 Mar: the day before
    [notice] = [m for m in messages(db, "notice") if "From tomorrow" in m["body"]]
    assert "From tomorrow (Tue 10 Mar)" in notice["body"] and "15 mg (1 1/2 tablets)" in notice["body"]
    assert "08:00, 13:00 and 18:00" in notice["body"] and "two" not in notice["body"]
    tick("2026-03-09T14:30:00Z")
    assert len([m for m in messages(db, "notice") if "From tomorrow" in m["body"]]) == 1


def test_a_patient_chooses_to_have_the_medication_named_in_reminders(db, client, patient_api, tick):
    client.post("/api/v1/medications", json={**BACLOFEN, "strength": "10 mg"}, headers=patient_api)
    assert client.get("/api/v1/me", headers=patient_api).json["name_medication"] is None  # the server's default
    chosen = client.patch("/api/v1/me", json={"name_medication": True}, headers=patient_api)
    assert chosen.status_code == 200 and chosen.json["name_medication"] is True
    tick("2026-03-07T13:00:00Z")
    [reminder] = messages(db, "reminder")
    assert reminder["body"].startswith("Time for your 8:00 AM dose of Baclofen 10 mg: 10 mg (1 tablet).")
    bad = client.patch("/api/v1/me", json={"name_medication": "maybe"}, headers=patient_api)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "name_medication"

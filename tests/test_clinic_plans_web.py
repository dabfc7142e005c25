"""A medication's guarded fields and plans on the web (issue 9 §1 and §5, issue 14 §2): read-only
for the patient, editable with a reason for a clinician of a linked clinic, who also writes
titration and taper plans as lists of steps."""

from __future__ import annotations

import json
import re

import pytest

from reminder import clinics

from builders import (
    DOCTOR,
    START,
    csrf,
    doses,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    page_text,
    step_form,
)


@pytest.fixture
def linked(db, app):
    """Pat on baclofen 10 mg three times a day, linked to Dr Lin's clinic; a phone for each."""
    clinic, code = make_clinic(db, "Neurology A")
    doctor = make_clinician(db, clinic)
    pat = make_patient(db, name="Pat Example")
    medication = make_medication(db, pat)
    clinics.join(db, pat, code, START)

    def phone(email: str):
        client = app.test_client()
        log_in(client, email)
        return client

    return {
        "pat": pat,
        "doctor": doctor,
        "medication": medication,
        "base": f"/panel/patients/{pat}/medications/{medication}",
        "phone": phone,
    }


def post(client, path: str, **fields):
    return client.post(path, data={"csrf_token": csrf(client, path), **fields})


def limits_of(db, medication: int) -> tuple:
    return db.execute(
        "SELECT max_daily_amount, min_gap_fraction, clinician_limits FROM medications WHERE id = ?", [medication]
    ).fetchone()


def test_the_patient_sees_the_guarded_fields_read_only_and_a_loosening_posted_by_hand_is_a_403(db, linked):
    phone = linked["phone"]("pat@example.com")
    path = f"/medications/{linked['medication']}/edit"
    page = page_text(phone.get(path))
    assert "your clinician can change this" in page and "Most per day: 80 mg" in page
    assert "Dangerous to stop suddenly: yes" in page and "No two intakes closer than 50 %" in page
    assert 'name="max_daily_amount"' not in page and 'name="withdrawal_risk"' not in page
    before = limits_of(db, linked["medication"])
    saved = post(phone, path, name="Baclofen", amount="10", unit="mg", times="08:00 13:00 19:00", strength="10 mg")
    assert saved.status_code == 302  # the form without the guarded fields changes only what it shows
    assert limits_of(db, linked["medication"]) == before
    for field, value in (("max_daily_amount", "200"), ("min_gap_fraction", "0"), ("withdrawal_risk", "off")):
        refused = post(
            phone, path, name="Baclofen", amount="10", unit="mg", times="08:00 13:00 19:00", **{field: value}
        )
        assert refused.status_code == 403 and "Your clinician can change this" in page_text(refused), field
        assert limits_of(db, linked["medication"]) == before


def test_a_clinician_loosens_a_guarded_field_on_the_form_with_a_reason_kept_beside_it(db, linked):
    phone = linked["phone"](DOCTOR)
    path = f"{linked['base']}/edit"
    page = page_text(phone.get(path))
    assert re.search(r'name="max_daily_amount"[^>]*value="80"', page) and 'name="reason"' in page
    fields = {"name": "Baclofen", "amount": "10", "unit": "mg", "times": "08:00 13:00 18:00", "strength": "10 mg"}
    refused = post(phone, path, **fields, max_daily_amount="90", reason=" ")
    assert refused.status_code == 400 and "Give the reason for the change" in page_text(refused)
    assert re.search(r'name="max_daily_amount"[^>]*value="90"', page_text(refused))  # what was typed is kept
    assert limits_of(db, linked["medication"])[0] == 80
    saved = post(phone, path, **fields, max_daily_amount="90", reason="severe spasticity, renal function normal")
    assert saved.status_code == 302 and saved.location.endswith(f"/panel/patients/{linked['pat']}/report")
    daily, _, clinician_set = limits_of(db, linked["medication"])
    assert daily == 90 and json.loads(clinician_set) == {"max_daily_amount": 90}
    [(actor, reason)] = db.execute("SELECT actor_id, reason FROM medication_changes").fetchall()
    assert (actor, reason) == (linked["doctor"], "severe spasticity, renal function normal")


def test_a_clinician_writes_a_titration_plan_as_steps_and_the_patients_card_shows_now_and_next(db, linked):
    phone = linked["phone"](DOCTOR)
    report = page_text(phone.get(f"/panel/patients/{linked['pat']}/report"))
    assert f'href="{linked["base"]}/titration">Titration plan</a>' in report
    path = f"{linked['base']}/titration"
    page = page_text(phone.get(path))
    assert page.count("<h1") == 1 and "Titration plan: Baclofen" in page and 'id="end_date-1"' not in page
    rows = step_form(("2026-03-09", "15", ""), ("2026-03-12", "20", ""), fields=("start_date", "amount", "times"))
    saved = post(phone, path, **rows, reason="walking still limited by spasticity")
    assert saved.status_code == 302
    assert [d["amount"] for d in doses(db, local_date="2026-03-09")] == [15, 15, 15]
    [change] = db.execute("SELECT reason, change FROM medication_changes").fetchall()
    assert change[0] == "walking still limited by spasticity" and "titration" in json.loads(change[1])

    card = page_text(linked["phone"]("pat@example.com").get("/medications"))
    assert "Now: 10 mg (1 tablet) at 08:00, 13:00, 18:00" in card
    assert "From Mon 09 Mar: 15 mg (1½ tablets) at 08:00, 13:00, 18:00" in card


def test_a_bad_titration_step_is_shown_beside_its_row_with_what_was_typed_and_nothing_written(db, linked):
    phone = linked["phone"](DOCTOR)
    path = f"{linked['base']}/titration"
    before = db.execute("SELECT * FROM regimen_steps").fetchall()
    rows = step_form(("2026-03-09", "15", ""), ("2026-03-10", "20", ""), fields=("start_date", "amount", "times"))
    refused = post(phone, path, **rows, reason="titrate")
    page = page_text(refused)
    assert refused.status_code == 422
    beside = re.search(r'id="step-1-error">([^<]*)<', page)
    assert beside and "lasts 1 day: each step lasts at least 3 days" in beside.group(1)
    assert 'name="start_date-2" type="date" value="2026-03-10"' in page and 'value="titrate"' not in page
    assert ">titrate</textarea>" in page
    assert db.execute("SELECT * FROM regimen_steps").fetchall() == before
    missing = post(phone, path, **step_form(("2026-03-09", "15"), fields=("start_date", "amount")), reason="")
    assert missing.status_code == 400 and "Give the reason" in page_text(missing)
    assert db.execute("SELECT count(*) FROM medication_changes").fetchone()[0] == 0


def test_a_clinician_writes_a_taper_plan_with_a_reason(db, linked):
    phone = linked["phone"](DOCTOR)
    rows = step_form(
        ("2026-03-08", "2026-03-12", "10", "08:00 18:00"),
        ("2026-03-13", "2026-03-17", "5", "08:00 18:00"),
        ("2026-03-18", "2026-03-21", "5", "08:00"),
    )
    saved = post(phone, f"{linked['base']}/taper", **rows, reason="sedation at work")
    assert saved.status_code == 302
    assert db.execute("SELECT ends_at FROM medications").fetchone()[0] == "2026-03-22T04:00:00Z"
    assert db.execute("SELECT reason FROM medication_changes").fetchall() == [("sedation at work",)]


@pytest.mark.parametrize("page", ["edit", "titration", "taper"])
def test_only_a_clinician_of_a_linked_clinic_opens_the_clinicians_medication_pages(db, linked, page):
    other_clinic, _ = make_clinic(db, "Neurology B")
    make_clinician(db, other_clinic, "doc@b.example")
    path = f"{linked['base']}/{page}"
    assert linked["phone"](DOCTOR).get(path).status_code == 200
    for email in ("pat@example.com", "doc@b.example"):
        assert linked["phone"](email).get(path).status_code == 404, email


def test_the_patient_moves_their_times_on_the_form_during_a_titration_and_keeps_the_plan(db, linked):
    rows = step_form(("2026-03-09", "15", ""), ("2026-03-12", "20", ""), fields=("start_date", "amount", "times"))
    assert post(linked["phone"](DOCTOR), f"{linked['base']}/titration", **rows, reason="titrate").status_code == 302
    phone = linked["phone"]("pat@example.com")
    path = f"/medications/{linked['medication']}/edit"
    moved = post(phone, path, name="Baclofen", strength="10 mg", amount="10", unit="mg", times="07:00 13:00 19:00")
    assert moved.status_code == 302
    steps = db.execute("SELECT start_date, amount, times FROM regimen_steps WHERE start_date >= '2026-03-09'")
    assert [(s[0], s[1], json.loads(s[2])) for s in steps.fetchall()] == [
        ("2026-03-09", 15, ["07:00", "13:00", "19:00"]),
        ("2026-03-12", 20, ["07:00", "13:00", "19:00"]),
    ]

"""A patient's data rights: everything downloadable, and an account deleted for good (issue 11)."""

from __future__ import annotations

import json

from reminder import clinics, side_effects

from builders import (
    START,
    bearer,
    csrf,
    link_caregiver,
    log_in,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    messages,
    page_text,
)


def a_patient_with_a_life(db, tick, settings):
    """Pat on baclofen with a reminder sent, a side effect, Carol as caregiver and a clinic."""
    patient = make_patient(db)
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    side_effects.record(db, patient, {"kind": "dizziness", "severity": 2, "note": ""}, START, settings)
    carol = link_caregiver(db, patient)
    clinic_id, code = make_clinic(db, "Northside Neurology")
    doctor = make_clinician(db, clinic_id)
    clinics.join(db, patient, code, START)
    clinics.audit(db, doctor, patient, "viewed report", START)
    return patient, carol, doctor


def test_the_export_holds_every_kind_of_the_patients_data_and_no_secret(client, db, tick, settings):
    patient, _, _ = a_patient_with_a_life(db, tick, settings)
    response = client.get("/api/v1/me/export", headers=bearer(db, patient))
    assert response.status_code == 200
    data = response.json
    assert data["profile"]["email"] == "pat@example.com"
    assert [m["name"] for m in data["medications"]] == ["Baclofen"]
    assert data["medications"][0]["regimen_steps"]
    assert len(data["doses"]) >= 3 and data["side_effects"][0]["kind"] == "dizziness"
    assert data["caregivers"][0]["caregiver_email"] == "carol@example.com"
    assert data["clinics"][0]["clinic_name"] == "Northside Neurology"
    assert data["messages"] and data["messages"][0]["kind"] == "reminder"
    assert "password_hash" not in json.dumps(data) and "token_hash" not in json.dumps(data)


def test_deleting_by_api_needs_the_password_then_tokens_fail_and_carers_no_longer_see_the_patient(
    app, db, tick, settings
):
    patient, carol, doctor = a_patient_with_a_life(db, tick, settings)
    headers = bearer(db, patient)
    client = app.test_client()
    refused = client.delete("/api/v1/me", json={}, headers=headers)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "confirmation_needed"
    assert client.delete("/api/v1/me", json={"password": "wrong"}, headers=headers).status_code == 400
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # nothing happened yet
    assert client.get(f"/api/v1/patients/{patient}/doses", headers=bearer(db, carol)).status_code == 200
    assert client.get(f"/api/v1/patients/{patient}/report", headers=bearer(db, doctor)).status_code == 200

    assert client.delete("/api/v1/me", json={"password": "correct-horse"}, headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get(f"/api/v1/patients/{patient}/doses", headers=bearer(db, carol)).status_code == 404
    assert client.get(f"/api/v1/patients/{patient}/report", headers=bearer(db, doctor)).status_code == 404
    for table in ("users", "medications", "doses", "side_effects", "care_links", "clinic_links", "audit_log"):
        column = "id" if table == "users" else "patient_id"
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [patient]).fetchone()[0] == 0, table
    assert db.execute("SELECT count(*) FROM messages WHERE recipient = '+15005550006'").fetchone()[0] == 0
    assert db.execute("SELECT former_user_id, role, via FROM erasures").fetchall() == [(patient, "patient", "api")]
    assert db.execute("SELECT count(*) FROM users WHERE id IN (?, ?)", [carol, doctor]).fetchone()[0] == 2


def test_a_confirmation_field_also_deletes_and_a_clinician_cannot_delete_their_account_this_way(client, db):
    doctor = make_clinician(db, make_clinic(db, "Northside")[0])
    answer = client.delete("/api/v1/me", json={"confirm": "delete my account"}, headers=bearer(db, doctor))
    assert answer.status_code == 403
    patient = make_patient(db)
    answer = client.delete("/api/v1/me", json={"confirm": "delete my account"}, headers=bearer(db, patient))
    assert answer.status_code == 204


def test_settings_offers_the_downloads_and_a_deletion_page_that_warns_about_withdrawal(client, db, tick, settings):
    a_patient_with_a_life(db, tick, settings)
    log_in(client)
    settings = page_text(client.get("/settings"))
    assert "Delete my account" in settings and "FHIR bundle" in settings
    everything = client.get("/settings/my-data.json")
    assert "attachment" in everything.headers["Content-Disposition"] and everything.json["doses"]
    ledger = client.get("/settings/my-doses.csv")
    assert ledger.mimetype == "text/csv" and "Baclofen" in ledger.get_data(as_text=True)
    assert client.get("/settings/my-fhir.json").json["resourceType"] == "Bundle"

    page = page_text(client.get("/settings/delete-account"))
    assert "Reminders for Baclofen stop" in page and "withdrawal" in page and "prescriber" in page
    wrong = client.post(
        "/settings/delete-account", data={"csrf_token": csrf(client, "/settings/delete-account"), "password": "nope"}
    )
    assert wrong.status_code == 400 and db.execute("SELECT count(*) FROM users WHERE role = 'patient'").fetchone()[0]
    done = client.post(
        "/settings/delete-account",
        data={"csrf_token": csrf(client, "/settings/delete-account"), "password": "correct-horse"},
    )
    assert done.status_code == 302 and "/login" in done.headers["Location"]
    assert db.execute("SELECT count(*) FROM users WHERE email = 'pat@example.com'").fetchone()[0] == 0
    assert client.get("/settings").status_code in (302, 401)


def test_message_texts_older_than_the_retention_setting_are_blanked_by_the_tick_and_doses_stay(db, tick, settings):
    settings["privacy.message_retention_days"] = 10
    patient = make_patient(db)
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    reminder = messages(db, "reminder")[0]
    assert reminder["body"]
    doses_before = db.execute("SELECT count(*) FROM doses").fetchone()[0]
    tick("2026-03-16T13:00:00Z")  # nine days on: kept
    assert messages(db, "reminder")[0]["body"] == reminder["body"]
    tick("2026-03-17T14:00:00Z")  # ten days on: blanked, the row and the doses stay
    pruned = messages(db, "reminder")[0]
    assert (pruned["body"], pruned["id"], pruned["status"]) == ("", reminder["id"], reminder["status"])
    assert db.execute("SELECT count(*) FROM doses").fetchone()[0] >= doses_before


def test_a_patient_whose_doses_the_worker_has_summarised_can_still_delete_their_account(db, tick):
    """The worker's panel summary row is keyed by the patient: it goes with them (it used to be
    set to NULL, which its INTEGER PRIMARY KEY refuses: the deletion failed after any tick)."""
    from reminder import erasure

    patient = make_patient(db)
    make_medication(db, patient)
    tick("2026-03-08T13:00:00Z")  # a day of doses closed and summarised
    assert db.execute("SELECT count(*) FROM panel_summaries WHERE patient_id = ?", [patient]).fetchone()[0] == 1
    erasure.erase_patient(db, patient, START, "api")
    for table in ("users", "medications", "doses", "panel_summaries"):
        column = "id" if table == "users" else "patient_id"
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [patient]).fetchone()[0] == 0, table

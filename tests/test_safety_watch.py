"""Issue 10, the rest: combined sedation on a change, kidneys below 30 against a plan in force,
side-effect alerts that end, skip notices held by quiet hours, alerts of a medication that ended.

The patient lives in America/New_York; the tests start on Saturday 2026-03-07 (builders.START).
"""

from __future__ import annotations

from builders import bearer, csrf, make_medication, page_text

# ---------------------------------------------------------------- combined sedation on a change


def test_renaming_a_medication_to_ambien_beside_baclofen_asks_for_an_acknowledgement(db, client, patient):
    make_medication(db, patient)
    other = make_medication(db, patient, name="Vitamin D", strength="", unit="mg", amount=1, times=["21:00"])
    api = bearer(db, patient)
    refused = client.patch(f"/api/v1/medications/{other}", json={"name": "Ambien", "amount": 5}, headers=api)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "interaction_warning"
    assert "slow your breathing" in refused.json["error"]["message"]
    assert db.execute("SELECT name FROM medications WHERE id = ?", [other]).fetchone()[0] == "Vitamin D"
    accepted = client.patch(
        f"/api/v1/medications/{other}",
        json={"name": "Ambien", "amount": 5, "acknowledge_interactions": True},
        headers=api,
    )
    assert accepted.status_code == 200 and accepted.json["name"] == "Ambien"


def test_a_change_that_keeps_the_drug_does_not_ask_again(db, client, patient):
    make_medication(db, patient)
    diazepam = make_medication(
        db, patient, name="Diazepam", amount=5, times=["21:00"], max_daily_amount=None, acknowledge_interactions=True
    )
    api = bearer(db, patient)
    moved = client.patch(f"/api/v1/medications/{diazepam}", json={"times": ["21:30"]}, headers=api)
    assert moved.status_code == 200
    renamed = client.patch(f"/api/v1/medications/{diazepam}", json={"name": "Valium"}, headers=api)
    assert renamed.status_code == 200  # the same ingredient by its brand


def test_the_edit_form_asks_to_acknowledge_a_rename_to_a_sedating_drug(db, client, patient, login):
    make_medication(db, patient)
    other = make_medication(db, patient, name="Vitamin D", strength="", unit="mg", amount=1, times=["21:00"])
    login()
    path = f"/medications/{other}/edit"
    data = {"csrf_token": csrf(client, path), "name": "Ambien", "amount": "5", "unit": "mg", "times": "21:00"}
    data["max_daily_amount"] = "10"
    refused = client.post(path, data=data)
    assert refused.status_code == 409 and 'name="acknowledge_interactions"' in page_text(refused)
    assert "slow your breathing" in page_text(refused)
    saved = client.post(path, data={**data, "acknowledge_interactions": "on"})
    assert saved.status_code == 302
    assert db.execute("SELECT name FROM medications WHERE id = ?", [other]).fetchone()[0] == "Ambien"

"""The web admin: an admin creates a clinic and its clinicians; nobody else reaches it."""

from __future__ import annotations

from builders import csrf, log_in, make_patient


def test_an_admin_creates_a_clinic_and_a_clinician_who_can_log_in(client, db):
    make_patient(db, email="admin@example.com", role="admin", phone=None)
    log_in(client, "admin@example.com")
    made = client.post("/admin/clinics", data={"csrf_token": csrf(client, "/admin/"), "name": "Neurology"})
    assert made.status_code == 302
    clinic_id, code = db.execute("SELECT id, join_code FROM clinics").fetchone()
    page = client.get("/admin/").get_data(as_text=True)
    assert "Neurology" in page and code in page
    added = client.post(
        "/admin/clinicians",
        data={
            "csrf_token": csrf(client, "/admin/"),
            "name": "Dr Lin",
            "email": "lin@example.com",
            "password": "long enough",
            "clinic_id": str(clinic_id),
        },
    )
    assert added.status_code == 302
    assert db.execute("SELECT role, clinic_id FROM users WHERE email = 'lin@example.com'").fetchone() == (
        "clinician",
        clinic_id,
    )


def test_bad_admin_input_is_refused_and_writes_nothing(client, db):
    make_patient(db, email="admin@example.com", role="admin", phone=None)
    log_in(client, "admin@example.com")
    assert client.post("/admin/clinics", data={"csrf_token": csrf(client, "/admin/"), "name": " "}).status_code == 400
    assert db.execute("SELECT count(*) FROM clinics").fetchone()[0] == 0
    refused = client.post(
        "/admin/clinicians",
        data={
            "csrf_token": csrf(client, "/admin/"),
            "email": "x@example.com",
            "password": "long enough",
            "clinic_id": "99",
        },
    )
    assert refused.status_code == 400 and "Choose the clinician" in refused.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM users WHERE email = 'x@example.com'").fetchone()[0] == 0


def test_the_admin_pages_are_not_found_for_anyone_else(client, db, patient):
    log_in(client, "pat@example.com")
    assert client.get("/admin/").status_code == 404
    assert client.post("/admin/clinics", data={"csrf_token": csrf(client, "/"), "name": "Sneaky"}).status_code == 404
    assert db.execute("SELECT count(*) FROM clinics").fetchone()[0] == 0

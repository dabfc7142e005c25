"""Every form keeps what was typed on error, with the error beside its field (issue 14 §2): the
field says it is invalid and points at its message, the answer is a 4xx, nothing is written, and a
password typed is never sent back."""

from __future__ import annotations

import re

from reminder import clinics, pumps

from builders import (
    DOCTOR,
    START,
    csrf,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    messages,
    page_text,
)


def post(client, path: str, data: dict, form_page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf(client, form_page or path)})


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def tied(html: str, field: str, message: str) -> bool:
    """The field is marked invalid, points at its error, and the error says ``message``."""
    field_tag = re.search(rf'<(?:input|select) id="{re.escape(field)}"[^>]*>', html)
    return (
        field_tag is not None
        and 'aria-invalid="true"' in field_tag.group(0)
        and f'aria-describedby="{field}-error"' in field_tag.group(0)
        and re.search(rf'id="{re.escape(field)}-error">[^<]*{re.escape(message)}', html) is not None
    )


def test_a_refused_pump_keeps_what_was_typed_with_the_error_beside_the_alarm_date(client, db, patient, login):
    login()
    response = post(
        client, "/pumps", {"alarm_date": "2020-01-01", "concentration": "2000 mcg/mL", "clinic_phone": "+1 555 0100"}
    )
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="2020-01-01"' in html and 'value="2000 mcg/mL"' in html and 'value="+1 555 0100"' in html
    assert tied(html, "alarm_date", "alarm_date is in the past")
    assert count(db, "pumps") == 0


def test_a_refused_pump_refill_reopens_that_pump_with_the_date_typed_and_the_error_beside_it(
    client, db, patient, login
):
    pump = pumps.create_pump(db, patient, None, "2026-04-10", None, patient, START)
    login()
    response = post(client, f"/pumps/{pump}/refills", {"alarm_date": "2020-01-01"}, "/pumps")
    html = page_text(response)
    assert response.status_code == 400
    assert re.search(r"<details open>\s*<summary>Refill done", html)
    assert f'id="alarm-{pump}"' in html and 'value="2020-01-01"' in html
    assert tied(html, f"alarm-{pump}", "in the past")
    assert count(db, "pump_refills") == 0


def test_a_refused_caregiver_invitation_keeps_the_address_with_the_error_beside_it(client, db, patient, login):
    login()
    response = post(client, "/caregivers", {"email": "carol-at-example", "phone": ""})
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="carol-at-example"' in html
    assert tied(html, "email", "Enter a valid email address")
    assert count(db, "care_links") == 0 and messages(db, "invitation") == []


def test_a_refused_sign_up_keeps_what_was_typed_but_never_the_password(client, db):
    response = post(
        client,
        "/register",
        {"name": "Robin New", "email": "robin@example.com", "password": "short1", "tz": "Europe/Paris"},
    )
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="Robin New"' in html and 'value="robin@example.com"' in html
    assert '<option value="Europe/Paris" selected>' in html
    assert tied(html, "password", "Choose a password of at least 8 characters")
    assert "short1" not in html
    assert count(db, "users") == 0 and messages(db) == []


def test_a_failed_log_in_keeps_the_email_and_puts_the_error_beside_the_password(client, db, patient):
    response = post(client, "/login", {"email": "pat@example.com", "password": "not-my-password"})
    html = page_text(response)
    assert response.status_code == 401
    assert 'value="pat@example.com"' in html and "not-my-password" not in html
    assert tied(html, "password", "That email and password don't match an account.")
    assert client.get("/").status_code == 302  # not logged in


def test_a_too_short_new_password_on_the_reset_link_is_refused_beside_the_field(app, client, db, patient):
    post(client, "/password/forgot", {"email": "pat@example.com"})
    (message,) = messages(db, "password_reset")
    link = re.search(r"/password/reset/[\w-]+", message["body"]).group(0)
    response = post(app.test_client(), link, {"password": "short1"})
    html = page_text(response)
    assert response.status_code == 400
    assert tied(html, "password", "Choose a password of at least 8 characters") and "short1" not in html
    assert app.test_client().get(link).status_code == 200  # the link still works: nothing was spent


def test_a_wrong_reset_code_keeps_the_code_typed_with_the_error_beside_it(app, client, db, patient):
    post(client, "/password/forgot", {"email": "pat@example.com", "by": "sms"})
    form = {"email": "pat@example.com", "code": "000000", "password": "a-new-password-9"}
    response = post(app.test_client(), "/password/code", form, "/password/forgot")
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="000000"' in html and "a-new-password-9" not in html
    assert tied(html, "code", "That code is not right or has expired")


def test_a_refused_clinic_code_stays_with_the_error_beside_it(client, db, patient, login):
    make_clinic(db, "Neurology")
    login()
    response = post(client, "/clinics", {"code": "NOPE1234"})
    html = page_text(response)
    assert response.status_code == 404
    assert 'value="NOPE1234"' in html
    assert tied(html, "code", "No clinic has this code")
    assert count(db, "clinic_links") == 0


def test_a_refused_egfr_shows_the_report_with_what_was_typed_and_the_error_beside_it(client, db, login):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Ours")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    login(DOCTOR)
    report = f"/panel/patients/{patient}/report"
    response = post(
        client, f"/panel/patients/{patient}/kidney-function", {"egfr": "lots", "measured_on": "2026-03-01"}, report
    )
    html = page_text(response)
    assert response.status_code == 400
    assert "Adherence report: Pat Ours" in html
    assert 'value="lots"' in html and 'value="2026-03-01"' in html
    assert tied(html, "egfr", "egfr must be a number")
    assert count(db, "kidney_function") == 0


def test_a_refused_side_effect_keeps_what_was_tapped_with_the_error_beside_the_note(client, db, patient, login):
    login()
    note = "dizzy\x07 after lunch"
    response = post(client, "/side-effects", {"kind": "dizziness", "severity": "2", "note": note, "next": "/"}, "/")
    html = page_text(response)
    assert response.status_code == 400
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert re.search(r'value="dizziness" required checked', html) and re.search(r'value="2" required checked', html)
    assert tied(html, "side-effect-note", "note must be plain text")
    assert count(db, "side_effects") == 0

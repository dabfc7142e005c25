"""Issue 11's findings, one regression test each: who may change and acknowledge, invitations tied
to their address, CSV formula cells, the headers, inputs that used to answer 500, and tokens kept
out of stored messages and the request log."""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from reminder import caregivers, delivery, links, medications, reports, side_effects
from reminder.db import immediate
from reminder.devserver import BannerlessRequestHandler
from reminder.redact import without_tokens

from builders import (
    START,
    bearer,
    doses,
    link_caregiver,
    log_in,
    make_alert,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    messages,
    page_text,
)

# ---------------------------------------------------------------- finding 1: clinician powers


def test_a_clinician_who_is_also_a_caregiver_cannot_change_or_stop_the_patients_medication(client, db, patient):
    medication = make_medication(db, patient)
    other_clinic, _ = make_clinic(db, "Elsewhere Clinic")  # the patient never joined it
    doctor = make_clinician(db, other_clinic, email="doc@elsewhere.example")
    with immediate(db):
        _, token = caregivers.invite(db, patient, email="doc@elsewhere.example", phone=None, now=START)
    caregivers.accept(db, token, doctor, START)
    headers = bearer(db, doctor)
    path = f"/api/v1/patients/{patient}/medications/{medication}"

    assert client.patch(path, json={"amount": 5, "reason": "cut"}, headers=headers).status_code == 404
    assert client.delete(f"{path}?reason=stop", headers=headers).status_code == 404
    shown = medications.to_json(db, medication)
    assert (shown["amount"], shown["ended_at"]) == (10, None)
    # As a caregiver they still see the patient's medications.
    assert client.get(f"/api/v1/patients/{patient}/medications", headers=headers).status_code == 200


def test_an_invitation_is_accepted_only_by_the_account_with_the_invited_email(client, db, patient):
    invited = client.post("/api/v1/caregivers", json={"email": "carol@example.com"}, headers=bearer(db, patient))
    token = re.search(r"/invitations/([\w-]+)", messages(db, "invitation")[0]["body"]).group(1)
    clinic, _ = make_clinic(db, "Elsewhere Clinic")
    stranger = make_clinician(db, clinic, email="doc@elsewhere.example")

    refused = client.post(f"/api/v1/invitations/{token}/accept", headers=bearer(db, stranger))
    assert refused.status_code == 403
    status = db.execute("SELECT status, caregiver_id FROM care_links WHERE id = ?", [invited.json["id"]]).fetchone()
    assert status == ("invited", None)

    carol = make_patient(db, email="Carol@Example.com", role="caregiver", phone=None)
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=bearer(db, carol)).status_code == 200


def test_an_invitation_sent_by_text_is_accepted_by_the_account_with_that_phone(client, db, patient):
    client.post("/api/v1/caregivers", json={"phone": "+12025550177"}, headers=bearer(db, patient))
    token = re.search(r"/invitations/([\w-]+)", messages(db, "invitation")[0]["body"]).group(1)
    other = make_patient(db, email="other@example.com", role="caregiver", phone="+12025550100")
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=bearer(db, other)).status_code == 403
    holder = make_patient(db, email="holder@example.com", role="caregiver", phone="+12025550177")
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=bearer(db, holder)).status_code == 200


def test_registering_through_an_invitation_needs_the_invited_email(client, db, patient):
    client.post("/api/v1/caregivers", json={"email": "carol@example.com"}, headers=bearer(db, patient))
    token = re.search(r"/invitations/([\w-]+)", messages(db, "invitation")[0]["body"]).group(1)
    page = client.get(f"/invitations/{token}").get_data(as_text=True)
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"email": "mallory@example.com", "password": "long-enough-pw", "tz": "UTC", "csrf_token": csrf_token}
    response = client.post(f"/invitations/{token}/register", data=form)
    assert response.status_code == 400
    assert "register with that email" in page_text(response)
    assert db.execute("SELECT count(*) FROM users WHERE email = 'mallory@example.com'").fetchone()[0] == 0


# ---------------------------------------------------------------- finding 6: acknowledging alerts


def test_only_people_an_alert_was_sent_to_can_acknowledge_it_through_the_api(client, db, patient):
    carer = link_caregiver(db, patient)
    alert = make_alert(db, patient, told=[carer])

    assert client.post(f"/api/v1/alerts/{alert}/ack", headers=bearer(db, patient)).status_code == 404
    assert db.execute("SELECT status FROM alerts WHERE id = ?", [alert]).fetchone()[0] == "open"
    acknowledged = client.post(f"/api/v1/alerts/{alert}/ack", headers=bearer(db, carer))
    assert acknowledged.status_code == 200 and acknowledged.json["status"] == "acknowledged"


# ---------------------------------------------------------------- finding 8: CSV


def test_csv_cells_that_a_spreadsheet_would_run_as_a_formula_are_neutralised(client, db, patient, tick):
    make_medication(db, patient, name='=HYPERLINK("http://evil.example","x")', withdrawal_risk=False)
    tick("2026-03-07T14:00:00Z")
    response = client.get(
        f"/api/v1/patients/{patient}/report.csv?from=2026-03-07&to=2026-03-07", headers=bearer(db, patient)
    )
    assert response.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(response.get_data(as_text=True))) for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_every_kind_of_formula_start_is_neutralised_in_a_csv_cell(text):
    assert reports.csv_cell(text) == "'" + text
    assert reports.csv_cell(-5) == -5 and reports.csv_cell("Baclofen") == "Baclofen"  # numbers stay numbers


# ---------------------------------------------------------------- finding 9: headers


def test_every_response_carries_the_security_headers_and_no_version_banner(client, db, patient):
    log_in(client)
    for response in (
        client.get("/"),
        client.get("/medications"),
        client.get("/api/v1/me", headers=bearer(db, patient)),
    ):
        headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        assert "Werkzeug" not in headers["Server"] and "Python" not in headers["Server"]
        assert "Strict-Transport-Security" not in headers  # plain http in tests


def test_hsts_is_sent_when_cookies_are_secure(app, client):
    app.config["REMINDER"]["server.secure_cookies"] = True
    response = client.get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_ending_a_medication_asks_on_a_page_and_no_template_has_inline_script(client, db, patient):
    medication = make_medication(db, patient, name="St. John's Wort", withdrawal_risk=False)
    log_in(client)
    listing = client.get("/medications").get_data(as_text=True)
    assert "onsubmit" not in listing and "confirm(" not in listing
    asked = client.get(f"/medications/{medication}/end")
    assert asked.status_code == 200 and "End St. John's Wort?" in page_text(asked)
    from pathlib import Path

    for template in Path(__file__).resolve().parent.parent.joinpath("templates").rglob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and not re.search(r"\son[a-z]+=", text), template.name


# ---------------------------------------------------------------- finding 10: no 500s


def test_a_side_effect_on_a_future_dose_does_not_block_editing_ending_or_a_new_zone(client, db, patient, settings):
    medication = make_medication(db, patient, name="Vitamin D", withdrawal_risk=False)
    future = [d for d in doses(db, medication_id=medication) if d["scheduled_at"] > "2026-03-08"][0]
    side_effects.record(db, patient, {"kind": "headache", "severity": 2, "dose_id": future["id"]}, START, settings)
    headers = bearer(db, patient)

    assert (
        client.patch(f"/api/v1/medications/{medication}", json={"times": ["09:00"]}, headers=headers).status_code == 200
    )
    assert client.patch("/api/v1/me", json={"tz": "Europe/Paris"}, headers=headers).status_code == 200
    assert client.delete(f"/api/v1/medications/{medication}", headers=headers).status_code in (200, 204)
    kept = db.execute("SELECT medication_id, kind FROM side_effects").fetchone()
    assert kept == (medication, "headache")  # the note stays, with its medication


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "nan", "Infinity"])
def test_on_time_minutes_that_is_not_a_finite_number_is_refused(client, db, patient, value):
    body = {"name": "Vitamin D", "amount": 1, "unit": "tablet", "times": ["08:00"], "on_time_minutes": value}
    if isinstance(value, float):
        import json

        raw = json.dumps(body)  # NaN and Infinity as Python's json writes them
        response = client.post(
            "/api/v1/medications", data=raw, content_type="application/json", headers=bearer(db, patient)
        )
    else:
        response = client.post("/api/v1/medications", json=body, headers=bearer(db, patient))
    assert response.status_code == 400


def test_a_lone_surrogate_in_a_text_field_is_bad_input(client, db, patient):
    raw = '{"name": "Vit\\ud800", "amount": 1, "unit": "tablet", "times": ["08:00"]}'
    response = client.post(
        "/api/v1/medications", data=raw, content_type="application/json", headers=bearer(db, patient)
    )
    assert response.status_code == 400
    assert db.execute("SELECT count(*) FROM medications").fetchone()[0] == 0


# ---------------------------------------------------------------- finding 5: tokens at rest


def test_a_message_handed_to_a_live_provider_keeps_its_link_without_the_token(db, live_tick, fake_twilio):
    patient = make_patient(db)
    make_medication(db, patient)
    live_tick("2026-03-07T13:00:00Z")
    [sent] = [m for m in messages(db, "reminder") if m["status"] == "sent"]
    assert "/d/[sent]" in sent["body"] and "/d/[sent]" in sent["context"]
    token = re.search(r"/d/([\w-]+)", fake_twilio.sent[0].params["Body"]).group(1)
    assert token not in sent["body"] + sent["context"] + (sent["html"] or "")


def test_the_outbox_keeps_working_links_and_says_it_is_for_development_only(client, db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:00:00Z")
    assert re.search(r"/d/[\w-]{16,}", messages(db, "reminder")[0]["body"])
    page = page_text(client.get("/dev/outbox"))
    assert "Development only" in page


def test_the_request_log_never_records_a_token(app, caplog):
    with caplog.at_level(logging.INFO, logger="werkzeug"), caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logging.getLogger("werkzeug").info('"%s" %s %s', "GET /d/AbCdEf123_-xyz HTTP/1.1", 200, 512)
        logging.getLogger("werkzeug").info("POST /invitations/Secret-Token-1/accept")
        logging.getLogger("gunicorn.access").info("%(r)s %(s)s", {"r": "GET /a/Gunicorn-Token-9 HTTP/1.1", "s": "200"})
    logged = caplog.text
    assert "Gunicorn-Token-9" not in logged and "/a/[token]" in logged
    assert "AbCdEf123_-xyz" not in logged and "Secret-Token-1" not in logged
    assert "/d/[token]" in logged


def test_redaction_covers_every_kind_of_token_link():
    text = "https://x.example/d/abc https://x.example/a/def /invitations/ghi /clinic-invitations/jkl /dose/keep"
    assert without_tokens(text) == (
        "https://x.example/d/[sent] https://x.example/a/[sent] /invitations/[sent] /clinic-invitations/[sent] /dose/keep"
    )
    secrets = "/password/reset/r1 /register/confirm/s2 /email/confirm/e3 /password/forgot"
    assert (
        without_tokens(secrets)
        == "/password/reset/[sent] /register/confirm/[sent] /email/confirm/[sent] /password/forgot"
    )


def test_the_dev_server_sends_no_version_banner(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=BannerlessRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/login", timeout=5) as response:
            servers = response.headers.get_all("Server")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert servers == ["reminder"]


def test_a_fallback_after_an_undelivered_sms_carries_a_link_that_still_opens_the_dose(
    db, live_tick, fake_twilio, smtp_server, live_settings, client
):
    patient = make_patient(db)
    db.execute("UPDATE users SET channels = ? WHERE id = ?", ['["sms"]', patient])
    make_medication(db, patient)
    live_tick("2026-03-07T13:00:00Z")
    [sms] = [m for m in messages(db, "reminder") if m["channel"] == "sms"]
    assert "/d/[sent]" in sms["body"]
    delivery.apply_provider_status(db, sms["provider_id"], "undelivered", "30003", START, live_settings)
    [email] = [m for m in messages(db, "reminder") if m["channel"] == "email"]
    token = re.search(r"/d/([\w-]{16,})", email["body"]).group(1)
    assert links.resolve(db, token, START) == sms["dose_id"]

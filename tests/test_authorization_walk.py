"""Every route of the url_map, for every kind of principal, by API token and by web session: nobody
reads or changes a patient's data without a relation that allows it (issue 11, findings 1 and 6).

One patient, Zelda, has a medication, doses, a pump, an open alert, a clinic and caregivers. Each
principal calls every route with Zelda's ids in its path and in its body. A principal may get a
2xx only on the routes their relation allows (``ALLOWED``); those are not called, so nothing of
Zelda's changes; at the end her rows must be exactly as before. An outsider's 2xx must not even
mention her. CSRF is off here: it is tested on its own, and would otherwise hide every POST.
"""

from __future__ import annotations

import pytest

from reminder import caregivers, clinics, pumps
from reminder.db import immediate

from builders import (
    START,
    bearer,
    doses,
    link_caregiver,
    log_in,
    make_alert,
    make_clinic,
    make_medication,
    make_patient,
)

MARKERS = ("Zyxlomab", "zelda@example.com")  # only Zelda's own data contains these

CAREGIVER = {
    "care.patient_view",
    "care.gave",
    "care.alert_settings",
    "care.acknowledge",
    "api.patient_medications",
    "api.patient_doses",
    "api.confirm_for_patient",
    "api.alert_settings",
    "api.acknowledge_alert",
    "api.patient_pumps GET",  # the caregiver's page shows the pumps too; recording one is clinical
}
ACKNOWLEDGE = {"care.acknowledge", "api.acknowledge_alert"}  # only for those the alert was sent to
CLINICIAN = {
    "clinic.report",
    "clinic.report_csv",
    "clinic.report_fhir",
    "api.report",
    "api.report_csv",
    "api.report_fhir",
    "api.clinician_change",
    "api.patient_medications",
    "api.patient_doses",
    "api.patient_pumps",
    "api.kidney_function",  # issue 10: the clinic records eGFR
    "clinic.kidney_function",
    "api.titration_plan",  # issue 9 §5: a clinician's plan of steps up, with a reason
    "clinic_plans.edit",  # issue 9 §1: the guarded fields, editable with a reason
    "clinic_plans.titration",
    "clinic_plans.taper",
    "api.clinician_pause",  # issue 10 §5: a clinician's pause, with a reason
    "clinic_plans.pause",
}
# What each principal may do to Zelda; everyone else may do nothing.
ALLOWED = {
    "caregiver": CAREGIVER,
    "clinician_and_caregiver": CAREGIVER,  # a caregiver's powers only: no clinic links Zelda to them
    "clinician": CLINICIAN,
}
PRINCIPALS = (
    "patient",  # Zelda herself, who may do anything but acknowledge an alert that was not sent to her
    "caregiver",
    "revoked_caregiver",
    "clinician",
    "clinician_elsewhere",
    "clinician_and_caregiver",
    "other_patient",
    "admin",
    "anonymous",
)
SKIPPED = {"static", "auth.logout", "auth.login", "auth.register", "twilio_hooks.status", "twilio_hooks.inbound"}
ZELDAS_ROWS = {  # table: the rows of it that are Zelda's
    "medications": "patient_id = :p",
    "doses": "patient_id = :p",
    "dose_events": "dose_id IN (SELECT id FROM doses WHERE patient_id = :p)",
    "pumps": "patient_id = :p",
    "alerts": "patient_id = :p",
    "care_links": "patient_id = :p",
    "clinic_links": "patient_id = :p",
    "side_effects": "patient_id = :p",
    "users": "id = :p",
}
# Her own calls (as "patient") note when her token was last used: not a change to her data.
ZELDAS_TOKENS = "SELECT id, token_hash, expires_at FROM api_tokens WHERE user_id = :p ORDER BY 1"


def zeldas_world(db) -> dict:
    """Zelda and everyone around her; returns the ids the walk puts in paths and bodies."""
    zelda = make_patient(db, email="zelda@example.com", name="Zelda Victim")
    medication = make_medication(db, zelda, name="Zyxlomab")
    clinic, code = make_clinic(db, "Zelda's Clinic")
    clinics.join(db, zelda, code, START)
    elsewhere, _ = make_clinic(db, "Elsewhere Clinic")
    people = {
        "zelda": zelda,
        "patient": zelda,
        "caregiver": link_caregiver(db, zelda, email="carol@example.com"),
        "revoked_caregiver": link_caregiver(db, zelda, email="rex@example.com"),
        "clinician": make_patient(db, email="doc@example.com", role="clinician", phone=None),
        "clinician_elsewhere": make_patient(db, email="eve@example.com", role="clinician", phone=None),
        "clinician_and_caregiver": make_patient(db, email="fay@example.com", role="clinician", phone=None),
        "other_patient": make_patient(db, email="otto@example.com", phone="+12025550142"),
        "admin": make_patient(db, email="admin@example.com", role="admin", phone=None),
    }
    for name, clinic_id in (("clinician", clinic), ("clinician_elsewhere", elsewhere)):
        db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [clinic_id, people[name]])
    db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [elsewhere, people["clinician_and_caregiver"]])
    with immediate(db):
        _, token = caregivers.invite(db, zelda, email="fay@example.com", phone=None, now=START)
    caregivers.accept(db, token, people["clinician_and_caregiver"], START)
    [rex_link] = [k for k in caregivers.links_of(db, zelda) if k["caregiver_id"] == people["revoked_caregiver"]]
    caregivers.revoke(db, zelda, rex_link["id"], START)
    make_medication(db, people["other_patient"], name="Otto's Aspirin", withdrawal_risk=False)
    [carol_link] = [k for k in caregivers.links_of(db, zelda) if k["caregiver_id"] == people["caregiver"]]
    ids = {
        "patient_id": zelda,
        "medication_id": medication,
        "dose_id": doses(db, medication_id=medication)[0]["id"],
        "pump_id": pumps.create_pump(db, zelda, medication, "2026-03-20", None, zelda, START),
        "alert_id": make_alert(db, zelda, told=[people["caregiver"], people["clinician_and_caregiver"]]),
        "link_id": carol_link["id"],
        "clinic_id": clinic,
        "token": "not-a-real-token-0123456789",
        "token_id": api_token_id(db, zelda),
        "name": "baclofen",  # a Safety page (public: no patient data)
    }
    return {"people": people, "ids": ids}


def api_token_id(db, user: int) -> int:
    """The id of a new API token of ``user`` (whose revocation by anyone else must fail)."""
    bearer(db, user)
    return db.execute("SELECT max(id) FROM api_tokens WHERE user_id = ?", [user]).fetchone()[0]


def zeldas_rows(db, zelda: int) -> dict:
    return {
        table: [tuple(row) for row in db.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", {"p": zelda})]
        for table, where in ZELDAS_ROWS.items()
    } | {"api_tokens": [tuple(row) for row in db.execute(ZELDAS_TOKENS, {"p": zelda})]}


def body_for(ids: dict) -> dict:
    """One body for every route: Zelda's ids wherever a route reads an id from its body."""
    return {
        "dose_id": ids["dose_id"],
        "medication_id": ids["medication_id"],
        "medication_ids": [ids["medication_id"]],
        "patient_id": ids["patient_id"],
        "kind": "headache",
        "severity": 1,
        "action": "taken",
        "reason": "walk",
        "amount": 5,
        "quantity": 10,
        "alarm_date": "2026-03-25",
    }


def assert_headers(response, path: str) -> None:
    headers = response.headers
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), path
    assert "script-src 'self'" in headers["Content-Security-Policy"], path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    assert headers.get("Cache-Control") == "no-store", path
    assert "Werkzeug" not in headers.get("Server", "") and "Python" not in headers.get("Server", ""), path


@pytest.fixture
def walk(app, db):
    app.config["WTF_CSRF_METHODS"] = []  # see the module docstring
    world = zeldas_world(db)
    callers = {"anonymous": (app.test_client(), {})}
    for name in PRINCIPALS[:-1]:
        client = app.test_client()
        log_in(client, db.execute("SELECT email FROM users WHERE id = ?", [world["people"][name]]).fetchone()[0])
        callers[name] = (client, bearer(db, world["people"][name]))
    return {**world, "callers": callers}


def requests_of(app, ids: dict):
    """(endpoint, method, path) for every route and method, with Zelda's ids in the path."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        path = rule.rule
        for name in rule.arguments:
            for pattern in (f"<id:{name}>", f"<path:{name}>", f"<{name}>"):
                path = path.replace(pattern, str(ids[name]))
        # A Safety page is keyed by a drug's name: public, about no one.
        names_someone = bool(set(rule.arguments) - {"name"})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path, names_someone


def test_nobody_reads_or_changes_a_patients_data_without_a_relation_that_allows_it(app, db, walk):
    ids, people = walk["ids"], walk["people"]
    before = zeldas_rows(db, people["zelda"])
    body = body_for(ids)
    wrong = []
    for principal, (client, token) in walk["callers"].items():
        allowed = ALLOWED.get(principal, set())
        for endpoint, method, path, names_zelda in requests_of(app, ids):
            if endpoint in allowed or f"{endpoint} {method}" in allowed:
                continue
            if principal == "patient" and endpoint not in ACKNOWLEDGE:
                continue
            ways = [(client, {})] if not path.startswith("/api/") else [(client, {}), (client, token)]
            for caller, headers in ways:
                query = "?reason=walk" if method == "DELETE" else ""
                response = caller.open(path + query, method=method, json=body, headers=headers)
                healthz_says_no_worker = endpoint == "ops.healthz" and response.status_code == 503
                assert response.status_code < 500 or healthz_says_no_worker, (principal, method, path)
                assert_headers(response, path)
                if not 200 <= response.status_code < 300:
                    continue
                text = response.get_data(as_text=True)
                if names_zelda or (principal not in ALLOWED and any(marker in text for marker in MARKERS)):
                    wrong.append((principal, "token" if headers else "session", method, path, response.status_code))
    assert wrong == []
    assert zeldas_rows(db, people["zelda"]) == before


def test_the_walk_reaches_real_data_where_a_relation_allows_it(walk):
    """The walk would prove nothing if every id were wrong: the allowed callers do get in."""
    ids, callers = walk["ids"], walk["callers"]
    zelda_path = f"/api/v1/patients/{ids['patient_id']}"
    carer_client, carer_token = callers["caregiver"]
    assert carer_client.get(f"{zelda_path}/doses", headers=carer_token).status_code == 200
    assert carer_client.get(f"/patients/{ids['patient_id']}").status_code == 200
    doctor_client, doctor_token = callers["clinician"]
    assert doctor_client.get(f"{zelda_path}/report", headers=doctor_token).status_code == 200
    assert doctor_client.get(f"/panel/patients/{ids['patient_id']}/report").status_code == 200
    fay_client, fay_token = callers["clinician_and_caregiver"]
    assert fay_client.post(f"/api/v1/alerts/{ids['alert_id']}/ack", headers=fay_token).status_code == 200

"""API v1, clinic routes: joining and leaving a clinic, the report and its exports, side
effects, the audit log, and clinicians' changes to a linked patient's medications. Every
clinician view of a patient's data is written to the audit log."""

from __future__ import annotations

import json
from datetime import date, timedelta  # noqa: F401
from zoneinfo import ZoneInfo

from flask import Response, abort, g, jsonify, request

from .. import clinics, delivery, ledger, medications, reports
from ..db import get_db, immediate
from ..errors import InputError
from ..times import parse_date, to_iso
from . import now, settings
from .api import _horizon, _json_body, _only, bp, medication_out

SIDE_EFFECTS = ("drowsiness", "dizziness", "weakness", "headache", "constipation", "dry_mouth", "mood_change", "other")
MAX_REPORT_DAYS = 400


def _user() -> dict:
    return g.api_user


def clinician_patient(patient_id: int, action: str, clinical: bool = False) -> dict:
    """The patient, if the caller may see them; a clinician's view is audited. ``clinical``
    routes (the report and its exports) are for the patient and their clinicians only: they
    carry every caregiver's contact details."""
    from .. import caregivers

    caller = _user()
    allowed = (
        (caller["id"] == patient_id or clinics.clinician_sees(get_db(), caller, patient_id))
        if clinical
        else caregivers.can_see(get_db(), caller["id"], patient_id)
    )
    if not allowed:
        abort(404, description="No such patient.")
    if _user()["role"] == "clinician" and _user()["id"] != patient_id:
        with immediate(get_db()):
            clinics.audit(get_db(), _user()["id"], patient_id, action, now(), request.full_path.rstrip("?"))
    return next(get_db().query("SELECT * FROM users WHERE id = ?", [patient_id]))


def report_period(patient: dict) -> tuple[date, date]:
    """``from`` and ``to`` as local dates (both included); by default the last 30 days."""
    today = now().astimezone(ZoneInfo(patient["tz"])).date()
    try:
        last = parse_date(request.args["to"]) if request.args.get("to") else today
        first = parse_date(request.args["from"]) if request.args.get("from") else last - timedelta(days=29)
    except ValueError:
        raise InputError("from", "from and to are local dates, YYYY-MM-DD.") from None
    if first > last:
        raise InputError("from", "from must not be after to.")
    if last > today + timedelta(days=366) or first < date(2000, 1, 1):
        raise InputError("to", "from and to must be real dates around now.")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise InputError("from", f"A report covers at most {MAX_REPORT_DAYS} days.")
    return first, last


@bp.route("/me/clinics", methods=["GET"])
def my_clinics():
    return jsonify({"clinics": clinics.clinics_of(get_db(), _user()["id"])})


@bp.route("/me/clinics", methods=["POST"])
def join_clinic():
    data = _json_body()
    _only(data, {"code"})
    return jsonify(clinics.join(get_db(), _user()["id"], data.get("code"), now())), 201


@bp.route("/me/clinics/<id:clinic_id>", methods=["DELETE"])
def leave_clinic(clinic_id: int):
    if not clinics.leave(get_db(), _user()["id"], clinic_id, _user()["id"], now()):
        abort(404, description="You are not linked to that clinic.")
    return jsonify({"clinic_id": clinic_id, "status": "ended"})


@bp.route("/me/audit", methods=["GET"])
def my_audit():
    return jsonify({"audit": clinics.audit_of(get_db(), _user()["id"])})


@bp.route("/patients/<id:patient_id>/report", methods=["GET"])
def report(patient_id: int):
    patient = clinician_patient(patient_id, "viewed report", clinical=True)
    first, last = report_period(patient)
    return jsonify(reports.build(get_db(), patient_id, first, last, now(), settings()))


@bp.route("/patients/<id:patient_id>/report.csv", methods=["GET"])
def report_csv(patient_id: int):
    patient = clinician_patient(patient_id, "exported CSV", clinical=True)
    first, last = report_period(patient)
    filename = f"doses-{patient_id}-{first}-{last}.csv"
    return Response(
        reports.ledger_csv(get_db(), patient_id, first, last),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/patients/<id:patient_id>/fhir", methods=["GET"])
def report_fhir(patient_id: int):
    patient = clinician_patient(patient_id, "exported FHIR", clinical=True)
    from .. import fhir

    first, last = report_period(patient)
    return Response(json.dumps(fhir.bundle(get_db(), patient_id, first, last, now())), mimetype="application/fhir+json")


@bp.route("/side-effects", methods=["POST"])
def log_side_effect():
    data = _json_body()
    _only(data, {"kind", "severity", "note", "dose_id"})
    entry = record_side_effect(_user()["id"], data)
    return jsonify(entry), 201


def record_side_effect(patient_id: int, data: dict) -> dict:
    """Check and store a side effect the patient tapped, with the dose it followed."""
    kind, severity, note, dose_id = data.get("kind"), data.get("severity"), data.get("note") or "", data.get("dose_id")
    if kind not in SIDE_EFFECTS:
        raise InputError("kind", f"kind must be one of {', '.join(SIDE_EFFECTS)}.")
    if isinstance(severity, str) and severity.isascii() and severity.isdigit():
        severity = int(severity)
    if not isinstance(severity, int) or isinstance(severity, bool) or not 1 <= severity <= 3:
        raise InputError("severity", "severity must be 1 (mild), 2 or 3 (severe).")
    if not isinstance(note, str) or len(note) > 500 or any(ord(c) < 32 and c not in "\n\t" for c in note):
        raise InputError("note", "note must be plain text of at most 500 characters.")
    medication_id = None
    if dose_id not in (None, ""):
        text = str(dose_id)
        dose = (
            ledger.load_dose(get_db(), int(text)) if text.isascii() and text.isdigit() and int(text) < 2**63 else None
        )
        if dose is None or dose["patient_id"] != patient_id:
            raise InputError("dose_id", "No such dose.", status=404)
        dose_id, medication_id = dose["id"], dose["medication_id"]
    else:
        dose_id = None
    cursor = get_db().execute(
        "INSERT INTO side_effects (patient_id, medication_id, dose_id, kind, severity, note, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [patient_id, medication_id, dose_id, kind, severity, note.strip(), to_iso(now())],
    )
    return {
        "id": cursor.lastrowid,
        "kind": kind,
        "severity": severity,
        "note": note.strip(),
        "dose_id": dose_id,
        "medication_id": medication_id,
        "at": to_iso(now()),
    }


@bp.route("/patients/<id:patient_id>/medications/<id:medication_id>", methods=["PATCH", "DELETE"])
def clinician_change(patient_id: int, medication_id: int):
    """A clinician changes or stops a linked patient's medication; a reason is required and the
    change is recorded with who made it. Stopping a withdrawal-risk drug this way is the
    clinician's confirmation (no taper needed)."""
    if _user()["role"] != "clinician":
        abort(404, description="No such medication.")
    patient = clinician_patient(patient_id, "changed medication" if request.method == "PATCH" else "stopped medication")
    current = medications.to_json(get_db(), medication_id)
    if current is None or current["patient_id"] != patient_id:
        abort(404, description="No such medication.")
    data = _json_body() if request.method == "PATCH" else {"reason": request.args.get("reason", "")}
    reason = data.pop("reason", "") if isinstance(data.get("reason", ""), str) else None
    if not reason or not reason.strip():
        raise InputError("reason", "Give the reason for the change; it is kept with the patient's record.")
    today = now().astimezone(ZoneInfo(patient["tz"])).date()
    if request.method == "DELETE":
        medications.end(get_db(), medication_id, today, now(), f"clinician: {reason.strip()}", clinician_confirmed=True)
    else:
        _only(data, medications.INPUT_FIELDS)
        medications.update(get_db(), medication_id, data, today, now(), _horizon(), by_clinician=True)
    with immediate(get_db()):
        get_db().execute(
            "INSERT INTO medication_changes (medication_id, actor_id, reason, change, at) VALUES (?, ?, ?, ?, ?)",
            [medication_id, _user()["id"], reason.strip(), json.dumps(data or {"ended": True}), to_iso(now())],
        )
    return jsonify(medication_out(medications.to_json(get_db(), medication_id)))


@bp.route("/patients/<id:patient_id>/pumps", methods=["GET", "POST"])
def patient_pumps(patient_id: int):
    """A patient's pumps, read by whoever may see the patient; recorded by the patient or one of
    their clinicians (issue 4: "a patient, or their clinician, records a pump")."""
    from .. import pumps

    if request.method == "POST":
        if _user()["id"] != patient_id and not clinics.clinician_sees(get_db(), _user(), patient_id):
            abort(404, description="No such patient.")
        patient = clinician_patient(patient_id, "recorded a pump")
        data = _json_body()
        _only(data, {"medication", "alarm_date", "refill_by"})
        pump_id = pumps.create_pump(
            get_db(),
            patient_id,
            data.get("medication"),
            data.get("alarm_date"),
            data.get("refill_by"),
            _user()["id"],
            now(),
        )
        today = now().astimezone(ZoneInfo(patient["tz"])).date()
        return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today)), 201
    patient = clinician_patient(patient_id, "viewed pumps")
    today = now().astimezone(ZoneInfo(patient["tz"])).date()
    return jsonify({"pumps": [pumps.pump_json(row, today) for row in pumps.pumps_of(get_db(), patient_id)]})


@bp.route("/clinic/invitations", methods=["POST"])
def invite_patient():
    """A clinician invites a patient to the clinic; the message's link ends in the token."""
    data = _json_body()
    _only(data, {"email", "phone"})
    db, clinician = get_db(), _user()
    with immediate(db):
        invitation_id, token = clinics.invite(
            db, clinician, email=data.get("email"), phone=data.get("phone"), now=now()
        )
        clinic = db.execute("SELECT name FROM clinics WHERE id = ?", [clinician["clinic_id"]]).fetchone()[0]
        channel, recipient = ("email", data.get("email")) if data.get("email") else ("sms", data.get("phone"))
        row = db.execute(
            "SELECT invite_email, invite_phone FROM clinic_invitations WHERE id = ?", [invitation_id]
        ).fetchone()
        recipient = row[0] if channel == "email" else row[1]
        delivery.queue_to_address(
            db,
            settings(),
            channel=channel,
            recipient=recipient,
            kind="clinic_invitation",
            now=now(),
            context={
                "name": "",
                "clinic_name": clinic,
                "link": f"{settings()['server.base_url']}/clinic-invitations/{token}",
            },
        )
    return jsonify({"id": invitation_id, "status": "invited"}), 201


@bp.route("/clinic-invitations/<token>/accept", methods=["POST"])
def accept_clinic_invitation(token: str):
    return jsonify(clinics.accept_invitation(get_db(), token, _user(), now())), 201

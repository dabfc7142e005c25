"""API v1, clinic routes: joining and leaving a clinic, the report and its exports, side
effects, the audit log, clinicians' changes to a linked patient's medications and their
invitations. Every clinician view of a patient's data is written to the audit log."""

from __future__ import annotations

import json

from flask import Response, abort, jsonify, request

from ... import access, clinician_changes, clinics, fhir, kidneys, medications, reports, side_effects, throttle
from ...db import get_db
from ...errors import InputError
from ..common import horizon, now, report_period, settings, today_in
from .common import bp, json_body, medication_out, only, user, visible_patient


@bp.route("/me/clinics", methods=["GET"])
def my_clinics():
    return jsonify({"clinics": clinics.clinics_of(get_db(), user()["id"])})


@bp.route("/me/clinics", methods=["POST"])
def join_clinic():
    data = json_body()
    only(data, {"code"})
    limit = throttle.limit_of(settings())
    return jsonify(clinics.join(get_db(), user()["id"], data.get("code"), now(), request.remote_addr, limit)), 201


@bp.route("/me/clinics/<id:clinic_id>", methods=["DELETE"])
def leave_clinic(clinic_id: int):
    """409 ``last_safety_contact`` when this is the last clinic or caregiver watching a
    withdrawal-risk medication, unless ``?confirm=true``."""
    confirm = request.args.get("confirm") == "true"
    if not clinics.leave(get_db(), user()["id"], clinic_id, user()["id"], now(), settings=settings(), confirm=confirm):
        abort(404, description="You are not linked to that clinic.")
    return jsonify({"clinic_id": clinic_id, "status": "ended"})


@bp.route("/me/audit", methods=["GET"])
def my_audit():
    return jsonify({"audit": clinics.audit_of(get_db(), user()["id"])})


@bp.route("/patients/<id:patient_id>/report", methods=["GET"])
def report(patient_id: int):
    patient = visible_patient(patient_id, "viewed report", clinical=True)
    first, last = report_period(patient)
    return jsonify(reports.build(get_db(), patient_id, first, last, now(), settings()))


@bp.route("/patients/<id:patient_id>/report.csv", methods=["GET"])
def report_csv(patient_id: int):
    patient = visible_patient(patient_id, "exported CSV", clinical=True)
    first, last = report_period(patient)
    filename = f"doses-{patient_id}-{first}-{last}.csv"
    return Response(
        reports.ledger_csv(get_db(), patient_id, first, last),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/patients/<id:patient_id>/fhir", methods=["GET"])
def report_fhir(patient_id: int):
    patient = visible_patient(patient_id, "exported FHIR", clinical=True)
    first, last = report_period(patient)
    return Response(json.dumps(fhir.bundle(get_db(), patient_id, first, last, now())), mimetype="application/fhir+json")


@bp.route("/side-effects", methods=["POST"])
def log_side_effect():
    data = json_body()
    only(data, {"kind", "severity", "note", "dose_id"})
    return jsonify(side_effects.record(get_db(), user()["id"], data, now(), settings())), 201


@bp.route("/patients/<id:patient_id>/medications/<id:medication_id>", methods=["PATCH", "DELETE"])
def clinician_change(patient_id: int, medication_id: int):
    """A clinician changes or stops a linked patient's medication; a reason is required and kept
    with the change, in the same transaction (``clinician_changes``)."""
    if not access.can_change_medications(get_db(), user(), patient_id):
        abort(404, description="No such medication.")
    stopping = request.method == "DELETE"
    patient = visible_patient(patient_id, "stopped medication" if stopping else "changed medication")
    current = medications.to_json(get_db(), medication_id)
    if current is None or current["patient_id"] != patient_id:
        abort(404, description="No such medication.")
    data = {"reason": request.args.get("reason", "")} if stopping else json_body()
    reason = clinician_changes.check_reason(data.pop("reason", ""))
    today = today_in(patient["tz"])
    if stopping:
        clinician_changes.stop(get_db(), user()["id"], medication_id, reason, today, now())
    else:
        only(data, medications.INPUT_FIELDS)
        clinician_changes.change(get_db(), user()["id"], medication_id, data, reason, today, now(), horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id)))


@bp.route("/patients/<id:patient_id>/medications/<id:medication_id>/titration", methods=["POST"])
def titration_plan(patient_id: int, medication_id: int):
    """A clinician of a linked clinic writes a plan of steps up, with a reason kept beside it
    (``clinician_changes.titrate``); the patient or a caregiver gets 403 ``clinician_only``."""
    patient = _open_medication_for_clinician(
        patient_id,
        medication_id,
        "Only a clinician of a clinic you are linked to writes a titration plan: ask them, and they will record why.",
        "wrote titration plan",
    )
    data = json_body()
    only(data, {"steps", "reason"})
    today = today_in(patient["tz"])
    clinician_changes.titrate(get_db(), user()["id"], medication_id, data, data.get("reason"), today, now(), horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id, today)))


@bp.route("/patients/<id:patient_id>/medications/<id:medication_id>/pause", methods=["POST"])
def clinician_pause(patient_id: int, medication_id: int):
    """A clinician of a linked clinic pauses a medication's reminders from today to ``until``, with a
    reason kept beside each day; alert repeats are silent on those days. Patients and caregivers
    get 403 ``clinician_only`` (their own pause is ``POST /medications/{id}/pause``)."""
    patient = _open_medication_for_clinician(
        patient_id,
        medication_id,
        "Only a clinician of a clinic you are linked to pauses a medication with a reason; "
        "to pause today's reminders yourself, use Pause on the medication.",
        "paused medication",
    )
    data = json_body()
    only(data, {"reason", "until"})
    today = today_in(patient["tz"])
    reason, until = medications.parse_pause(data, today)
    medications.pause_by_clinician(get_db(), settings(), medication_id, (today, until), user(), reason, now())
    body = {"medication_id": medication_id, "paused_from": today.isoformat(), "paused_until": until.isoformat()}
    return jsonify(body | {"reason": reason}), 201


@bp.route("/patients/<id:patient_id>/kidney-function", methods=["GET", "POST"])
def kidney_function(patient_id: int):
    """The patient's latest eGFR; a clinician of a linked clinic records one (eGFR, measured_on)."""
    if request.method == "GET":
        visible_patient(patient_id, "viewed kidney function", clinical=True)
        return jsonify({"kidney_function": kidneys.latest(get_db(), patient_id)})
    if not access.can_change_medications(get_db(), user(), patient_id):
        abort(404, description="No such patient.")
    patient = visible_patient(patient_id, "recorded kidney function")
    data = json_body()
    only(data, {"egfr", "measured_on"})
    found = kidneys.record(get_db(), patient_id, data, user()["id"], today_in(patient["tz"]), now(), settings())
    return jsonify({"kidney_function": found, "flags": reports.safety_flags(get_db(), patient_id)}), 201


@bp.route("/clinic/invitations", methods=["POST"])
def invite_patient():
    """A clinician invites a patient to the clinic; the message's link ends in the token."""
    data = json_body()
    only(data, {"email", "phone"})
    invitation_id = clinics.send_invitation(
        get_db(), settings(), user(), email=data.get("email"), phone=data.get("phone"), now=now()
    )
    return jsonify({"id": invitation_id, "status": "invited"}), 201


@bp.route("/clinic-invitations/<token>/accept", methods=["POST"])
def accept_clinic_invitation(token: str):
    return jsonify(clinics.accept_invitation(get_db(), token, user(), now())), 201


def _open_medication_for_clinician(patient_id: int, medication_id: int, refusal: str, audit: str) -> dict:
    """The patient (audited as ``audit``) of a clinician's change to a current medication: 404 when
    the caller cannot see them or the medication, 403 ``clinician_only`` (``refusal``) for a patient
    or caregiver, 409 when it has ended."""
    if not access.can_change_medications(get_db(), user(), patient_id):
        if not access.can_see(get_db(), user(), patient_id):
            abort(404, description="No such medication.")
        raise InputError(None, refusal, status=403, code="clinician_only")
    patient = visible_patient(patient_id, audit)
    current = medications.to_json(get_db(), medication_id)
    if current is None or current["patient_id"] != patient_id:
        abort(404, description="No such medication.")
    if current["ended_at"]:
        raise InputError(None, "This medication has ended.", status=409)
    return patient

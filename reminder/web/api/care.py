"""API v1, care routes: caregivers and invitations, the patients a caller may see, their
medications and doses, "I gave it", alert settings and alerts. Every route that names a
patient checks who may see what (``access``; 404 otherwise)."""

from __future__ import annotations

from flask import abort, jsonify, request

from ... import access, answers, caregivers, escalation, ledger, medications, reports
from ...db import get_db, immediate
from ...errors import InputError
from ..common import now, settings, snooze_length, today_in
from .common import answered, bp, json_body, list_doses_for, medication_out, only, user, visible_patient

NOT_GIVER = "Only the patient or their caregiver for this medication can record that a dose was given."

# ---------------------------------------------------------------- caregivers


@bp.route("/caregivers", methods=["GET"])
def list_caregivers():
    return jsonify({"caregivers": caregivers.links_of(get_db(), user()["id"])})


@bp.route("/caregivers", methods=["POST"])
def invite_caregiver():
    data = json_body()
    only(data, {"email", "phone"})
    link = caregivers.send_invitation(
        get_db(), settings(), user(), email=data.get("email"), phone=data.get("phone"), now=now()
    )
    return jsonify(caregivers.link_json(link)), 201


@bp.route("/caregivers/<id:link_id>", methods=["DELETE"])
def revoke_caregiver(link_id: int):
    """409 ``last_safety_contact`` when this is the last caregiver or clinic watching a
    withdrawal-risk medication, unless ``?confirm=true``."""
    confirm = request.args.get("confirm") == "true"
    if not caregivers.revoke(get_db(), user()["id"], link_id, now(), settings=settings(), confirm=confirm):
        abort(404, description="No such caregiver or invitation.")
    return jsonify({"id": link_id, "status": "revoked"})


@bp.route("/invitations/<token>/accept", methods=["POST"])
def accept_invitation(token: str):
    link = caregivers.accept(get_db(), token, user()["id"], now())
    return jsonify({"patient_id": link["patient_id"], "status": "active"})


# ---------------------------------------------------------------- patients a caller may see


@bp.route("/patients", methods=["GET"])
def list_patients():
    """A clinician's panel (search ``q``, ``sort``, ``page``, ``per_page``); for anyone else
    the patients they may see."""
    caller = user()
    if caller["role"] == "clinician":
        if not caller["clinic_id"]:
            return jsonify({"patients": [], "total": 0, "page": 1, "per_page": 50, "sort": "risk"})
        args = request.args
        sort = args.get("sort", "risk")
        if sort not in reports.PANEL_SORTS:
            raise InputError("sort", f"sort must be one of {', '.join(sorted(reports.PANEL_SORTS))}.")
        try:
            page, per_page = int(args.get("page", 1)), int(args.get("per_page", 50))
        except ValueError:
            raise InputError("page", "page and per_page must be whole numbers.") from None
        if not (1 <= page <= 100000 and 1 <= per_page <= 500):
            raise InputError("page", "page must be at least 1 and per_page between 1 and 500.")
        return jsonify(reports.panel(get_db(), caller["clinic_id"], now(), args.get("q", ""), sort, page, per_page))
    return jsonify({"patients": caregivers.patients_of(get_db(), caller["id"])})


@bp.route("/patients/<id:patient_id>/medications", methods=["GET"])
def patient_medications(patient_id: int):
    patient = _viewed(patient_id)
    db = get_db()
    return jsonify(
        {
            "medications": [
                medication_out(medications.to_json(db, i, today_in(patient["tz"])))
                for i in medications.patient_medication_ids(db, patient_id)
            ]
        }
    )


@bp.route("/patients/<id:patient_id>/doses", methods=["GET"])
def patient_doses(patient_id: int):
    _viewed(patient_id)
    return list_doses_for(patient_id)


@bp.route("/patients/<id:patient_id>/doses/<id:dose_id>/confirm", methods=["POST"])
def confirm_for_patient(patient_id: int, dose_id: int):
    """ "I gave it": the same missed-dose and never-double rules; the caregiver is the actor.
    A caregiver may lift the minimum gap by giving a reason (domain.md section 2). Only the
    patient or a caregiver whose link covers the medication records it (``access.can_give``)."""
    _viewed(patient_id)
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != patient_id:
        abort(404, description="No such dose.")
    if user()["id"] != patient_id and not access.can_give(get_db(), user(), patient_id, dose["medication_id"]):
        raise InputError(None, NOT_GIVER, status=403, code="not_a_caregiver")
    data = json_body()
    source = "caregiver" if user()["id"] != patient_id else "api"
    answer = answers.read_answer(get_db(), data, dose_id, source=source, actor_id=user()["id"])
    if source == "caregiver" and answer.reason:
        answer = ledger.Answer(
            answer.action, answer.source, answer.actor_id, answer.reported_at, answer.reason, override_gap=True
        )
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    return answered(dose_id, decision)


@bp.route("/patients/<id:patient_id>/alert-settings", methods=["PATCH"])
def alert_settings(patient_id: int):
    """A caregiver's choice for one patient: which medications, which channel."""
    data = json_body()
    only(data, {"medication_ids", "channel", "all_medications"})
    with immediate(get_db()):
        caregivers.update_settings(get_db(), patient_id, user()["id"], data)
    return jsonify(caregivers.link_json(caregivers.active_link(get_db(), user()["id"], patient_id)))


def _viewed(patient_id: int) -> dict:
    """The patient if the caller may see them, audited as "viewed" and the path's last part."""
    return visible_patient(patient_id, f"viewed {request.path.rsplit('/', 1)[-1]}")


# ---------------------------------------------------------------- alerts


@bp.route("/alerts", methods=["GET"])
def list_alerts():
    ids = escalation.alert_patients(get_db(), user())
    return jsonify({"alerts": [escalation.alert_json(a) for a in escalation.alerts_for(get_db(), ids)]})


@bp.route("/alerts/<id:alert_id>/ack", methods=["POST"])
def acknowledge_alert(alert_id: int):
    db = get_db()
    rows = list(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
    if not rows or not access.can_acknowledge(db, user(), alert_id):
        abort(404, description="No such alert.")
    with immediate(db):
        escalation.acknowledge_by(db, alert_id, user()["id"], now())
    alert = next(a for a in escalation.alerts_for(db, [rows[0]["patient_id"]], 1000) if a["id"] == alert_id)
    return jsonify(escalation.alert_json(alert))

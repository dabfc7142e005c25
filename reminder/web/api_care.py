"""API v1, care routes: caregivers and invitations, the patients a caller may see, alerts,
refills, pumps, tapers and pauses. Every route checks who may see what (404 otherwise)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, g, jsonify, request  # noqa: F401

from .. import caregivers, delivery, escalation, ledger, medications, pumps, reports, supply, tapering
from ..db import get_db, immediate
from ..errors import InputError
from . import now, settings
from .api import _horizon, _json_body, _only, _own_medication, bp, dose_json, list_doses_for, medication_out
from .dose_link import DECISION_STATUS, read_answer, snooze_length
from .errors import json_error


def _user() -> dict:
    return g.api_user


def _visible_patient(patient_id: int) -> dict:
    from .api_clinic import clinician_patient

    return clinician_patient(patient_id, f"viewed {request.path.rsplit('/', 1)[-1]}")


# ---------------------------------------------------------------- caregivers


@bp.route("/caregivers", methods=["GET"])
def list_caregivers():
    return jsonify({"caregivers": caregivers.links_of(get_db(), _user()["id"])})


@bp.route("/caregivers", methods=["POST"])
def invite_caregiver():
    data = _json_body()
    _only(data, {"email", "phone"})
    db, patient = get_db(), _user()
    with immediate(db):
        link_id, token = caregivers.invite(
            db, patient["id"], email=data.get("email"), phone=data.get("phone"), now=now()
        )
        link = next(db.query("SELECT * FROM care_links WHERE id = ?", [link_id]))
        channel, recipient = ("email", link["invite_email"]) if link["invite_email"] else ("sms", link["invite_phone"])
        delivery.queue_to_address(
            db,
            settings(),
            channel=channel,
            recipient=recipient,
            kind="invitation",
            now=now(),
            context={
                "name": "",
                "patient_name": patient["name"] or patient["email"],
                "link": f"{settings()['server.base_url']}/invitations/{token}",
            },
        )
    return jsonify(caregivers.link_json(link)), 201


@bp.route("/caregivers/<id:link_id>", methods=["DELETE"])
def revoke_caregiver(link_id: int):
    if not caregivers.revoke(get_db(), _user()["id"], link_id, now()):
        abort(404, description="No such caregiver or invitation.")
    return jsonify({"id": link_id, "status": "revoked"})


@bp.route("/invitations/<token>/accept", methods=["POST"])
def accept_invitation(token: str):
    link = caregivers.accept(get_db(), token, _user()["id"], now())
    return jsonify({"patient_id": link["patient_id"], "status": "active"})


# ---------------------------------------------------------------- patients a caller may see


@bp.route("/patients", methods=["GET"])
def list_patients():
    """A clinician's panel (search ``q``, ``sort``, ``page``, ``per_page``); for anyone else
    the patients they may see."""
    user = _user()
    if user["role"] == "clinician":
        if not user["clinic_id"]:
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
        return jsonify(reports.panel(get_db(), user["clinic_id"], now(), args.get("q", ""), sort, page, per_page))
    return jsonify({"patients": caregivers.patients_of(get_db(), user["id"])})


@bp.route("/patients/<id:patient_id>/medications", methods=["GET"])
def patient_medications(patient_id: int):
    _visible_patient(patient_id)
    db = get_db()
    return jsonify(
        {
            "medications": [
                medication_out(medications.to_json(db, i)) for i in medications.patient_medication_ids(db, patient_id)
            ]
        }
    )


@bp.route("/patients/<id:patient_id>/doses", methods=["GET"])
def patient_doses(patient_id: int):
    _visible_patient(patient_id)
    return list_doses_for(patient_id)


@bp.route("/patients/<id:patient_id>/doses/<id:dose_id>/confirm", methods=["POST"])
def confirm_for_patient(patient_id: int, dose_id: int):
    """ "I gave it": the same missed-dose and never-double rules; the caregiver is the actor.
    A caregiver may lift the minimum gap by giving a reason (domain.md section 2)."""
    _visible_patient(patient_id)
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != patient_id:
        abort(404, description="No such dose.")
    data = _json_body()
    source = "caregiver" if _user()["id"] != patient_id else "api"
    answer = read_answer(data, dose_id, source=source, actor_id=_user()["id"])
    if source == "caregiver" and answer.reason:
        answer = ledger.Answer(
            answer.action, answer.source, answer.actor_id, answer.reported_at, answer.reason, override_gap=True
        )
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    status = DECISION_STATUS[decision.code]
    if status >= 400:
        return json_error(status, decision.code, decision.message, "taken_at" if decision.code == "bad_time" else None)
    return jsonify(
        {
            "result": {"code": decision.code, "message": decision.message},
            "dose": dose_json(ledger.load_dose(get_db(), dose_id)),
        }
    )


@bp.route("/patients/<id:patient_id>/alert-settings", methods=["PATCH"])
def alert_settings(patient_id: int):
    """A caregiver's choice for one patient: which medications, which channel."""
    data = _json_body()
    _only(data, {"medication_ids", "channel", "all_medications"})
    with immediate(get_db()):
        caregivers.update_settings(get_db(), patient_id, _user()["id"], data)
    return jsonify(caregivers.link_json(caregivers.active_link(get_db(), _user()["id"], patient_id)))


# ---------------------------------------------------------------- alerts


@bp.route("/alerts", methods=["GET"])
def list_alerts():
    ids = [p["id"] for p in caregivers.patients_of(get_db(), _user()["id"])]
    return jsonify({"alerts": [escalation.alert_json(a) for a in escalation.alerts_for(get_db(), ids)]})


@bp.route("/alerts/<id:alert_id>/ack", methods=["POST"])
def acknowledge_alert(alert_id: int):
    db = get_db()
    rows = list(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
    if not rows or not caregivers.can_see(db, _user()["id"], rows[0]["patient_id"]):
        abort(404, description="No such alert.")
    with immediate(db):
        escalation.acknowledge_by(db, alert_id, _user()["id"], now())
    alert = next(a for a in escalation.alerts_for(db, [rows[0]["patient_id"]], 1000) if a["id"] == alert_id)
    return jsonify(escalation.alert_json(alert))


# ---------------------------------------------------------------- supply, pumps, tapers, pauses


@bp.route("/medications/<id:medication_id>/refills", methods=["POST"])
def record_refill(medication_id: int):
    _own_medication(medication_id)
    data = _json_body()
    _only(data, {"quantity", "pharmacy"})
    supply.record_refill(get_db(), medication_id, data.get("quantity"), data.get("pharmacy"), _user()["id"], now())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id))), 201


@bp.route("/medications/<id:medication_id>/taper", methods=["POST"])
def taper(medication_id: int):
    current = _own_medication(medication_id)
    if current["ended_at"]:
        raise InputError(None, "This medication has ended.", status=409)
    current = {
        **current,
        "min_taper_days": get_db()
        .execute("SELECT min_taper_days FROM medications WHERE id = ?", [medication_id])
        .fetchone()[0],
    }
    data = _json_body()
    _only(data, {"steps"})
    tz = _user()["tz"]
    steps = tapering.parse_plan(data, current, now().astimezone(ZoneInfo(tz)).date())
    tapering.apply_plan(get_db(), medication_id, steps, tz, now(), _horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id)))


@bp.route("/medications/<id:medication_id>/pause", methods=["POST"])
def pause(medication_id: int):
    """Pause reminders for today (the patient's local day); recorded, caregivers told."""
    _own_medication(medication_id)
    today = now().astimezone(ZoneInfo(_user()["tz"])).date()
    created = medications.pause_today(get_db(), settings(), medication_id, today, _user()["id"], now())
    return jsonify(
        {"medication_id": medication_id, "paused_on": today.isoformat(), "new": created}
    ), 201 if created else 200


@bp.route("/pumps", methods=["GET"])
def list_pumps():
    today = now().astimezone(ZoneInfo(_user()["tz"])).date()
    return jsonify({"pumps": [pumps.pump_json(row, today) for row in pumps.pumps_of(get_db(), _user()["id"])]})


@bp.route("/pumps", methods=["POST"])
def create_pump():
    data = _json_body()
    _only(data, {"medication", "alarm_date", "refill_by"})
    pump_id = pumps.create_pump(
        get_db(),
        _user()["id"],
        data.get("medication"),
        data.get("alarm_date"),
        data.get("refill_by"),
        _user()["id"],
        now(),
    )
    today = now().astimezone(ZoneInfo(_user()["tz"])).date()
    return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today)), 201


@bp.route("/pumps/<id:pump_id>/refills", methods=["POST"])
def refill_pump(pump_id: int):
    pump = pumps.get_pump(get_db(), pump_id)
    if pump is None or pump["patient_id"] != _user()["id"]:
        abort(404, description="No such pump.")
    data = _json_body()
    _only(data, {"alarm_date"})
    pumps.record_refill(get_db(), pump_id, data.get("alarm_date"), _user()["id"], now())
    today = now().astimezone(ZoneInfo(_user()["tz"])).date()
    return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today)), 201

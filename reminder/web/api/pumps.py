"""API v1: intrathecal pumps, the caller's own and (for whoever may see them) a patient's."""

from __future__ import annotations

from flask import abort, jsonify, request

from ... import access, pumps
from ...db import get_db
from ..common import now, today_in
from .common import bp, json_body, only, today, user, visible_patient


@bp.route("/pumps", methods=["GET"])
def list_pumps():
    day = today()
    return jsonify({"pumps": [pumps.pump_json(row, day) for row in pumps.pumps_of(get_db(), user()["id"])]})


@bp.route("/pumps", methods=["POST"])
def create_pump():
    pump_id = _create(user()["id"])
    return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today())), 201


@bp.route("/pumps/<id:pump_id>/refills", methods=["POST"])
def refill_pump(pump_id: int):
    pump = pumps.get_pump(get_db(), pump_id)
    if pump is None or pump["patient_id"] != user()["id"]:
        abort(404, description="No such pump.")
    data = json_body()
    only(data, {"alarm_date"})
    pumps.record_refill(get_db(), pump_id, data.get("alarm_date"), user()["id"], now())
    return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today())), 201


@bp.route("/patients/<id:patient_id>/pumps", methods=["GET", "POST"])
def patient_pumps(patient_id: int):
    """A patient's pumps, read by whoever may see the patient; recorded by the patient or one of
    their clinicians (issue 4: "a patient, or their clinician, records a pump")."""
    if request.method == "POST":
        if not access.can_see_clinical(get_db(), user(), patient_id):
            abort(404, description="No such patient.")
        patient = visible_patient(patient_id, "recorded a pump")
        pump_id = _create(patient_id)
        return jsonify(pumps.pump_json(pumps.get_pump(get_db(), pump_id), today_in(patient["tz"]))), 201
    patient = visible_patient(patient_id, "viewed pumps")
    day = today_in(patient["tz"])
    return jsonify({"pumps": [pumps.pump_json(row, day) for row in pumps.pumps_of(get_db(), patient_id)]})


def _create(patient_id: int) -> int:
    """Record a pump for the patient from the JSON body, the caller as the actor."""
    data = json_body()
    only(data, {"medication", "alarm_date", "refill_by", "concentration", "clinic_phone"})
    return pumps.create_pump(
        get_db(),
        patient_id,
        data.get("medication"),
        data.get("alarm_date"),
        data.get("refill_by"),
        user()["id"],
        now(),
        card=data,
    )

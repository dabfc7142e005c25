"""API v1: the caller's own medications, their refills, tapers and pauses."""

from __future__ import annotations

from flask import jsonify, request

from ... import medications, safety_contacts, supply, tapering
from ...db import get_db
from ...errors import InputError
from ..common import horizon, now, settings
from .common import bp, json_body, medication_out, only, own_medication, today, user


@bp.route("/medications", methods=["GET"])
def list_medications():
    db = get_db()
    include_ended = request.args.get("include_ended") in ("1", "true")
    ids = medications.patient_medication_ids(db, user()["id"], include_ended=include_ended)
    return jsonify({"medications": [medication_out(medications.to_json(db, i, today())) for i in ids]})


@bp.route("/medications", methods=["POST"])
def create_medication():
    data = json_body()
    only(data, medications.INPUT_FIELDS)
    spec = medications.parse_medication(data, today())
    medication_id = medications.create(get_db(), user()["id"], spec, now(), horizon())
    body = medication_out(medications.to_json(get_db(), medication_id, today()))
    body["safety_contact_notice"] = safety_contacts.ask_text(get_db(), user()["id"]) or None  # issue 10 section 1
    return jsonify(body), 201


@bp.route("/medications/<id:medication_id>", methods=["GET"])
def get_medication(medication_id: int):
    return jsonify(medication_out(own_medication(medication_id)))


@bp.route("/medications/<id:medication_id>", methods=["PATCH"])
def patch_medication(medication_id: int):
    current = own_medication(medication_id)
    if current["ended_at"]:
        raise InputError(None, "This medication has ended; add it again to restart it.", status=409)
    data = json_body()
    only(data, medications.INPUT_FIELDS)
    medications.update(get_db(), medication_id, data, today(), now(), horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id, today())))


@bp.route("/medications/<id:medication_id>", methods=["DELETE"])
def end_medication(medication_id: int):
    own_medication(medication_id)
    reason = request.args.get("reason", "")
    medications.end(get_db(), medication_id, today(), now(), reason)
    return jsonify(medications.to_json(get_db(), medication_id, today()))


@bp.route("/medications/<id:medication_id>/refills", methods=["POST"])
def record_refill(medication_id: int):
    own_medication(medication_id)
    data = json_body()
    only(data, {"quantity", "pharmacy"})
    supply.record_refill(get_db(), medication_id, data.get("quantity"), data.get("pharmacy"), user()["id"], now())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id, today()))), 201


@bp.route("/medications/<id:medication_id>/taper", methods=["POST"])
def taper(medication_id: int):
    current = own_medication(medication_id)
    if current["ended_at"]:
        raise InputError(None, "This medication has ended.", status=409)
    current = {
        **current,
        "min_taper_days": get_db()
        .execute("SELECT min_taper_days FROM medications WHERE id = ?", [medication_id])
        .fetchone()[0],
    }
    data = json_body()
    only(data, {"steps"})
    steps = tapering.parse_plan(data, current, today())
    tapering.apply_plan(get_db(), medication_id, steps, user()["tz"], now(), horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id, today())))


@bp.route("/medications/<id:medication_id>/pause", methods=["POST"])
def pause(medication_id: int):
    """Pause reminders for today (the patient's local day); recorded, caregivers told."""
    own_medication(medication_id)
    day = today()
    created = medications.pause_today(get_db(), settings(), medication_id, day, user()["id"], now())
    return jsonify(
        {"medication_id": medication_id, "paused_on": day.isoformat(), "new": created}
    ), 201 if created else 200

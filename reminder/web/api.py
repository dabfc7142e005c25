"""JSON API v1: bearer-token auth, JSON errors, and nothing written by a rejected request."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, abort, g, jsonify, request

from .. import accounts, delivery, ledger, medications, supply
from ..db import get_db
from ..errors import InputError
from ..times import local_today, parse_instant, to_iso
from . import now, settings
from .dose_link import DECISION_STATUS, read_answer, snooze_length
from .errors import json_error
from .openapi import document
from .patient import change_profile

bp = Blueprint("api", __name__, url_prefix="/api/v1")
STATUSES = ("pending", "taken", "skipped", "missed", "unknown")
DOSE_FIELDS = (
    "id",
    "medication_id",
    "scheduled_at",
    "local_date",
    "local_time",
    "tz",
    "window_closes_at",
    "amount",
    "status",
    "taken_at",
    "confirmed_at",
    "source",
    "skip_reason",
)
MAX_DOSES = 2000


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    user = accounts.user_for_token(get_db(), header[7:].strip(), now()) if header.startswith("Bearer ") else None
    if user is None:
        return json_error(401, "unauthorized", "Send a personal API token: Authorization: Bearer rmd_...")
    g.api_user = user
    return None


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())


@bp.route("/me", methods=["GET"])
def me():
    return jsonify(_user_json(g.api_user))


@bp.route("/me", methods=["PATCH"])
def patch_me():
    data = _json_body()
    _only(data, {"name", "email", "phone", "tz", "channels"})
    change_profile(get_db(), g.api_user["id"], data)
    return jsonify(_user_json(accounts.find_user(get_db(), id=g.api_user["id"])))


@bp.route("/medications", methods=["GET"])
def list_medications():
    db = get_db()
    include_ended = request.args.get("include_ended") in ("1", "true")
    ids = medications.patient_medication_ids(db, g.api_user["id"], include_ended=include_ended)
    return jsonify({"medications": [medication_out(medications.to_json(db, i)) for i in ids]})


@bp.route("/medications", methods=["POST"])
def create_medication():
    data = _json_body()
    _only(data, medications.INPUT_FIELDS)
    spec = medications.parse_medication(data, _today())
    medication_id = medications.create(get_db(), g.api_user["id"], spec, now(), _horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id))), 201


@bp.route("/medications/<id:medication_id>", methods=["GET"])
def get_medication(medication_id: int):
    return jsonify(medication_out(_own_medication(medication_id)))


@bp.route("/medications/<id:medication_id>", methods=["PATCH"])
def patch_medication(medication_id: int):
    current = _own_medication(medication_id)
    if current["ended_at"]:
        raise InputError(None, "This medication has ended; add it again to restart it.", status=409)
    data = _json_body()
    _only(data, medications.INPUT_FIELDS)
    medications.update(get_db(), medication_id, data, _today(), now(), _horizon())
    return jsonify(medication_out(medications.to_json(get_db(), medication_id)))


@bp.route("/medications/<id:medication_id>", methods=["DELETE"])
def end_medication(medication_id: int):
    _own_medication(medication_id)
    reason = request.args.get("reason", "")
    medications.end(get_db(), medication_id, _today(), now(), reason)
    return jsonify(medications.to_json(get_db(), medication_id))


@bp.route("/doses", methods=["GET"])
def list_doses():
    return list_doses_for(g.api_user["id"])


def list_doses_for(patient_id: int):
    """One patient's doses, filtered by ``from``, ``to`` and ``status`` query arguments."""
    args = request.args
    sql = ["SELECT * FROM doses WHERE patient_id = ?"]
    params: list = [patient_id]
    for name, op in (("from", ">="), ("to", "<")):
        if args.get(name):
            try:
                params.append(to_iso(parse_instant(args[name])))
            except ValueError:
                raise InputError(name, f"{name} must be an ISO-8601 instant with Z or an offset.") from None
            sql.append(f"AND scheduled_at {op} ?")
    if args.get("status"):
        if args["status"] not in STATUSES:
            raise InputError("status", f"status must be one of {', '.join(STATUSES)}.")
        sql.append("AND status = ?")
        params.append(args["status"])
    sql.append(f"ORDER BY scheduled_at LIMIT {MAX_DOSES + 1}")
    rows = [dose_json(row) for row in get_db().query(" ".join(sql), params)]
    # Never cut off silently: say so, and the caller narrows from/to.
    return jsonify({"doses": rows[:MAX_DOSES], "truncated": len(rows) > MAX_DOSES})


@bp.route("/doses/<id:dose_id>/confirm", methods=["POST"])
def confirm_dose(dose_id: int):
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != g.api_user["id"]:
        abort(404, description="No such dose.")
    answer = read_answer(_json_body(), dose_id, source="api", actor_id=g.api_user["id"])
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    status = DECISION_STATUS[decision.code]
    if status >= 400:
        return json_error(status, decision.code, decision.message, "taken_at" if decision.code == "bad_time" else None)
    body = {
        "result": {"code": decision.code, "message": decision.message},
        "dose": dose_json(ledger.load_dose(get_db(), dose_id)),
    }
    return jsonify(body)


def medication_out(medication: dict) -> dict:
    """A medication with its supply: stock, units per dose and days left."""
    days = supply.days_left_for(get_db(), medication["id"], now())
    row = (
        get_db()
        .execute("SELECT stock, units_per_dose, ends_at FROM medications WHERE id = ?", [medication["id"]])
        .fetchone()
    )
    return {
        **medication,
        "stock": row[0],
        "units_per_dose": row[1],
        "taper_ends_at": row[2],
        "days_left": round(days, 1) if days is not None else None,
    }


def dose_json(row: dict) -> dict:
    body = {key: row[key] for key in DOSE_FIELDS}
    body["actor"] = row["actor_id"]
    body["flags"] = json.loads(row["flags"]) if row.get("flags") else []  # a reported intake that broke a rule
    return body


def _user_json(user: dict) -> dict:
    body = {key: user[key] for key in ("id", "email", "name", "role", "phone", "tz", "created_at")}
    body["channels"] = delivery.chosen_channels(user)
    body["sms_opted_out"] = bool(user["sms_opted_out_at"])
    return body


def _json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InputError(None, "Send a JSON object with Content-Type: application/json.")
    return data


def _only(data: dict, allowed) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InputError(unknown[0], f"{unknown[0]} is not a field here; allowed: {', '.join(sorted(allowed))}.")


def _own_medication(medication_id: int) -> dict:
    medication = medications.to_json(get_db(), medication_id)
    if medication is None or medication["patient_id"] != g.api_user["id"]:
        abort(404, description="No such medication.")
    return medication


def _today():
    return local_today(g.api_user["tz"], now())


def _horizon() -> timedelta:
    return timedelta(hours=settings()["worker.horizon_hours"])


from . import api_care, api_clinic  # noqa: E402,F401  (register their routes on this blueprint)

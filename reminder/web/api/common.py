"""What the API's resource modules share: the blueprint, the caller, reading a JSON body, and
how a medication, a dose and a dose's answer read as JSON."""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, abort, g, jsonify, request

from ... import access, clinics, ledger, medications, supply
from ...db import get_db, immediate
from ...errors import InputError
from ...missed_dose import Decision
from ...times import parse_instant, to_iso
from ..common import DECISION_STATUS, now, safety_path, today_in
from ..errors import json_error

bp = Blueprint("api", __name__, url_prefix="/api/v1")
STATUSES = ("pending", "taken", "skipped", "missed", "unknown", "cancelled")
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


def user() -> dict:
    """The caller, as ``authenticate`` found them by their token."""
    return g.api_user


def today() -> date:
    """Today in the caller's zone."""
    return today_in(user()["tz"])


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InputError(None, "Send a JSON object with Content-Type: application/json.")
    if not storable(data):
        raise InputError(None, "Text must be valid Unicode: a lone surrogate (\\ud800) cannot be stored.")
    return data


def storable(value) -> bool:
    """False when any text in a decoded JSON value holds a lone surrogate, which JSON allows as
    an escape but SQLite's UTF-8 cannot store."""
    if isinstance(value, str):
        return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(item) for item in value)
    return True


def only(data: dict, allowed) -> None:
    """InputError naming the first field of ``data`` that is not ``allowed``."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InputError(unknown[0], f"{unknown[0]} is not a field here; allowed: {', '.join(sorted(allowed))}.")


def own_medication(medication_id: int) -> dict:
    """One of the caller's own medications as ``medications.to_json`` shows it; 404 otherwise."""
    medication = medications.to_json(get_db(), medication_id, today())
    if medication is None or medication["patient_id"] != user()["id"]:
        abort(404, description="No such medication.")
    return medication


def visible_patient(patient_id: int, action: str, clinical: bool = False) -> dict:
    """The patient, if the caller may see them (``access``); 404 otherwise. A clinician's view
    is audited. ``clinical`` routes (the report and its exports) are for the patient and their
    clinicians only: they carry every caregiver's contact details."""
    db, caller = get_db(), user()
    allowed = access.can_see_clinical(db, caller, patient_id) if clinical else access.can_see(db, caller, patient_id)
    if not allowed:
        abort(404, description="No such patient.")
    if access.is_audited(caller, patient_id):
        with immediate(db):
            clinics.audit(db, caller["id"], patient_id, action, now(), request.full_path.rstrip("?"))
    return next(db.query("SELECT * FROM users WHERE id = ?", [patient_id]))


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
        "safety_url": safety_path(medication["name"], medication["route"]),
    }


def dose_json(row: dict) -> dict:
    body = {key: row[key] for key in DOSE_FIELDS}
    body["actor"] = row["actor_id"]
    body["reason"] = row["cancel_reason"]  # why a cancelled dose is not scheduled: "time_zone_change"
    body["flags"] = json.loads(row["flags"]) if row.get("flags") else []  # a reported intake that broke a rule
    return body


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


def answered(dose_id: int, decision: Decision):
    """The response to a dose's answer: the decision and the dose, or the refusal as an error."""
    status = DECISION_STATUS[decision.code]
    if status >= 400:
        return json_error(status, decision.code, decision.message, "taken_at" if decision.code == "bad_time" else None)
    return jsonify(
        {
            "result": {"code": decision.code, "message": decision.message},
            "dose": dose_json(ledger.load_dose(get_db(), dose_id)),
        }
    )

"""API v1: a patient's data rights: all of it as JSON, and deleting the account."""

from __future__ import annotations

from flask import jsonify
from werkzeug.security import check_password_hash

from ... import erasure, export
from ...db import get_db
from ...errors import InputError
from ..common import now
from .common import bp, json_body, only, user

CONFIRMATION = "delete my account"


@bp.route("/me/export", methods=["GET"])
def export_me():
    if user()["role"] != "patient":
        raise InputError(None, "Only a patient account has data to export.", status=403, code="forbidden")
    return jsonify(export.export_patient(get_db(), user()["id"], now()))


@bp.route("/me", methods=["DELETE"])
def delete_me():
    """Needs the current password, or ``"confirm": "delete my account"``: a token alone is not enough
    by accident."""
    data = json_body()
    only(data, {"password", "confirm"})
    password_ok = isinstance(data.get("password"), str) and check_password_hash(
        user()["password_hash"], data["password"]
    )
    if not password_ok and data.get("confirm") != CONFIRMATION:
        raise InputError(
            "password", f'Send your current password, or "confirm": "{CONFIRMATION}".', code="confirmation_needed"
        )
    erasure.erase_patient(get_db(), user()["id"], now(), via="api")
    return "", 204

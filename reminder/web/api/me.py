"""API v1: the caller's own account (``/me``): profile, password, phone verification, API tokens."""

from __future__ import annotations

from flask import abort, jsonify, request

from ... import accounts, auth_codes, delivery, profile, signups, throttle
from ...db import get_db, immediate
from ..common import horizon, now, settings
from .common import bp, json_body, only, user


@bp.route("/me", methods=["GET"])
def me():
    return jsonify(_user_json(user()))


@bp.route("/me", methods=["PATCH"])
def patch_me():
    data = json_body()
    only(data, {"name", "email", "phone", "tz", "channels", "name_medication", "quiet_start", "quiet_end"})
    profile.change(get_db(), settings(), user()["id"], data, now(), horizon())
    return jsonify(_user_json(accounts.find_user(get_db(), id=user()["id"])))


@bp.route("/me/password", methods=["POST"])
def change_password():
    """A new password; every web session of the account ends (API tokens keep working)."""
    data = json_body()
    only(data, {"current_password", "new_password"})
    accounts.change_password(
        get_db(),
        user()["id"],
        data.get("current_password"),
        data.get("new_password"),
        request.remote_addr,
        now(),
        throttle.limit_of(settings()),
    )
    return "", 204


@bp.route("/me/phone/verify", methods=["POST"])
def verify_phone():
    data = json_body()
    only(data, {"code"})
    limit = throttle.limit_of(settings())
    auth_codes.verify_phone(get_db(), user()["id"], data.get("code"), request.remote_addr, now(), limit)
    return jsonify(_user_json(accounts.find_user(get_db(), id=user()["id"])))


@bp.route("/me/tokens", methods=["GET"])
def list_tokens():
    return jsonify({"tokens": accounts.tokens_of(get_db(), user()["id"])})


@bp.route("/me/tokens", methods=["POST"])
def create_token():
    """A new token, shown once in the answer; ``expires_in_days`` optional (none: never expires)."""
    data = json_body()
    only(data, {"label", "expires_in_days"})
    label, expires_at = accounts.check_token_request(data.get("label"), data.get("expires_in_days"), now())
    db = get_db()
    with immediate(db):
        token = accounts.create_token(db, user()["id"], now(), label, expires_at)
        row = accounts.tokens_of(db, user()["id"])[0]
    return jsonify({**row, "token": token}), 201


@bp.route("/me/tokens/<id:token_id>", methods=["DELETE"])
def revoke_token(token_id: int):
    db = get_db()
    with immediate(db):
        revoked = accounts.revoke_token(db, user()["id"], token_id)
    if not revoked:
        abort(404, description="No such token.")
    return "", 204


def _user_json(row: dict) -> dict:
    body = {
        key: row[key]
        for key in ("id", "email", "name", "role", "phone", "tz", "quiet_start", "quiet_end", "created_at")
    }
    body["phone_verified"] = bool(row["phone"]) and row["phone_verified"] == 1
    body["channels"] = delivery.chosen_channels(row)
    body["sms_opted_out"] = bool(row["sms_opted_out_at"])
    body["name_medication"] = None if row["name_medication"] is None else bool(row["name_medication"])
    body["pending_email"] = signups.pending_email(get_db(), row["id"], now())
    return body

"""API v1: the caller's own account (``/me``)."""

from __future__ import annotations

from flask import jsonify

from ... import accounts, delivery, profile
from ...db import get_db
from ..common import horizon, now
from .common import bp, json_body, only, user


@bp.route("/me", methods=["GET"])
def me():
    return jsonify(_user_json(user()))


@bp.route("/me", methods=["PATCH"])
def patch_me():
    data = json_body()
    only(data, {"name", "email", "phone", "tz", "channels", "quiet_start", "quiet_end"})
    profile.change(get_db(), user()["id"], data, now(), horizon())
    return jsonify(_user_json(accounts.find_user(get_db(), id=user()["id"])))


def _user_json(row: dict) -> dict:
    body = {
        key: row[key]
        for key in ("id", "email", "name", "role", "phone", "tz", "quiet_start", "quiet_end", "created_at")
    }
    body["channels"] = delivery.chosen_channels(row)
    body["sms_opted_out"] = bool(row["sms_opted_out_at"])
    return body

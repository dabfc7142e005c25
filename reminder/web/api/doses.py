"""API v1: the caller's own doses, and answering one."""

from __future__ import annotations

from flask import abort

from ... import answers, ledger
from ...db import get_db
from ..common import now, snooze_length
from .common import answered, bp, json_body, list_doses_for, user


@bp.route("/doses", methods=["GET"])
def list_doses():
    return list_doses_for(user()["id"])


@bp.route("/doses/<id:dose_id>/confirm", methods=["POST"])
def confirm_dose(dose_id: int):
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != user()["id"]:
        abort(404, description="No such dose.")
    answer = answers.read_answer(get_db(), json_body(), dose_id, source="api", actor_id=user()["id"])
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    return answered(dose_id, decision)

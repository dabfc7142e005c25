"""The page of doses due together, from one message: ``/g/<token>``, no login.

Doses of one patient due at the same instant are reminded in one message (``prompts.py``)
whose link opens this page: each dose with its own Taken and Skip, and "Taken, all of them".
Every answer goes through ``ledger.answer_dose`` dose by dose, so each meets the missed-dose
rule on its own: one refused (too soon after another intake of the same drug, over the daily
maximum) shows why and asks "Have you already taken it?", as the single dose page does. A GET
never changes anything (link previews fetch it).
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from .. import answers, ledger, links
from ..db import get_db, immediate
from ..errors import InputError
from ..missed_dose import Decision
from .common import DECISION_STATUS, dose_card, now, resolve_phone_link, snooze_length

bp = Blueprint("dose_group", __name__)


@bp.route("/g/<token>", methods=["GET"])
def show(token: str):
    return render_group(links.group_doses(get_db(), resolve_phone_link(links.resolve_group, token)), request.path)


@bp.route("/g/<token>", methods=["POST"])
def answer(token: str):
    dose_ids = links.group_doses(get_db(), resolve_phone_link(links.resolve_group, token))
    if request.form.get("action") == "taken_all":
        decisions = _take_all(dose_ids)
    else:
        dose_id = _member(request.form.get("dose_id"), dose_ids)
        try:
            given = answers.read_answer(get_db(), request.form, dose_id, "link", None)
        except InputError as error:
            return render_group(dose_ids, request.path, errors={dose_id: error.message}), error.status
        decisions = {dose_id: ledger.answer_dose(get_db(), dose_id, given, now(), snooze_length())}
    status = max(DECISION_STATUS[decision.code] for decision in decisions.values()) if decisions else 200
    return render_group(dose_ids, request.path, decisions), status


def _take_all(dose_ids: list[int]) -> dict[int, Decision]:
    """ "Taken, all of them": every dose still open, each through the rule, in one transaction.
    A dose the rule refuses is not recorded; the others are."""
    db, current = get_db(), now()
    decisions = {}
    with immediate(db):
        for dose_id in dose_ids:
            if ledger.load_dose(db, dose_id)["status"] == "pending":
                given = ledger.Answer(action="taken", source="link", actor_id=None)
                decisions[dose_id] = ledger.answer_dose(db, dose_id, given, current, snooze_length())
    return decisions


def render_group(dose_ids, form_action: str, decisions: dict | None = None, errors: dict | None = None):
    """The group page: one card per dose with its answer forms, posting to ``form_action``."""
    cards = [_card(dose_id, (decisions or {}).get(dose_id), (errors or {}).get(dose_id)) for dose_id in dose_ids]
    return render_template(
        "dose_group.html",
        cards=cards,
        due_label=cards[0]["due_label"],
        due_day=cards[0]["due_day"],
        open_count=sum(1 for card in cards if card["window_open"]),
        form_action=form_action,
        not_taken=_member(request.args["dose"], dose_ids) if request.args.get("answer") == "not_taken" else None,
    )


def _card(dose_id: int, decision: Decision | None, error: str | None) -> dict:
    return {**dose_card(dose_id, now()), "decision": decision, "error": error}


def _member(value, dose_ids: list[int]) -> int:
    """The dose id a form names, if it is one of this link's doses (else 404: not this link's)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) in dose_ids:
        return int(value)
    abort(404)

"""The dose page from a message: ``/d/<token>``, no login.

A GET never changes anything: link previews and mail scanners fetch it. Answers are POSTs and
go through ``ledger.answer_dose``, which applies the missed-dose rule. The page itself is
``common.render_dose``, shared with ``/doses/<id>`` on the patient's pages.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request

from .. import ledger, links, side_effects
from ..db import get_db
from ..errors import InputError
from .common import answer_and_render, now, render_dose, resolve_phone_link, settings

bp = Blueprint("dose_link", __name__)


@bp.route("/d/<token>", methods=["GET"])
def show(token: str):
    dose_id = resolve_phone_link(links.resolve, token)
    return render_dose(dose_id, form_action=request.path)


@bp.route("/d/<token>", methods=["POST"])
def answer(token: str):
    dose_id = resolve_phone_link(links.resolve, token)
    return answer_and_render(dose_id, source="link", actor_id=None, form_action=request.path)


@bp.route("/d/<token>/side-effects", methods=["POST"])
def side_effect(token: str):
    """A side effect tapped on the phone-link page, after that link's dose (no login)."""
    dose_id = resolve_phone_link(links.resolve, token)
    dose = ledger.load_dose(get_db(), dose_id)
    severity = request.form.get("severity", "")
    try:
        entry = side_effects.record(
            get_db(),
            dose["patient_id"],
            {
                "kind": request.form.get("kind"),
                "note": request.form.get("note", ""),
                "dose_id": dose_id,
                "severity": int(severity) if severity.isascii() and severity.isdigit() else severity or None,
            },
            now(),
            settings(),
        )
    except InputError as error:
        return render_dose(dose_id, f"/d/{token}", error=error.message), error.status
    if entry["advice"]:
        flash(entry["advice"]["text"], "error")  # what to do now, never "Noted" alone
        return redirect(f"/d/{token}")
    flash("Noted. Thank you: your clinic sees it on your report.", "ok")
    return redirect(f"/d/{token}")

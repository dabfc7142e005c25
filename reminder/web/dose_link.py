"""The dose page from a message: ``/d/<token>``, no login.

A GET never changes anything: link previews and mail scanners fetch it. Answers are POSTs and
go through ``ledger.answer_dose``, which applies the missed-dose rule. The page itself is
``common.render_dose``, shared with ``/doses/<id>`` on the patient's pages.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request

from .. import ledger, links, side_effects
from ..db import get_db
from ..errors import InputError
from .common import LINK_GONE, answer_and_render, now, render_dose, settings

bp = Blueprint("dose_link", __name__)


@bp.route("/d/<token>", methods=["GET"])
def show(token: str):
    dose_id = _dose_for_token(token)
    return render_dose(dose_id, form_action=request.path)


@bp.route("/d/<token>", methods=["POST"])
def answer(token: str):
    dose_id = _dose_for_token(token)
    return answer_and_render(dose_id, source="link", actor_id=None, form_action=request.path)


@bp.route("/d/<token>/side-effects", methods=["POST"])
def side_effect(token: str):
    """A side effect tapped on the phone-link page, after that link's dose (no login)."""
    dose_id = _dose_for_token(token)
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


def _dose_for_token(token: str) -> int:
    try:
        return links.resolve(get_db(), token, now())
    except links.LinkExpired:
        abort(410, description="This link has expired. Open the app to see your doses.")
    except links.LinkNotFound:
        # 410 and a way on, not a bare 404: after a restore from backup, links texted since are unknown.
        page = render_template("error.html", title="This link is no longer valid", message=LINK_GONE)
        abort(make_response(page, 410))

"""A patient's own data from Settings: downloads (everything as JSON, the FHIR bundle, the CSV of
their ledger) and deleting the account after a confirmation page."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.security import check_password_hash

from .. import erasure, export, fhir, reports
from ..db import get_db
from .common import now, report_period

bp = Blueprint("data_rights", __name__, url_prefix="/settings")


@bp.before_request
@login_required
def _patients_only():
    """Every page here is a patient's own data."""
    if current_user.role != "patient":
        abort(404)


@bp.route("/my-data.json")
def download_all():
    body = json.dumps(export.export_patient(get_db(), current_user.id, now()), indent=2)
    return Response(body, mimetype="application/json", headers=_attachment("my-reminder-data.json"))


@bp.route("/my-doses.csv")
def download_csv():
    first, last = report_period(current_user.row)
    return Response(
        reports.ledger_csv(get_db(), current_user.id, first, last),
        mimetype="text/csv",
        headers=_attachment(f"my-doses-{first}-{last}.csv"),
    )


@bp.route("/my-fhir.json")
def download_fhir():
    first, last = report_period(current_user.row)
    bundle = fhir.bundle(get_db(), current_user.id, first, last, now())
    return Response(json.dumps(bundle), mimetype="application/fhir+json", headers=_attachment("my-fhir-bundle.json"))


@bp.route("/delete-account", methods=["GET", "POST"])
def delete_account():
    risky = erasure.withdrawal_risk_medications(get_db(), current_user.id)
    if request.method == "GET":
        return render_template("delete_account.html", risky=risky, error=None)
    if not check_password_hash(current_user.row["password_hash"], request.form.get("password", "")):
        return render_template("delete_account.html", risky=risky, error="That is not your current password."), 400
    erasure.erase_patient(get_db(), current_user.id, now(), via="settings")
    logout_user()
    flash("Your account and all your data were deleted. Reminders have stopped.", "ok")
    return redirect(url_for("auth.login"))


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}

"""The web admin: clinics and their clinician accounts (the same as `reminder clinic add` and
`reminder user add --role clinician --clinic`). Admins only; anyone else gets 404."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import accounts, clinics
from ..db import get_db, immediate
from ..errors import InputError
from .common import now

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _admins_only():
    if current_user.role != "admin":
        abort(404)


@bp.route("/", methods=["GET"])
def index():
    db = get_db()
    rows = list(
        db.query(
            "SELECT c.*, (SELECT count(*) FROM users u WHERE u.clinic_id = c.id) AS clinicians, "
            "(SELECT count(*) FROM clinic_links l WHERE l.clinic_id = c.id AND l.status = 'active') AS patients "
            "FROM clinics c ORDER BY c.name"
        )
    )
    clinicians = list(db.query("SELECT id, name, email, clinic_id FROM users WHERE role = 'clinician' ORDER BY name"))
    return render_template("admin.html", clinics=rows, clinicians=clinicians, form=request.form)


@bp.route("/clinics", methods=["POST"])
def add_clinic():
    try:
        with immediate(get_db()):
            _, code = clinics.create_clinic(get_db(), request.form.get("name", ""), now())
    except InputError as error:
        flash(error.message, "error")
        return index(), error.status
    flash(f"Clinic created. Its join code is {code}.", "ok")
    return redirect(url_for("admin.index"))


@bp.route("/clinicians", methods=["POST"])
def add_clinician():
    form, db = request.form, get_db()
    clinic_id = form.get("clinic_id", "")
    try:
        if (
            not (clinic_id.isascii() and clinic_id.isdigit())
            or not db.execute("SELECT 1 FROM clinics WHERE id = ?", [int(clinic_id)]).fetchone()
        ):
            raise InputError("clinic_id", "Choose the clinician's clinic.")
        with immediate(db):
            user_id = accounts.create_user(
                db,
                email=form.get("email", ""),
                password=form.get("password", ""),
                role="clinician",
                now=now(),
                name=form.get("name", ""),
                tz=form.get("tz") or "UTC",
            )
            db.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [int(clinic_id), user_id])
    except InputError as error:
        flash(error.message, "error")
        return index(), error.status
    flash("Clinician account created.", "ok")
    return redirect(url_for("admin.index"))

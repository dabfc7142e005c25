"""Logging in, registering and out; the session's user."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from .. import accounts
from ..db import get_db
from ..errors import InputError
from ..times import zone_names
from .common import User, now

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    row = accounts.find_user(get_db(), id=int(user_id))
    return User(row) if row else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("patient.today"))
    if request.method == "POST":
        row = accounts.authenticate(get_db(), request.form.get("email", ""), request.form.get("password", ""))
        if row:
            login_user(User(row), remember=True)
            return redirect(url_for("patient.today"))
        flash("That email and password don't match an account.", "error")
        return render_template("login.html", email=request.form.get("email", "")), 401
    return render_template("login.html", email="")


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = request.form
    if request.method == "POST":
        db = get_db()
        try:
            user_id = accounts.create_user(
                db,
                email=form.get("email", ""),
                password=form.get("password", ""),
                role="patient",
                now=now(),
                name=form.get("name", ""),
                tz=form.get("tz", ""),
            )
        except InputError as error:
            flash(error.message, "error")
            return render_template("register.html", form=form, zones=_zones()), error.status
        login_user(User(accounts.find_user(db, id=user_id)), remember=True)
        flash("Welcome! Add your first medication.", "ok")
        return redirect(url_for("patient.new_medication"))
    return render_template("register.html", form={}, zones=_zones())


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def _zones() -> list[str]:
    return zone_names()

"""Logging in, registering and out, resetting a forgotten password; the session's user."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from .. import accounts, auth_codes, signups, throttle
from ..db import get_db, immediate
from ..errors import InputError
from ..throttle import TooManyAttempts
from ..times import zone_names
from .common import User, field_errors, now, safe_path, settings
from .errors import handle_input

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."


@login_manager.user_loader
def load_user(session_value: str) -> User | None:
    """The session's user, unless the session was issued before their last logout."""
    row = accounts.user_for_session(get_db(), session_value)
    return User(row) if row else None


@bp.app_errorhandler(TooManyAttempts)
def too_many_attempts(error: TooManyAttempts):
    """429 with Retry-After, as a page or as JSON (the API's error shape)."""
    response = make_response(handle_input(error))
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = safe_path(request.args.get("next"), url_for("patient.today"))
    if current_user.is_authenticated:
        return redirect(target)
    if request.method == "POST":
        form = request.form
        row = accounts.log_in(
            get_db(), form.get("email", ""), form.get("password", ""), request.remote_addr, now(), guess_limit()
        )
        if row:
            login_user(User(row), remember=True)
            return redirect(target)
        message = "That email and password don't match an account."
        flash(message, "error")  # the email stays; the error sits beside the password, which is never echoed
        return render_template(
            "login.html", email=request.form.get("email", ""), field_errors={"password": message}
        ), 401
    return render_template("login.html", email="")


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Sign up: the same "check your email" answer, in the same time, whether or not the email
    has an account (``signups``); the link in the email finishes sign-up."""
    form = request.form
    if request.method == "POST":
        signup = signups.Signup(
            email=form.get("email", ""),
            password=form.get("password", ""),
            name=form.get("name", ""),
            tz=form.get("tz", ""),
            login_link=url_for("auth.login"),
        )
        try:
            email = signups.request_signup(get_db(), settings(), signup, request.remote_addr, now())
        except TooManyAttempts:
            raise
        except InputError as error:
            flash(error.message, "error")  # what was typed stays (never the password), the error beside its field
            page = render_template("register.html", form=form, zones=_zones(), field_errors=field_errors(error))
            return page, error.status
        return render_template("register_check_email.html", email=email)
    return render_template("register.html", form={}, zones=_zones())


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm_signup(token: str):
    """The link from the sign-up email: a GET shows a button (mail scanners fetch links), the
    POST creates the account and logs in."""
    db = get_db()
    if request.method == "POST":
        try:
            user_id, link = signups.finish_signup(db, token, now())
        except InputError as error:
            return render_template("confirm_email.html", token=token, purpose="signup", message=error.message), (
                error.status
            )
        login_user(User(accounts.find_user(db, id=user_id)), remember=True)
        if link is not None:
            flash("Welcome! You are now a caregiver: we'll tell you if they miss important doses.", "ok")
            return redirect(url_for("care.patient_view", patient_id=link["patient_id"]))
        flash("Welcome! Add your first medication.", "ok")
        return redirect(url_for("patient.new_medication"))
    found = signups.open_confirmation(db, "signup", token, now())
    message = None if found else signups.GONE
    return render_template("confirm_email.html", token=token, purpose="signup", message=message), 200 if found else 404


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The link sent to a new email address: the POST makes it the account's email."""
    db = get_db()
    if request.method == "POST":
        try:
            signups.confirm_email_change(db, token, now())
        except InputError as error:
            return render_template("confirm_email.html", token=token, purpose="email", message=error.message), (
                error.status
            )
        flash("Your email is changed. Log in with it from now on.", "ok")
        return redirect(url_for("patient.user_settings") if current_user.is_authenticated else url_for("auth.login"))
    found = signups.open_confirmation(db, "email_change", token, now())
    message = None if found else "This link has expired or was already used: change your email again."
    return render_template("confirm_email.html", token=token, purpose="email", message=message), 200 if found else 404


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out everywhere: every session and remember cookie of the account ends, not only this one."""
    db = get_db()
    with immediate(db):
        accounts.end_sessions(db, current_user.id)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link by email or a code by SMS to the account's verified phone. The answer
    is the same whether or not the email has an account (or a verified phone)."""
    if request.method == "POST":
        email, by = request.form.get("email", ""), "sms" if request.form.get("by") == "sms" else "email"
        auth_codes.request_reset(get_db(), settings(), email, request.remote_addr, now(), by=by)
        if by == "sms":
            return render_template("password_code.html", email=email, minutes=auth_codes.RESET_CODE_MINUTES)
        return render_template("password_forgot.html", sent=True, email=email)
    return render_template("password_forgot.html", sent=False, email="")


@bp.route("/password/code", methods=["POST"])
def reset_with_code():
    """Choose a new password with the code texted to the account's phone; it works once and ends
    every session. A wrong code counts as a failed guess."""
    form = request.form
    try:
        auth_codes.reset_with_code(
            get_db(),
            form.get("email", ""),
            form.get("code", ""),
            form.get("password", ""),
            request.remote_addr,
            now(),
            guess_limit(),
        )
    except TooManyAttempts:
        raise
    except InputError as error:
        flash(error.message, "error")  # the code typed stays, the error beside its field
        page = render_template(
            "password_code.html",
            email=form.get("email", ""),
            code=form.get("code", ""),
            minutes=auth_codes.RESET_CODE_MINUTES,
            field_errors=field_errors(error),
        )
        return page, error.status
    logout_user()
    flash("Your password is changed. Log in with it.", "ok")
    return redirect(url_for("auth.login"))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password with a reset link; it works once, and ends every session."""
    db = get_db()
    if request.method == "POST":
        try:
            auth_codes.reset(db, token, request.form.get("password", ""), request.remote_addr, now(), guess_limit())
        except TooManyAttempts:
            raise
        except InputError as error:
            flash(error.message, "error")
            page = render_template(
                "password_reset.html", token=token, valid=error.field == "password", field_errors=field_errors(error)
            )
            return page, error.status
        logout_user()
        flash("Your password is changed. Log in with it.", "ok")
        return redirect(url_for("auth.login"))
    valid = auth_codes.link_is_open(db, token, now())
    return render_template("password_reset.html", token=token, valid=valid), 200 if valid else 404


def guess_limit() -> throttle.Limit:
    """How many failed guesses this server allows (settings ``limits.*``)."""
    return throttle.limit_of(settings())


def _zones() -> list[str]:
    return zone_names()

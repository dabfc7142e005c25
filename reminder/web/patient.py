"""The patient's pages: Today, a dose, history, medications and settings. Thin views."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import accounts, delivery, ledger, medications
from ..config import channels_available
from ..messages import list_messages
from ..db import get_db, immediate
from ..errors import InputError
from ..times import clock_label, parse_hhmm, parse_instant, to_iso, zone_names
from . import now, settings
from .dose_link import answer_and_render, render_dose

bp = Blueprint("patient", __name__)
HISTORY_DAYS = 14


@bp.before_request
@login_required
def _logged_in():
    """Every page here needs a login."""


def horizon() -> timedelta:
    return timedelta(hours=settings()["worker.horizon_hours"])


def today_local():
    return now().astimezone(ZoneInfo(current_user.tz)).date()


@bp.route("/")
def today():
    day = today_local()
    doses = _doses(current_user.id, "d.local_date = ?", [day.isoformat()])
    failed = get_db().execute(
        "SELECT count(*) FROM messages WHERE user_id = ? AND status IN ('failed', 'undelivered') AND created_at >= ?",
        [current_user.id, to_iso(now() - timedelta(hours=24))],
    ).fetchone()[0]
    return render_template("today.html", doses=doses, day=day, failed_messages=failed)


@bp.route("/history")
def history():
    first = today_local() - timedelta(days=HISTORY_DAYS)
    doses = _doses(current_user.id, "d.local_date >= ? AND d.scheduled_at <= ?",
                   [first.isoformat(), now().strftime("%Y-%m-%dT%H:%M:%SZ")], newest_first=True)
    return render_template("history.html", doses=doses, days=HISTORY_DAYS)


@bp.route("/doses/<id:dose_id>", methods=["GET", "POST"])
def dose(dose_id: int):
    _own_dose(dose_id)
    if request.method == "POST":
        return answer_and_render(dose_id, source="web", actor_id=current_user.id, form_action=request.path)
    return render_dose(dose_id, form_action=request.path)


@bp.route("/medications")
def medication_list():
    db = get_db()
    items = [medications.to_json(db, i) for i in medications.patient_medication_ids(db, current_user.id, include_ended=True)]
    return render_template("medications.html", active=[m for m in items if not m["ended_at"]],
                           ended=[m for m in items if m["ended_at"]])


@bp.route("/medications/new", methods=["GET", "POST"])
def new_medication():
    if request.method == "POST":
        try:
            spec = medications.parse_medication(_form_fields(), today_local())
            medications.create(get_db(), current_user.id, spec, now(), horizon())
        except InputError as error:
            flash(error.message, "error")
            return render_template("medication_form.html", form=request.form, editing=None), error.status
        flash(f"{spec.name} added. You'll get a reminder at each dose time.", "ok")
        return redirect(url_for("patient.medication_list"))
    return render_template("medication_form.html", form={}, editing=None)


@bp.route("/medications/<id:medication_id>/edit", methods=["GET", "POST"])
def edit_medication(medication_id: int):
    current = _own_medication(medication_id)
    if current["ended_at"]:
        flash(f"{current['name']} has ended; add it again to restart it.", "error")
        return render_template("error.html", title="This medication has ended",
                               message="Add it again to restart it."), 409
    if request.method == "POST":
        try:
            medications.update(get_db(), medication_id, _form_fields(), today_local(), now(), horizon())
        except InputError as error:
            flash(error.message, "error")
            return render_template("medication_form.html", form=request.form, editing=current), error.status
        flash("Saved. Future reminders follow the new plan.", "ok")
        return redirect(url_for("patient.medication_list"))
    form = {**current, "times": " ".join(current["times"]), "days": " ".join(
        medications.DAY_NAMES[d] for d in current["days"] or [])}
    return render_template("medication_form.html", form=form, editing=current)


@bp.route("/medications/<id:medication_id>/end", methods=["POST"])
def end_medication(medication_id: int):
    current = _own_medication(medication_id)
    medications.end(get_db(), medication_id, today_local(), now(), request.form.get("reason", ""))
    flash(f"{current['name']} ended. Its history is kept.", "ok")
    return redirect(url_for("patient.medication_list"))


@bp.route("/settings", methods=["GET", "POST"])
def user_settings():
    token = None
    if request.method == "POST":
        db = get_db()
        try:
            if request.form.get("action") == "token":
                token = accounts.create_token(db, current_user.id, now(), label="web")
            else:
                changes = {k: request.form.get(k, "") for k in ("name", "email", "phone", "tz")}
                changes["channels"] = request.form.getlist("channels")
                change_profile(db, current_user.id, changes)
                flash("Settings saved.", "ok")
                return redirect(url_for("patient.user_settings"))
        except InputError as error:
            flash(error.message, "error")
            form = {**request.form.to_dict(), "channels": request.form.getlist("channels")}
            return _settings_page(form, token=None), error.status
    return _settings_page({**current_user.row, "channels": delivery.chosen_channels(current_user.row)}, token)


@bp.route("/messages")
def message_log():
    """What was sent to the patient and what happened to it."""
    return render_template("messages.html", messages=list_messages(get_db(), user_id=current_user.id, limit=100))


def _settings_page(form: dict, token: str | None):
    return render_template("settings.html", form=form, zones=zone_names(), token=token,
                           opted_out=current_user.sms_opted_out_at, channels=channels_available(settings()))


def change_profile(db, user_id: int, changes: dict) -> None:
    """Update the profile; a new time zone moves every future reminder to local time there."""
    with immediate(db):
        before = accounts.find_user(db, id=user_id)
        accounts.update_profile(db, user_id, changes)
        if "tz" in changes and changes["tz"] != before["tz"]:
            for medication_id in medications.patient_medication_ids(db, user_id):
                ledger.rewrite_future(db, medication_id, now(), horizon())


def _form_fields() -> dict:
    form = request.form
    fields = {key: form.get(key, "") for key in ("name", "strength", "unit", "amount", "times", "days",
                                                 "start_date", "max_daily_amount")}
    fields["withdrawal_risk"] = form.get("withdrawal_risk", "")
    return fields


def _own_medication(medication_id: int) -> dict:
    medication = medications.to_json(get_db(), medication_id)
    if medication is None or medication["patient_id"] != current_user.id:
        abort(404)
    return medication


def _own_dose(dose_id: int) -> dict:
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != current_user.id:
        abort(404)
    return dose


def _doses(patient_id: int, where: str, params: list, newest_first: bool = False) -> list[dict]:
    rows = get_db().query(
        "SELECT d.*, m.name AS medication, m.strength, m.unit, m.on_time_minutes FROM doses d "
        "JOIN medications m ON m.id = d.medication_id "
        f"WHERE d.patient_id = ? AND {where} ORDER BY d.scheduled_at {'DESC' if newest_first else 'ASC'}",
        [patient_id, *params],
    )
    current = now()
    result = []
    for row in rows:
        tz = ZoneInfo(row["tz"])
        row["due_label"] = clock_label(parse_hhmm(row["local_time"]))
        row["taken_label"] = clock_label(parse_instant(row["taken_at"]).astimezone(tz).time()) if row["taken_at"] else None
        row["is_open"] = row["status"] == "pending" and parse_instant(row["window_closes_at"]) > current
        # Taken can be tapped from the start of the on-time window (missed_dose: not_due_yet before).
        row["is_due"] = row["is_open"] and parse_instant(row["scheduled_at"]) <= current + timedelta(
            minutes=row["on_time_minutes"])
        result.append(row)
    return result

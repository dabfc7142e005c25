"""A clinician's changes to a linked patient's medication on the web: the edit form with the
guarded fields editable, and the titration and taper plans as step editors, and a pause with its reason. Every change carries a
reason, kept with it (``clinician_changes``); every page is written to the audit log the patient
reads. Anyone but a clinician of a clinic the patient is linked to gets 404."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from .. import access, accounts, clinician_changes, clinics, medications, safety_limits, tapering
from ..db import get_db, immediate
from ..errors import InputError
from .common import horizon, now, settings, step_rows, today_in, with_blank_rows

bp = Blueprint("clinic_plans", __name__, url_prefix="/panel/patients/<id:patient_id>/medications/<id:medication_id>")
TITRATION_FIELDS = ("start_date", "amount", "times", "every_days")
FORM_FIELDS = ("name", "strength", "unit", "amount", "times", "days", "every_days", "start_date")


@bp.before_request
@login_required
def _logged_in():
    """Every page here needs a login."""


@bp.route("/edit", methods=["GET", "POST"])
def edit(patient_id: int, medication_id: int):
    patient, current = _open(patient_id, medication_id, "opened medication form")
    if request.method == "GET":
        return _form_page(patient, current, _form_of(current))
    form = request.form
    fields = {key: form.get(key, "") for key in FORM_FIELDS if key != "start_date" or form.get(key, "").strip()}
    fields |= {key: form[key] for key in safety_limits.GUARDED if key in form}
    try:
        clinician_changes.change(
            get_db(),
            current_user.id,
            medication_id,
            fields,
            request.form.get("reason"),
            _today(patient),
            now(),
            horizon(),
        )
    except InputError as error:
        flash(error.message, "error")
        return _form_page(patient, current, request.form), error.status
    flash(f"{current['name']} changed; the reason is kept with the patient's record.", "ok")
    return redirect(url_for("clinic.report", patient_id=patient_id))


@bp.route("/titration", methods=["GET", "POST"])
def titration(patient_id: int, medication_id: int):
    """Steps up: each a first day, an amount and (when they change) the times."""
    return _plan(patient_id, medication_id, "titration", TITRATION_FIELDS)


@bp.route("/taper", methods=["GET", "POST"])
def taper(patient_id: int, medication_id: int):
    """Steps down, under the same rules as the patient's taper, with the clinician's reason."""
    return _plan(patient_id, medication_id, "taper", tapering.ROW_FIELDS)


@bp.route("/pause", methods=["GET", "POST"])
def pause(patient_id: int, medication_id: int):
    """No reminders from today to a chosen day, with a reason; the alert repeats are silent then
    (``medications.pause_by_clinician``)."""
    patient, current = _open(patient_id, medication_id, "opened pause form")
    if request.method == "GET":
        return _pause_page(patient, current)
    today = _today(patient)
    try:
        reason, until = medications.parse_pause(request.form, today)
        medications.pause_by_clinician(
            get_db(), settings(), medication_id, (today, until), current_user.row, reason, now()
        )
    except InputError as error:
        flash(error.message, "error")
        return _pause_page(patient, current), error.status
    flash(f"Reminders for {current['name']} paused until {until:%a %d %b}; the patient is told why.", "ok")
    return redirect(url_for("clinic.report", patient_id=patient_id))


def _pause_page(patient: dict, current: dict):
    today = _today(patient)
    return render_template(
        "clinician_pause.html",
        patient=patient,
        medication=current,
        today=today.isoformat(),
        last=(today + timedelta(days=medications.MAX_PAUSE_DAYS - 1)).isoformat(),
        form=request.form,
    )


def _plan(patient_id: int, medication_id: int, kind: str, fields: tuple[str, ...]):
    patient, current = _open(patient_id, medication_id, f"opened {kind} plan")
    if request.method == "GET":
        return _plan_page(kind, patient, current, [], blank=3)
    if request.form.get("action") == "add":  # one more row, keeping what was typed
        return _plan_page(kind, patient, current, step_rows(fields, keep_blank=True), blank=1)
    rows = step_rows(fields)
    try:
        plan = {"steps": tapering.steps_from_rows(rows, current["times"])}
        steps = _write(kind, patient, medication_id, plan)
    except InputError as error:
        flash(error.message, "error")
        return _plan_page(kind, patient, current, rows, error=error), error.status
    flash(
        f"{kind.capitalize()} plan saved for {current['name']}: {len(steps)} step{'s' if len(steps) != 1 else ''} "
        f"from {steps[0].start_date:%a %d %b}. The patient is told the day before each change.",
        "ok",
    )
    return redirect(url_for("clinic.report", patient_id=patient_id))


def _write(kind: str, patient: dict, medication_id: int, plan: dict) -> list:
    db, reason, today = get_db(), request.form.get("reason"), _today(patient)
    if kind == "titration":
        return clinician_changes.titrate(db, current_user.id, medication_id, plan, reason, today, now(), horizon())
    return clinician_changes.taper(
        db, current_user.id, medication_id, plan, reason, today, patient["tz"], now(), horizon()
    )


def _open(patient_id: int, medication_id: int, action: str) -> tuple[dict, dict]:
    """The patient and their medication (not ended), for a clinician of a linked clinic; else 404.
    The look is audited, as the report is."""
    db = get_db()
    if current_user.role != "clinician" or not access.can_change_medications(db, current_user.row, patient_id):
        abort(404)
    patient = accounts.find_user(db, id=patient_id)
    current = medications.to_json(db, medication_id, _today(patient))
    if current is None or current["patient_id"] != patient_id or current["ended_at"]:
        abort(404)
    with immediate(db):
        clinics.audit(db, current_user.id, patient_id, action, now(), request.full_path.rstrip("?"))
    return patient, current


def _today(patient: dict):
    return today_in(patient["tz"])


def _form_of(current: dict) -> dict:
    return {
        **current,
        "times": " ".join(current["times"]),
        "days": " ".join(medications.DAY_NAMES[d] for d in current["days"] or []),
        "every_days": current["every_days"] or "",
        "start_date": "",
    }


def _form_page(patient: dict, current: dict, form):
    return render_template(
        "medication_form.html",
        form=form,
        editing=current,
        clinician=True,
        guarded_fields=safety_limits.GUARDED_FIELDS,
        patient_name=patient["name"] or patient["email"],
        action=request.path,
        back=url_for("clinic.report", patient_id=patient["id"]),
    )


def _plan_page(kind: str, patient: dict, current: dict, rows: list, error=None, blank: int = 0):
    fields = TITRATION_FIELDS if kind == "titration" else tapering.ROW_FIELDS
    return render_template(
        "clinician_plan.html",
        kind=kind,
        patient=patient,
        medication=current,
        rows=with_blank_rows(rows, fields, blank or 1),
        error=error,
        plan=tapering.plan_words(current, _today(patient)),
        reason=request.form.get("reason", ""),
    )

"""The patient's pages: Today, a dose, history, medications (supply, pausing, tapers), pumps and
settings. Thin views."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from .. import (
    accounts,
    auth_codes,
    caregivers,
    delivery,
    dose_queries,
    ledger,
    medications,
    profile,
    progress,
    pumps,
    safety_contacts,
    safety_limits,
    supply,
    tapering,
    throttle,
)
from ..config import channels_available
from ..db import get_db, immediate
from ..errors import InputError
from ..messages import messages_page
from ..throttle import TooManyAttempts
from ..times import as_hhmm, parse_instant, to_iso, zone_names
from .common import (
    User,
    answer_and_render,
    days_left_words,
    field_errors,
    horizon,
    now,
    render_dose,
    safety_path,
    settings,
    step_rows,
    supply_of,
    today_in,
    with_blank_rows,
)

bp = Blueprint("patient", __name__)
MESSAGES_PER_PAGE = 30
STREAK_DAYS = 366  # how far back a streak is counted
CALENDAR_WEEKS = 5  # on the adherence page, this week and the four before


@bp.before_request
@login_required
def _logged_in():
    """Every page here needs a login."""


def today_local():
    return today_in(current_user.tz)


@bp.route("/")
def today():
    if current_user.role == "caregiver":  # a caregiver takes no doses: their start page is their patients
        return redirect(url_for("care.my_patients"))
    if current_user.role == "clinician":  # nor does a clinician: theirs is the clinic's panel
        return redirect(url_for("clinic.panel"))
    if current_user.role == "admin":  # nor an admin: theirs is the clinics they run
        return redirect(url_for("admin.index"))
    day = today_local()
    doses = dose_queries.doses_on(get_db(), current_user.id, day, now())
    failed = (
        get_db()
        .execute(
            "SELECT count(*) FROM messages WHERE user_id = ? AND status IN ('failed', 'undelivered') AND created_at >= ?",
            [current_user.id, to_iso(now() - timedelta(hours=24))],
        )
        .fetchone()[0]
    )
    return render_template(
        "today.html",
        doses=doses,
        day=day,
        failed_messages=failed,
        supply=supply_of(current_user.id),
        ask_safety_contact=safety_contacts.question_due(get_db(), current_user.id, now()),
    )


@bp.route("/safety-contact/later", methods=["POST"])
def safety_contact_later():
    """The patient skips the request to add a caregiver or clinic: asked again in a week."""
    with immediate(get_db()):
        safety_contacts.asked(get_db(), current_user.id, now())
    flash("We will ask again in a week. You can invite a caregiver or join a clinic at any time.", "info")
    return redirect(url_for("patient.today"))


@bp.route("/history")
def history():
    """One month a page (``?month=2026-03``), newest dose first, grouped by day."""
    this_month = today_local().replace(day=1)
    month = _month_arg(request.args.get("month"), this_month)
    last = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    doses = dose_queries.doses_between(get_db(), current_user.id, month, last, now())
    first_dose = get_db().execute("SELECT min(local_date) FROM doses WHERE patient_id = ?", [current_user.id])
    started = first_dose.fetchone()[0]
    return render_template(
        "history.html",
        month=month,
        days=[(date.fromisoformat(day), list(group)) for day, group in groupby(doses, key=itemgetter("local_date"))],
        older=(month - timedelta(days=1)).replace(day=1) if started and started < month.isoformat() else None,
        newer=last + timedelta(days=1) if month < this_month else None,
    )


@bp.route("/adherence")
def adherence():
    """The patient's own summary: this week, this month, their streak and a calendar of all their
    doses, in plain words (the clinician's metrics and charts stay on the report)."""
    db, day = get_db(), today_local()
    rows = db.execute(
        "SELECT local_date, status FROM doses WHERE patient_id = ? AND local_date BETWEEN ? AND ?",
        [current_user.id, (day - timedelta(days=STREAK_DAYS)).isoformat(), day.isoformat()],
    )
    doses = [(date.fromisoformat(local_date), status) for local_date, status in rows]
    streak = progress.streak(doses, day)
    return render_template(
        "adherence.html",
        week=progress.stretch(doses, day, 7),
        month=progress.stretch(doses, day, 30),
        streak=streak,
        streak_words=progress.streak_words(streak),
        weeks=progress.calendar(doses, day, CALENDAR_WEEKS),
    )


@bp.route("/doses/<id:dose_id>", methods=["GET", "POST"])
def dose(dose_id: int):
    _own_dose(dose_id)
    if request.method == "POST":
        return answer_and_render(dose_id, source="web", actor_id=current_user.id, form_action=request.path)
    return render_dose(dose_id, form_action=request.path)


@bp.route("/medications")
def medication_list(errors: dict | None = None):
    """The patient's medications; ``errors`` (``{input id: message}``) when a refill was refused."""
    db = get_db()
    items = [
        medications.to_json(db, i, today_local())
        for i in medications.patient_medication_ids(db, current_user.id, include_ended=True)
    ]
    stock = {item["id"]: item for item in supply_of(current_user.id)}
    paused = {
        row[0]
        for row in db.execute(
            "SELECT p.medication_id FROM pauses p JOIN medications m ON m.id = p.medication_id "
            "WHERE m.patient_id = ? AND p.local_date = ?",
            [current_user.id, today_local().isoformat()],
        )
    }
    ends = dict(
        db.execute(
            "SELECT id, ends_at FROM medications WHERE patient_id = ? AND ends_at IS NOT NULL", [current_user.id]
        ).fetchall()
    )
    return render_template(
        "medications.html",
        active=[m for m in items if not m["ended_at"]],
        ended=[m for m in items if m["ended_at"]],
        stock=stock,
        paused=paused,
        taper_ends={key: _local_day(value) for key, value in ends.items()},
        plans={m["id"]: tapering.plan_words(m, today_local()) for m in items if not m["ended_at"]},
        field_errors=errors or {},
    )


@bp.route("/medications/new", methods=["GET", "POST"])
def new_medication():
    if request.method == "POST":
        try:
            spec = medications.parse_medication(_form_fields(), today_local())
            medications.create(get_db(), current_user.id, spec, now(), horizon())
        except InputError as error:
            flash(error.message, "error")
            duplicate = error.code == "duplicate_ingredient"  # ask, as the API's confirm_duplicate does
            return render_template(
                "medication_form.html",
                form=request.form,
                editing=None,
                duplicate=duplicate,
                warning=error.code,
                field_errors=field_errors(error),
            ), error.status
        ask = safety_contacts.ask_text(get_db(), current_user.id)  # issue 10 section 1: someone watching
        flash(
            f"{spec.name} added. You'll get a reminder at each dose time. {ask} Here is what to know about it.",
            "ok",
        )
        return redirect(safety_path(spec.name, spec.route))  # shown once, when it is added
    return render_template("medication_form.html", form={}, editing=None)


@bp.route("/medications/<id:medication_id>/edit", methods=["GET", "POST"])
def edit_medication(medication_id: int):
    current = _own_medication(medication_id)
    if current["ended_at"]:
        flash(f"{current['name']} has ended; add it again to restart it.", "error")
        return render_template(
            "error.html", title="This medication has ended", message="Add it again to restart it."
        ), 409
    if request.method == "POST":
        try:
            medications.update(get_db(), medication_id, _form_fields(), today_local(), now(), horizon())
        except InputError as error:
            flash(error.message, "error")
            return _medication_form(request.form, current, warning=error.code, errors=field_errors(error)), error.status
        flash("Saved. Future reminders follow the new plan.", "ok")
        return redirect(url_for("patient.medication_list"))
    form = {
        **current,
        "times": " ".join(current["times"]),
        "days": " ".join(medications.DAY_NAMES[d] for d in current["days"] or []),
        "every_days": current["every_days"] or "",
    }
    return _medication_form(form, current)


def _medication_form(form, current: dict, warning: str | None = None, errors: dict | None = None):
    """The edit form: the guarded fields shown read-only, "your clinician can change this"; ``warning``
    is the code of a refusal the form answers with a question (an interaction to acknowledge)."""
    return render_template(
        "medication_form.html",
        form=form,
        editing=current,
        limit_words=safety_limits.limit_words(current),
        warning=warning,
        field_errors=errors or {},
    )


@bp.route("/medications/<id:medication_id>/end", methods=["GET", "POST"])
def end_medication(medication_id: int):
    """GET asks on a page of its own (no script: a name is only ever text); POST ends it."""
    current = _open_medication(medication_id)
    if current["withdrawal_risk"]:  # never simply switched off: explain, and offer a taper instead
        return _taper_page(current, tapering.suggested_rows(current, today_local()), ending=True), 409
    if request.method == "GET":
        return render_template("end_medication.html", medication=current)
    medications.end(get_db(), medication_id, today_local(), now(), request.form.get("reason", ""))
    flash(f"{current['name']} ended. Its history is kept.", "ok")
    return redirect(url_for("patient.medication_list"))


@bp.route("/medications/<id:medication_id>/taper", methods=["GET", "POST"])
def taper(medication_id: int):
    """A taper plan edited as a list of steps (issue 14 §2); "Add a step" shows one more row."""
    current = _open_medication(medication_id)
    if request.method == "GET":
        return _taper_page(current, tapering.suggested_rows(current, today_local()))
    if request.form.get("action") == "add":  # one more row, keeping what was typed
        return _taper_page(current, step_rows(tapering.ROW_FIELDS, keep_blank=True), blank=1)
    rows = step_rows(tapering.ROW_FIELDS)
    try:
        plan = tapering.steps_from_rows(rows, current["times"])
        steps = tapering.parse_plan({"steps": plan}, current, today_local())
    except InputError as error:
        flash(error.message, "error")
        return _taper_page(current, rows, error=error), error.status
    tapering.apply_plan(get_db(), medication_id, steps, current_user.tz, now(), horizon())
    flash(
        f"Taper plan saved: {len(steps)} step{'s' if len(steps) != 1 else ''} from {steps[0].start_date:%a %d %b}. "
        f"{current['name']} ends after {steps[-1].end_date:%a %d %b}.",
        "ok",
    )
    return redirect(url_for("patient.medication_list"))


@bp.route("/medications/<id:medication_id>/pause", methods=["POST"])
def pause(medication_id: int):
    """No reminders today for this medication; recorded, and the caregivers told."""
    current = _open_medication(medication_id)
    db = get_db()
    told = len(caregivers.followers(db, current_user.id, medication_id, True))
    if not medications.pause_today(db, settings(), medication_id, today_local(), current_user.id, now()):
        flash(f"Reminders for {current['name']} are already paused today.", "info")
    elif told:
        flash(
            f"No more reminders for {current['name']} today. Your caregiver{'s were' if told > 1 else ' was'} "
            "told about the pause.",
            "ok",
        )
    else:
        flash(f"No more reminders for {current['name']} today. The pause is recorded.", "ok")
    return redirect(url_for("patient.medication_list"))


@bp.route("/medications/<id:medication_id>/refills", methods=["POST"])
def medication_refill(medication_id: int):
    current = _open_medication(medication_id)
    try:
        supply.record_refill(
            get_db(),
            medication_id,
            request.form.get("quantity", "").strip(),
            request.form.get("pharmacy"),
            current_user.id,
            now(),
        )
    except InputError as error:  # the form reopens with what was typed and the error beside its field
        flash(error.message, "error")
        ids = {"quantity": f"quantity-{medication_id}", "pharmacy": f"pharmacy-{medication_id}"}
        return medication_list(field_errors(error, ids)), error.status
    left = supply.days_left_for(get_db(), medication_id, now())
    stock = get_db().execute("SELECT stock FROM medications WHERE id = ?", [medication_id]).fetchone()[0]
    flash(f"Refill recorded for {current['name']}: {stock:g} in stock, {days_left_words(left)}.", "ok")
    return redirect(url_for("patient.medication_list"))


@bp.route("/pumps", methods=["GET", "POST"])
def pump_list():
    """Intrathecal pumps: record one, see its refill-by and alarm dates."""
    db = get_db()
    if request.method == "POST":
        form = request.form
        try:
            pump_id = pumps.create_pump(
                db,
                current_user.id,
                form.get("medication") or None,
                form.get("alarm_date", "").strip(),
                form.get("refill_by", "").strip() or None,
                current_user.id,
                now(),
                card={"concentration": form.get("concentration", ""), "clinic_phone": form.get("clinic_phone", "")},
            )
        except InputError as error:  # the form reopens with what was typed and the error beside its field
            flash(error.message, "error")
            return _pumps_page(form, field_errors(error)), error.status
        alarm = date.fromisoformat(pumps.get_pump(db, pump_id)["alarm_date"])
        if alarm <= today_local():  # urgent now; the worker's next tick tells caregivers and clinicians
            flash(pumps.overdue_text(alarm, (today_local() - alarm).days), "error")
            return redirect(url_for("patient.pump_list"))
        flash("Pump recorded. You'll get refill reminders 14, 7, 3 and 1 days before its refill-by date.", "ok")
        return redirect(url_for("patient.pump_list"))
    return _pumps_page({})


@bp.route("/pumps/<id:pump_id>/refills", methods=["POST"])
def pump_refill(pump_id: int):
    """A refill done: the new low-reservoir alarm date moves the refill-by date with it."""
    pump = pumps.get_pump(get_db(), pump_id)
    if pump is None or pump["patient_id"] != current_user.id:
        abort(404)
    typed = request.form.get("alarm_date", "").strip()
    try:
        pumps.record_refill(get_db(), pump_id, typed, current_user.id, now())
    except InputError as error:  # that pump's refill form reopens with the date typed and the error beside it
        flash(error.message, "error")
        errors = field_errors(error, {"alarm_date": f"alarm-{pump_id}"})
        return _pumps_page({}, errors, refill={pump_id: typed}), error.status
    flash(f"Pump refill recorded. Next refill by {_pump_dates(pump_id)}.", "ok")
    return redirect(url_for("patient.pump_list"))


@bp.route("/settings", methods=["GET", "POST"])
def user_settings():
    """The profile, and the account's security: password, phone code, API tokens, sessions."""
    token = None
    if request.method == "POST":
        db, form, action = get_db(), request.form, request.form.get("action", "profile")
        try:
            if action == "token":
                label, expires_at = accounts.check_token_request(form.get("label"), form.get("expires_in_days"), now())
                with immediate(db):
                    token = accounts.create_token(db, current_user.id, now(), label or "web", expires_at)
            elif action == "revoke_token":
                token_id = form.get("token_id", "")
                with immediate(db):
                    if token_id.isascii() and token_id.isdigit():
                        accounts.revoke_token(db, current_user.id, int(token_id))
                flash("Token revoked: it no longer works.", "ok")
                return redirect(url_for("patient.user_settings"))
            elif action == "password":
                accounts.change_password(
                    db,
                    current_user.id,
                    form.get("current_password"),
                    form.get("new_password"),
                    request.remote_addr,
                    now(),
                    throttle.limit_of(settings()),
                )
                login_user(User(accounts.find_user(db, id=current_user.id)), remember=True)  # this session goes on
                flash("Password changed. You are logged out everywhere else.", "ok")
                return redirect(url_for("patient.user_settings"))
            elif action == "verify_phone":
                limit = throttle.limit_of(settings())
                auth_codes.verify_phone(db, current_user.id, form.get("code"), request.remote_addr, now(), limit)
                flash("Phone number verified: text reminders can go to it.", "ok")
                return redirect(url_for("patient.user_settings"))
            else:
                changes = {k: form.get(k, "") for k in ("name", "email", "phone", "tz")}
                changes |= {k: form[k] for k in ("quiet_start", "quiet_end") if k in form}
                changes["channels"] = form.getlist("channels")
                changes["name_medication"] = form.get("name_medication", "")
                new_email = profile.change(db, settings(), current_user.id, changes, now(), horizon())
                flash("Settings saved.", "ok")
                if new_email:
                    flash(f"To change your email, open the link we sent to {new_email}.", "ok")
                return redirect(url_for("patient.user_settings"))
        except TooManyAttempts:
            raise
        except InputError as error:
            flash(error.message, "error")
            errors = field_errors(error, {"password": "new_password"})
            if action != "profile":
                return _settings_page(
                    {**current_user.row, "channels": delivery.chosen_channels(current_user.row)}, None, errors
                ), error.status
            form_now = {**form.to_dict(), "channels": form.getlist("channels")}
            return _settings_page(form_now, token=None, errors=errors), error.status
    return _settings_page({**current_user.row, "channels": delivery.chosen_channels(current_user.row)}, token)


@bp.route("/messages")
def message_log():
    """What was sent to the patient and what happened to it, a page at a time (``?before=<id>``)."""
    before = request.args.get("before", "")
    before_id = int(before) if before.isascii() and before.isdigit() and len(before) < 19 else None
    page, next_before = messages_page(get_db(), current_user.id, before_id, MESSAGES_PER_PAGE)
    return render_template("messages.html", messages=page, next_before=next_before, paged=before_id is not None)


def _month_arg(text: str | None, default: date) -> date:
    """``YYYY-MM`` from the query string as the month's first day; ``default`` when absent or bad."""
    try:
        return date.fromisoformat(f"{text}-01") if text and len(text) == 7 else default
    except ValueError:
        return default


def _taper_page(
    medication: dict, rows: list[dict], ending: bool = False, error: InputError | None = None, blank: int = 0
):
    """The step editor for a taper: ``rows`` as typed (or suggested), with blank rows to fill in."""
    return render_template(
        "taper.html",
        medication=medication,
        refusal=medications.stop_refusal(medication),
        ending=ending,
        error=error,
        rows=with_blank_rows(rows, tapering.ROW_FIELDS, blank or (1 if rows else 3)),
        daily_total=(medication["amount"] or 0) * len(medication["times"]),
    )


def _pumps_page(form, errors: dict[str, str] | None = None, refill: dict[int, str] | None = None):
    db = get_db()
    day = today_local()
    rows = [pumps.pump_json(row, day) for row in pumps.pumps_of(db, current_user.id)]
    choices = [medications.to_json(db, i) for i in medications.patient_medication_ids(db, current_user.id)]
    return render_template(
        "pumps.html",
        pumps=rows,
        medications=choices,
        form=form,
        today=day,
        field_errors=errors or {},
        refill=refill or {},
    )


def _pump_dates(pump_id: int) -> str:
    pump = pumps.get_pump(get_db(), pump_id)
    return f"{date.fromisoformat(pump['refill_by']):%a %d %b} (alarm date {date.fromisoformat(pump['alarm_date']):%a %d %b})"


def _local_day(instant: str) -> str:
    """The last local day before ``instant`` (a taper's end, stored as the next midnight)."""
    local = parse_instant(instant).astimezone(ZoneInfo(current_user.tz)) - timedelta(seconds=1)
    return f"{local:%a %d %b}"


def _settings_page(form: dict, token: str | None, errors: dict | None = None):
    return render_template(
        "settings.html",
        field_errors=errors or {},
        form=form,
        zones=zone_names(),
        token=token,
        opted_out=current_user.sms_opted_out_at,
        phone_unverified=bool(current_user.phone) and not current_user.phone_verified,
        tokens=accounts.tokens_of(get_db(), current_user.id),
        channels=channels_available(settings()),
    )


def _form_fields() -> dict:
    form = request.form
    fields = {key: form.get(key, "") for key in ("name", "strength", "unit", "amount", "times", "days")}
    if form.get("start_date", "").strip():  # none is "from today", and never a change of plan by itself
        fields["start_date"] = form["start_date"]
    # The form shows the guarded fields read-only; one posted by hand goes through the same checks
    # as the API's (a loosening is 403 clinician_only), never silently dropped.
    fields |= {key: form[key] for key in safety_limits.GUARDED if key in form}
    fields["confirm_duplicate"] = form.get("confirm_duplicate", "")
    fields["acknowledge_interactions"] = form.get("acknowledge_interactions", "")
    fields["every_days"] = form.get("every_days", "")
    fields["times"] = as_hhmm(fields["times"])  # "8am, 8:00 pm" as "08:00 20:00"
    return fields


def _own_medication(medication_id: int) -> dict:
    medication = medications.to_json(get_db(), medication_id)
    if medication is None or medication["patient_id"] != current_user.id:
        abort(404)
    return medication


def _open_medication(medication_id: int) -> dict:
    """One of the patient's medications that has not ended, as ``to_json`` shows it plus its
    ``min_taper_days`` (which ``to_json`` leaves out and ``tapering.parse_plan`` needs)."""
    current = _own_medication(medication_id)
    if current["ended_at"]:
        abort(409, description=f"{current['name']} has ended.")
    row = get_db().execute("SELECT min_taper_days FROM medications WHERE id = ?", [medication_id]).fetchone()
    return {**current, "min_taper_days": row[0]}


def _own_dose(dose_id: int) -> dict:
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != current_user.id:
        abort(404)
    return dose

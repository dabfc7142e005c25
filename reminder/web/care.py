"""Caregivers on the web: a patient's caregivers and invitations, accepting one, the caregiver's
view of each patient with "I gave it", the alerts page, and the acknowledge link.

Who may see what: a caregiver sees a patient only through an active link
(``caregivers.active_link``), checked on every route that names a patient, a dose or an alert;
anyone else gets 404, as if it did not exist, and a revoked link ends access at the next request.
A GET never changes anything: link previews and mail scanners fetch the invitation and
acknowledge links.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from .. import (
    access,
    accounts,
    caregivers,
    clinics,
    dose_queries,
    escalation,
    ledger,
    medications,
    pumps,
    signups,
    throttle,
    tokens,
)
from ..db import get_db, immediate
from ..errors import InputError
from ..times import clock_label, parse_instant, to_iso, zone_names
from .common import DECISION_STATUS, User, field_errors, now, settings, snooze_length, supply_of, today_in

bp = Blueprint("care", __name__)
RECENT_DAYS = 7  # the caregiver view lists misses this far back
REASON_LIMIT = 500


# ---------------------------------------------------------------- the patient's caregivers


@bp.route("/caregivers", methods=["GET", "POST"])
@login_required
def caregiver_list():
    _patients_only()
    if request.method == "POST":
        email, phone = request.form.get("email", "").strip(), request.form.get("phone", "").strip()
        try:
            sent_to = _invite(email, phone)
        except InputError as error:  # the form reopens with what was typed and the error beside its field
            flash(error.message, "error")
            return _caregivers_page(request.form, field_errors(error)), error.status
        flash(
            f"Invitation sent to {' and '.join(sent_to)}. The link in it works for {tokens.INVITATION_DAYS} days.",
            "ok",
        )
        return redirect(url_for("care.caregiver_list"))
    return _caregivers_page({})


@bp.route("/caregivers/<id:link_id>/revoke", methods=["POST"])
@login_required
def revoke(link_id: int):
    _patients_only()
    link = next((row for row in caregivers.links_of(get_db(), current_user.id) if row["id"] == link_id), None)
    if link is None:
        abort(404)
    try:
        revoked = caregivers.revoke(
            get_db(), current_user.id, link_id, now(), settings=settings(), confirm=request.form.get("confirm") == "yes"
        )
    except InputError as error:  # the last safety contact: explain and ask
        return render_template(
            "confirm_removal.html",
            message=error.message,
            action=url_for("care.revoke", link_id=link_id),
            button="Revoke anyway",
            back=url_for("care.caregiver_list"),
        ), error.status
    if not revoked:
        abort(404)
    if link["status"] == "active":
        flash(
            f"{link['caregiver_name'] or link['caregiver_email']} can no longer see your doses or get your alerts.",
            "ok",
        )
    else:
        flash("Invitation withdrawn: its link no longer works.", "ok")
    return redirect(url_for("care.caregiver_list"))


def _invite(email: str, phone: str) -> list[str]:
    """Send the invitation to each address given; returns the addresses as stored."""
    link = caregivers.send_invitation(get_db(), settings(), current_user.row, email=email, phone=phone, now=now())
    return [address for address in (link["invite_email"], link["invite_phone"]) if address]


def _caregivers_page(form, errors: dict[str, str] | None = None):
    db, current = get_db(), now()
    links = caregivers.links_of(db, current_user.id)
    for link in links:
        expires = parse_instant(link["created_at"]) + timedelta(days=tokens.INVITATION_DAYS)
        link["expired"] = link["status"] == "invited" and current >= expires
    cared_for = [p for p in caregivers.patients_of(db, current_user.id) if p["id"] != current_user.id]
    return render_template(
        "caregivers.html",
        form=form,
        field_errors=errors or {},
        cared_for=cared_for,
        current=[k for k in links if k["status"] != "revoked" and not k["expired"]],
        past=[k for k in links if k["status"] == "revoked" or k["expired"]],
    )


def _patients_only() -> None:
    """Only a patient has caregivers to invite."""
    if current_user.role != "patient":
        abort(404)


# ---------------------------------------------------------------- accepting an invitation


@bp.route("/invitations/<token>")
def invitation(token: str):
    return _invitation_page(token, _invitation(token), {})


@bp.route("/invitations/<token>/accept", methods=["POST"])
@login_required
def accept(token: str):
    link = caregivers.accept(get_db(), token, current_user.id, now())
    return _welcome(link)


@bp.route("/invitations/<token>/register", methods=["POST"])
def register(token: str):
    """Create a caregiver account and accept, never saying whether the email has an account.

    An email invitation: the link reached the invited address, so (with that address in the form)
    it proves the mailbox and a free email gets its account at once. A text invitation: the email
    typed is unproven, so a confirmation link goes to it (``signups``). Either way a taken email
    gets "check your email" here, and its owner an email with the login link."""
    link = _invitation(token)  # checked first: a dead link creates no account
    db, form = get_db(), request.form
    signup = signups.Signup(
        email=form.get("email", ""),
        password=form.get("password", ""),
        name=form.get("name", ""),
        tz=form.get("tz", ""),
        role="caregiver",
        # A text-only invitation: the link reached this phone, so the new account holds it.
        phone=None if link["invite_email"] else link["invite_phone"],
        care_link_id=link["id"],
        login_link=url_for("care.invitation_login", token=token),
    )
    try:
        if link["invite_email"] and signup.email.strip().lower() != link["invite_email"].lower():
            raise InputError("email", f"This invitation was sent to {link['invite_email']}: register with that email.")
        if not link["invite_email"] or accounts.find_user(db, email=link["invite_email"].lower()):
            email = signups.request_signup(db, settings(), signup, request.remote_addr, now())
            return render_template("register_check_email.html", email=email)
        user_id = accounts.create_user(
            db,
            email=signup.email,
            password=signup.password,
            role="caregiver",
            now=now(),
            name=signup.name,
            tz=signup.tz,
        )
    except throttle.TooManyAttempts:
        raise
    except InputError as error:
        flash(error.message, "error")  # what was typed stays (never the password), the error beside its field
        return _invitation_page(token, link, form, field_errors(error)), error.status
    link = caregivers.accept(db, token, user_id, now())
    login_user(User(accounts.find_user(db, id=user_id)), remember=True)
    return _welcome(link)


@bp.route("/invitations/<token>/login", methods=["GET", "POST"])
def invitation_login(token: str):
    """Log in with an existing account, then back to the invitation."""
    link = _invitation(token)
    if request.method == "POST":
        form = request.form
        limit = throttle.limit_of(settings())
        row = accounts.log_in(
            get_db(), form.get("email", ""), form.get("password", ""), request.remote_addr, now(), limit
        )
        if row:
            login_user(User(row), remember=True)
            return redirect(url_for("care.invitation", token=token))
        message = "That email and password don't match an account."
        flash(message, "error")
        email = request.form.get("email", "")
        page = render_template("invitation_login.html", token=token, email=email, field_errors={"password": message})
        return page, 401
    return render_template("invitation_login.html", token=token, email=link["invite_email"] or "")


def _invitation(token: str) -> dict:
    """The open invitation, or its InputError's status (404 unknown, 410 expired, 409 accepted)."""
    try:
        return caregivers.invitation(get_db(), token, now())
    except InputError as error:
        abort(error.status, description=error.message)


def _invitation_page(token: str, link: dict, form, errors: dict[str, str] | None = None):
    patient = accounts.find_user(get_db(), id=link["patient_id"])
    return render_template(
        "invitation.html",
        token=token,
        patient_name=patient["name"] or patient["email"],
        own=current_user.is_authenticated and current_user.id == link["patient_id"],
        form={"email": link["invite_email"] or "", **form},
        zones=zone_names(),
        field_errors=errors or {},
    )


def _welcome(link: dict):
    patient = accounts.find_user(get_db(), id=link["patient_id"])
    flash(
        f"You are now {patient['name'] or patient['email']}'s caregiver. We'll tell you if they miss doses of a "
        "medication that must not be stopped suddenly.",
        "ok",
    )
    return redirect(url_for("care.patient_view", patient_id=link["patient_id"]))


# ---------------------------------------------------------------- the caregiver's view


@bp.route("/patients")
@login_required
def my_patients():
    db = get_db()
    rows = [p for p in caregivers.patients_of(db, current_user.id) if p["id"] != current_user.id]
    return render_template("patients.html", patients=[_overview(p) for p in rows])


@bp.route("/patients/<id:patient_id>")
@login_required
def patient_view(patient_id: int):
    return _patient_page(_linked_patient(patient_id))


@bp.route("/patients/<id:patient_id>/doses/<id:dose_id>/given", methods=["POST"])
@login_required
def gave(patient_id: int, dose_id: int):
    """A caregiver's "I gave it": the missed-dose and never-double rules apply, and the caregiver
    is recorded as the actor. A reason lifts the minimum-gap check only (``override_gap``)."""
    patient = _linked_patient(patient_id)
    dose = ledger.load_dose(get_db(), dose_id)
    if dose is None or dose["patient_id"] != patient_id:
        abort(404)
    if not access.can_give(get_db(), current_user.row, patient_id, dose["medication_id"]):
        return _patient_page(patient, error="Your link to this patient does not cover this medication."), 403
    reason = request.form.get("reason", "").strip()
    if len(reason) > REASON_LIMIT:
        return _patient_page(patient, error=f"Keep the reason under {REASON_LIMIT} characters."), 400
    answer = ledger.Answer("taken", "caregiver", current_user.id, reason=reason or None, override_gap=bool(reason))
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    return _patient_page(patient, decision=decision, dose_id=dose_id), DECISION_STATUS[decision.code]


@bp.route("/patients/<id:patient_id>/alert-settings", methods=["POST"])
@login_required
def alert_settings(patient_id: int):
    """Which of the patient's medications the caregiver hears about, and by which channel."""
    patient = _linked_patient(patient_id)
    db, form = get_db(), request.form
    data = {
        "channel": form.get("channel") or None,
        "all_medications": form.get("all_medications") == "on",
        "medication_ids": None,
    }
    try:
        if form.get("scope") == "some":
            data["medication_ids"] = [
                int(i) if i.isascii() and i.isdigit() else i for i in form.getlist("medication_ids")
            ]
            if not data["medication_ids"]:
                raise InputError("medication_ids", "Tick at least one medication, or choose every medication.")
        with immediate(db):
            caregivers.update_settings(db, patient_id, current_user.id, data)
    except InputError as error:
        flash(error.message, "error")
        return _patient_page(patient), error.status
    flash("Alert settings saved.", "ok")
    return redirect(url_for("care.patient_view", patient_id=patient_id))


def _linked_patient(patient_id: int) -> dict:
    """The patient behind the logged-in caregiver's active link; 404 for anyone else."""
    db = get_db()
    if not access.is_caregiver_of(db, current_user.row, patient_id):
        abort(404)
    return accounts.find_user(db, id=patient_id)


def _today_of(patient: dict):
    return today_in(patient["tz"])


def _overview(patient: dict) -> dict:
    """A patient on the "My patients" list: today's doses by status and the open alerts."""
    db = get_db()
    counts = dict(
        db.execute(
            "SELECT status, count(*) FROM doses WHERE patient_id = ? AND local_date = ? AND status != 'cancelled' "
            "GROUP BY status",
            [patient["id"], _today_of(patient).isoformat()],
        ).fetchall()
    )
    alerts = db.execute(
        "SELECT count(*) FROM alerts WHERE patient_id = ? AND status = 'open'", [patient["id"]]
    ).fetchone()[0]
    return {
        **patient,
        "doses": sum(counts.values()),
        "taken": counts.get("taken", 0),
        "not_taken": sum(counts.get(s, 0) for s in escalation.NOT_TAKEN),
        "open_alerts": alerts,
    }


def _patient_page(patient: dict, decision=None, dose_id: int | None = None, error: str | None = None):
    db, day = get_db(), _today_of(patient)
    since = day - timedelta(days=RECENT_DAYS)
    alerts = [a for a in escalation.alerts_for(db, [patient["id"]], limit=50) if a["status"] != "resolved"]
    return render_template(
        "patient_view.html",
        patient=patient,
        day=day,
        decision=decision,
        decision_dose=dose_id,
        error=error,
        doses=dose_queries.doses_on(db, patient["id"], day, now()),
        misses=dose_queries.misses(db, patient["id"], since, now()),
        alerts=_with_ack(alerts),
        supply=supply_of(patient["id"]),
        pumps=[pumps.pump_json(row, day) for row in pumps.pumps_of(db, patient["id"])],
        medications=[
            medications.to_json(db, i, today_in(patient["tz"]))
            for i in medications.patient_medication_ids(db, patient["id"])
        ],
        link=caregivers.link_json(caregivers.active_link(db, current_user.id, patient["id"])),
        other_zone=patient["tz"] != current_user.tz,
        # Messages that could not reach the patient in the last day: the caregiver should know.
        undelivered=db.execute(
            "SELECT count(*) FROM messages WHERE user_id = ? AND status IN ('failed', 'undelivered') AND created_at >= ?",
            [patient["id"], to_iso(now() - timedelta(hours=24))],
        ).fetchone()[0],
    )


# ---------------------------------------------------------------- alerts


@bp.route("/alerts")
@login_required
def alert_list():
    """A patient's own alerts; a caregiver's patients' alerts: who was told, who acknowledged."""
    db = get_db()
    alerts = _with_ack(escalation.alerts_for(db, escalation.alert_patients(db, current_user.row)))
    return render_template(
        "alerts.html",
        current=[a for a in alerts if a["status"] != "resolved"],
        past=[a for a in alerts if a["status"] == "resolved"],
    )


@bp.route("/alerts/<id:alert_id>/ack", methods=["POST"])
@login_required
def acknowledge(alert_id: int):
    """A caregiver who was told acknowledges: the alert stops repeating."""
    db = get_db()
    if not access.can_acknowledge(db, current_user.row, alert_id):
        abort(404)
    row = db.execute("SELECT patient_id FROM alerts WHERE id = ?", [alert_id]).fetchone()
    with immediate(db):
        status = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
        escalation.acknowledge_by(db, alert_id, current_user.id, now())
    flash(
        {
            "open": "Acknowledged: the alert stops repeating.",
            "acknowledged": "This alert was already acknowledged.",
            "resolved": "This alert has already ended.",
        }[status],
        "ok" if status == "open" else "info",
    )
    if request.form.get("back") == "patient":
        return redirect(url_for("care.patient_view", patient_id=row[0]))
    return redirect(url_for("care.alert_list"))


def _with_ack(alerts: list[dict]) -> list[dict]:
    """Mark the open alerts the logged-in user was told about: they may acknowledge them."""
    for alert in alerts:
        alert["can_ack"] = alert["status"] == "open" and any(
            t["user_id"] == current_user.id and not (t["role"] == "patient" and alert["patient_summary"])
            for t in alert["told"]
        )
    return alerts


# ---------------------------------------------------------------- the acknowledge link (no login)


@bp.route("/a/<token>", methods=["GET"])
def alert_link(token: str):
    return _alert_link_page(_alert_for_token(token))


@bp.route("/a/<token>", methods=["POST"])
def alert_link_ack(token: str):
    before = _alert_for_token(token)
    try:
        escalation.acknowledge(get_db(), token, now())
    except LookupError:  # expired in between
        abort(410, description="This link has expired. Log in to see your alerts.")
    alert = _alert_for_token(token)
    if before["status"] == "open" and alert["acknowledged_by"] == alert["recipient_id"]:
        flash("Thank you: acknowledged. The alert stops repeating.", "ok")
    return _alert_link_page(alert)


LINK_GONE = (
    "It may have been sent before our records were restored from a backup, or not copied whole. "
    "Log in and open Alerts to see the patient's alerts."
)


def _alert_for_token(token: str) -> dict:
    """The alert behind an acknowledge link: 410 when unknown or expired, 404 when the
    recipient's link to the patient was revoked."""
    db = get_db()
    try:
        alert = escalation.alert_for_token(db, token, now())
    except LookupError as error:
        if str(error) == "expired":
            abort(410, description="This link has expired. Log in to see your alerts.")
        # 410 and a way on, not a bare 404: after a restore from backup, links sent since are unknown.
        page = render_template("error.html", title="This link is no longer valid", message=LINK_GONE)
        abort(make_response(page, 410))
    if not access.can_see(db, accounts.find_user(db, id=alert["recipient_id"]), alert["patient_id"]):
        abort(404, description="This link doesn't match any alert. Check that it was copied whole.")
    return alert


def _alert_link_page(alert: dict):
    db = get_db()
    tz = ZoneInfo(accounts.find_user(db, id=alert["recipient_id"])["tz"])
    by = accounts.find_user(db, id=alert["acknowledged_by"]) if alert["acknowledged_by"] else None
    recipient = accounts.find_user(db, id=alert["recipient_id"])
    if recipient["role"] == "clinician":  # a clinician sees the patient through the report
        see = url_for("clinic.report", patient_id=alert["patient_id"])
    elif recipient["id"] == alert["patient_id"]:
        see = url_for("patient.today")
    else:
        see = url_for("care.patient_view", patient_id=alert["patient_id"])
    return render_template(
        "alert_link.html",
        see=see,
        alert=alert,
        raised=_label(alert["created_at"], tz),
        acknowledged=_label(alert["acknowledged_at"], tz),
        acknowledged_by=(by["name"] or by["email"]) if by else None,
        mine=alert["acknowledged_by"] == alert["recipient_id"],
    )


@bp.app_template_filter("day")
def day_label(local_date: str) -> str:
    """A local date, ``2026-03-15``, as people read it: ``Sun 15 Mar``."""
    return f"{date.fromisoformat(local_date):%a %d %b}"


def _label(instant: str | None, tz: ZoneInfo) -> str:
    if not instant:
        return ""
    local = parse_instant(instant).astimezone(tz)
    return f"{local:%a %d %b} {clock_label(local.time())}"


@bp.route("/clinic-invitations/<token>", methods=["GET", "POST"])
def clinic_invitation(token: str):
    """A clinic's invitation: anyone may look (a GET changes nothing); a logged-in patient
    accepts it with one tap and is linked to the clinic."""
    try:
        found = clinics.invitation(get_db(), token, now())
    except InputError as error:
        return render_template("error.html", title="Invitation", message=error.message), error.status
    if request.method == "POST":
        if not current_user.is_authenticated:
            abort(401)
        try:
            clinic = clinics.accept_invitation(get_db(), token, current_user.row, now())
        except InputError as error:
            return render_template("error.html", title="Invitation", message=error.message), error.status
        flash(f"You are now linked to {clinic['name']}. You can end the link on the Clinics page.", "ok")
        return redirect(url_for("clinic.my_clinics"))
    return render_template("clinic_invitation.html", invitation=found)

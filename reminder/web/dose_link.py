"""The dose page: ``/d/<token>`` from a message (no login), and ``/doses/<id>`` from Today.

A GET never changes anything: link previews and mail scanners fetch it. Answers are POSTs and
go through ``ledger.answer_dose``, which applies the missed-dose rule.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request

from .. import ledger, links, missed_dose, schedule
from ..db import get_db
from ..errors import InputError
from ..missed_dose import Decision
from ..times import clock_label, parse_hhmm, parse_instant
from . import now, settings

bp = Blueprint("dose_link", __name__)

# How each decision answers over HTTP: accepted or already recorded is a success; a refusal
# is a conflict with the dose's state; a bad time is bad input.
DECISION_STATUS = {
    "taken": 200,
    "skipped": 200,
    "snoozed": 200,
    "already_recorded": 200,
    "window_closed": 409,
    "window_closing": 409,
    "not_due_yet": 409,
    "too_soon": 409,
    "over_daily_maximum": 409,
    "bad_time": 400,
}
ACTIONS = ("taken", "skip", "snooze")


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
    from .api_clinic import record_side_effect

    dose_id = _dose_for_token(token)
    dose = ledger.load_dose(get_db(), dose_id)
    severity = request.form.get("severity", "")
    try:
        record_side_effect(
            dose["patient_id"],
            {
                "kind": request.form.get("kind"),
                "note": request.form.get("note", ""),
                "dose_id": dose_id,
                "severity": int(severity) if severity.isascii() and severity.isdigit() else severity or None,
            },
        )
    except InputError as error:
        return render_dose(dose_id, f"/d/{token}", error=error.message), error.status
    flash("Noted. Thank you: your clinic sees it on your report.", "ok")
    return redirect(f"/d/{token}")


def answer_and_render(dose_id: int, source: str, actor_id: int | None, form_action: str):
    """Read ``action`` and ``taken_at`` from the form, answer the dose, show the outcome."""
    try:
        answer = read_answer(request.form, dose_id, source, actor_id)
    except InputError as error:
        return render_dose(dose_id, form_action, error=error.message), error.status
    decision = ledger.answer_dose(get_db(), dose_id, answer, now(), snooze_length())
    return render_dose(dose_id, form_action, decision=decision), DECISION_STATUS[decision.code]


def read_answer(data, dose_id: int, source: str, actor_id: int | None) -> ledger.Answer:
    """An ``Answer`` from form or JSON fields; InputError for a bad action or time."""
    action = data.get("action")
    if action not in ACTIONS:
        raise InputError("action", "action must be taken, skip or snooze.")
    reported = data.get("taken_at") or None
    reported_at = parse_reported_time(reported, ledger.load_dose(get_db(), dose_id)) if reported else None
    if reported_at is not None and action != "taken":
        raise InputError("taken_at", "taken_at goes with action taken only.")
    reason = data.get("reason") or None
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise InputError("reason", "reason must be text of at most 500 characters.")
    already = data.get("already_taken", False)
    if already not in (True, False, "1", "true", "on", "", None):
        raise InputError("already_taken", "already_taken must be true or false.")
    already_taken = already in (True, "1", "true", "on")
    if already_taken and action != "taken":
        raise InputError("already_taken", "already_taken goes with action taken only.")
    return ledger.Answer(
        action=action,
        source=source,
        actor_id=actor_id,
        reported_at=reported_at,
        reason=reason,
        already_taken=already_taken,
    )


def parse_reported_time(text, dose: dict) -> datetime:
    """``taken_at``: ISO-8601 with an offset, or ``HH:MM`` in the patient's zone on the dose's day.

    An ``HH:MM`` more than 12 hours before the dose's own time means the next morning (a 23:00
    dose taken at 00:15).
    """
    if not isinstance(text, str):
        raise InputError("taken_at", "taken_at must be text: HH:MM or an ISO-8601 time with an offset.")
    try:
        if "T" in text:
            return parse_instant(text)
        day, tz = date.fromisoformat(dose["local_date"]), ZoneInfo(dose["tz"])
        instant = schedule.resolve(day, parse_hhmm(text), tz)
        if instant < parse_instant(dose["scheduled_at"]) - timedelta(hours=12):
            instant = schedule.resolve(day + timedelta(days=1), parse_hhmm(text), tz)
        return instant
    except ValueError:
        raise InputError("taken_at", "Enter the time you took it as HH:MM, like 08:15.") from None


def snooze_length() -> timedelta:
    return timedelta(minutes=settings()["worker.snooze_minutes"])


def render_dose(dose_id: int, form_action: str, decision: Decision | None = None, error: str | None = None):
    db = get_db()
    dose = ledger.load_dose(db, dose_id)
    medication = db.execute(
        "SELECT name, strength, unit, on_time_minutes FROM medications WHERE id = ?", [dose["medication_id"]]
    ).fetchone()
    tz = ZoneInfo(dose["tz"])
    facts = ledger.dose_facts(db, dose)
    current = now()
    local_now = current.astimezone(tz)
    opens = facts.scheduled_at - timedelta(minutes=medication[3])
    not_due = dose["status"] == "pending" and current < opens
    window_open = dose["status"] == "pending" and opens <= current < facts.window_closes_at
    return render_template(
        "dose.html",
        dose=dose,
        medication={"name": medication[0], "strength": medication[1], "unit": medication[2]},
        due_label=clock_label(parse_hhmm(dose["local_time"])),
        due_day=date.fromisoformat(dose["local_date"]).strftime("%a %d %b"),
        taken_label=clock_label(facts.taken_at.astimezone(tz).time()) if facts.taken_at else None,
        window_open=window_open,
        snooze_minutes=settings()["worker.snooze_minutes"],
        decision=decision,
        error=error,
        form_action=form_action,
        # The time field's max only makes sense on the dose's own day: after midnight the
        # evening before is still a valid "I already took it at".
        time_max=local_now.strftime("%H:%M") if local_now.date().isoformat() == dose["local_date"] else None,
        not_due=not_due,
        closed_advice=None
        if decision or dose["status"] in ("taken", "skipped") or window_open or not_due
        else missed_dose.skip_advice(facts, tz),
    )


def _dose_for_token(token: str) -> int:
    try:
        return links.resolve(get_db(), token, now())
    except links.LinkExpired:
        abort(410, description="This link has expired. Open the app to see your doses.")
    except links.LinkNotFound:
        abort(404, description="This link doesn't match any dose. Check that it was copied whole.")

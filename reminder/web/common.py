"""What several views share: the clock and settings, the patient's today, the session's user,
how a dose's answer reads over HTTP, the dose page, and the supply lines of Today.

Views import this module, ``web/api/common.py``, ``web/errors.py`` and the domain; never
another view module.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, make_response, render_template, request
from flask_login import UserMixin

from .. import accounts, answers, ledger, links, missed_dose, safety_texts, supply
from ..db import get_db
from ..errors import InputError
from ..missed_dose import Decision
from ..times import as_hhmm, clock_label, local_today, parse_date, parse_hhmm

# How a dose's ledger status reads to a patient.
STATUS_WORDS = {
    "pending": "to take",
    "taken": "taken",
    "skipped": "skipped",
    "missed": "missed",
    "unknown": "not confirmed",
    "cancelled": "not scheduled",  # with its reason: dose_status_words
}


def dose_status_words(dose: dict) -> str:
    """A dose's status as the pages show it; a cancelled dose says why ("not scheduled: time-zone change")."""
    if dose["status"] == "cancelled":
        return missed_dose.not_scheduled_words(dose["cancel_reason"])
    return STATUS_WORDS[dose["status"]]


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
    "corrected": 200,
    "nothing_to_correct": 409,
    "too_late_to_correct": 409,
    "not_scheduled": 409,
}
MAX_REPORT_DAYS = 400
# A phone link we have no record of (``/d/``, ``/g/``): 410 and a way on, not a bare 404.
LINK_GONE = (
    "It may have been sent before our records were restored from a backup, or not copied whole. "
    "Open Today to see and answer your doses."
)


def resolve_phone_link(resolve, token: str) -> int:
    """What a phone link's token stands for (``links.resolve`` for ``/d/``, ``links.resolve_group``
    for ``/g/``): 410 when expired, and 410 with a way on when unknown (after a restore from backup,
    links texted since are unknown)."""
    try:
        return resolve(get_db(), token, now())
    except links.LinkExpired:
        abort(410, description="This link has expired. Open the app to see your doses.")
    except links.LinkNotFound:
        page = render_template("error.html", title="This link is no longer valid", message=LINK_GONE)
        abort(make_response(page, 410))


def now() -> datetime:
    """The current instant from the app's one clock."""
    return current_app.extensions["reminder.clock"].now()


def settings() -> dict:
    return current_app.config["REMINDER"]


def horizon() -> timedelta:
    """How far ahead doses are generated (and rewritten after a change)."""
    return timedelta(hours=settings()["worker.horizon_hours"])


def snooze_length() -> timedelta:
    return timedelta(minutes=settings()["worker.snooze_minutes"])


def today_in(tz: str) -> date:
    """Today's local date in the IANA zone ``tz`` (a patient's, usually), by the app's clock."""
    return local_today(tz, now())


class User(UserMixin):
    """The session's user: the ``users`` row, its columns readable as attributes."""

    def __init__(self, row: dict):
        self.row = row
        self.id = row["id"]

    def get_id(self) -> str:
        """What the session and the remember cookie carry: the id and the session version, so a
        logout (which bumps the version) ends every copy of them (``accounts.user_for_session``)."""
        return accounts.session_id(self.row)

    def __getattr__(self, name):
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None


def safe_path(target, fallback: str = "/") -> str:
    """``target`` if it is a path on this site, else ``fallback``: a ``next`` that a link or a
    form supplies never leads off the site. Browsers drop tabs and newlines and read a
    backslash as a slash, so "/", a tab, "/evil.example" is another host, as are "//evil" and
    "/\\evil": all refused, as are other control characters and spaces."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 2000:
        return fallback
    if any(ord(c) < 33 or ord(c) == 127 or c == "\\" for c in target):
        return fallback
    if target.startswith("//"):
        return fallback
    return target


def report_period(patient: dict) -> tuple[date, date]:
    """``from`` and ``to`` query arguments as local dates (both included); by default the last 30 days."""
    today = today_in(patient["tz"])
    try:
        last = parse_date(request.args["to"]) if request.args.get("to") else today
        first = parse_date(request.args["from"]) if request.args.get("from") else last - timedelta(days=29)
    except ValueError:
        raise InputError("from", "from and to are local dates, YYYY-MM-DD.") from None
    if first > last:
        raise InputError("from", "from must not be after to.")
    if last > today + timedelta(days=366) or first < date(2000, 1, 1):
        raise InputError("to", "from and to must be real dates around now.")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise InputError("from", f"A report covers at most {MAX_REPORT_DAYS} days.")
    return first, last


# ---------------------------------------------------------------- the step editor (tapers, titrations)

MAX_STEP_ROWS = 20  # tapering.MAX_TAPER_STEPS: the form never grows past what a plan may hold


def step_rows(fields: tuple[str, ...], keep_blank: bool = False) -> list[dict]:
    """The step editor's filled rows from the form (``start_date-1``, ``amount-1``, ...), in order;
    a row left blank is dropped (unless ``keep_blank``), so "Step N" in a message is the Nth row
    shown again."""
    count = request.form.get("rows", "")
    count = min(int(count), MAX_STEP_ROWS) if count.isascii() and count.isdigit() else MAX_STEP_ROWS
    rows = [{key: request.form.get(f"{key}-{i}", "").strip() for key in fields} for i in range(1, count + 1)]
    return [row for row in rows if keep_blank or any(row.values())]


def with_blank_rows(rows: list[dict], fields: tuple[str, ...], blank: int) -> list[dict]:
    """``rows`` and ``blank`` empty ones to type into (never more than a plan may hold)."""
    room = max(0, min(blank, MAX_STEP_ROWS - len(rows)))
    return rows + [dict.fromkeys(fields, "") for _ in range(room)]


def field_errors(error: InputError, ids: dict[str, str] | None = None) -> dict[str, str]:
    """``{input id: message}`` for a page's form (``_fields.html``): the error beside its field.
    ``ids`` maps a field name to the input's id where they differ."""
    if not error.field:
        return {}
    return {(ids or {}).get(error.field, error.field): error.message}


# ---------------------------------------------------------------- the dose page


def answer_and_render(dose_id: int, source: str, actor_id: int | None, form_action: str):
    """Read ``action`` and ``taken_at`` from the form, answer the dose, show the outcome. A tap
    the phone queued while offline carries ``tapped_at`` and is judged as at that instant."""
    try:
        form = request.form.to_dict()
        if form.get("taken_at"):
            form["taken_at"] = as_hhmm(form["taken_at"])  # "8:15 am" as "08:15"
        answer = answers.read_answer(get_db(), form, dose_id, source, actor_id)
        tapped_at = answers.read_tapped_at(get_db(), request.form, dose_id, now())
    except InputError as error:
        return render_dose(dose_id, form_action, error=error.message), error.status
    decision = ledger.answer_dose(get_db(), dose_id, answer, tapped_at or now(), snooze_length())
    return render_dose(dose_id, form_action, decision=decision), DECISION_STATUS[decision.code]


def dose_card(dose_id: int, current: datetime) -> dict:
    """One dose as the dose page and the group page show it: its medication, when it is due and
    was taken, and whether it may be answered (``window``) or undone now."""
    db = get_db()
    dose = ledger.load_dose(db, dose_id)
    medication = db.execute(
        "SELECT name, strength, unit, on_time_minutes, route FROM medications WHERE id = ?", [dose["medication_id"]]
    ).fetchone()
    tz = ZoneInfo(dose["tz"])
    facts = ledger.dose_facts(db, dose)
    window = missed_dose.answer_window(
        dose["status"], facts.scheduled_at, facts.window_closes_at, timedelta(minutes=medication[3]), current
    )
    return {
        "dose": dose,
        "facts": facts,
        "tz": tz,
        "window": window,
        "name": medication[0],
        "strength": medication[1],
        "unit": medication[2],
        "safety_url": safety_path(medication[0], medication[4]),
        "due_label": clock_label(parse_hhmm(dose["local_time"])),
        "due_day": date.fromisoformat(dose["local_date"]).strftime("%a %d %b"),
        "taken_label": clock_label(facts.taken_at.astimezone(tz).time()) if facts.taken_at else None,
        "window_open": window == "open",
        "not_due": window == "not_due",
        # "Undo" while a wrong tap may still be put right (missed_dose.decide_correction).
        "can_correct": missed_dose.decide_correction(facts, "not_taken", current, tz).outcome is not None,
    }


def render_dose(dose_id: int, form_action: str, decision: Decision | None = None, error: str | None = None):
    """The dose page (``/d/<token>`` and ``/doses/<id>``) with its answer form posting to ``form_action``."""
    current = now()
    card = dose_card(dose_id, current)
    dose, facts, tz, window = card["dose"], card["facts"], card["tz"], card["window"]
    local_now = current.astimezone(tz)
    return render_template(
        "dose.html",
        dose=dose,
        medication={key: card[key] for key in ("name", "strength", "unit", "safety_url")},
        due_label=card["due_label"],
        due_day=card["due_day"],
        taken_label=card["taken_label"],
        window_open=card["window_open"],
        snooze_minutes=settings()["worker.snooze_minutes"],
        decision=decision,
        error=error,
        form_action=form_action,
        # The time field's max only makes sense on the dose's own day: after midnight the
        # evening before is still a valid "I already took it at".
        time_max=local_now.strftime("%H:%M") if local_now.date().isoformat() == dose["local_date"] else None,
        not_due=card["not_due"],
        can_correct=card["can_correct"],
        closed_advice=None
        if decision or dose["status"] in ("taken", "skipped", "cancelled") or window is not None
        else missed_dose.skip_advice(facts, tz, current),
    )


# ---------------------------------------------------------------- supply on Today and the caregiver's view


def supply_of(patient_id: int) -> list[dict]:
    """The patient's active medications with a tracked stock: what is left and for how long."""
    db = get_db()
    current = now()
    rows = db.query(
        "SELECT * FROM medications WHERE patient_id = ? AND ended_at IS NULL AND stock IS NOT NULL ORDER BY name, id",
        [patient_id],
    )
    result = []
    for row in rows:
        left = supply.days_left_for(db, row["id"], current)
        result.append(
            {
                "id": row["id"],
                "name": row["name"],
                "stock": row["stock"],
                "days_left": left,
                "words": days_left_words(left),
                "low": left is not None and left <= supply.threshold_days(row),
            }
        )
    return result


def days_left_words(days: float | None) -> str:
    if days is None:
        return "stock not tracked"
    if days >= supply.LOOKAHEAD_DAYS:
        return "enough for over a year"
    if days < 1:
        return "not enough for the next dose" if days == 0 else "less than a day left"
    return f"about {int(days)} day{'s' if int(days) != 1 else ''} left"


def safety_path(name: str, route: str | None = None) -> str:
    """Where a medication's Safety page is (``safety_texts.page_path``)."""
    return safety_texts.page_path(name, route)

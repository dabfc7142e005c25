"""Medications and their regimen steps: checking input, creating, changing and ending.

The web forms and the JSON API both go through ``parse_medication`` and the three writers
below, so a bad value gets the same message everywhere and nothing is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from . import caregivers, delivery, formulary, interactions, kidneys, ledger, regimen, safety_limits, schedule
from .db import immediate
from .errors import InputError
from .ingredients import ROUTES
from .schedule import Step
from .times import parse_date, parse_hhmm, to_iso

MAX_AMOUNT = 10_000  # per dose, in the medication's unit: more is a typo, not a dose
MAX_TIMES_PER_DAY = 12
MAX_EVERY_DAYS = 14  # schedule.NEXT_DOSE_SEARCH_DAYS: a longer cycle would have no "next dose"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WHOLE_NUMBERS = {"on_time_minutes", "every_days"}
RULE_LIMITS = {  # field: (low, high), both included
    "on_time_minutes": (5, 240),
    "skip_fraction": (0.1, 1.0),
    "skip_hours_before_next": (0, 12),
    "min_gap_fraction": (0, 0.9),
}


@dataclass
class MedicationInput:
    name: str
    amount: float
    times: list[str]
    strength: str = ""
    unit: str = "mg"
    days: list[int] | None = None
    every_days: int | None = None  # every N days from start_date (2 = every other day)
    start_date: date | None = None
    withdrawal_risk: bool = False
    max_daily_amount: float | None = None
    rule: dict = field(default_factory=dict)
    route: str = "oral"
    max_single_amount: float | None = None
    confirm_duplicate: bool = False  # "yes, I do take both": a second entry of one ingredient
    asked_withdrawal_risk: bool | None = None  # what the request said, before the formulary's mark
    acknowledge_interactions: bool = False  # "I have read the combined-sedation warning"

    def step(self, start: date) -> Step:
        """This dose plan as an open-ended regimen step from ``start``."""
        return regimen.new_step(start, None, self.times, self.amount, self.days, self.every_days)


INPUT_FIELDS = frozenset(
    {
        "name",
        "amount",
        "times",
        "strength",
        "unit",
        "days",
        "every_days",
        "start_date",
        "withdrawal_risk",
        "max_daily_amount",
        "max_single_amount",
        "route",
        "confirm_duplicate",
        "acknowledge_interactions",
        *RULE_LIMITS,
    }
)


def parse_medication(data: dict, today: date) -> MedicationInput:
    """Check a whole medication; raise ``InputError`` naming the first bad field."""
    name = _text(data, "name", required=True, limit=100)
    amount = _number(data, "amount", required=True, low=0, high=MAX_AMOUNT, exclusive_low=True)
    times = _times(data.get("times"))
    safety_limits.check_spacing(times)
    route = data.get("route") or "oral"
    if route not in ROUTES:
        raise InputError("route", f"route must be one of: {', '.join(ROUTES)}.")
    facts = formulary.facts(name, route)
    max_daily = _number(data, "max_daily_amount", low=0, high=MAX_AMOUNT * MAX_TIMES_PER_DAY, exclusive_low=True)
    asked_risk = _flag(data, "withdrawal_risk") if data.get("withdrawal_risk") not in (None, "") else None
    start = data.get("start_date")
    return MedicationInput(
        name=name,
        amount=amount,
        times=times,
        strength=_text(data, "strength", limit=40),
        unit=_text(data, "unit", limit=20) or "mg",
        days=_days(data.get("days")),
        every_days=_every_days(data),
        start_date=check_date("start_date", start) if start not in (None, "") else today,
        # The bundled formulary marks drugs that must not be stopped suddenly; a patient can add
        # the mark to any medication but not take it off one of those (a clinician's call).
        withdrawal_risk=bool(asked_risk) or facts.withdrawal_risk,
        asked_withdrawal_risk=asked_risk,
        max_daily_amount=max_daily,
        rule={key: value for key in RULE_LIMITS if (value := _number(data, key, *RULE_LIMITS[key])) is not None},
        route=facts.route,
        max_single_amount=_number(data, "max_single_amount", low=0, high=MAX_AMOUNT, exclusive_low=True),
        confirm_duplicate=_flag(data, "confirm_duplicate"),
        acknowledge_interactions=_flag(data, "acknowledge_interactions"),
    )


def create(db: Database, patient_id: int, spec: MedicationInput, now: datetime, horizon: timedelta) -> int:
    """Create the medication with one open-ended step and generate its first doses.

    The formulary's limits apply first (``_apply_limits``): the ceilings default from it, a
    patient's looser value is 403 ``clinician_only``, and a second entry of one ingredient and
    route needs ``confirm_duplicate``. A refusal writes nothing.
    """
    with immediate(db):
        facts = _apply_limits(db, patient_id, spec, requested=_requested(spec), current=None, by_clinician=False)
        interactions.refuse_unacknowledged(
            spec.name, spec.route, current_entries(db, patient_id), spec.acknowledge_interactions
        )
        cursor = db.execute(
            "INSERT INTO medications (patient_id, name, strength, unit, withdrawal_risk, max_daily_amount, "
            "max_single_amount, route, ingredient, drugbank_id, medline_plus_id, created_at, generated_until"
            + "".join(f", {k}" for k in spec.rule)
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
            + ", ?" * len(spec.rule)
            + ")",
            [
                patient_id,
                spec.name,
                spec.strength,
                spec.unit,
                int(spec.withdrawal_risk),
                spec.max_daily_amount,
                spec.max_single_amount,
                spec.route,
                *_ingredient_columns(facts.ingredient),
                to_iso(now),
                to_iso(now),
                *spec.rule.values(),
            ],
        )
        medication_id = cursor.lastrowid
        regimen.replace_from(db, medication_id, spec.start_date, [spec.step(spec.start_date)], now)
        ledger.extend_medication(db, medication_id, now, now + horizon)
    return medication_id


def update(
    db: Database,
    medication_id: int,
    data: dict,
    today: date,
    now: datetime,
    horizon: timedelta,
    by_clinician: bool = False,
) -> None:
    """Apply a partial change, all or nothing (a bad field raises InputError, nothing written).

    A new dose plan (times, days, amount or start date) becomes a new step from its start: today
    by default, or the current plan's start while that is still ahead. Earlier steps end the day
    before it, so no day is left without doses; steps that never started are dropped. Only
    future doses nobody was reminded of are rewritten: history is never touched.

    On a withdrawal-risk medication, only a clinician may take the mark off or lower the daily
    dose or the dosing days: for a patient that would be a sudden stop by another name, so it
    is refused (409) in favour of a taper plan.
    """
    with immediate(db):
        current = to_json(db, medication_id, today)
        default_start = max(today, date.fromisoformat(current["start_date"])) if current["start_date"] else today
        spec = parse_medication(
            {**current, **data, "start_date": data.get("start_date") or default_start.isoformat()}, today
        )
        planned = in_plan(current, today)
        if planned:
            _refuse_plan_change(current, data, spec)
        requested = _changed_limits(data, spec, current)
        facts = _apply_limits(db, current["patient_id"], spec, requested, current, by_clinician)
        if interactions.another_drug(current["name"], current["route"], spec.name, spec.route):  # warn as on create
            others = current_entries(db, current["patient_id"], exclude_id=medication_id)
            interactions.refuse_unacknowledged(spec.name, spec.route, others, spec.acknowledge_interactions)
        new_start = max(today, spec.start_date)
        if current["withdrawal_risk"] and not by_clinician:
            _check_titration(spec, current, facts, new_start)
            spec.withdrawal_risk = True
            _refuse_a_cut(current, spec)
        plan_changed = "start_date" in data or (spec.times, spec.days, spec.every_days, spec.amount) != (
            current["times"],
            current["days"],
            current["every_days"],
            current["amount"],
        )
        rule_changed = any(spec.rule.get(key, current[key]) != current[key] for key in RULE_LIMITS)
        clinician_limits = current["clinician_limits"]
        if by_clinician:  # what a clinician sets becomes this patient's floor and ceiling
            clinician_limits = {**clinician_limits, **requested}
        # A rename can make it another drug: the stored ingredient follows, or the never-double
        # checks (ledger.same_drug_ids) would count a renamed "Lioresal" apart from the baclofen.
        db.execute(
            "UPDATE medications SET name = ?, strength = ?, unit = ?, withdrawal_risk = ?, max_daily_amount = ?, "
            "max_single_amount = ?, route = ?, ingredient = ?, drugbank_id = ?, medline_plus_id = ?, "
            "clinician_limits = ?" + "".join(f", {k} = ?" for k in spec.rule) + " WHERE id = ?",
            [
                spec.name,
                spec.strength,
                spec.unit,
                int(spec.withdrawal_risk),
                spec.max_daily_amount,
                spec.max_single_amount,
                spec.route,
                *_ingredient_columns(facts.ingredient),
                json.dumps(clinician_limits),
                *spec.rule.values(),
                medication_id,
            ],
        )
        if plan_changed:
            steps = _plan_at_new_times(current, data, spec, new_start) if planned else [spec.step(new_start)]
            ledger.drop_future(db, medication_id, now)
            regimen.replace_from(db, medication_id, new_start, steps, now)
        if plan_changed or rule_changed:
            ledger.rewrite_future(db, medication_id, now, horizon)


def _refuse_plan_change(current: dict, data: dict, spec: MedicationInput) -> None:
    """During a taper or titration, anything but the times changes the plan itself: 409."""
    if len(spec.times) != len(current["times"]):
        raise _times_are_the_plan(current)
    if "start_date" in data or (spec.amount, spec.days, spec.every_days) != (
        current["amount"],
        current["days"],
        current["every_days"],
    ):
        raise InputError(
            "amount",
            f"{current['name']} is on a plan of changing doses: change the plan instead (its steps, from the "
            "medication's taper page or your clinician), or change only the times here.",
            status=409,
            code="plan_running",
        )


def _times_are_the_plan(current: dict) -> InputError:
    """The 409 for a change to the number of doses a day while a plan runs."""
    return InputError(
        "times",
        f"{current['name']} is on a plan of changing doses: the number of doses a day is part of the plan. "
        "Move the times only, or change the plan instead.",
        status=409,
        code="plan_running",
    )


def _plan_at_new_times(current: dict, data: dict, spec: MedicationInput, start: date) -> list[Step]:
    """A running taper or titration keeps every remaining step; only new times apply to them all."""
    # Each time of today's step moves to the new time in the same place; a later step with fewer
    # doses keeps its own (moved) times, never gaining doses.
    moved = dict(zip(current["times"], spec.times, strict=False))
    remaining = [s for s in current["steps"] if s["end_date"] is None or s["end_date"] >= start.isoformat()]
    # (_refuse_plan_change has made sure the count of times is today's.)
    if any(t not in moved for s in remaining for t in s["times"]):
        raise _times_are_the_plan(current)
    return [
        regimen.new_step(
            max(start, date.fromisoformat(s["start_date"])),
            date.fromisoformat(s["end_date"]) if s["end_date"] else None,
            sorted(moved[t] for t in s["times"]),
            s["amount"],
            s["days"],
            s["every_days"],
        )
        for s in remaining
    ]


def _changed_limits(data: dict, spec: MedicationInput, current: dict) -> dict:
    """The guarded values this change sets to something new (a form re-sending the old value, or
    leaving a rule field blank, changes nothing)."""
    changed = {}
    for key in safety_limits.GUARDED:
        if key not in data:
            continue
        value = spec.rule.get(key) if key in RULE_LIMITS else getattr(spec, key)
        if key == "withdrawal_risk":
            value = spec.asked_withdrawal_risk
        if (value is None and key in (*RULE_LIMITS, "withdrawal_risk")) or value == current[key]:
            continue
        changed[key] = value
    return changed


def _check_titration(spec: MedicationInput, current: dict, facts: formulary.Facts, from_day: date) -> None:
    """A patient raises a withdrawal-risk drug only as fast as the formulary's titration allows:
    the new plan from ``from_day`` is measured against the step it follows."""
    started = max(
        (
            date.fromisoformat(step["start_date"])
            for step in current["steps"]
            if step["start_date"] <= from_day.isoformat()
        ),
        default=from_day,
    )
    safety_limits.check_titration(
        facts.ingredient.name if facts.ingredient else spec.name,
        # The average a day: 20 mg every other day made daily is a rise, though each day's total is the same.
        schedule.average_daily(current["amount"], current["times"], current["days"], current["every_days"]),
        schedule.average_daily(spec.amount, spec.times, spec.days, spec.every_days),
        (from_day - started).days,
        facts.limits,
    )


def _requested(spec: MedicationInput) -> dict:
    """The guarded values a new medication's request gave (a missing one takes the floor)."""
    given = dict(spec.rule)
    if spec.asked_withdrawal_risk is not None:
        given["withdrawal_risk"] = spec.asked_withdrawal_risk
    if spec.max_daily_amount is not None:
        given["max_daily_amount"] = spec.max_daily_amount
    if spec.max_single_amount is not None:
        given["max_single_amount"] = spec.max_single_amount
    return given


def _apply_limits(
    db: Database, patient_id: int, spec: MedicationInput, requested: dict, current: dict | None, by_clinician: bool
) -> formulary.Facts:
    """Check ``spec`` against the formulary and this patient's clinician-set limits, and fill in
    the ceilings it did not give. Raises InputError (403, 409 or 422 with a ``code``)."""
    facts = formulary.facts(spec.name, spec.route)
    clinician_set = current["clinician_limits"] if current else {}
    floor_values = safety_limits.floor(facts, clinician_set, kidneys.latest_egfr(db, patient_id))
    if not by_clinician:
        safety_limits.refuse_loosening(requested, floor_values)
    safety_limits.check_unit(spec.name, spec.unit, facts)
    for key in ("max_daily_amount", "max_single_amount"):
        if getattr(spec, key) is None and not (by_clinician and key in requested):
            setattr(spec, key, floor_values[key])
    ceilings = {**floor_values, **(requested if by_clinician else {})}
    others = _same_ingredient(db, patient_id, facts, current["id"] if current else None)
    if others and current is None and not spec.confirm_duplicate:
        first = others[0]
        raise InputError(
            "name",
            f"You already have {first['name']}, which is also {facts.ingredient.name} "
            f"({first['amount']:g} {first['unit']} at {', '.join(first['times'])}). Two entries of one medicine "
            "add up: check with your prescriber, and confirm if you really take both.",
            status=409,
            code="duplicate_ingredient",
        )
    others_daily = _daily_total(others)  # one shared maximum
    source = facts.limits.source if facts.limits else ""
    what = facts.ingredient.name if facts.ingredient else spec.name
    safety_limits.check_ceiling(what, spec.amount, len(spec.times), ceilings, source, others_daily)
    _check_own_maximum(spec)
    return facts


def _check_own_maximum(spec: MedicationInput) -> None:
    """The plan must fit the daily maximum the entry itself carries (a patient's own, tighter one)."""
    daily, maximum = spec.amount * len(spec.times), spec.max_daily_amount
    if maximum is not None and daily > maximum + 1e-9:
        raise InputError(
            "max_daily_amount",
            f"{len(spec.times)} doses of {spec.amount:g} make {daily:g} a day, over the maximum of {maximum:g}.",
        )


def other_entries_daily(db: Database, medication: dict) -> float:
    """What the patient's other active entries of ``medication``'s ingredient and route give a day:
    duplicates share one daily maximum, so a plan for this entry has only the rest of it."""
    facts = formulary.facts(medication["name"], medication["route"])
    return _daily_total(_same_ingredient(db, medication["patient_id"], facts, medication["id"]))


def _daily_total(entries: list[dict]) -> float:
    """What ``entries`` (``to_json`` rows) give a day together."""
    return sum((entry["amount"] or 0) * len(entry["times"]) for entry in entries)


def _same_ingredient(db: Database, patient_id: int, facts: formulary.Facts, exclude_id: int | None) -> list[dict]:
    """The patient's other active entries of the same ingredient and route (duplicate therapy)."""
    if facts.ingredient is None:
        return []
    rows = db.execute(
        "SELECT id, name, route FROM medications WHERE patient_id = ? AND ended_at IS NULL AND id != ?",
        [patient_id, exclude_id or 0],
    ).fetchall()
    same = [
        medication_id
        for medication_id, name, route in rows
        if (other := formulary.facts(name, route)).ingredient
        and other.ingredient.name == facts.ingredient.name
        and other.route == facts.route
    ]
    return [to_json(db, medication_id) for medication_id in same]


def _refuse_a_cut(current: dict, spec: MedicationInput) -> None:
    before = (current["amount"] or 0) * len(current["times"])
    after = spec.amount * len(spec.times)
    fewer_days = spec.days is not None and (current["days"] is None or not set(current["days"]) <= set(spec.days))
    fewer_days = fewer_days or (spec.every_days or 1) > (current["every_days"] or 1)
    if after < before - 1e-9 or fewer_days:
        raise InputError(
            None,
            f"{current['name']} must not be cut down suddenly: lower it with a taper plan, or ask "
            "your clinician to change the dose.",
            status=409,
        )


def end(
    db: Database, medication_id: int, today: date, now: datetime, reason: str = "", clinician_confirmed: bool = False
) -> None:
    """Stop reminding. The ledger keeps every dose already reminded or answered.

    A withdrawal-risk medication is never simply switched off: without a clinician's
    confirmation (with a reason) this raises InputError 409 explaining the taper route.
    """
    medication = next(db.query("SELECT * FROM medications WHERE id = ?", [medication_id]))
    if medication["withdrawal_risk"] and not (clinician_confirmed and (reason or "").strip()):
        raise InputError(None, stop_refusal(medication), status=409)
    with immediate(db):
        db.execute(
            "UPDATE medications SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            [to_iso(now), reason or None, medication_id],
        )
        regimen.end_after(db, medication_id, today)
        ledger.rewrite_future(db, medication_id, now, timedelta(0))
        ledger.stop_prompts(db, medication_id)


def stop_refusal(medication: dict) -> str:
    """Why a withdrawal-risk medication cannot simply be ended."""
    return (
        f"{medication['name']} must not be stopped suddenly: stopping it at once can cause serious "
        f"withdrawal. End it with a taper plan of at least {medication['min_taper_days']} days of decreasing "
        "doses, or ask your clinician to confirm the stop with a reason."
    )


def pause_today(
    db: Database, settings: dict, medication_id: int, local_date: date, actor_id: int, now: datetime
) -> bool:
    """No reminders for this medication on ``local_date``; recorded, and its caregivers told.

    The doses stay in the ledger and can still be confirmed; unanswered they close as
    ``unknown`` and count towards the escalation ladder. False when already paused that day.
    """
    with immediate(db):
        cursor = db.execute(
            "INSERT OR IGNORE INTO pauses (medication_id, local_date, created_at, actor_id) VALUES (?, ?, ?, ?)",
            [medication_id, local_date.isoformat(), to_iso(now), actor_id],
        )
        if cursor.rowcount == 0:
            return False
        db.execute(
            "UPDATE doses SET next_prompt_at = NULL WHERE medication_id = ? AND local_date = ? AND status = 'pending'",
            [medication_id, local_date.isoformat()],
        )
        medication = next(
            db.query(
                "SELECT m.*, u.name AS patient_name, u.email AS patient_email FROM medications m "
                "JOIN users u ON u.id = m.patient_id WHERE m.id = ?",
                [medication_id],
            )
        )
        who = medication["patient_name"] or medication["patient_email"]
        summary = f"{who} paused reminders for {medication['name']} on {local_date:%a %d %b}. " + (
            "It must not be stopped suddenly; check in with them. " if medication["withdrawal_risk"] else ""
        )
        for caregiver, channel in caregivers.followers(db, medication["patient_id"], medication_id, True):
            delivery.queue_notice(
                db, settings, caregiver, summary.strip(), f"{who} paused reminders for today", now, only=channel
            )
    return True


MAX_PAUSE_DAYS = 14  # longer than two weeks is a stop or a change of plan, not a pause


def parse_pause(data: dict, today: date) -> tuple[str, date]:
    """A clinician's pause as ``(reason, last day)``: the reason is required; ``until`` (the last
    paused day, YYYY-MM-DD) is today when left out, never before today nor past ``MAX_PAUSE_DAYS``."""
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError("reason", "Give the reason for the pause; it is kept with the patient's record.")
    until = check_date("until", data["until"]) if data.get("until") not in (None, "") else today
    if not today <= until < today + timedelta(days=MAX_PAUSE_DAYS):
        raise InputError("until", f"until is a day from today to {MAX_PAUSE_DAYS - 1} days ahead.")
    return reason.strip()[:500], until


def pause_by_clinician(
    db: Database, settings: dict, medication_id: int, days: tuple[date, date], actor: dict, reason: str, now: datetime
) -> None:
    """No reminders for this medication from ``days[0]`` to ``days[1]`` (the patient's local days),
    on a clinician's word: each day recorded with the reason (a patient's own pause that day becomes
    the clinician's), the patient and their caregivers told. On those days the escalation ladder's
    repeats are silent (``escalation``); they resume the day after if the run is still open."""
    first, last = days
    dates = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    with immediate(db):
        for day in dates:
            db.execute(
                "INSERT INTO pauses (medication_id, local_date, reason, created_at, actor_id) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (medication_id, local_date) DO UPDATE SET reason = excluded.reason, "
                "created_at = excluded.created_at, actor_id = excluded.actor_id",
                [medication_id, day, reason, to_iso(now), actor["id"]],
            )
        db.execute(
            "UPDATE doses SET next_prompt_at = NULL WHERE medication_id = ? AND local_date BETWEEN ? AND ? "
            "AND status = 'pending'",
            [medication_id, dates[0], dates[-1]],
        )
        _tell_paused(db, settings, medication_id, (first, last), actor, reason, now)


def _tell_paused(db: Database, settings: dict, medication_id: int, days, actor: dict, reason: str, now) -> None:
    medication = next(db.query("SELECT * FROM medications WHERE id = ?", [medication_id]))
    patient = next(db.query("SELECT * FROM users WHERE id = ?", [medication["patient_id"]]))
    when = f"on {days[0]:%a %d %b}" if days[0] == days[1] else f"from {days[0]:%a %d %b} to {days[1]:%a %d %b}"
    who = actor["name"] or actor["email"]
    subject = f"{who} paused reminders for {medication['name']}"
    delivery.queue_notice(db, settings, patient, f"{subject} {when}. Reason: {reason}", subject, now)
    about = f"{who} paused reminders for {patient['name'] or patient['email']}'s {medication['name']} {when}. "
    for caregiver, channel in caregivers.followers(db, medication["patient_id"], medication_id, True):
        delivery.queue_notice(db, settings, caregiver, f"{about}Reason: {reason}", subject, now, only=channel)


def to_json(db: Database, medication_id: int, today: date | None = None) -> dict | None:
    """A medication as the API shows it: the current step's plan, and every step.

    The plan shown (amount, times, days) is the step in effect on ``today``: during a taper or a
    titration that is not the last step. Without ``today``, the latest step."""
    medication = next(db.query("SELECT * FROM medications WHERE id = ?", [medication_id]), None)
    if medication is None:
        return None
    steps = [
        {
            "id": s.id,
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else None,
            "times": [t.strftime("%H:%M") for t in s.times],
            "days": sorted(s.days) if s.days is not None else None,
            "every_days": s.every_days,
            "amount": s.amount,
        }
        for s in regimen.steps_of(db, medication_id)
    ]
    current = current_step(steps, today)
    return {
        "id": medication["id"],
        "patient_id": medication["patient_id"],
        "name": medication["name"],
        "strength": medication["strength"],
        "unit": medication["unit"],
        "amount": current.get("amount"),
        "times": current.get("times", []),
        "days": current.get("days"),
        "every_days": current.get("every_days"),
        "start_date": steps[0]["start_date"] if steps else None,
        "withdrawal_risk": bool(medication["withdrawal_risk"]),
        "max_daily_amount": medication["max_daily_amount"],
        "max_single_amount": medication["max_single_amount"],
        "route": medication["route"],
        "ingredient": _ingredient_json(medication),
        "clinician_limits": json.loads(medication["clinician_limits"] or "{}"),
        **{key: medication[key] for key in RULE_LIMITS},
        "min_taper_days": medication["min_taper_days"],
        "created_at": medication["created_at"],
        "ended_at": medication["ended_at"],
        "steps": steps,
    }


def current_step(steps: list[dict], today: date | None) -> dict:
    """The step in effect on ``today`` (else the next to start, else the last); the latest without ``today``."""
    if not steps:
        return {}
    latest = max(steps, key=lambda s: (s["start_date"], s["id"]))
    if today is None:
        return latest
    day = today.isoformat()
    running = [s for s in steps if s["start_date"] <= day and (s["end_date"] is None or s["end_date"] >= day)]
    upcoming = sorted((s for s in steps if s["start_date"] > day), key=lambda s: s["start_date"])
    return (running or upcoming or [latest])[-1 if running else 0]


def in_plan(medication: dict, today: date) -> bool:
    """Whether a taper or titration plan is running: more than one step from today on."""
    day = today.isoformat()
    return sum(1 for s in medication["steps"] if s["end_date"] is None or s["end_date"] >= day) > 1


def _ingredient_json(medication: dict) -> dict | None:
    """The stored ingredient, or (for rows from before it was stored) the formulary's reading."""
    if medication["ingredient"]:
        return {
            "name": medication["ingredient"],
            "drugbank_id": medication["drugbank_id"],
            "medline_plus_id": medication["medline_plus_id"],
        }
    found = formulary.facts(medication["name"], medication["route"]).ingredient
    return asdict(found) if found else None


def _ingredient_columns(ingredient) -> list:
    """The ``ingredient``, ``drugbank_id`` and ``medline_plus_id`` columns as stored (None without one)."""
    return [ingredient.name, ingredient.drugbank_id, ingredient.medline_plus_id] if ingredient else [None] * 3


def current_entries(db: Database, patient_id: int, exclude_id: int | None = None) -> list[tuple[str, str]]:
    """(name, route) of each of the patient's medications that has not ended (but ``exclude_id``), oldest first."""
    sql = "SELECT name, route FROM medications WHERE patient_id = ? AND ended_at IS NULL AND id IS NOT ? ORDER BY id"
    return [(row[0], row[1]) for row in db.execute(sql, [patient_id, exclude_id]).fetchall()]


def current_entries_of(db: Database, patient_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """``current_entries`` of each of ``patient_ids`` in one query (the panel's page of patients)."""
    found: dict[int, list[tuple[str, str]]] = {pid: [] for pid in patient_ids}
    marks = ", ".join("?" for _ in patient_ids)
    sql = f"SELECT patient_id, name, route FROM medications WHERE patient_id IN ({marks}) AND ended_at IS NULL ORDER BY id"
    for patient_id, name, route in db.execute(sql, list(patient_ids)).fetchall():
        found[patient_id].append((name, route))
    return found


def patient_medication_ids(db: Database, patient_id: int, include_ended: bool = False) -> list[int]:
    sql = "SELECT id FROM medications WHERE patient_id = ?" + ("" if include_ended else " AND ended_at IS NULL")
    return [row[0] for row in db.execute(sql + " ORDER BY name, id", [patient_id]).fetchall()]


# ---------------------------------------------------------------- field checks


def _text(data: dict, key: str, required: bool = False, limit: int = 200) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(key, f"{key} must be text.")
    value = value.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InputError(key, f"{key} has a control character in it.")
    if required and not value:
        raise InputError(key, f"{key} is required.")
    if len(value) > limit:
        raise InputError(key, f"{key} is too long (at most {limit} characters).")
    return value


def _number(
    data: dict, key: str, low: float, high: float, required: bool = False, exclusive_low: bool = False
) -> float | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise InputError(key, f"{key} is required.")
        return None
    if isinstance(value, bool) or (isinstance(value, str) and "_" in value):
        raise InputError(key, f"{key} must be a number.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(key, f"{key} must be a number.") from None
    too_low = number <= low if exclusive_low else number < low
    if not math.isfinite(number) or too_low or number > high:  # first: int(nan) would raise
        bound = f"more than {low:g}" if exclusive_low else f"at least {low:g}"
        raise InputError(key, f"{key} must be {bound} and at most {high:g}.")
    if key in WHOLE_NUMBERS and number != int(number):
        raise InputError(key, f"{key} must be a whole number.")
    return number


def _flag(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1", 1, "yes"):
        return True
    if value in ("", "off", "false", "0", 0, None):
        return False
    raise InputError(key, f"{key} must be true or false.")


def _times(value) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split()]
    if not isinstance(value, list) or not value:
        raise InputError("times", 'times must list at least one time of day, like ["08:00", "13:00"].')
    if len(value) > MAX_TIMES_PER_DAY:
        raise InputError("times", f"At most {MAX_TIMES_PER_DAY} times a day.")
    times = []
    for item in value:
        try:
            times.append(parse_hhmm(item).strftime("%H:%M"))
        except ValueError:
            raise InputError(
                "times", f"{item!r} is not a time of day: use 24-hour HH:MM, like 08:00 or 18:30."
            ) from None
    if len(set(times)) != len(times):
        raise InputError("times", "The same time is listed twice.")
    return sorted(times)


def _days(value) -> list[int] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        raise InputError("days", 'days must be a list of weekdays, like ["mon", "thu"].')
    days = set()
    for item in value:
        if isinstance(item, str) and item.strip().lower()[:3] in DAY_NAMES:
            days.add(DAY_NAMES.index(item.strip().lower()[:3]))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        else:
            raise InputError("days", f"{item!r} is not a weekday: use mon..sun or 0 (Monday) to 6.")
    return sorted(days) if len(days) < 7 else None


def _every_days(data: dict) -> int | None:
    """Every N days (2 to 14) from the start date; 1 or nothing is every day. Not with ``days``."""
    value = _number(data, "every_days", low=1, high=MAX_EVERY_DAYS)
    if value is not None and value > 1 and data.get("days") not in (None, "", []):
        raise InputError("every_days", "Give either days (weekdays) or every_days, not both.")
    return int(value) if value is not None and value > 1 else None


def check_date(key: str, value) -> date:
    """``value`` as a date; InputError naming ``key`` unless it is YYYY-MM-DD."""
    try:
        return parse_date(value)
    except ValueError:
        raise InputError(key, f"{key} must be a date in YYYY-MM-DD.") from None

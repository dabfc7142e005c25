"""Medications and their regimen steps: checking input, creating, changing and ending.

The web forms and the JSON API both go through ``parse_medication`` and the three writers
below, so a bad value gets the same message everywhere and nothing is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import formulary, ledger
from .db import immediate
from .errors import InputError
from .times import parse_date, parse_hhmm, to_iso

MAX_AMOUNT = 10_000  # per dose, in the medication's unit: more is a typo, not a dose
MAX_TIMES_PER_DAY = 12
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WHOLE_NUMBERS = {"on_time_minutes"}
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
    start_date: date | None = None
    withdrawal_risk: bool = False
    max_daily_amount: float | None = None
    rule: dict = field(default_factory=dict)


INPUT_FIELDS = frozenset(
    {
        "name",
        "amount",
        "times",
        "strength",
        "unit",
        "days",
        "start_date",
        "withdrawal_risk",
        "max_daily_amount",
        *RULE_LIMITS,
    }
)


def parse_medication(data: dict, today: date) -> MedicationInput:
    """Check a whole medication; raise ``InputError`` naming the first bad field."""
    name = _text(data, "name", required=True, limit=100)
    amount = _number(data, "amount", required=True, low=0, high=MAX_AMOUNT, exclusive_low=True)
    times = _times(data.get("times"))
    max_daily = _number(data, "max_daily_amount", low=0, high=MAX_AMOUNT * MAX_TIMES_PER_DAY, exclusive_low=True)
    if max_daily is not None and amount * len(times) > max_daily + 1e-9:
        raise InputError(
            "max_daily_amount",
            f"{len(times)} doses of {amount:g} make {amount * len(times):g} a day, over the maximum of {max_daily:g}.",
        )
    start = data.get("start_date")
    return MedicationInput(
        name=name,
        amount=amount,
        times=times,
        strength=_text(data, "strength", limit=40),
        unit=_text(data, "unit", limit=20) or "mg",
        days=_days(data.get("days")),
        start_date=_date("start_date", start) if start not in (None, "") else today,
        # The bundled formulary marks drugs that must not be stopped suddenly; a patient can add
        # the mark to any medication but not take it off one of those (a clinician's call).
        withdrawal_risk=_flag(data, "withdrawal_risk") or formulary.has_withdrawal_risk(name),
        max_daily_amount=max_daily,
        rule={key: value for key in RULE_LIMITS if (value := _number(data, key, *RULE_LIMITS[key])) is not None},
    )


def create(db: Database, patient_id: int, spec: MedicationInput, now: datetime, horizon: timedelta) -> int:
    """Create the medication with one open-ended step and generate its first doses."""
    with immediate(db):
        cursor = db.execute(
            "INSERT INTO medications (patient_id, name, strength, unit, withdrawal_risk, max_daily_amount, "
            "created_at, generated_until"
            + "".join(f", {k}" for k in spec.rule)
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?"
            + ", ?" * len(spec.rule)
            + ")",
            [
                patient_id,
                spec.name,
                spec.strength,
                spec.unit,
                int(spec.withdrawal_risk),
                spec.max_daily_amount,
                to_iso(now),
                to_iso(now),
                *spec.rule.values(),
            ],
        )
        medication_id = cursor.lastrowid
        _add_step(db, medication_id, spec, spec.start_date, now)
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
        current = to_json(db, medication_id)
        default_start = max(today, date.fromisoformat(current["start_date"])) if current["start_date"] else today
        spec = parse_medication(
            {**current, **data, "start_date": data.get("start_date") or default_start.isoformat()}, today
        )
        if current["withdrawal_risk"] and not by_clinician:
            spec.withdrawal_risk = True
            _refuse_a_cut(current, spec)
        new_start = max(today, spec.start_date)
        plan_changed = "start_date" in data or (spec.times, spec.days, spec.amount) != (
            current["times"],
            current["days"],
            current["amount"],
        )
        rule_changed = any(spec.rule.get(key, current[key]) != current[key] for key in RULE_LIMITS)
        db.execute(
            "UPDATE medications SET name = ?, strength = ?, unit = ?, withdrawal_risk = ?, max_daily_amount = ?"
            + "".join(f", {k} = ?" for k in spec.rule)
            + " WHERE id = ?",
            [
                spec.name,
                spec.strength,
                spec.unit,
                int(spec.withdrawal_risk),
                spec.max_daily_amount,
                *spec.rule.values(),
                medication_id,
            ],
        )
        if plan_changed:
            ledger.drop_future(db, medication_id, now)
            db.execute(
                "DELETE FROM regimen_steps WHERE medication_id = ? AND start_date >= ? "
                "AND NOT EXISTS (SELECT 1 FROM doses WHERE step_id = regimen_steps.id)",
                [medication_id, new_start.isoformat()],
            )
            db.execute(
                "UPDATE regimen_steps SET end_date = max(start_date, ?) WHERE medication_id = ? "
                "AND (end_date IS NULL OR end_date >= ?)",
                [(new_start - timedelta(days=1)).isoformat(), medication_id, new_start.isoformat()],
            )
            _add_step(db, medication_id, spec, new_start, now)
        if plan_changed or rule_changed:
            ledger.rewrite_future(db, medication_id, now, horizon)


def _refuse_a_cut(current: dict, spec: MedicationInput) -> None:
    before = (current["amount"] or 0) * len(current["times"])
    after = spec.amount * len(spec.times)
    fewer_days = spec.days is not None and (current["days"] is None or not set(current["days"]) <= set(spec.days))
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
        from .tapering import refusal

        raise InputError(None, refusal(medication), status=409)
    with immediate(db):
        db.execute(
            "UPDATE medications SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            [to_iso(now), reason or None, medication_id],
        )
        db.execute(
            "UPDATE regimen_steps SET end_date = max(start_date, ?) WHERE medication_id = ? "
            "AND (end_date IS NULL OR end_date > ?)",
            [today.isoformat(), medication_id, today.isoformat()],
        )
        ledger.rewrite_future(db, medication_id, now, timedelta(0))
        ledger.stop_prompts(db, medication_id)


def pause_today(
    db: Database, settings: dict, medication_id: int, local_date: date, actor_id: int, now: datetime
) -> bool:
    """No reminders for this medication on ``local_date``; recorded, and its caregivers told.

    The doses stay in the ledger and can still be confirmed; unanswered they close as
    ``unknown`` and count towards the escalation ladder. False when already paused that day.
    """
    from . import caregivers, delivery

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
            delivery.queue_to_user(
                db,
                settings,
                user=caregiver,
                kind="notice",
                now=now,
                only=channel,
                context={
                    "name": caregiver["name"],
                    "summary": summary.strip(),
                    "subject": f"{who} paused reminders for today",
                },
            )
    return True


def _add_step(db: Database, medication_id: int, spec: MedicationInput, start: date, now: datetime) -> None:
    db.execute(
        "INSERT INTO regimen_steps (medication_id, start_date, times, days, amount, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            medication_id,
            start.isoformat(),
            json.dumps(sorted(spec.times)),
            json.dumps(spec.days) if spec.days is not None else None,
            spec.amount,
            to_iso(now),
        ],
    )


def to_json(db: Database, medication_id: int) -> dict | None:
    """A medication as the API shows it: the current step's plan, and every step."""
    row = db.execute("SELECT * FROM medications WHERE id = ?", [medication_id])
    columns = [d[0] for d in row.description]
    values = row.fetchone()
    if values is None:
        return None
    medication = dict(zip(columns, values, strict=False))
    steps = [
        {
            "id": s.id,
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else None,
            "times": [t.strftime("%H:%M") for t in s.times],
            "days": sorted(s.days) if s.days is not None else None,
            "amount": s.amount,
        }
        for s in ledger.steps_of(db, medication_id)
    ]
    current = max(steps, key=lambda s: (s["start_date"], s["id"])) if steps else {}
    return {
        "id": medication["id"],
        "patient_id": medication["patient_id"],
        "name": medication["name"],
        "strength": medication["strength"],
        "unit": medication["unit"],
        "amount": current.get("amount"),
        "times": current.get("times", []),
        "days": current.get("days"),
        "start_date": steps[0]["start_date"] if steps else None,
        "withdrawal_risk": bool(medication["withdrawal_risk"]),
        "max_daily_amount": medication["max_daily_amount"],
        **{key: medication[key] for key in RULE_LIMITS},
        "min_taper_days": medication["min_taper_days"],
        "created_at": medication["created_at"],
        "ended_at": medication["ended_at"],
        "steps": steps,
    }


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
    if key in WHOLE_NUMBERS and number != int(number):
        raise InputError(key, f"{key} must be a whole number.")
    too_low = number <= low if exclusive_low else number < low
    if not math.isfinite(number) or too_low or number > high:
        bound = f"more than {low:g}" if exclusive_low else f"at least {low:g}"
        raise InputError(key, f"{key} must be {bound} and at most {high:g}.")
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


def _date(key: str, value) -> date:
    try:
        return parse_date(value)
    except ValueError:
        raise InputError(key, f"{key} must be a date in YYYY-MM-DD.") from None


def zone_today(tz: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(tz)).date()

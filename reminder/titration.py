"""A clinician's titration plan: several steps up, written like a taper (issue 9 §5).

"Start low, go slow": a patient may raise a withdrawal-risk drug by one formulary step at a time
(``safety_limits.check_titration``); a clinician of a linked clinic writes the whole way up at
once, with a reason (``clinician_changes.titrate``). The steps have the taper's shape
(``tapering.TaperStep``: start date, amount per dose, times, every N days). Each runs until the next starts and
the last goes on until changed. The rules here are pure:

- the first step starts tomorrow at the earliest, so the patient is told the day before
  (``step_changes``), and every step lasts at least three days;
- each step's daily total, on the days it is given, is higher than the one before (a cut is a
  taper; going from daily to every other day at a higher dose still goes up on its days);
- no dose is over the single-dose ceiling and no day over the daily ceiling in force for this
  patient (the formulary's, a clinician's, halved for poor kidney function);
- whole or half tablets give every dose (any amount of a liquid).

A plan that breaks one is ``422 titration_invalid`` naming the step; malformed input is a 400.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from . import formulary, kidneys, ledger, medications, regimen, safety_limits
from .errors import InputError
from .safety_limits import EPSILON
from .tapering import TaperStep, current_average, not_giveable, over_single, per_day_words, read_steps, too_short

MAX_PLAN_DAYS = 366


def parse_plan(data, current: dict, today: date, ceilings: dict) -> list[TaperStep]:
    """Check a titration plan for ``current`` (``medications.to_json`` on ``today``) against the
    ``ceilings`` in force (``max_single_amount``, ``max_daily_amount``, None for none); return its
    steps, each ending the day before the next starts and the last open-ended."""
    steps = read_steps(data, current, today, "titration")
    if steps[0].start_date <= today:
        raise _invalid(1, f"starts on {steps[0].start_date}: start tomorrow at the earliest, so the patient is told")
    steps = _joined(steps)
    if (steps[-1].start_date - today).days > MAX_PLAN_DAYS:
        raise _invalid(len(steps), f"starts more than {MAX_PLAN_DAYS} days from today")
    before = current_average(current)  # rises are judged on the average a day (every N days too)
    for number, step in enumerate(steps, 1):
        _check_step(number, step, before, current, ceilings)
        before = step.average_daily
    return steps


def _joined(steps: list[TaperStep]) -> list[TaperStep]:
    """Steps in order, each lasting until the day before the next; an end date given must say so."""
    joined = []
    for number, step in enumerate(steps, 1):
        following = steps[number] if number < len(steps) else None
        if following is None:
            if step.end_date is not None:
                raise _invalid(number, "is the last: it goes on until changed, so leave out its end_date")
            joined.append(step)
            continue
        if following.start_date <= step.start_date:
            raise _invalid(number + 1, f"starts on {following.start_date}, not after step {number}")
        end = following.start_date - timedelta(days=1)
        if step.end_date is not None and step.end_date != end:
            raise _invalid(number, f"ends on {step.end_date}, but step {number + 1} starts on {following.start_date}")
        if problem := too_short((end - step.start_date).days + 1):
            raise _invalid(number, problem)
        joined.append(replace(step, end_date=end))
    return joined


def _check_step(number: int, step: TaperStep, before: float, current: dict, ceilings: dict) -> None:
    unit = current["unit"]
    if step.average_daily <= before + EPSILON:
        raise _invalid(
            number,
            f"gives {per_day_words(step.average_daily)} {unit} a day, not more than the "
            f"{per_day_words(before)} before it: "
            "a titration goes up (a cut is a taper)",
        )
    single, daily = ceilings.get("max_single_amount"), ceilings.get("max_daily_amount")
    if problem := over_single(step.amount, single, unit):
        raise _invalid(number, problem)
    others = ceilings.get("others_daily") or 0
    if daily is not None and step.daily_total + others > daily + EPSILON:
        with_others = f" with the {others:g} {unit} a day of the patient's other entry of it" if others else ""
        raise _invalid(
            number, f"gives {step.daily_total:g} {unit} a day{with_others}, over the maximum of {daily:g} a day"
        )
    if problem := not_giveable(step.amount, current):
        raise _invalid(number, problem)


def _invalid(number: int, problem: str) -> InputError:
    return InputError("steps", f"Step {number} {problem}.", status=422, code="titration_invalid", step=number)


def ceilings_in_force(db: Database, current: dict) -> dict:
    """The single and daily maxima a plan for ``current`` must stay under: the lower of the entry's
    own and the patient's floor (the formulary's or a clinician's, halved for poor kidneys), and
    ``others_daily``, what other entries of the same drug give a day: they share the daily one."""
    facts = formulary.facts(current["name"], current["route"])
    egfr = kidneys.latest_egfr(db, current["patient_id"])
    floor = safety_limits.floor(facts, current["clinician_limits"], egfr)
    ceilings = {key: _lower(floor.get(key), current.get(key)) for key in ("max_single_amount", "max_daily_amount")}
    return {**ceilings, "others_daily": medications.other_entries_daily(db, current)}


def _lower(a: float | None, b: float | None) -> float | None:
    return min(a, b) if a is not None and b is not None else a if b is None else b


def apply_plan(db: Database, medication_id: int, steps: list[TaperStep], now: datetime, horizon: timedelta) -> None:
    """From the first step's day the regimen is the plan; a taper's end date no longer applies.
    Call it inside the caller's transaction (``clinician_changes.titrate`` keeps the reason with it)."""
    ledger.drop_future(db, medication_id, now)
    regimen.replace_from(db, medication_id, steps[0].start_date, [step.as_step() for step in steps], now)
    db.execute("UPDATE medications SET ends_at = NULL WHERE id = ?", [medication_id])
    ledger.rewrite_future(db, medication_id, now, horizon)


def as_json(steps: list[TaperStep]) -> list[dict]:
    """The steps as the audit keeps them (``medication_changes.change``)."""
    return [
        {
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else None,
            "amount": s.amount,
            "times": s.times,
            "every_days": s.every_days,
        }
        for s in steps
    ]

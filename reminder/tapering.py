"""No sudden stops: a withdrawal-risk medication ends through a taper plan, or a clinician.

Baclofen labelling: "reduce slowly over 1 to 2 weeks"; abrupt withdrawal has caused
hallucinations and seizures (``../shared/domain.md`` sections 3 and Sources). A taper plan is a
sequence of contiguous steps whose daily totals decrease, lasting at least the medication's
``min_taper_days`` (default 14). Its doses and reminders follow the steps like any regimen;
after the last step the worker ends the medication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import amounts, caregivers, clinics, delivery, ledger, medications, regimen, schedule
from .db import immediate
from .errors import InputError
from .schedule import Step, resolve
from .times import to_iso

MAX_TAPER_STEPS = 20
MAX_CUT_PER_STEP = 0.5  # no step lowers the daily total by more than half of the one before
MAX_TAPER_DAYS = 366
MIN_STEP_DAYS = 3  # "start low, go slow" both ways: every step lasts at least three days
MAX_LAST_STEP_FRACTION = 0.25  # the last step before stopping is at most a quarter of the start


@dataclass(frozen=True)
class TaperStep:
    start_date: date
    end_date: date | None  # None: the last step of a titration, which goes on until changed
    amount: float
    times: list[str]
    every_days: int | None = None  # every N days counted from this step's start_date; None: daily

    @property
    def daily_total(self) -> float:
        """The total on a day the step is given (10 mg every other day is 10 mg): what the daily
        ceilings are checked against."""
        return self.amount * len(self.times)

    @property
    def average_daily(self) -> float:
        """The total a day averaged over the step's spacing (10 mg every other day is 5 mg): what
        a plan's cuts and rises are judged on, so going from every other day to daily at a lower
        amount is read as the rise it is."""
        return schedule.average_daily(self.amount, self.times, None, self.every_days)

    def as_step(self) -> Step:
        return regimen.new_step(self.start_date, self.end_date, self.times, self.amount, every_days=self.every_days)


def current_average(current: dict) -> float:
    """Today's plan of ``current`` (``medications.to_json``) as an average amount a day."""
    return schedule.average_daily(current["amount"], current["times"], current.get("days"), current.get("every_days"))


def per_day_words(amount: float) -> str:
    """An average a day as the messages show it (60/7 mg as 8.57)."""
    return f"{round(amount, 2):g}"


def parse_plan(data, current: dict, today: date) -> list[TaperStep]:
    """Check a taper plan against the current regimen; InputError names the first problem."""
    steps = read_steps(data, current, today, "taper")
    for number, step in enumerate(steps, 1):
        if step.end_date is None or step.end_date < step.start_date:
            raise InputError("end_date", f"Step {number} needs an end_date on or after its start_date.", step=number)
    if steps[0].start_date < today:
        raise InputError("start_date", "The taper cannot start in the past.")
    for number, (before, after) in enumerate(zip(steps, steps[1:], strict=False), 2):
        if after.start_date != before.end_date + timedelta(days=1):
            raise InputError(
                "start_date",
                f"Steps must follow each other day after day: {after.start_date} does not follow {before.end_date}.",
                step=number,
            )
    if (steps[-1].end_date - today).days > MAX_TAPER_DAYS:
        raise InputError("end_date", f"A taper plan ends within {MAX_TAPER_DAYS} days.")
    current_total = current_average(current)
    totals = [current_total] + [step.average_daily for step in steps]
    higher = [
        n for n, (earlier, later) in enumerate(zip(totals, totals[1:], strict=False), 1) if later >= earlier - 1e-9
    ]
    if higher:
        raise InputError(
            "amount",
            "Each step's daily total (on average, over its spacing) must be lower than the one before it "
            f"(now {per_day_words(current_total)} {current['unit']} a day).",
            step=higher[0],
        )
    days = (steps[-1].end_date - steps[0].start_date).days + 1
    if days < current["min_taper_days"]:
        raise InputError(
            "end_date",
            f"A taper of {current['name']} must last at least {current['min_taper_days']} days; this one lasts {days}.",
        )
    steep = [
        n
        for n, (earlier, later) in enumerate(zip(totals, totals[1:], strict=False), 1)
        if later < earlier * (1 - MAX_CUT_PER_STEP)
    ]
    if len(steps) < 2 or steep:
        raise InputError(
            "amount",
            "Taper in at least two steps, each lowering the daily total by at most half "
            f"(now {per_day_words(current_total)} {current['unit']} a day).",
            step=steep[0] if steep else None,
        )
    check_steps_can_be_given(steps, current)
    return steps


def read_steps(data, current: dict, today: date, plan: str) -> list[TaperStep]:
    """The ``steps`` of a taper or titration plan, each checked as a medication's dose plan is
    (amount, times at least two hours apart, dates, ``every_days`` 1 to 14 counted from the step's
    own start_date, today's when left out); ``end_date`` stays None when a step has none.
    InputError (400) names the first malformed step."""
    raw = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise InputError("steps", f'A {plan} plan needs "steps": [{{"start_date", "amount", "times"}}, ...].')
    if len(raw) > MAX_TAPER_STEPS:
        raise InputError("steps", f"At most {MAX_TAPER_STEPS} steps.")
    steps = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise InputError("steps", f"Step {number} must be an object.", step=number)
        if not item.get("start_date"):
            raise InputError("start_date", f"Step {number} needs a start_date.", step=number)
        fields = {
            "name": current["name"],
            "amount": item.get("amount"),
            "times": item.get("times", current["times"]),
            "start_date": item.get("start_date"),
            # Left out, a step keeps today's spacing, as it keeps today's times; 1 is daily.
            "every_days": item.get("every_days", current.get("every_days")),
        }
        try:
            spec = medications.parse_medication(fields, today)
            end = medications.check_date("end_date", item["end_date"]) if item.get("end_date") else None
        except InputError as error:
            raise InputError(
                error.field, f"Step {number}: {error.message}", error.status, error.code, step=number
            ) from None
        steps.append(TaperStep(spec.start_date, end, spec.amount, spec.times, spec.every_days))
    return steps


def check_steps_can_be_given(steps: list[TaperStep], current: dict) -> None:
    """422 ``taper_invalid`` naming the step: each lasts at least three days, the last is at most a
    quarter of the starting daily total, no dose is over the single-dose ceiling, and whole or half
    tablets give every dose (issue 9 §5; baclofen label: "reduce slowly")."""
    start_total = current_average(current)
    for number, step in enumerate(steps, 1):
        problem = (
            too_short((step.end_date - step.start_date).days + 1)
            or over_single(step.amount, current.get("max_single_amount"), current["unit"])
            or not_giveable(step.amount, current)
        )
        if problem:
            raise _invalid(number, problem)
    if steps[-1].average_daily > start_total * MAX_LAST_STEP_FRACTION + 1e-9:
        raise _invalid(
            len(steps),
            f"is the last before stopping and gives {per_day_words(steps[-1].average_daily)} {current['unit']} a "
            f"day: at most a quarter of today's {per_day_words(start_total)}, so stopping is a small step",
        )


def _invalid(number: int, problem: str) -> InputError:
    return InputError("steps", f"Step {number} {problem}.", status=422, code="taper_invalid", step=number)


# What is wrong with one step of a taper or a titration, in the words both plans use (None: nothing).


def too_short(days: int) -> str | None:
    if days < MIN_STEP_DAYS:
        return f"lasts {days} day{'s' if days != 1 else ''}: each step lasts at least {MIN_STEP_DAYS} days"
    return None


def over_single(amount: float, ceiling: float | None, unit: str) -> str | None:
    if ceiling is not None and amount > ceiling + 1e-9:
        return f"gives {amount:g} {unit} at once, over the maximum single dose of {ceiling:g}"
    return None


def not_giveable(amount: float, current: dict) -> str | None:
    if amounts.giveable(amount, current["strength"], current["unit"]):
        return None
    shown = amounts.in_hand(amount, current["strength"], current["unit"])
    return f"needs {shown}: choose an amount whole or half tablets give"


def apply_plan(
    db: Database, medication_id: int, steps: list[TaperStep], tz: str, now: datetime, horizon: timedelta
) -> None:
    """Replace the regimen from the taper's first day with its steps; the medication ends
    when the last step's local day is over."""
    first = steps[0].start_date
    with immediate(db):
        ledger.drop_future(db, medication_id, now)
        regimen.replace_from(db, medication_id, first, [step.as_step() for step in steps], now)
        ends_at = resolve(steps[-1].end_date + timedelta(days=1), time(0, 0), ZoneInfo(tz))
        db.execute("UPDATE medications SET ends_at = ? WHERE id = ?", [to_iso(ends_at), medication_id])
        ledger.rewrite_future(db, medication_id, now, horizon)


FINISHED_PATIENT = (
    "Your {medication} taper has finished: reminders for it have stopped. Over the next days, if stiffness, "
    "cramps, itching or confusion come back, call your prescriber today; call emergency services (911) for "
    "hallucinations, a seizure or a high fever."
)
FINISHED_OTHERS = (
    "{patient}'s {medication} taper has finished and its reminders have stopped. Over the next days, watch "
    "for withdrawal signs (stiffness, cramps, itching, confusion, hallucinations, a seizure or a high fever)."
)


def finish(db: Database, now: datetime, settings: dict) -> int:
    """End every medication whose taper is over (worker step), and tell the patient, the
    caregivers who follow it and the clinicians of the patient's clinics, in the same
    transaction (issue 10 section 4: a finished taper never ends silently)."""
    with immediate(db):
        rows = db.execute(
            "UPDATE medications SET ended_at = ends_at, end_reason = 'taper finished' "
            "WHERE ended_at IS NULL AND ends_at IS NOT NULL AND ends_at <= ? RETURNING id, patient_id, name",
            [to_iso(now)],
        ).fetchall()
        for medication_id, patient_id, name in rows:
            _tell_finished(db, settings, medication_id, patient_id, name, now)
    return len(rows)


def _tell_finished(db: Database, settings: dict, medication_id: int, patient_id: int, name: str, now) -> None:
    patient = next(db.query("SELECT * FROM users WHERE id = ?", [patient_id]))
    subject = f"{name} taper finished"
    text = FINISHED_PATIENT.format(medication=name)
    delivery.queue_notice(db, settings, patient, text, subject, now)
    others = FINISHED_OTHERS.format(patient=patient["name"] or patient["email"], medication=name)
    told = caregivers.followers(db, patient_id, medication_id, True)
    told += [(clinician, None) for clinician in clinics.clinicians_for(db, patient_id)]
    for user, channel in told:
        delivery.queue_notice(db, settings, user, others, subject, now, only=channel)


def suggest(current: dict, today: date) -> list[TaperStep]:
    """A starting plan to agree with the prescriber, from tomorrow over ``min_taper_days``: each
    step's daily total about a third lower and never less than half the one before, every dose
    whole or half tablets, doses dropped before they are split further, the last step at most a
    quarter of today's total. Empty when the tablets cannot give such a plan."""
    amount, times = current["amount"] or 0, current["times"]
    start_total = amount * len(times)
    options = _giveable_plans(amount, times, current["strength"], current["unit"])
    totals, plans = [start_total], []
    while totals[-1] > start_total * MAX_LAST_STEP_FRACTION + 1e-9:
        previous = totals[-1]
        doses_before = len(plans[-1][1]) if plans else len(times)
        fits = [
            p
            for p in options
            if previous / 2 - 1e-9 <= p[0] * len(p[1]) < previous - 1e-9 and len(p[1]) <= doses_before
        ]
        if not fits:
            return []
        gentle = [p for p in fits if p[0] * len(p[1]) <= previous * 0.75 + 1e-9] or fits
        chosen = max(gentle, key=lambda p: (p[0] * len(p[1]), len(p[1])))
        plans.append(chosen)
        totals.append(chosen[0] * len(chosen[1]))
    days = current["min_taper_days"]
    if not plans or len(plans) * MIN_STEP_DAYS > days:
        return []
    steps, start = [], today + timedelta(days=1)
    for index, (per_dose, step_times) in enumerate(plans):
        length = days // len(plans) + (1 if index < days % len(plans) else 0)
        steps.append(TaperStep(start, start + timedelta(days=length - 1), per_dose, step_times))
        start += timedelta(days=length)
    return steps


def _giveable_plans(amount: float, times: list[str], strength: str, unit: str) -> list[tuple[float, list[str]]]:
    """Every (amount per dose, times) at or below today's that whole or half tablets give, keeping
    the day's first and last times when doses are dropped."""
    per_tablet = amounts.tablet_strength(strength, unit)
    unit_step = per_tablet / 2 if per_tablet else amount / 4
    per_dose = [unit_step * k for k in range(1, int(amount / unit_step + 1e-9) + 1)]
    plans = []
    for count in range(1, len(times) + 1):
        kept = [times[round(i * (len(times) - 1) / (count - 1))] for i in range(count)] if count > 1 else times[:1]
        plans += [(round(dose, 6), kept) for dose in per_dose if amounts.giveable(dose, strength, unit)]
    return plans


# ---------------------------------------------------------------- the step editor (issue 14 §2)

ROW_FIELDS = ("start_date", "end_date", "days", "amount", "times", "every_days")


def suggested_rows(medication: dict, today: date) -> list[dict]:
    """``suggest``'s plan as the step editor's rows (none when there is no plan to suggest)."""
    return as_rows(suggest(medication, today))


def as_rows(steps: list[TaperStep]) -> list[dict]:
    """Steps as the step editor shows them: dates, amount per dose, and the times (all text)."""
    return [
        {
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else "",
            "days": "",
            "amount": f"{s.amount:g}",
            "times": " ".join(s.times),
            "every_days": str(s.every_days or ""),
        }
        for s in steps
    ]


def steps_from_rows(rows: list[dict], times: list[str]) -> list[dict]:
    """The step editor's rows as ``read_steps`` reads them. Blank rows are skipped; a row without
    a start date starts the day after the row above ends; a last day or a number of days gives its
    end (neither: open-ended, which only a titration's last step may be); no times: ``times``;
    "every N days", when given, passes through for ``read_steps`` to check."""
    steps: list[dict] = []
    for number, row in enumerate((r for r in rows if any(str(r.get(k, "")).strip() for k in ROW_FIELDS)), 1):
        start = row.get("start_date", "").strip()
        if not start and steps and steps[-1].get("end_date"):
            start = (date.fromisoformat(steps[-1]["end_date"]) + timedelta(days=1)).isoformat()
        step = {"start_date": start, "amount": row.get("amount", "").strip(), "times": row.get("times") or times}
        end, days = row.get("end_date", "").strip(), row.get("days", "").strip()
        if days and not end:
            end = _end_after(number, start, days)
        if end:
            step["end_date"] = end
        if str(row.get("every_days", "")).strip():
            step["every_days"] = str(row["every_days"]).strip()
        steps.append(step)
    if not steps:
        raise InputError("steps", "Enter at least one step.")
    return steps


def _end_after(number: int, start: str, days: str) -> str:
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= MAX_TAPER_DAYS:
        raise InputError("days", f"Step {number}: days must be a whole number of days, like 5.", step=number)
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise InputError("start_date", f"Step {number} needs a start date, like 2026-03-08.", step=number) from None
    return (first + timedelta(days=int(days) - 1)).isoformat()


def now_and_next(medication: dict, today: date) -> tuple[dict | None, dict | None]:
    """During a taper or titration, the step in effect today and the one after it (else Nones),
    from ``medications.to_json``'s ``steps``."""
    day = today.isoformat()
    ordered = sorted(medication["steps"], key=lambda s: (s["start_date"], s["id"]))
    running = [s for s in ordered if s["start_date"] <= day and (s["end_date"] is None or s["end_date"] >= day)]
    later = [s for s in ordered if s["start_date"] > day]
    if not later:
        return None, None
    return (running[-1] if running else None), later[0]


def plan_words(medication: dict, today: date) -> dict | None:
    """What the medication card says during a taper or titration: the step in effect and the next
    (``{"now": "10 mg (1 tablet) at 08:00, 13:00, 18:00", "next": ..., "next_from": "Thu 12 Mar"}``);
    None when no other step is ahead."""
    running, following = now_and_next(medication, today)
    if following is None:
        return None

    def words(step: dict) -> str:
        dose = amounts.in_hand(step["amount"], medication["strength"], medication["unit"])
        return f"{dose} at {', '.join(step['times'])}"

    return {
        "now": words(running) if running else None,
        "next": words(following),
        "next_from": f"{date.fromisoformat(following['start_date']):%a %d %b}",
    }

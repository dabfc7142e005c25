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

from . import ledger, medications, regimen
from .db import immediate
from .errors import InputError
from .schedule import Step, resolve
from .times import to_iso

MAX_TAPER_STEPS = 20
MAX_CUT_PER_STEP = 0.5  # no step lowers the daily total by more than half of the one before
MAX_TAPER_DAYS = 366


@dataclass(frozen=True)
class TaperStep:
    start_date: date
    end_date: date
    amount: float
    times: list[str]

    @property
    def daily_total(self) -> float:
        return self.amount * len(self.times)

    def as_step(self) -> Step:
        return regimen.new_step(self.start_date, self.end_date, self.times, self.amount)


def parse_plan(data, current: dict, today: date) -> list[TaperStep]:
    """Check a taper plan against the current regimen; InputError names the first problem."""
    raw = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise InputError("steps", 'A taper plan needs "steps": [{"start_date", "end_date", "amount", "times"}, ...].')
    if len(raw) > MAX_TAPER_STEPS:
        raise InputError("steps", f"At most {MAX_TAPER_STEPS} steps.")
    steps = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise InputError("steps", f"Step {number} must be an object.")
        if not item.get("start_date"):
            raise InputError("start_date", f"Step {number} needs a start_date.")
        fields = {
            "name": current["name"],
            "amount": item.get("amount"),
            "times": item.get("times", current["times"]),
            "start_date": item.get("start_date"),
        }
        spec = medications.parse_medication(fields, today)
        end = medications.check_date("end_date", item.get("end_date")) if item.get("end_date") else None
        if end is None or end < spec.start_date:
            raise InputError("end_date", f"Step {number} needs an end_date on or after its start_date.")
        steps.append(TaperStep(spec.start_date, end, spec.amount, spec.times))
    if steps[0].start_date < today:
        raise InputError("start_date", "The taper cannot start in the past.")
    for before, after in zip(steps, steps[1:], strict=False):
        if after.start_date != before.end_date + timedelta(days=1):
            raise InputError(
                "start_date",
                f"Steps must follow each other day after day: {after.start_date} does not follow {before.end_date}.",
            )
    if (steps[-1].end_date - today).days > MAX_TAPER_DAYS:
        raise InputError("end_date", f"A taper plan ends within {MAX_TAPER_DAYS} days.")
    current_total = (current["amount"] or 0) * len(current["times"])
    totals = [current_total] + [step.daily_total for step in steps]
    if any(later >= earlier for earlier, later in zip(totals, totals[1:], strict=False)):
        raise InputError(
            "amount",
            "Each step's daily total must be lower than the one before it "
            f"(now {current_total:g} {current['unit']} a day).",
        )
    days = (steps[-1].end_date - steps[0].start_date).days + 1
    if days < current["min_taper_days"]:
        raise InputError(
            "end_date",
            f"A taper of {current['name']} must last at least {current['min_taper_days']} days; this one lasts {days}.",
        )
    if len(steps) < 2 or any(
        later < earlier * (1 - MAX_CUT_PER_STEP) for earlier, later in zip(totals, totals[1:], strict=False)
    ):
        raise InputError(
            "amount",
            "Taper in at least two steps, each lowering the daily total by at most half "
            f"(now {current_total:g} {current['unit']} a day).",
        )
    return steps


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


def finish(db: Database, now: datetime) -> int:
    """End every medication whose taper is over (worker step)."""
    with immediate(db):
        rows = db.execute(
            "UPDATE medications SET ended_at = ends_at, end_reason = 'taper finished' "
            "WHERE ended_at IS NULL AND ends_at IS NOT NULL AND ends_at <= ? RETURNING id",
            [to_iso(now)],
        ).fetchall()
    return len(rows)


def suggested_taper(medication: dict, today: date) -> str:
    """A starting plan to agree with the prescriber, as the lines ``taper_lines`` reads: two or
    three steps from tomorrow over the medication's minimum taper, each dose a quarter (or
    third) lower than the one before."""
    days = medication["min_taper_days"]
    count = min(3, days)
    start, lines = today + timedelta(days=1), []
    for index in range(count):
        end = start + timedelta(days=days // count + (1 if index < days % count else 0) - 1)
        amount = float(f"{medication['amount'] * (count - index) / (count + 1):.3g}")
        lines.append(f"{start.isoformat()} {end.isoformat()} {amount:g}")
        start = end + timedelta(days=1)
    return "\n".join(lines)


def taper_lines(text: str, times: list[str]) -> list[dict]:
    """A plan typed as lines ``first-day last-day amount`` as ``parse_plan`` steps at ``times``;
    InputError naming the first line that isn't."""
    steps = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), 1):
        parts = line.split()
        if len(parts) != 3:
            raise InputError(
                "steps",
                f"Step {number}: write the first day, the last day and the amount, like 2026-03-08 2026-03-12 7.5",
            )
        steps.append({"start_date": parts[0], "end_date": parts[1], "amount": parts[2], "times": times})
    if not steps:
        raise InputError("steps", "Enter at least one step.")
    return steps

"""Safety limits on a medication plan: floors only a clinician may loosen, ceilings, units, spacing.

Pure functions over the formulary's facts and the plan; ``medications.py`` calls them before it
writes anything, so a refusal writes nothing (domain.md section 6):

- **Floors.** The missed-dose rule's parameters, the daily and single maxima and the
  withdrawal-risk mark default from the formulary (or what a clinician last set for this patient).
  A patient or caregiver may make them stricter, and undo their own tightening back to the floor,
  never past it: that is ``403 clinician_only``.
- **Ceilings.** No single amount above the maximum single dose and no daily plan above the daily
  maximum, counting every entry of the same ingredient and route: ``422 over_ceiling``.
- **Units.** "10 g" of baclofen is not "10 mg": ``422 unit_mismatch``.
- **Spacing.** Two dose times of one medication closer than two hours: ``422 times_too_close``.
"""

from __future__ import annotations

from datetime import timedelta

from .errors import InputError
from .formulary import Facts
from .kidneys import ceiling_factor

EPSILON = 1e-9
RULE_DEFAULTS = {"on_time_minutes": 60, "skip_fraction": 0.5, "skip_hours_before_next": 2.0, "min_gap_fraction": 0.5}
LOOSER_WHEN_HIGHER = ("on_time_minutes", "skip_fraction", "max_daily_amount", "max_single_amount")
LOOSER_WHEN_LOWER = ("skip_hours_before_next", "min_gap_fraction")
GUARDED = (*LOOSER_WHEN_HIGHER, *LOOSER_WHEN_LOWER, "withdrawal_risk")
MIN_TIMES_APART = timedelta(hours=2)
UNIT_WORDS = {
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "mcg": "mcg",
    "µg": "mcg",
    "microgram": "mcg",
    "micrograms": "mcg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "ml": "mL",
    "tablet": "tablet",
    "tablets": "tablet",
}
CLINICIAN_ONLY = "Your clinician can change this: ask them, and they will record why."
# The guarded numbers as a clinician's form asks for them: field, label, hint.
GUARDED_FIELDS = (
    ("max_daily_amount", "Most per day", "in the dose's unit; empty: no maximum"),
    ("max_single_amount", "Most at once", "in the dose's unit; empty: no maximum"),
    ("on_time_minutes", "On time within, in minutes", "5 to 240"),
    ("skip_fraction", "A late dose is skipped after this share of the time to the next", "0.1 to 1"),
    ("skip_hours_before_next", "... or within this many hours of the next dose", "0 to 12"),
    ("min_gap_fraction", "No two intakes closer than this share of the time between doses", "0 to 0.9"),
)


def floor(facts: Facts, clinician_set: dict, egfr: float | None = None) -> dict:
    """The loosest value each guarded field may take without a clinician: what a clinician last set
    for this patient, else the formulary's ceiling, else the rule's default. With kidney function
    below 30 a renally cleared drug's daily ceiling is halved (``kidneys.ceiling_factor``)."""
    limits = facts.limits
    daily = limits.max_daily if limits else None
    if daily is not None and limits.renal_cleared:
        daily *= ceiling_factor(egfr)
    base = {
        **RULE_DEFAULTS,
        "max_daily_amount": daily,
        "max_single_amount": limits.max_single if limits else None,
        "withdrawal_risk": facts.withdrawal_risk,
    }
    return {**base, **{key: value for key, value in clinician_set.items() if key in GUARDED}}


def is_looser(field: str, value, floor_value) -> bool:
    """Whether ``value`` relaxes ``field`` past ``floor_value`` (None is "no maximum")."""
    if field == "withdrawal_risk":
        return bool(floor_value) and not value
    if field in LOOSER_WHEN_HIGHER:
        if floor_value is None:
            return False
        return value is None or value > floor_value + EPSILON
    return value is not None and floor_value is not None and value < floor_value - EPSILON


def refuse_loosening(requested: dict, floor_values: dict) -> None:
    """403 ``clinician_only`` naming the first field that ``requested`` would loosen."""
    for field in GUARDED:
        if field in requested and is_looser(field, requested[field], floor_values.get(field)):
            raise InputError(
                field,
                f"{field} can't be made less strict than {_shown(floor_values.get(field))} here. {CLINICIAN_ONLY}",
                status=403,
                code="clinician_only",
            )


def check_unit(name: str, unit: str, facts: Facts) -> None:
    """422 ``unit_mismatch`` when the amount's unit is not the one the formulary doses this drug in."""
    if facts.limits is None:
        return
    given = UNIT_WORDS.get((unit or "").strip().lower(), (unit or "").strip())
    if given != facts.limits.unit:
        what = facts.ingredient.name if facts.ingredient else name
        raise InputError(
            "unit",
            f"{what.capitalize()} is dosed in {facts.limits.unit}: enter the amount of one dose in "
            f"{facts.limits.unit} (you entered {unit or 'no unit'}).",
            status=422,
            code="unit_mismatch",
        )


def check_ceiling(
    name: str, amount: float, doses_per_day: int, ceilings: dict, source: str, others_daily: float = 0.0
) -> None:
    """422 ``over_ceiling`` when one dose or a day's plan (with ``others_daily``, the daily plan of
    every other entry of the same ingredient and route) goes over ``ceilings``."""
    single, daily = ceilings.get("max_single_amount"), ceilings.get("max_daily_amount")
    if single is not None and amount > single + EPSILON:
        raise _over("amount", f"One dose of {amount:g} is over the maximum single dose of {single:g}", source)
    total = amount * doses_per_day + others_daily
    if daily is not None and total > daily + EPSILON:
        with_others = f" with your other {name} entries" if others_daily else ""
        raise _over(
            "amount",
            f"{doses_per_day} doses of {amount:g} make {total:g} a day{with_others}, over the maximum of "
            f"{daily:g} a day",
            source,
        )


def check_titration(name: str, before: float, after: float, days_on_current: int, limits) -> None:
    """403 ``clinician_only`` when a patient raises a daily total faster than the formulary's
    titration allows ("start low, go slow": baclofen by at most 15 mg a day, every 3 days)."""
    if limits is None or limits.titration_step is None or after <= before + EPSILON:
        return
    step, every = limits.titration_step, limits.titration_days
    if after - before > step + EPSILON:
        problem = (
            f"raise {name} by at most {step:g} {limits.unit} a day at a time (from {before:g} to {after:g} is more)"
        )
    elif days_on_current < every:
        problem = f"keep each {name} dose for at least {every} days before raising it again"
    else:
        return
    raise InputError("amount", f"Start low, go slow: {problem}. {CLINICIAN_ONLY}", status=403, code="clinician_only")


def check_spacing(times: list[str], min_apart: timedelta = MIN_TIMES_APART) -> None:
    """422 ``times_too_close`` when two of a day's dose times (midnight included) are too close."""
    minutes = sorted(int(t[:2]) * 60 + int(t[3:5]) for t in times)
    if len(minutes) < 2:
        return
    gaps = [(b - a, a, b) for a, b in zip(minutes, minutes[1:], strict=False)]
    gaps.append((minutes[0] + 24 * 60 - minutes[-1], minutes[-1], minutes[0]))
    gap, first, second = min(gaps)
    if timedelta(minutes=gap) < min_apart:
        hours = min_apart.total_seconds() / 3600
        raise InputError(
            "times",
            f"{_hhmm(first)} and {_hhmm(second)} are too close together: dose times of one medication must be "
            f"at least {hours:g} hours apart.",
            status=422,
            code="times_too_close",
        )


def limit_words(medication: dict) -> list[str]:
    """The guarded values of a medication (``medications.to_json``) in plain words, as the
    patient's form shows them read-only."""
    unit = medication["unit"]

    def most(value) -> str:
        return f"{value:g} {unit}" if value is not None else "no maximum"

    return [
        f"Most per day: {most(medication['max_daily_amount'])}",
        f"Most at once: {most(medication['max_single_amount'])}",
        f"On time within {medication['on_time_minutes']:g} minutes of the dose time",
        f"A late dose is skipped after {medication['skip_fraction'] * 100:g} % of the time to the next one, or "
        f"within {medication['skip_hours_before_next']:g} hours of it",
        f"No two intakes closer than {medication['min_gap_fraction'] * 100:g} % of the time between doses",
        f"Dangerous to stop suddenly: {'yes' if medication['withdrawal_risk'] else 'no'}",
    ]


def _over(field: str, text: str, source: str) -> InputError:
    cited = f" (source: {source})" if source else ""
    return InputError(field, f"{text}{cited}. {CLINICIAN_ONLY}", status=422, code="over_ceiling")


def _shown(value) -> str:
    if value is None:
        return "no maximum"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"

"""Travel never adds doses: which doses of the new zone's plan are cancelled (issue 9 section 3).

After a change of time zone the same local times fall at new instants, so the first doses in the
new zone can land too soon after the last ones of the old zone, or put more than the daily
maximum into 24 hours (Paris to Los Angeles after the three Paris doses: two more the same
evening, 100 mg in 19 hours). Such a dose is not dropped silently: the ledger keeps it as
``cancelled`` with the reason ``time_zone_change`` and nobody is reminded of it.

Pure: the ledger loads the timeline (recorded intakes, the doses still to come) and records the
outcome. A careful pharmacist's reading: one fewer dose on a travel day is safe, one more is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .missed_dose import Intake, most_in_a_day

TIME_ZONE_CHANGE = "time_zone_change"  # the cancel reason (missed_dose.CANCEL_REASON_WORDS says it)


@dataclass(frozen=True)
class Counted:
    """A dose that counts on the timeline: an intake (at its taken time) or a dose that stays
    scheduled (at its scheduled time), of the same ingredient and route from any entry."""

    at: datetime
    amount: float


@dataclass(frozen=True)
class Planned:
    """A dose of the new zone's plan; ``min_gap`` is the regimen's minimum gap around it
    (``min_gap_fraction`` x its spacing to its scheduled neighbours)."""

    scheduled_at: datetime
    amount: float
    min_gap: timedelta


def doses_to_cancel(
    planned: list[Planned], counted: list[Counted], max_daily_amount: float | None, tz: ZoneInfo
) -> set[int]:
    """The indexes in ``planned`` of the doses to cancel, deciding earliest first: a dose is
    cancelled when it falls closer than its minimum gap after a previous dose that counts, or
    when it would take the scheduled total over ``max_daily_amount`` in its local day or any
    rolling 24 hours (``missed_dose.most_in_a_day``). A kept dose counts for the later ones; a
    cancelled one does not."""
    kept = list(counted)
    cancelled = set()
    for index, dose in sorted(enumerate(planned), key=lambda pair: pair[1].scheduled_at):
        if too_soon(dose, kept) or over_maximum(dose, kept, max_daily_amount, tz):
            cancelled.add(index)
        else:
            kept.append(Counted(dose.scheduled_at, dose.amount))
    return cancelled


def too_soon(dose: Planned, counted: list[Counted]) -> bool:
    """Whether a previous dose (strictly earlier) is closer than the dose's minimum gap. Doses of
    two entries due at the same instant are one plan, judged by the daily maximum."""
    return any(timedelta(0) < dose.scheduled_at - other.at < dose.min_gap for other in counted)


def over_maximum(dose: Planned, counted: list[Counted], max_daily_amount: float | None, tz: ZoneInfo) -> bool:
    if max_daily_amount is None:
        return False
    others = [Intake(c.at, c.at, c.amount) for c in counted]
    return most_in_a_day(dose.amount, dose.scheduled_at, tz, others) > max_daily_amount + 1e-9

"""The dose ledger after a change of the patient's time zone: travel never adds doses.

Every future dose moves to the same local time in the new zone; a new dose that the pure rule
``travel.doses_to_cancel`` refuses (too soon after the previous one, or over the daily maximum in
any rolling 24 hours, counting every entry of the same drug) stays in the ledger as
``cancelled`` with the reason ``time_zone_change``, and the worker never reminds anyone of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import ledger, regimen, schedule, travel
from .regimen import steps_of
from .times import parse_instant, to_iso


def rewrite(db: Database, medication_ids: list[int], now: datetime, horizon: timedelta) -> None:
    """Move the future doses of ``medication_ids`` (one patient's) to the new zone and cancel
    what travel would add. Every medication's untouched future doses go first, so that no dose
    of the old zone that is about to move counts against the new plan; a dose an earlier change
    cancelled is decided afresh. Must run inside a write transaction."""
    for medication_id in medication_ids:
        ledger.drop_future(db, medication_id, now, cancelled_too=True)
        db.execute("UPDATE medications SET generated_until = ? WHERE id = ?", [to_iso(now), medication_id])
    for medication_id in medication_ids:
        ledger.extend_medication(db, medication_id, now, now + horizon)
        cancel_what_travel_adds(db, medication_id, now)
        ledger.recompute_open_windows(db, medication_id)


def cancel_what_travel_adds(db: Database, medication_id: int, now: datetime) -> int:
    """Cancel the medication's new future doses that ``travel.doses_to_cancel`` refuses, counting
    the intakes and the scheduled doses of every entry of the same drug. Returns how many."""
    tz = ZoneInfo(regimen.medication(db, medication_id)["tz"])
    rows = ledger.untouched_future_doses(db, medication_id, now)
    ids = ledger.same_drug_ids(db, medication_id)
    gaps = _gap_rules(db, ids)
    planned = [
        travel.Planned(parse_instant(at), amount, _shared_min_gap(gaps, parse_instant(at), tz))
        for _, at, amount in rows
    ]
    cancelled = travel.doses_to_cancel(
        planned, _counted(db, ids, {row[0] for row in rows}, now), _shared_maximum(db, ids), tz
    )
    for index in cancelled:
        db.execute(
            "UPDATE doses SET status = 'cancelled', cancel_reason = ?, next_prompt_at = NULL "
            "WHERE id = ? AND status = 'pending'",
            [travel.TIME_ZONE_CHANGE, rows[index][0]],
        )
    return len(cancelled)


def _counted(db: Database, medication_ids: list[int], planned_ids: set[int], now: datetime) -> list[travel.Counted]:
    """The intakes and the doses still scheduled of these entries around ``now`` (the planned
    doses apart): what a new dose is judged against."""
    since = to_iso(now - ledger.GAP_LOOKAROUND)
    counted = []
    for medication_id in medication_ids:
        for dose_id, status, scheduled_at, taken_at, amount in db.execute(
            "SELECT id, status, scheduled_at, taken_at, amount FROM doses WHERE medication_id = ? "
            "AND scheduled_at >= ? AND status IN ('taken', 'pending')",
            [medication_id, since],
        ).fetchall():
            if dose_id not in planned_ids:
                counted.append(travel.Counted(parse_instant(taken_at if status == "taken" else scheduled_at), amount))
    return counted


def _gap_rules(db: Database, medication_ids: list[int]) -> list[tuple[list, float]]:
    """(steps, min_gap_fraction) of each entry still taken: what the shared minimum gap is made of."""
    rules = []
    for medication_id in medication_ids:
        medication = regimen.medication(db, medication_id)
        if not medication["ended_at"]:
            rules.append((steps_of(db, medication_id), medication["min_gap_fraction"]))
    return rules


def _shared_min_gap(rules: list[tuple[list, float]], at: datetime, tz: ZoneInfo) -> timedelta:
    """The minimum gap at ``at`` that entries of one drug share: the smallest of theirs, each
    ``min_gap_fraction`` x the entry's spacing around ``at`` (issue 9 section 3)."""
    gaps = [
        interval * fraction
        for steps, fraction in rules
        if (interval := schedule.regimen_interval(steps, tz, at)) is not None
    ]
    return min(gaps, default=timedelta(0))


def _shared_maximum(db: Database, medication_ids: list[int]) -> float | None:
    """The daily maximum that entries of one drug share: the smallest one set (issue 9 section 3)."""
    marks = ", ".join("?" for _ in medication_ids)
    sql = f"SELECT min(max_daily_amount) FROM medications WHERE id IN ({marks})"
    return db.execute(sql, medication_ids).fetchone()[0]

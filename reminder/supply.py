"""Supply on hand: units per dose, consumption, refills, days left, and the two supply messages.

The rules (``units_per_dose``, ``days_left``, ``threshold_days``) are pure functions; the rest
loads their inputs and writes their outcomes (domain.md section 4). Stock is counted in units
(tablets, capsules, ...); a dose uses ``units_per_dose`` of them, halves included.

The two claimers, ``refill_reminders_due`` and ``running_out_alerts_due``, mark a medication with
a conditional ``UPDATE ... WHERE <column> IS NULL`` so a restart or a second worker never gets the
same one twice; recording a refill clears both marks.

Upkeep looks only at the medications whose ``supply_check_at`` has come (an index, not every
stock every 10 minutes). ``schedule_checks`` sets it after a look to the day the stock may reach
a threshold, a day early; what could bring that day closer asks for a look at once ('') in the
same transaction: triggers on a stock raised, the units, thresholds, marks and plan (migration
0015), and ``consume`` for a dose the last projection did not count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import regimen, schedule
from .db import immediate
from .errors import InputError
from .regimen import steps_of
from .times import parse_instant, to_iso

LOOKAHEAD_DAYS = 366  # days_left answers at most this: "plenty"
DEFAULT_THRESHOLD_DAYS = 7  # domain.md section 4
WITHDRAWAL_RISK_THRESHOLD_DAYS = 10
RUNNING_OUT_DAYS = 3  # withdrawal-risk medications alert the caregivers this close to running out
MAX_REFILL_QUANTITY = 100_000  # units in one refill: more is a typo, not a pharmacy bag
PHARMACY_LIMIT = 100
# A look this far from a threshold comes a day early, then once more on the day (DST, rounding).
CHECK_MARGIN_DAYS = 1
# How far a look projects past the threshold; a longer supply is looked at again after this.
CHECK_AHEAD_DAYS = 14
CHECK_CHUNK = 100  # medications scheduled per transaction

# The first number in a strength ("10 mg tablet", "5mg", "0,5 mg", "1,000 mcg") and its unit.
_STRENGTH = re.compile(r"(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:[.,]\d+)?|[.,]\d+)\s*([a-zµμ]*)", re.IGNORECASE)
_MICROGRAMS = {"g": 1_000_000, "mg": 1_000, "mcg": 1, "µg": 1, "μg": 1, "ug": 1}

ClaimHook = Callable[[Database, dict], None]


# ---------------------------------------------------------------- the rules


def strength_amount(strength: str, unit: str = "mg") -> float | None:
    """The amount in one unit of stock, in the dose's ``unit``, read from the strength text.

    The first number counts: ``"10 mg tablet"`` -> 10, ``"5mg"`` -> 5, ``"0,5 mg"`` -> 0.5,
    ``"1,000 mcg"`` -> 1000. A strength in another mass unit than the dose is converted
    (``"0.5 g"`` with doses in mg -> 500). None when there is no positive number.
    """
    match = _STRENGTH.search(strength or "")
    if not match:
        return None
    digits = match.group(1)
    # "1,000" groups thousands; any other comma is a decimal comma ("0,5").
    digits = digits.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", digits) else digits.replace(",", ".")
    amount = float(digits)
    given, wanted = match.group(2).lower(), (unit or "").strip().lower()
    if given in _MICROGRAMS and wanted in _MICROGRAMS:
        amount = amount * _MICROGRAMS[given] / _MICROGRAMS[wanted]
    return amount if amount > 0 and math.isfinite(amount) else None


def units_per_dose(medication: dict, amount: float) -> float:
    """The units of stock one dose of ``amount`` uses.

    ``medication["units_per_dose"]`` when set (it then holds for every step); otherwise the dose
    amount divided by the strength (10 mg from "10 mg tablet" -> 1, 5 mg -> 0.5). A strength
    that names no number (or a liquid's "10 mg/5 mL", read as 10 mg a unit) is the patient's to
    set explicitly; until then one dose is one unit.
    """
    if medication.get("units_per_dose"):
        return float(medication["units_per_dose"])
    strength = strength_amount(medication.get("strength") or "", medication.get("unit") or "mg")
    return amount / strength if strength else 1.0


def days_left(
    steps: list[schedule.Step],
    tz: ZoneInfo,
    stock: float | None,
    medication: dict,
    now: datetime,
    horizon_days: int = LOOKAHEAD_DAYS,
    settled: frozenset[datetime] = frozenset(),
) -> float | None:
    """Days until the stock can no longer cover a scheduled dose, projected from ``steps``.

    Walks the doses from ``now`` (inclusive) in schedule order, each with its own step's amount,
    so titrations and tapers count. Returns the time from ``now`` to the first dose the stock
    cannot cover, in the patient's wall-clock days; 0.0 when it cannot cover the next dose;
    ``horizon_days`` (366, "plenty") when it lasts beyond the look-ahead or the schedule ends
    first; None when the stock is not tracked. ``settled`` holds the instants of future doses
    already answered (taken early, skipped), which will not draw on the stock again.
    """
    if stock is None:
        return None
    remaining = float(stock)
    end = now + timedelta(days=horizon_days)
    for index, occurrence in enumerate(_doses(steps, tz, now, end, settled)):
        needed = units_per_dose(medication, occurrence.amount)
        if remaining + 1e-9 < needed:
            return 0.0 if index == 0 else _wall_days(now, occurrence.scheduled_at, tz)
        remaining -= needed
    return float(horizon_days)


def threshold_days(medication: dict) -> int:
    """Days of supply left at which the refill reminder goes out: the medication's own setting,
    else 10 for withdrawal-risk medications and 7 for the rest (domain.md section 4)."""
    if medication.get("refill_threshold_days"):
        return int(medication["refill_threshold_days"])
    return WITHDRAWAL_RISK_THRESHOLD_DAYS if medication.get("withdrawal_risk") else DEFAULT_THRESHOLD_DAYS


def _doses(steps, tz, start: datetime, end: datetime, settled: frozenset[datetime]) -> Iterator[schedule.Occurrence]:
    # A week at a time, so a stock that runs out soon costs a week of schedule, not a year.
    while start < end:
        chunk_end = min(start + timedelta(days=7), end)
        yield from (
            o for o in schedule.occurrences_between(steps, tz, start, chunk_end) if o.scheduled_at not in settled
        )
        start = chunk_end


def _wall_days(start: datetime, end: datetime, tz: ZoneInfo) -> float:
    # Wall-clock days, not elapsed ones: across a DST change a 23-hour day is still a day of
    # tablets, so three days of supply read 3.0 whichever week it is.
    delta = end.astimezone(tz).replace(tzinfo=None) - start.astimezone(tz).replace(tzinfo=None)
    return max(0.0, delta.total_seconds() / 86_400)


# ---------------------------------------------------------------- the database


def consume(db: Database, dose: dict) -> None:
    """Take a recorded dose's units off its medication's stock, never below 0.

    Runs inside the caller's transaction (the one that records the dose as taken), so the dose
    and the stock change together. No-op when the medication's stock is not tracked (NULL).
    """
    medication = regimen.medication(db, dose["medication_id"])
    if medication is None or medication["stock"] is None:
        return
    units = units_per_dose(medication, dose["amount"])
    # A dose due before the last projection was not counted in it: look again at the next upkeep.
    db.execute(
        "UPDATE medications SET stock = max(0, stock - ?), supply_check_at = CASE WHEN supply_checked_at IS NULL "
        "OR ? < supply_checked_at THEN '' ELSE supply_check_at END WHERE id = ? AND stock IS NOT NULL",
        [units, dose["scheduled_at"], dose["medication_id"]],
    )


def give_back(db: Database, dose: dict) -> None:
    """Put a dose's units back on the stock: a "taken" corrected to not taken never happened."""
    medication = regimen.medication(db, dose["medication_id"])
    if medication is None or medication["stock"] is None:
        return
    db.execute(
        "UPDATE medications SET stock = stock + ? WHERE id = ? AND stock IS NOT NULL",
        [units_per_dose(medication, dose["amount"]), dose["medication_id"]],
    )


def record_refill(
    db: Database, medication_id: int, quantity, pharmacy: str | None, actor_id: int | None, now: datetime
) -> None:
    """Record a refill of ``quantity`` units: a refills row, the stock raised (an untracked stock
    starts at ``quantity``), and both supply marks cleared so the next shortfall is told again.

    Raises ``InputError`` naming ``quantity`` or ``pharmacy`` (nothing written), or a 404 one
    for an unknown medication. Runs in its own transaction.
    """
    amount = _quantity(quantity)
    pharmacy_name = _pharmacy(pharmacy)
    with immediate(db):
        if regimen.medication(db, medication_id) is None:
            raise InputError(None, "No such medication.", status=404)
        db.execute(
            "INSERT INTO refills (medication_id, quantity, pharmacy, recorded_at, actor_id) VALUES (?, ?, ?, ?, ?)",
            [medication_id, amount, pharmacy_name, to_iso(now), actor_id],
        )
        db.execute(
            "UPDATE medications SET stock = coalesce(stock, 0) + ?, refill_reminded_at = NULL, "
            "supply_alerted_at = NULL WHERE id = ?",
            [amount, medication_id],
        )


def days_left_for(db: Database, medication_id: int, now: datetime, horizon_days: int = LOOKAHEAD_DAYS) -> float | None:
    """``days_left`` for a stored medication, in its patient's zone; None when the stock is not
    tracked or there is no such medication."""
    medication = regimen.medication(db, medication_id)
    if medication is None:
        return None
    return _days_left_of(db, medication, now, horizon_days)


def refill_reminders_due(db: Database, now: datetime, on_claim: ClaimHook | None = None) -> list[dict]:
    """Claim the active medications whose supply has reached their refill threshold.

    Each is returned once (``refill_reminded_at`` is set, and only a refill clears it) as
    ``{"medication_id", "patient_id", "name", "days_left", "stock"}``. ``on_claim(db, item)``
    runs inside the claiming transaction: queue the message there, and a crash cannot lose it.
    """

    def due(medication: dict) -> float | None:
        threshold = threshold_days(medication)
        # One day past the threshold is look-ahead enough to tell "at or under" from "plenty".
        left = _days_left_of(db, medication, now, threshold + 1)
        return left if left is not None and left <= threshold else None

    return _claim(db, now, "refill_reminded_at", False, due, on_claim)


def running_out_alerts_due(db: Database, now: datetime, on_claim: ClaimHook | None = None) -> list[dict]:
    """Claim the active withdrawal-risk medications that run out within 3 days with no refill
    recorded since the last alert (``supply_alerted_at`` is NULL); same items and hook as
    ``refill_reminders_due``. These alert the caregivers (domain.md section 4)."""

    def due(medication: dict) -> float | None:
        left = _days_left_of(db, medication, now, RUNNING_OUT_DAYS + 1)
        return left if left is not None and left <= RUNNING_OUT_DAYS else None

    return _claim(db, now, "supply_alerted_at", True, due, on_claim)


def _claim(
    db: Database,
    now: datetime,
    mark: str,
    withdrawal_risk_only: bool,
    due: Callable[[dict], float | None],
    on_claim: ClaimHook | None,
) -> list[dict]:
    # Projections are read outside the write lock; each claim re-checks the mark and the stock,
    # so another worker's claim, a refill or a taken dose in between makes it miss rather than
    # tell twice or tell a stale number.
    found = [
        (medication, left)
        for medication in _to_check(db, now)
        if medication[mark] is None
        and (medication["withdrawal_risk"] or not withdrawal_risk_only)
        and (left := due(medication)) is not None
    ]
    claimed = []
    with immediate(db):
        for medication, left in found:
            cursor = db.execute(
                f"UPDATE medications SET {mark} = ? WHERE id = ? AND {mark} IS NULL AND ended_at IS NULL AND stock = ?",
                [to_iso(now), medication["id"], medication["stock"]],
            )
            if cursor.rowcount != 1:
                continue
            item = {
                "medication_id": medication["id"],
                "patient_id": medication["patient_id"],
                "name": medication["name"],
                "days_left": left,
                "stock": medication["stock"],
            }
            if on_claim is not None:
                on_claim(db, item)
            claimed.append(item)
    return claimed


def _to_check(db: Database, now: datetime, limit: int = -1) -> list[dict]:
    """The active medications with a tracked stock whose next look has come (at most ``limit``),
    through ``medications_supply_check``: ordered by that index, not by id, which would walk
    every tracked stock."""
    return list(
        db.query(
            "SELECT m.*, u.tz AS tz FROM medications m JOIN users u ON u.id = m.patient_id "
            "WHERE m.ended_at IS NULL AND m.stock IS NOT NULL AND m.supply_check_at <= ? "
            "ORDER BY m.supply_check_at, m.id LIMIT ?",
            [to_iso(now), limit],
        )
    )


def schedule_checks(db: Database, now: datetime) -> int:
    """Set the next look of every medication whose look has come (after the claimers ran):
    a day before its stock may reach a threshold still unmarked, NULL when both are marked.
    Projected inside the write lock, a chunk at a time, so no change in between is lost.
    Returns how many were scheduled."""
    done = 0
    while True:
        with immediate(db):
            chunk = _to_check(db, now, CHECK_CHUNK)
            for medication in chunk:
                db.execute(
                    "UPDATE medications SET supply_check_at = ?, supply_checked_at = ? WHERE id = ?",
                    [_next_check(db, medication, now), to_iso(now), medication["id"]],
                )
        done += len(chunk)
        if len(chunk) < CHECK_CHUNK:
            return done


def _next_check(db: Database, medication: dict, now: datetime) -> str | None:
    thresholds = []
    if medication["refill_reminded_at"] is None:
        thresholds.append(threshold_days(medication))
    if medication["withdrawal_risk"] and medication["supply_alerted_at"] is None:
        thresholds.append(RUNNING_OUT_DAYS)
    if not thresholds:
        return None  # both told: a refill clears the marks and asks for a look
    left = _days_left_of(db, medication, now, max(thresholds) + CHECK_AHEAD_DAYS)
    # Taking the doses as planned brings the stock to a threshold ``due_in`` days from now.
    due_in = min(left - threshold for threshold in thresholds)
    if due_in <= 0:
        wait = 0.0  # at a threshold but not claimed (a change won the race): look again next time
    elif due_in > CHECK_MARGIN_DAYS:
        wait = due_in - CHECK_MARGIN_DAYS  # a day early, then once more on the day
    else:
        wait = due_in
    return to_iso(now + timedelta(days=wait))


def _days_left_of(db: Database, medication: dict, now: datetime, horizon_days: int) -> float | None:
    if medication["stock"] is None:
        return None
    return days_left(
        steps_of(db, medication["id"]),
        ZoneInfo(medication["tz"]),
        medication["stock"],
        medication,
        now,
        horizon_days,
        _settled(db, medication["id"], now),
    )


def _settled(db: Database, medication_id: int, now: datetime) -> frozenset[datetime]:
    rows = db.execute(
        "SELECT scheduled_at FROM doses WHERE medication_id = ? AND scheduled_at >= ? AND status != 'pending'",
        [medication_id, to_iso(now)],
    ).fetchall()
    return frozenset(parse_instant(row[0]) for row in rows)


def _quantity(value) -> float:
    if value is None or value == "":
        raise InputError("quantity", "quantity is required.")
    if isinstance(value, bool) or (isinstance(value, str) and "_" in value):
        raise InputError("quantity", "quantity must be a number.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError("quantity", "quantity must be a number.") from None
    if not math.isfinite(number) or number <= 0 or number > MAX_REFILL_QUANTITY:
        raise InputError("quantity", f"quantity must be more than 0 and at most {MAX_REFILL_QUANTITY:g}.")
    return number


def _pharmacy(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("pharmacy", "pharmacy must be text.")
    value = value.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InputError("pharmacy", "pharmacy has a control character in it.")
    if len(value) > PHARMACY_LIMIT:
        raise InputError("pharmacy", f"pharmacy is too long (at most {PHARMACY_LIMIT} characters).")
    return value or None

"""Intrathecal pumps: the low-reservoir alarm date, the refill-by date, reminders and escalation.

domain.md section 4: refill-by defaults to the alarm date minus 5 days; reminders go out 14, 7,
3 and 1 days before refill-by; a refill not recorded by the alarm date escalates. Dates are the
patient's local dates (``YYYY-MM-DD``): "3 days before" is counted on the patient's calendar.

``pumps.reminders_sent`` is the claim: the JSON list of thresholds already told for the current
alarm date (0 marks the overdue escalation). It is swapped with a conditional UPDATE on its old
value, so a restart or a second worker never tells the same threshold twice; recording a refill
resets it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from .db import immediate
from .errors import InputError
from .times import UTC, local_today, parse_date, to_iso

REMINDER_DAYS = (14, 7, 3, 1)  # days before refill-by
OVERDUE_MARK = 0  # in reminders_sent: the alarm-date escalation went out
DEFAULT_REFILL_OFFSET_DAYS = 5  # refill-by = alarm date - 5 days
MAX_AHEAD_DAYS = 366  # an alarm date further out is a typo: reservoirs last months, not years
MAX_BEHIND_DAYS = 366  # an alarm date already passed is urgent, not refused (issue 10 section 4)
WITHDRAWAL_SIGNS = (
    "Watch for itching, a return of strong stiffness or spasms, fever, confusion or hallucinations: call "
    "emergency services (911) for hallucinations, a seizure or a high fever."
)

ClaimHook = Callable[[Database, dict], None]


# ---------------------------------------------------------------- the rules


def default_refill_by(alarm_date: date) -> date:
    return alarm_date - timedelta(days=DEFAULT_REFILL_OFFSET_DAYS)


def reminder_to_send(refill_by: date, today: date, sent: list[int]) -> int | None:
    """The threshold of ``REMINDER_DAYS`` to tell today, or None.

    That is the tightest threshold ``today`` is within (days to refill-by <= it), unless it was
    told already. The caller records every threshold today is within (``thresholds_within``), so
    a pump first seen 5 days ahead gets its 7-day reminder now, its 3-day one later, and never a
    late 14-day one.
    """
    within = thresholds_within(refill_by, today)
    return min(within) if within and min(within) not in sent else None


def thresholds_within(refill_by: date, today: date) -> list[int]:
    days_until = (refill_by - today).days
    return [days for days in REMINDER_DAYS if days_until <= days]


def is_overdue(alarm_date: date, today: date, sent: list[int]) -> bool:
    """The alarm date has come with no refill recorded (a refill moves the date and resets
    ``sent``), and the escalation has not gone out yet."""
    return today >= alarm_date and OVERDUE_MARK not in sent


# ---------------------------------------------------------------- recording


def create_pump(
    db: Database,
    patient_id: int,
    medication_id,
    alarm_date,
    refill_by,
    actor_id: int | None,
    now: datetime,
    card: dict | None = None,
) -> int:
    """Record a pump; returns its id.

    ``alarm_date`` is required and at most a year ahead or behind (one already passed is
    accepted: the worker's next tick treats it as overdue and tells everyone at once); ``refill_by`` defaults
    to the alarm date minus 5 days and must not be after it; ``medication_id``, when given, must
    be one of the patient's medications; ``card`` may give the pump card's ``concentration``
    and ``clinic_phone``. A bad value raises ``InputError`` naming the field and nothing is
    written.
    """
    alarm = _alarm_date("alarm_date", alarm_date, now, allow_past=True)
    refill = default_refill_by(alarm) if refill_by in (None, "") else _date("refill_by", refill_by)
    if refill > alarm:
        raise InputError("refill_by", "refill_by must be on or before the alarm date.")
    concentration = _card_text(card or {}, "concentration", CONCENTRATION_CHARACTERS)
    phone = _card_text(card or {}, "clinic_phone", PHONE_CHARACTERS)
    with immediate(db):
        medication = _patient_medication(db, patient_id, medication_id)
        cursor = db.execute(
            "INSERT INTO pumps (patient_id, medication_id, alarm_date, refill_by, created_at, created_by, "
            "concentration, clinic_phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                patient_id,
                medication,
                alarm.isoformat(),
                refill.isoformat(),
                to_iso(now),
                actor_id,
                concentration,
                phone,
            ],
        )
    return cursor.lastrowid


def record_refill(db: Database, pump_id: int, new_alarm_date, actor_id: int | None, now: datetime) -> None:
    """Record a refill: the new alarm date (required, not in the past, at most a year ahead),
    a pump_refills row, and the reminders reset for the new date.

    Refill-by keeps the pump's own offset from the alarm date (5 days unless it was recorded
    otherwise), so a clinician's "refill 3 days before" carries over. Raises ``InputError``
    naming ``alarm_date`` (nothing written), or a 404 one for an unknown pump.
    """
    alarm = _alarm_date("alarm_date", new_alarm_date, now)
    with immediate(db):
        pump = get_pump(db, pump_id)
        if pump is None:
            raise InputError(None, "No such pump.", status=404)
        offset = parse_date(pump["alarm_date"]) - parse_date(pump["refill_by"])
        db.execute(
            "INSERT INTO pump_refills (pump_id, refilled_at, previous_alarm_date, new_alarm_date, actor_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [pump_id, to_iso(now), pump["alarm_date"], alarm.isoformat(), actor_id],
        )
        db.execute(
            "UPDATE pumps SET alarm_date = ?, refill_by = ?, reminders_sent = '[]' WHERE id = ?",
            [alarm.isoformat(), (alarm - offset).isoformat(), pump_id],
        )


# ---------------------------------------------------------------- reminders and escalation


def reminders_due(
    db: Database, now: datetime, tz_of: Callable[[int], ZoneInfo], on_claim: ClaimHook | None = None
) -> list[dict]:
    """Claim the refill reminders due now, at most one per pump.

    ``tz_of(patient_id)`` is the patient's zone. Each item is ``{"pump_id", "patient_id",
    "medication_id", "medication_name", "alarm_date", "refill_by", "days_before", "days_until"}``
    (``days_before`` is the threshold told, ``days_until`` the actual days to refill-by).
    ``on_claim(db, item)`` runs inside the claiming transaction: queue the message there, and a
    crash cannot lose it.
    """
    # A local date is at most a day off the UTC one, so this bound misses no pump.
    latest = now.astimezone(UTC).date() + timedelta(days=max(REMINDER_DAYS) + 1)
    found = []
    for pump in _pumps_where(db, "p.refill_by <= ?", [latest.isoformat()]):
        today = local_today(tz_of(pump["patient_id"]), now)
        refill_by, sent = parse_date(pump["refill_by"]), _sent(pump)
        if today >= parse_date(pump["alarm_date"]):
            continue  # past the alarm date a reminder is not enough: ``overdue`` tells everyone
        threshold = reminder_to_send(refill_by, today, sent)
        if threshold is not None:
            item = {**_item(pump), "days_before": threshold, "days_until": (refill_by - today).days}
            found.append((pump, sorted(set(sent) | set(thresholds_within(refill_by, today)), reverse=True), item))
    return _claim(db, found, on_claim)


def overdue(
    db: Database, now: datetime, tz_of: Callable[[int], ZoneInfo], on_claim: ClaimHook | None = None
) -> list[dict]:
    """Claim the pumps whose alarm date has come (in the patient's zone) with no refill recorded,
    each once per alarm date. Items are ``{"pump_id", "patient_id", "medication_id",
    "medication_name", "alarm_date", "refill_by", "days_overdue"}``; ``on_claim`` as in
    ``reminders_due``. These escalate to the caregivers and, once linked, the clinician."""
    latest = now.astimezone(UTC).date() + timedelta(days=1)
    found = []
    for pump in _pumps_where(db, "p.alarm_date <= ?", [latest.isoformat()]):
        today = local_today(tz_of(pump["patient_id"]), now)
        alarm, sent = parse_date(pump["alarm_date"]), _sent(pump)
        if is_overdue(alarm, today, sent):
            found.append(
                (
                    pump,
                    sorted({*sent, OVERDUE_MARK}, reverse=True),
                    {**_item(pump), "days_overdue": (today - alarm).days},
                )
            )
    return _claim(db, found, on_claim)


def _claim(db: Database, found: list[tuple[dict, list[int], dict]], on_claim: ClaimHook | None) -> list[dict]:
    # Decided outside the write lock; each claim holds only if the pump is as it was read, so a
    # refill recorded in between (new dates, reset list) or another worker's claim wins.
    claimed = []
    with immediate(db):
        for pump, sent, item in found:
            cursor = db.execute(
                "UPDATE pumps SET reminders_sent = ? WHERE id = ? AND reminders_sent = ? AND alarm_date = ? "
                "AND refill_by = ?",
                [json.dumps(sent), pump["id"], pump["reminders_sent"], pump["alarm_date"], pump["refill_by"]],
            )
            if cursor.rowcount != 1:
                continue
            if on_claim is not None:
                on_claim(db, item)
            claimed.append(item)
    return claimed


def reminder_text(refill_by: date, days_until: int) -> str:
    """The patient's refill reminder: never "(-5 days)"."""
    if days_until < 0:
        return (
            f"Your pump refill was due by {refill_by:%a %d %b}, {days_until * -1} day{'s' if days_until != -1 else ''} "
            "ago. Call your pump clinic today to book it."
        )
    when = "today" if days_until == 0 else f"in {days_until} day{'s' if days_until != 1 else ''}"
    return f"Your pump refill is due by {refill_by:%a %d %b} ({when}). Book it if you have not."


def overdue_text(alarm_date: date, days_overdue: int) -> str:
    """The patient's own urgent message when the alarm date has come with no refill recorded."""
    since = "is today" if days_overdue <= 0 else f"was {alarm_date:%a %d %b}"
    return (
        f"URGENT: your pump's low-reservoir alarm date {since} and no refill is recorded. Call your pump "
        f"clinic today: if the pump runs empty you can get withdrawal. {WITHDRAWAL_SIGNS}"
    )


# ---------------------------------------------------------------- the pump card

# What emergency staff must know (Gablofen and Lioresal Intrathecal labels, boxed warning: abrupt
# discontinuation, "high fever, altered mental status, exaggerated rebound spasticity, and muscle
# rigidity ... rhabdomyolysis, multiple organ-system failure and death"; the seed: "always keep a
# small 'pump card' handy to inform new doctors or emergency workers").
EMERGENCY = (
    "This person depends on the drug from the pump. Do not let it stop: an empty or failed pump causes withdrawal.",
    "Withdrawal signs: high fever, confusion or hallucinations, a return of strong spasticity, muscle rigidity, "
    "itching, seizures. It can be life-threatening: contact the pump clinic at once.",
    "Before an MRI, a scan or surgery, call the pump clinic: the pump may need checking afterwards.",
)


def card_facts(pump: dict) -> dict:
    """What the pump card says beyond the pump's own dates: the drug and the emergency notes."""
    return {"drug": pump.get("medication_name") or "intrathecal baclofen (as recorded)", "emergency": EMERGENCY}


# ---------------------------------------------------------------- reading


def get_pump(db: Database, pump_id: int) -> dict | None:
    """One pump row with its medication's name, or None; callers check ``patient_id``."""
    rows = _pumps_where(db, "p.id = ?", [pump_id])
    return rows[0] if rows else None


def pumps_of(db: Database, patient_id: int) -> list[dict]:
    """The patient's pumps, soonest refill-by first."""
    return _pumps_where(db, "p.patient_id = ?", [patient_id])


def pump_json(row: dict, today: date | None = None) -> dict:
    """A pump as the API shows it; with the patient's ``today``, also the days left to each date."""
    result = {
        "id": row["id"],
        "patient_id": row["patient_id"],
        "medication_id": row["medication_id"],
        "medication_name": row.get("medication_name"),
        "alarm_date": row["alarm_date"],
        "refill_by": row["refill_by"],
        "concentration": row.get("concentration"),
        "clinic_phone": row.get("clinic_phone"),
    }
    if today is not None:
        result["days_to_refill_by"] = (parse_date(row["refill_by"]) - today).days
        result["days_to_alarm"] = (parse_date(row["alarm_date"]) - today).days
    return result


def _pumps_where(db: Database, condition: str, params: list) -> list[dict]:
    # "+p.refill_by": sort what the condition's date index finds, rather than walk every pump
    # through the refill_by index to skip the sort.
    return list(
        db.query(
            "SELECT p.*, m.name AS medication_name FROM pumps p LEFT JOIN medications m ON m.id = p.medication_id "
            f"WHERE {condition} ORDER BY +p.refill_by, p.id",
            params,
        )
    )


def _item(pump: dict) -> dict:
    return {
        "pump_id": pump["id"],
        "patient_id": pump["patient_id"],
        "medication_id": pump["medication_id"],
        "medication_name": pump["medication_name"],
        "alarm_date": pump["alarm_date"],
        "refill_by": pump["refill_by"],
    }


def _sent(pump: dict) -> list[int]:
    return list(json.loads(pump["reminders_sent"] or "[]"))


CARD_TEXT_LIMIT = 40
PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ()./-]{3,30}$")
CONCENTRATION_CHARACTERS = re.compile(r"^[\w .,/µ%()-]{1,40}$")


def _card_text(card: dict, field: str, allowed: re.Pattern) -> str | None:
    value = card.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not allowed.match(value.strip()):
        example = "+1 555 010 0199" if field == "clinic_phone" else "2000 mcg/mL"
        raise InputError(field, f"{field} must be short plain text, like {example}.")
    return value.strip()


def _date(field: str, value) -> date:
    try:
        return parse_date(value)
    except ValueError:
        raise InputError(field, f"{field} must be a date in YYYY-MM-DD.") from None


def _alarm_date(field: str, value, now: datetime, allow_past: bool = False) -> date:
    if value in (None, ""):
        raise InputError(field, f"{field} is required.")
    day = _date(field, value)
    # Yesterday in UTC is still today somewhere west, so no patient's today is refused.
    earliest = now.astimezone(UTC).date() - timedelta(days=1)
    if day < earliest - timedelta(days=MAX_BEHIND_DAYS if allow_past else 0):
        raise InputError(field, f"{field} is in the past." + (" Check the year." if allow_past else ""))
    if day > earliest + timedelta(days=MAX_AHEAD_DAYS):
        raise InputError(field, f"{field} is more than a year ahead: check the year.")
    return day


def _patient_medication(db: Database, patient_id: int, medication_id) -> int | None:
    if medication_id in (None, ""):
        return None
    if isinstance(medication_id, str) and medication_id.isascii() and medication_id.isdigit():
        medication_id = int(medication_id)
    row = None
    if isinstance(medication_id, int) and not isinstance(medication_id, bool) and 0 < medication_id < 2**63:
        row = db.execute(
            "SELECT id FROM medications WHERE id = ? AND patient_id = ?", [medication_id, patient_id]
        ).fetchone()
    if row is None:
        raise InputError("medication", "medication must be the id of one of the patient's medications.")
    return row[0]

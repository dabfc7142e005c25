"""Kidney function a clinician records (eGFR and the day of the blood test), and what it changes.

Baclofen leaves the body unchanged through the kidneys: with kidney disease the same dose has a
stronger effect (the seed: "Doses might be cut in half or less if bloodwork shows trouble";
baclofen label: reduce the dose in renal impairment). For a renally cleared drug
(``formulary.Limits.renal_cleared``):

- eGFR below 60 flags "renal caution" on the clinician's report and panel (CKD stage 3, KDIGO);
- eGFR below 30 halves the formulary's daily ceiling until a clinician sets one with a reason
  (``safety_limits.floor`` applies the factor; a clinician's value wins). When a plan already in
  force (today's step or a later one) is above the halved ceiling, the clinicians are alerted at
  once (kind ``renal_ceiling``, level 3, repeating until one acknowledges) and the patient is told
  in plain words, with no dose advice; the report and panel flag "plan over renal ceiling".

The latest measurement (by test date, then by when it was recorded) counts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime

from sqlite_utils import Database

from . import alert_texts, escalation, formulary, regimen
from .db import immediate
from .errors import InputError
from .times import parse_date, to_iso

CAUTION_BELOW = 60
HALVE_BELOW = 30
HALVED = 0.5
RENAL_SOURCE = "Baclofen label: reduce the dose in renal impairment; the seed: 'cut in half or less'."


def renal_caution(egfr: float | None) -> bool:
    return egfr is not None and egfr < CAUTION_BELOW


def ceiling_factor(egfr: float | None) -> float:
    """What the formulary's daily ceiling of a renally cleared drug is multiplied by."""
    return HALVED if egfr is not None and egfr < HALVE_BELOW else 1.0


def check(data: dict, today: date) -> tuple[float, date]:
    """(eGFR, measured on) from input; InputError naming the field otherwise."""
    value = data.get("egfr")
    if isinstance(value, str) and value.strip():
        value = value.strip()
    try:
        egfr = float(value) if not isinstance(value, bool) and value not in (None, "") else None
    except (TypeError, ValueError):
        egfr = None
    if egfr is None or not math.isfinite(egfr) or not 0 < egfr < 200:
        raise InputError("egfr", "egfr must be a number in mL/min/1.73 m², more than 0 and under 200.")
    try:
        measured = parse_date(data.get("measured_on") or "")
    except (TypeError, ValueError):
        raise InputError("measured_on", "measured_on must be the date of the blood test, YYYY-MM-DD.") from None
    if measured > today:
        raise InputError("measured_on", "measured_on is in the future.")
    return egfr, measured


def record(
    db: Database, patient_id: int, data: dict, clinician_id: int, today: date, now: datetime, settings: dict
) -> dict:
    """Store a measurement; below 30, lower the stored daily ceiling of the patient's renally
    cleared medications to half the formulary's (unless a clinician set one), and alert the
    clinicians and tell the patient about each plan in force above it. One transaction."""
    egfr, measured = check(data, today)
    with immediate(db):
        cursor = db.execute(
            "INSERT INTO kidney_function (patient_id, egfr, measured_on, recorded_by, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [patient_id, egfr, measured.isoformat(), clinician_id, to_iso(now)],
        )
        current = latest(db, patient_id)
        if current and ceiling_factor(current["egfr"]) < 1:
            _lower_ceilings(db, patient_id, current["egfr"])
            for over in plans_over_ceiling(db, patient_id, today):
                _alert_over_ceiling(db, settings, patient_id, over, current, cursor.lastrowid, now)
    return current  # read in the transaction that wrote it: no second look


@dataclass(frozen=True)
class OverCeiling:
    """A renally cleared medication whose plan in force gives more a day than its ceiling."""

    medication_id: int
    name: str
    planned: float  # the largest daily total of today's step and the later ones
    ceiling: float
    unit: str


def plans_over_ceiling(db: Database, patient_id: int, today: date | None = None) -> list[OverCeiling]:
    """The patient's current renally cleared medications planned above their stored ceiling, by
    the steps in force from ``today`` on (without ``today``, the latest step)."""
    rows = db.execute(
        "SELECT id, name, route, max_daily_amount, unit FROM medications WHERE patient_id = ? AND ended_at IS NULL "
        "AND max_daily_amount IS NOT NULL ORDER BY id",
        [patient_id],
    ).fetchall()
    found = []
    for medication_id, name, route, ceiling, unit in rows:
        limits = formulary.facts(name, route).limits
        if not limits or not limits.renal_cleared:
            continue
        steps = regimen.steps_of(db, medication_id)
        steps = [s for s in steps if s.end_date is None or s.end_date >= today] if today else steps[-1:]
        planned = max((s.amount * len(s.times) for s in steps), default=0)
        if planned > ceiling + 1e-9:
            found.append(OverCeiling(medication_id, name, planned, ceiling, unit or "mg"))
    return found


def _alert_over_ceiling(db, settings, patient_id: int, over: OverCeiling, measured: dict, key: int, now) -> None:
    who = db.execute("SELECT coalesce(nullif(name, ''), email) FROM users WHERE id = ?", [patient_id]).fetchone()[0]
    texts = alert_texts.renal_ceiling(who, over.name, over.planned, over.ceiling, over.unit, measured)
    escalation.raise_alert(
        db,
        settings,
        patient_id=patient_id,
        medication_id=over.medication_id,
        kind="renal_ceiling",
        run_key=f"{over.medication_id}:{key}",
        summary=texts.clinician,
        patient_summary=texts.patient,
        now=now,
        level=3,
        clinicians=True,
        caregivers_too=False,
    )


def latest(db: Database, patient_id: int) -> dict | None:
    """The patient's latest measurement, ``{"egfr", "measured_on", "recorded_by", "recorded_at"}``."""
    return next(
        db.query(
            "SELECT egfr, measured_on, recorded_by, recorded_at FROM kidney_function WHERE patient_id = ? "
            "ORDER BY measured_on DESC, id DESC LIMIT 1",
            [patient_id],
        ),
        None,
    )


def latest_of(db: Database, patient_ids: list[int]) -> dict[int, dict]:
    """``latest`` of each of ``patient_ids`` that has a measurement, in one query."""
    marks = ", ".join("?" for _ in patient_ids)
    rows = db.query(
        "SELECT patient_id, egfr, measured_on, recorded_by, recorded_at FROM kidney_function "
        f"WHERE patient_id IN ({marks}) ORDER BY patient_id, measured_on, id",
        list(patient_ids),
    )
    return {row.pop("patient_id"): row for row in rows}  # the last row of each patient wins


def latest_egfr(db: Database, patient_id: int) -> float | None:
    found = latest(db, patient_id)
    return found["egfr"] if found else None


def _lower_ceilings(db: Database, patient_id: int, egfr: float) -> None:
    rows = db.execute(
        "SELECT id, name, route, max_daily_amount, clinician_limits FROM medications "
        "WHERE patient_id = ? AND ended_at IS NULL",
        [patient_id],
    ).fetchall()
    for medication_id, name, route, stored, clinician_limits in rows:
        limits = formulary.facts(name, route).limits
        if not limits or not limits.renal_cleared or not limits.max_daily:
            continue
        if "max_daily_amount" in json.loads(clinician_limits or "{}"):
            continue  # a clinician's ceiling, set with a reason, stands
        lowered = limits.max_daily * ceiling_factor(egfr)
        if stored is None or stored > lowered:
            db.execute("UPDATE medications SET max_daily_amount = ? WHERE id = ?", [lowered, medication_id])

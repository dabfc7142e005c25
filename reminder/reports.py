"""The clinician's views: the panel of a clinic's patients, one patient's adherence report, and
the ledger as CSV. The metrics themselves are ``metrics.py`` (pure); this module loads their
inputs from the ledger and shapes the output the API, the report page and the exports share.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import escalation, formulary, interactions, kidneys, medications, metrics, regimen, summaries, supply
from .schedule import resolve
from .times import parse_instant, to_iso

PANEL_SORTS = {"risk", "name", "adherence_7d", "adherence_30d", "last_taken"}
CSV_COLUMNS = (
    "local_date",
    "local_time",
    "medication",
    "amount",
    "unit",
    "status",
    "scheduled_at",
    "taken_at",
    "confirmed_at",
    "source",
    "actor_id",
    "skip_reason",
)


def period_bounds(first_day: date, last_day: date, tz: ZoneInfo) -> tuple[str, str]:
    """UTC instants [start, end) of local days ``first_day`` to ``last_day`` included."""
    return to_iso(resolve(first_day, time(0), tz)), to_iso(resolve(last_day + timedelta(days=1), time(0), tz))


def build(db: Database, patient_id: int, first_day: date, last_day: date, now: datetime, settings: dict) -> dict:
    """The report of one patient over local days ``first_day``..``last_day`` (both included)."""
    patient = next(db.query("SELECT id, name, email, tz FROM users WHERE id = ?", [patient_id]))
    tz = ZoneInfo(patient["tz"])
    start, end = period_bounds(first_day, last_day, tz)
    medications = []
    for medication in db.query(
        "SELECT * FROM medications WHERE patient_id = ? ORDER BY withdrawal_risk DESC, name", [patient_id]
    ):
        rows = list(
            db.query(
                "SELECT scheduled_at, local_date, local_time, status, taken_at, amount, skip_reason FROM doses "
                "WHERE medication_id = ? AND local_date BETWEEN ? AND ? AND status != 'cancelled' ORDER BY scheduled_at",
                [medication["id"], first_day.isoformat(), last_day.isoformat()],
            )
        )
        if not rows and medication["ended_at"] and medication["ended_at"] < start:
            continue
        medications.append(_medication_section(db, medication, rows, first_day, last_day, tz, now, settings))
    alerts = [escalation.alert_json(a) for a in escalation.alerts_for(db, [patient_id], 100_000, start, end)]
    side_effects = list(
        db.query(
            "SELECT s.id, s.at, s.kind, s.severity, s.note, s.dose_id, s.medication_id, m.name AS medication "
            "FROM side_effects s LEFT JOIN medications m ON m.id = s.medication_id "
            "WHERE s.patient_id = ? AND s.at >= ? AND s.at < ? ORDER BY s.at",
            [patient_id, start, end],
        )
    )
    parameters = metrics.Parameters(adherent_cutoff=settings["reports.adherent_cutoff"])
    return {
        "patient": {"id": patient["id"], "name": patient["name"], "email": patient["email"], "tz": patient["tz"]},
        "period": {"from": first_day.isoformat(), "to": last_day.isoformat()},
        "generated_at": to_iso(now),
        "definitions": metrics.definitions(parameters),
        "medications": medications,
        "alerts": alerts,
        "side_effects": side_effects,
        "kidney_function": kidneys.latest(db, patient_id),
        "flags": safety_flags(db, patient_id),
    }


def safety_flags(db: Database, patient_id: int) -> list[dict]:
    """What a clinician must see first about the patient's current medications: each
    ``{"flag", "detail", "source"}``; "combined sedation" for each sedating pair with baclofen
    (``interactions``), "renal caution" when the latest eGFR is under 60 and a current drug is
    cleared by the kidneys (``kidneys``), "plan over renal ceiling" when such a drug's plan gives
    more than its (halved) ceiling."""
    entries = medications.current_entries(db, patient_id)
    flags = [
        {"flag": "combined sedation", "detail": f"{pair.first} with {pair.second}", "source": interactions.SOURCE}
        for pair in interactions.flagged_pairs(entries)
    ]
    measured = kidneys.latest(db, patient_id)
    if measured and kidneys.renal_caution(measured["egfr"]):
        cleared = [
            name for name, route in entries if (limits := formulary.facts(name, route).limits) and limits.renal_cleared
        ]
        if cleared:
            halved = "; daily ceiling halved" if kidneys.ceiling_factor(measured["egfr"]) < 1 else ""
            detail = f"eGFR {measured['egfr']:g} on {measured['measured_on']}: {', '.join(cleared)}{halved}"
            flags.append({"flag": "renal caution", "detail": detail, "source": kidneys.RENAL_SOURCE})
        for over in kidneys.plans_over_ceiling(db, patient_id):
            detail = f"{over.name}: {over.planned:g} {over.unit} a day planned, ceiling {over.ceiling:g} {over.unit}"
            flags.append({"flag": "plan over renal ceiling", "detail": detail, "source": kidneys.RENAL_SOURCE})
    return flags


def _medication_section(db, medication, rows, first_day, last_day, tz, now, settings) -> dict:
    parameters = metrics.Parameters(
        on_time_minutes=medication["on_time_minutes"], adherent_cutoff=settings["reports.adherent_cutoff"]
    )
    doses = [
        metrics.LedgerDose(
            parse_instant(r["scheduled_at"]),
            date.fromisoformat(r["local_date"]),
            r["status"],
            parse_instant(r["taken_at"]) if r["taken_at"] else None,
            r["amount"],
        )
        for r in rows
    ]
    ended_on = parse_instant(medication["ended_at"]).astimezone(tz).date() if medication["ended_at"] else None
    report = metrics.medication_report(
        doses,
        first_day,
        last_day,
        tz,
        parameters,
        ended_on=ended_on,
        ended_by_clinician=(medication["end_reason"] or "").startswith("clinician"),
        covered_days=covered_days(db, medication, first_day, last_day, tz),
    )
    skip_reasons = [r["skip_reason"] for r in rows if r["status"] == "skipped" and r["skip_reason"]]
    steps = [
        {
            "start_date": s.start_date.isoformat(),
            "end_date": s.end_date.isoformat() if s.end_date else None,
            "amount": s.amount,
            "times": [t.strftime("%H:%M") for t in s.times],
        }
        for s in regimen.steps_of(db, medication["id"])
    ]
    return {
        "id": medication["id"],
        "name": medication["name"],
        "strength": medication["strength"],
        "unit": medication["unit"],
        "withdrawal_risk": bool(medication["withdrawal_risk"]),
        "ended_at": medication["ended_at"],
        "metrics": metrics.as_json(report),
        "skip_reasons": skip_reasons,
        "calendar": [
            {**day, "date": day["date"].isoformat()} for day in metrics.calendar(doses, first_day, last_day, parameters)
        ],
        "chronology": [
            {
                "scheduled_at": r["scheduled_at"],
                "local_date": r["local_date"],
                "local_time": r["local_time"],
                "status": r["status"],
                "taken_local": d.taken_at.astimezone(tz).strftime("%H:%M") if d.taken_at else None,
            }
            for r, d in zip(rows, doses, strict=True)
        ],
        "steps": steps,
        "days_left": supply.days_left_for(db, medication["id"], now),
    }


def covered_days(db: Database, medication: dict, first_day: date, last_day: date, tz: ZoneInfo) -> set[date] | None:
    """Days with supply on hand from recorded refills (PDC-style): each refill covers its units
    over the regimen's daily use, starting on its day or when the previous supply runs out.
    None when no refill is recorded (the report then says PDC is not computed)."""
    refills = db.execute(
        "SELECT recorded_at, quantity FROM refills WHERE medication_id = ? ORDER BY recorded_at", [medication["id"]]
    ).fetchall()
    if not refills:
        return None
    steps = regimen.steps_of(db, medication["id"])
    per_day = max((s.amount * len(s.times) for s in steps), default=0)
    units_per_day = supply.units_per_dose(medication, per_day) if per_day else 0
    if not units_per_day:
        return None
    covered, cursor = set(), None
    for recorded_at, quantity in refills:
        day = parse_instant(recorded_at).astimezone(tz).date()
        cursor = max(cursor or day, day)
        for _ in range(int(quantity // units_per_day)):
            if first_day <= cursor <= last_day:
                covered.add(cursor)
            cursor += timedelta(days=1)
    return covered


def ledger_csv(db: Database, patient_id: int, first_day: date, last_day: date) -> str:
    """The dose ledger of the period as CSV, one row per scheduled dose."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in db.query(
        "SELECT d.*, m.name AS medication, m.unit FROM doses d JOIN medications m ON m.id = d.medication_id "
        "WHERE d.patient_id = ? AND d.local_date BETWEEN ? AND ? AND d.status != 'cancelled' ORDER BY d.scheduled_at",
        [patient_id, first_day.isoformat(), last_day.isoformat()],
    ):
        writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int | float:
    """A value as a spreadsheet should show it: text that a spreadsheet would run as a formula
    (a medication named ``=HYPERLINK(...)``) gets a leading apostrophe; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def panel(
    db: Database, clinic_id: int, now: datetime, q: str = "", sort: str = "risk", page: int = 1, per_page: int = 50
) -> dict:
    """A clinic's patients with their summary: 7- and 30-day taking adherence (closed doses),
    open alerts, withdrawal-risk medications, the last taken dose and refills or pumps due
    soon; patients at risk first (open level-3 alerts, then withdrawal-risk misses, then low
    adherence). Adherence is each patient's summary row (summaries.py); the other columns are
    one grouped query each, so thousands of patients stay fast."""
    soon = (now + timedelta(days=7)).date().isoformat()
    like = f"%{q.strip().lower()}%" if q else "%"
    params = {"clinic": clinic_id, "like": like, "soon": soon}
    linked = "SELECT patient_id FROM clinic_links WHERE clinic_id = :clinic AND status = 'active'"
    if q:
        linked = (
            "SELECT l.patient_id FROM clinic_links l JOIN users s ON s.id = l.patient_id WHERE l.clinic_id = :clinic "
            "AND l.status = 'active' AND (lower(s.name) LIKE :like OR lower(s.email) LIKE :like)"
        )
    rows = list(db.query(f"SELECT u.id, u.name, u.email FROM users u WHERE u.id IN ({linked})", params))
    # Each summary column is one grouped query over an index, merged here by patient id:
    # joining the grouped results in SQL made SQLite compare every row with every row.
    columns = {
        "alerts": db.query(
            "SELECT patient_id, count(*) AS open_alerts, max(level) AS top_level FROM alerts "
            f"WHERE status = 'open' AND patient_id IN ({linked}) GROUP BY patient_id",
            params,
        ),
        "medications": db.query(
            "SELECT patient_id, group_concat(name, ', ') AS withdrawal_risk_medications FROM medications "
            f"WHERE withdrawal_risk = 1 AND ended_at IS NULL AND patient_id IN ({linked}) GROUP BY patient_id",
            params,
        ),
        # A refill reminder went out and no refill is recorded since (supply.py clears the mark).
        "refills": db.query(
            "SELECT patient_id, group_concat(name, ', ') AS refills_due FROM medications WHERE ended_at IS NULL "
            f"AND refill_reminded_at IS NOT NULL AND patient_id IN ({linked}) GROUP BY patient_id",
            params,
        ),
        "pumps": db.query(
            f"SELECT patient_id, min(refill_by) AS pump_refill_by FROM pumps WHERE patient_id IN ({linked}) "
            "AND refill_by <= :soon GROUP BY patient_id",
            params,
        ),
    }
    # Adherence comes from the summaries the worker keeps (summaries.py), not the ledger.
    by_patient = summaries.current(db, [row["id"] for row in rows], now)
    for found in columns.values():
        for row in found:
            by_patient.setdefault(row.pop("patient_id"), {}).update(row)
    defaults = {
        "taken_7": 0,
        "closed_7": 0,
        "taken_30": 0,
        "closed_30": 0,
        "risk_misses_7": 0,
        "last_taken_at": None,
        "open_alerts": 0,
        "top_level": 0,
        "withdrawal_risk_medications": None,
        "pump_refill_by": None,
        "refills_due": None,
    }
    for row in rows:
        row.update(defaults)
        row.update({k: v for k, v in by_patient.get(row["id"], {}).items() if v is not None})
    for row in rows:
        row["adherence_7d"] = round(row["taken_7"] / row["closed_7"], 4) if row["closed_7"] else None
        row["adherence_30d"] = round(row["taken_30"] / row["closed_30"], 4) if row["closed_30"] else None
    rows.sort(key=_sort_key(sort))
    total = len(rows)
    start = (page - 1) * per_page
    shown = rows[start : start + per_page]
    for row in shown:  # per patient shown, so a page costs at most per_page small queries
        row["flags"] = sorted({found["flag"] for found in safety_flags(db, row["id"])})
    return {
        "patients": shown,
        "total": total,
        "page": page,
        "per_page": per_page,
        "sort": sort,
    }


def _sort_key(sort: str):
    if sort == "name":
        return lambda r: ((r["name"] or r["email"]).lower(),)
    if sort in ("adherence_7d", "adherence_30d"):
        return lambda r: (r[sort] if r[sort] is not None else 2.0,)
    if sort == "last_taken":
        return lambda r: (r["last_taken_at"] or "",)
    # At risk first: open level-3 alerts, then withdrawal-risk misses this week, then low adherence.
    return lambda r: (
        -(r["top_level"] == 3),
        -r["risk_misses_7"],
        r["adherence_7d"] if r["adherence_7d"] is not None else 2.0,
        (r["name"] or r["email"]).lower(),
    )

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


# A report reads thousands of ledger rows: as tuples, in this order (dicts cost more than the SQL).
DOSE_COLUMNS = ("scheduled_at", "local_date", "local_time", "status", "taken_at", "amount", "skip_reason")
SCHEDULED_AT, LOCAL_DATE, LOCAL_TIME, STATUS, TAKEN_AT, AMOUNT, SKIP_REASON = range(len(DOSE_COLUMNS))


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
        rows = db.execute(
            f"SELECT {', '.join(DOSE_COLUMNS)} FROM doses "
            "WHERE medication_id = ? AND local_date BETWEEN ? AND ? AND status != 'cancelled' ORDER BY scheduled_at",
            [medication["id"], first_day.isoformat(), last_day.isoformat()],
        ).fetchall()
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
    return safety_flags_of(db, [patient_id])[patient_id]


def safety_flags_of(db: Database, patient_ids: list[int]) -> dict[int, list[dict]]:
    """``safety_flags`` of each of ``patient_ids``, in two queries whatever their number (and one
    more per patient whose eGFR calls for renal caution, to compare their plans with the ceiling)."""
    entries = medications.current_entries_of(db, patient_ids)
    measured = kidneys.latest_of(db, patient_ids)
    over = {
        pid: kidneys.plans_over_ceiling(db, pid)
        for pid, m in measured.items()
        if m and kidneys.renal_caution(m["egfr"])
    }
    return {pid: flags_for(entries[pid], measured.get(pid), over.get(pid, [])) for pid in patient_ids}


def flags_for(entries: list[tuple[str, str]], measured: dict | None, over_ceiling: list = ()) -> list[dict]:
    """The safety flags of current medications ``entries`` ((name, route) each), the latest kidney
    measurement (or None) and the plans over the renal ceiling (``kidneys.plans_over_ceiling``);
    see ``safety_flags``."""
    flags = [
        {"flag": "combined sedation", "detail": f"{pair.first} with {pair.second}", "source": interactions.SOURCE}
        for pair in interactions.flagged_pairs(entries)
    ]
    if measured and kidneys.renal_caution(measured["egfr"]):
        cleared = [
            name for name, route in entries if (limits := formulary.facts(name, route).limits) and limits.renal_cleared
        ]
        if cleared:
            halved = "; daily ceiling halved" if kidneys.ceiling_factor(measured["egfr"]) < 1 else ""
            detail = f"eGFR {measured['egfr']:g} on {measured['measured_on']}: {', '.join(cleared)}{halved}"
            flags.append({"flag": "renal caution", "detail": detail, "source": kidneys.RENAL_SOURCE})
        for over in over_ceiling:
            detail = f"{over.name}: {over.planned:g} {over.unit} a day planned, ceiling {over.ceiling:g} {over.unit}"
            flags.append({"flag": "plan over renal ceiling", "detail": detail, "source": kidneys.RENAL_SOURCE})
    return flags


def _medication_section(db, medication, rows, first_day, last_day, tz, now, settings) -> dict:
    parameters = metrics.Parameters(
        on_time_minutes=medication["on_time_minutes"], adherent_cutoff=settings["reports.adherent_cutoff"]
    )
    doses = [
        metrics.LedgerDose(
            parse_instant(r[SCHEDULED_AT]),
            date.fromisoformat(r[LOCAL_DATE]),
            r[STATUS],
            parse_instant(r[TAKEN_AT]) if r[TAKEN_AT] else None,
            r[AMOUNT],
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
    skip_reasons = [r[SKIP_REASON] for r in rows if r[STATUS] == "skipped" and r[SKIP_REASON]]
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
                "scheduled_at": r[SCHEDULED_AT],
                "local_date": r[LOCAL_DATE],
                "local_time": r[LOCAL_TIME],
                "status": r[STATUS],
                "taken_local": d.taken_at.astimezone(tz).isoformat(timespec="minutes")[11:16] if d.taken_at else None,
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


PANEL_DEFAULTS = {
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


def panel(
    db: Database, clinic_id: int, now: datetime, q: str = "", sort: str = "risk", page: int = 1, per_page: int = 50
) -> dict:
    """A clinic's patients with their summary: 7- and 30-day taking adherence (closed doses),
    open alerts, withdrawal-risk medications, the last taken dose and refills or pumps due
    soon; patients at risk first (open level-3 alerts, then withdrawal-risk misses, then low
    adherence).

    The order needs, for every patient, only the name and the summary row the worker keeps
    (summaries.py; computed here from the ledger for the few that are stale) and the open
    alerts: one join and one grouped query, read as tuples. The other columns and the safety
    flags are read for the page shown only, a few queries whatever its size."""
    found = _linked_with_summaries(db, clinic_id, now, q)
    stale = [row[0] for row in found if row[3] != 1]
    computed = summaries.compute(db, stale, now) if stale else {}
    alerts = _open_alerts(db, clinic_id)
    # One tuple per patient until the page is cut: dicts for 10,000 rows cost more than the SQL.
    lines = [
        (row[0], row[1], row[2], row[4:] if row[3] == 1 else _fields(computed[row[0]]), alerts.get(row[0], (0, 0)))
        for row in found
    ]
    lines.sort(key=_sort_key(sort))
    start = (page - 1) * per_page
    shown = [_panel_row(line) for line in lines[start : start + per_page]]
    _page_columns(db, shown, now)
    return {"patients": shown, "total": len(lines), "page": page, "per_page": per_page, "sort": sort}


def _linked_with_summaries(db: Database, clinic_id: int, now: datetime, q: str) -> list[tuple]:
    # Each patient by the clinic's index, the user and the summary by primary key.
    search = " AND (lower(u.name) LIKE :like OR lower(u.email) LIKE :like)" if q else ""
    return db.execute(
        "SELECT u.id, u.name, u.email, s.stale = 0 AND s.as_of > :fresh AND s.as_of <= :now, "
        f"{', '.join('s.' + f for f in summaries.FIELDS)} FROM clinic_links l JOIN users u ON u.id = l.patient_id "
        "LEFT JOIN panel_summaries s ON s.patient_id = l.patient_id "
        f"WHERE l.clinic_id = :clinic AND l.status = 'active'{search}",
        {
            "clinic": clinic_id,
            "like": f"%{q.strip().lower()}%",
            "fresh": to_iso(now - summaries.FRESH),
            "now": to_iso(now),
        },
    ).fetchall()


def _fields(summary: dict) -> tuple:
    return tuple(summary.get(f) for f in summaries.FIELDS)


def _panel_row(line: tuple) -> dict:
    patient_id, name, email, summary, (open_alerts, top_level) = line
    row = {"id": patient_id, "name": name, "email": email, **PANEL_DEFAULTS}
    row.update({k: v for k, v in zip(summaries.FIELDS, summary, strict=True) if v is not None})
    row.update(open_alerts=open_alerts, top_level=top_level)
    row["adherence_7d"] = _adherence(row["taken_7"], row["closed_7"])
    row["adherence_30d"] = _adherence(row["taken_30"], row["closed_30"])
    return row


def _adherence(taken: int | None, closed: int | None) -> float | None:
    return round(taken / closed, 4) if closed else None


def _open_alerts(db: Database, clinic_id: int) -> dict[int, tuple[int, int]]:
    """Open alerts by patient of the clinic: (how many, the highest level)."""
    rows = db.execute(
        # status != 'resolved' lets SQLite use the partial index of unresolved alerts: a patient's
        # resolved ones grow with time.
        "SELECT a.patient_id, count(*), max(a.level) FROM clinic_links l JOIN alerts a ON a.patient_id = l.patient_id "
        "AND a.status != 'resolved' AND a.status = 'open' WHERE l.clinic_id = ? AND l.status = 'active' "
        "GROUP BY a.patient_id",
        [clinic_id],
    ).fetchall()
    return {pid: (count, level) for pid, count, level in rows}


def _page_columns(db: Database, shown: list[dict], now: datetime) -> None:
    """Fill in the columns only the page shows: withdrawal-risk medications, refills due
    (a refill reminder went out and no refill is recorded since; supply.py clears the mark),
    pumps due within a week, and the safety flags."""
    ids = [row["id"] for row in shown]
    if not ids:
        return
    marks = ", ".join("?" for _ in ids)
    by_id = {row["id"]: row for row in shown}
    for pid, name, risk, reminded in db.execute(
        f"SELECT patient_id, name, withdrawal_risk, refill_reminded_at FROM medications WHERE patient_id IN ({marks}) "
        "AND ended_at IS NULL AND (withdrawal_risk = 1 OR refill_reminded_at IS NOT NULL) ORDER BY id",
        ids,
    ).fetchall():
        for column, wanted in (("withdrawal_risk_medications", risk == 1), ("refills_due", reminded is not None)):
            if wanted:
                by_id[pid][column] = ", ".join(filter(None, [by_id[pid][column], name]))
    soon = (now + timedelta(days=7)).date().isoformat()
    for pid, refill_by in db.execute(
        f"SELECT patient_id, min(refill_by) FROM pumps WHERE patient_id IN ({marks}) AND refill_by <= ? "
        "GROUP BY patient_id",
        [*ids, soon],
    ).fetchall():
        by_id[pid]["pump_refill_by"] = refill_by
    flags = safety_flags_of(db, ids)
    for row in shown:
        row["flags"] = sorted({found["flag"] for found in flags[row["id"]]})


def _sort_key(sort: str):
    """The order of the panel's lines (see ``panel``); the patient id breaks ties, so pages
    never repeat or skip a patient."""
    taken_7, closed_7, taken_30, closed_30, risk_misses_7, last_taken_at = range(6)

    def adherence(summary, taken, closed) -> float:
        found = _adherence(summary[taken], summary[closed])
        return found if found is not None else 2.0

    def shown_name(name, email) -> str:
        return (name or email).lower()

    if sort == "name":
        return lambda line: (shown_name(line[1], line[2]), line[0])
    if sort == "adherence_7d":
        return lambda line: (adherence(line[3], taken_7, closed_7), line[0])
    if sort == "adherence_30d":
        return lambda line: (adherence(line[3], taken_30, closed_30), line[0])
    if sort == "last_taken":
        return lambda line: (line[3][last_taken_at] or "", line[0])
    # At risk first: open level-3 alerts, then withdrawal-risk misses this week, then low adherence.
    return lambda line: (
        -(line[4][1] == 3),
        -(line[3][risk_misses_7] or 0),
        adherence(line[3], taken_7, closed_7),
        shown_name(line[1], line[2]),
        line[0],
    )

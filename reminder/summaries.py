"""Each patient's line on the clinic panel: 7- and 30-day taking adherence over closed doses,
withdrawal-risk misses this week and the last dose taken.

The worker keeps one ``panel_summaries`` row per patient current (``refresh``): a dose closing
or corrected marks its patient stale in the same transaction (a trigger), and every row is
recomputed at least once a day because the windows move. The panel (``reports.panel``) reads
those rows and computes from the ledger (``compute``) only the patients whose row is stale,
missing or older than a day, so a 10,000-patient panel reads 10,000 rows rather than 900,000 doses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from .db import immediate
from .times import to_iso

FRESH = timedelta(hours=24)  # a row older than this is recomputed (the windows have moved)
FIELDS = ("taken_7", "closed_7", "taken_30", "closed_30", "risk_misses_7", "last_taken_at")
CHUNK = 500  # patient ids per statement


def compute(db: Database, patient_ids: list[int], now: datetime) -> dict[int, dict]:
    """The summaries of ``patient_ids`` at ``now``, from the ledger (each patient's doses of
    the last 30 days, through the by-patient index)."""
    params = {
        "since_30": to_iso(now - timedelta(days=30)),
        "since_7": to_iso(now - timedelta(days=7)),
        "now": to_iso(now),
    }
    found = {
        pid: {"taken_7": 0, "closed_7": 0, "taken_30": 0, "closed_30": 0, "risk_misses_7": 0} for pid in patient_ids
    }
    for start in range(0, len(patient_ids), CHUNK):
        chunk = patient_ids[start : start + CHUNK]
        marks = ", ".join(f":p{i}" for i in range(len(chunk)))
        for row in db.query(
            "SELECT d.patient_id, sum(d.status = 'taken' AND d.scheduled_at >= :since_7) AS taken_7, "
            "sum(d.scheduled_at >= :since_7) AS closed_7, sum(d.status = 'taken') AS taken_30, count(*) AS closed_30, "
            "sum(m.withdrawal_risk = 1 AND d.status IN ('missed', 'skipped', 'unknown') "
            "AND d.scheduled_at >= :since_7) AS risk_misses_7, max(d.taken_at) AS last_taken_at "
            "FROM doses d JOIN medications m ON m.id = d.medication_id "
            f"WHERE d.patient_id IN ({marks}) AND d.scheduled_at >= :since_30 AND d.scheduled_at <= :now "
            "AND d.status != 'pending' AND d.status != 'cancelled' GROUP BY d.patient_id",
            {**params, **{f"p{i}": pid for i, pid in enumerate(chunk)}},
        ):
            found[row.pop("patient_id")].update(row)
    return found


def refresh(db: Database, now: datetime, limit: int) -> int:
    """Recompute up to ``limit`` summaries: the stale ones first, then those over a day old.
    Returns how many were written."""
    with immediate(db):
        ids = [row[0] for row in db.execute("SELECT patient_id FROM panel_summaries WHERE stale = 1 LIMIT ?", [limit])]
        ids += [
            row[0]
            for row in db.execute(
                "SELECT patient_id FROM panel_summaries WHERE as_of < ? AND stale = 0 ORDER BY as_of LIMIT ?",
                [to_iso(now - FRESH), limit - len(ids)],
            )
        ]
        write(db, compute(db, ids, now), now)
    return len(ids)


def write(db: Database, summaries: dict[int, dict], now: datetime) -> None:
    """Store ``summaries`` as computed at ``now`` (inside the caller's transaction)."""
    db.conn.executemany(
        "INSERT INTO panel_summaries (patient_id, as_of, taken_7, closed_7, taken_30, closed_30, risk_misses_7, "
        "last_taken_at, stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (patient_id) DO UPDATE SET "
        "as_of = excluded.as_of, taken_7 = excluded.taken_7, closed_7 = excluded.closed_7, "
        "taken_30 = excluded.taken_30, closed_30 = excluded.closed_30, risk_misses_7 = excluded.risk_misses_7, "
        "last_taken_at = excluded.last_taken_at, stale = 0",
        [[pid, to_iso(now), *(s.get(f) for f in FIELDS)] for pid, s in summaries.items()],
    )

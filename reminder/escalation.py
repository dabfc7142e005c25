"""The escalation ladder: repeated misses of drugs that must not be stopped suddenly.

``../shared/domain.md`` section 3. Per medication, count the run of consecutive doses not taken
(missed or skipped, and ``unknown``: a dose we could not ask about is not a dose taken, and an
unreachable patient on baclofen is exactly who a caregiver must hear about):

- level 2, caregivers: a run of 2 of a withdrawal-risk medication (3 of any other, for
  caregivers who opted in);
- level 3, the clinicians of the patient's clinics and the caregivers again: a run of 3, or
  24 h since the last taken dose, of a withdrawal-risk medication, with the advice to contact
  the prescriber; ``for_clinician`` marks the alert as this level's.

Every threshold is a per-medication setting. A run alerts each person at most once per level:
the alert row is unique per (patient, kind, run, level) and each recipient row per (alert,
person), both inserted with ``INSERT OR IGNORE`` inside ``BEGIN IMMEDIATE``, so restarts and a
second worker cannot repeat it. An unacknowledged alert repeats every 4 h; a taken dose ends the
run, resolves its alerts and tells everyone who was alerted. Alert texts name the risk plainly
and advise contacting the prescriber; they never advise a dose.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import caregivers, clinics, delivery, formulary
from .db import immediate
from .times import clock_label, parse_instant, to_iso
from .tokens import hash_token

# Not "unknown": a dose we could not ask about (delivery failed, the worker was down) says
# nothing about the patient, so it neither lengthens nor ends a run.
NOT_TAKEN = ("missed", "skipped")
RUN_LOOKBACK = 50  # doses examined per medication; a longer run is still "at least 50"
RECENT = timedelta(hours=72)  # a run whose newest miss is older than this is no longer looked at
ACK_LINK_DAYS = 7


@dataclass(frozen=True)
class Ladder:
    caregiver_run: int = 2
    clinician_run: int = 3
    clinician_hours: float = 24
    repeat_hours: float = 4
    other_run: int = 3  # medications without withdrawal risk, for caregivers who opted in


def level_for(run: int, hours_since_taken: float | None, withdrawal_risk: bool, ladder: Ladder) -> int:
    """The ladder's level for a run of ``run`` doses not taken: 0 (none), 1 (the patient's skip
    message only), 2 (caregivers) or 3 (clinician, caregivers again)."""
    if run <= 0:
        return 0
    if not withdrawal_risk:
        return 2 if run >= ladder.other_run else 1
    if run >= ladder.clinician_run or (hours_since_taken is not None and hours_since_taken >= ladder.clinician_hours):
        return 3
    return 2 if run >= ladder.caregiver_run else 1


@dataclass(frozen=True)
class Run:
    length: int
    start_dose_id: int | None
    start_at: datetime | None
    last_taken_at: datetime | None
    # The newest dose since the last taken one that we could not ask about (unknown): the time
    # without a dose is counted from it, so our downtime never reads as hours without a dose.
    unknown_at: datetime | None = None


def current_run(db: Database, medication_id: int, now: datetime) -> Run:
    """The trailing run of closed doses not taken, newest first, up to the last taken one."""
    rows = db.execute(
        "SELECT id, status, scheduled_at, taken_at FROM doses WHERE medication_id = ? AND scheduled_at <= ? "
        "AND (status != 'pending') ORDER BY scheduled_at DESC LIMIT ?",
        [medication_id, to_iso(now), RUN_LOOKBACK],
    ).fetchall()
    length, start = 0, None
    last_taken = unknown_at = None
    for dose_id, status, scheduled_at, taken_at in rows:
        if status == "taken":
            last_taken = parse_instant(taken_at)
            break
        if status == "unknown" and unknown_at is None:
            unknown_at = parse_instant(scheduled_at)
        if status in NOT_TAKEN:
            length, start = length + 1, (dose_id, parse_instant(scheduled_at))
    if last_taken is None:
        row = db.execute(
            "SELECT max(taken_at) FROM doses WHERE medication_id = ? AND status = 'taken'", [medication_id]
        ).fetchone()
        last_taken = parse_instant(row[0]) if row[0] else None
    return Run(length, start[0] if start else None, start[1] if start else None, last_taken, unknown_at)


def ladder_of(medication: dict) -> Ladder:
    return Ladder(
        medication["caregiver_alert_run"],
        medication["clinician_alert_run"],
        medication["clinician_alert_hours"],
        medication["alert_repeat_hours"],
    )


# ---------------------------------------------------------------- worker steps


def escalate(db: Database, now: datetime, settings: dict, batch: int = 500) -> int:
    """Raise the alerts due for every medication whose run is due a look; return how many
    people were told.

    The due runs are ``runs_to_check`` rows (written by triggers when a dose closes not taken),
    so a tick costs the runs due, not the ledger. Each is claimed, looked at and moved on (to
    when 24 h without a taken dose will have passed) or dropped, in one transaction.
    """
    told = 0
    while True:
        due = db.execute(
            "SELECT medication_id FROM runs_to_check WHERE check_at <= ? ORDER BY check_at LIMIT ?",
            [to_iso(now), batch],
        ).fetchall()
        for (medication_id,) in due:
            with immediate(db):
                told += _check_run(db, medication_id, now, settings)
        if len(due) < batch:
            return told


def _check_run(db: Database, medication_id: int, now: datetime, settings: dict) -> int:
    row = db.execute(
        "SELECT c.last_miss_at, CASE WHEN m.id IS NULL THEN 'gone' ELSE m.ended_at END FROM runs_to_check c "
        "LEFT JOIN medications m ON m.id = c.medication_id WHERE c.medication_id = ? AND c.check_at <= ?",
        [medication_id, to_iso(now)],
    ).fetchone()
    if row is None:  # another worker looked at it first
        return 0
    last_miss_at, ended_at = row
    told, next_check = 0, None
    if ended_at is None and parse_instant(last_miss_at) > now - RECENT:
        told, next_check = _escalate_medication(db, medication_id, now, settings)
    if next_check is not None and next_check < parse_instant(last_miss_at) + RECENT:
        db.execute(
            "UPDATE runs_to_check SET check_at = ? WHERE medication_id = ?",
            [to_iso(max(next_check, now + timedelta(minutes=1))), medication_id],
        )
    else:
        db.execute("DELETE FROM runs_to_check WHERE medication_id = ?", [medication_id])
    return told


def _escalate_medication(
    db: Database, medication_id: int, now: datetime, settings: dict
) -> tuple[int, datetime | None]:
    """Alert for the medication's current run; return how many were told and when time alone
    could raise the level (24 h without a taken dose), if it still can."""
    medication = next(
        db.query(
            "SELECT m.*, u.name AS patient_name, u.email AS patient_email, u.tz AS tz "
            "FROM medications m JOIN users u ON u.id = m.patient_id WHERE m.id = ?",
            [medication_id],
        )
    )
    run = current_run(db, medication_id, now)
    if run.length == 0:
        return 0, None
    reference = max((t for t in (run.last_taken_at or run.start_at, run.unknown_at) if t), default=None)
    hours = (now - reference).total_seconds() / 3600 if reference else None
    risk = bool(medication["withdrawal_risk"])
    ladder = ladder_of(medication)
    level = level_for(run.length, hours, risk, ladder)
    next_check = reference + timedelta(hours=ladder.clinician_hours) if risk and reference and level < 3 else None
    if level < 2:
        return 0, next_check
    alert_id = _open_alert(db, medication, run, level, hours, now)
    if level == 3:  # the level-2 alert of this run stops repeating: level 3 supersedes it
        db.execute(
            "UPDATE alerts SET next_repeat_at = NULL WHERE patient_id = ? AND kind = 'missed_run' "
            "AND run_key = ? AND level = 2",
            [medication["patient_id"], str(run.start_dose_id)],
        )
    told = 0
    for caregiver, channel in caregivers.followers(db, medication["patient_id"], medication_id, risk):
        told += _tell(db, settings, alert_id, caregiver, channel, "alert", now)
    if level == 3:  # the clinician level: the clinicians of the patient's clinics
        for clinician in clinics.clinicians_for(db, medication["patient_id"]):
            told += _tell(db, settings, alert_id, clinician, None, "alert", now)
    return told, next_check


def _open_alert(db: Database, medication: dict, run: Run, level: int, hours: float | None, now: datetime) -> int:
    summary = _summary(medication, run, level, hours)
    db.execute(
        "INSERT OR IGNORE INTO alerts (patient_id, medication_id, kind, level, run_key, for_clinician, summary, "
        "created_at, next_repeat_at) VALUES (?, ?, 'missed_run', ?, ?, ?, ?, ?, ?)",
        [
            medication["patient_id"],
            medication["id"],
            level,
            str(run.start_dose_id),
            int(level == 3),
            summary,
            to_iso(now),
            to_iso(now + timedelta(hours=medication["alert_repeat_hours"])),
        ],
    )
    return db.execute(
        "SELECT id FROM alerts WHERE patient_id = ? AND kind = 'missed_run' AND run_key = ? AND level = ?",
        [medication["patient_id"], str(run.start_dose_id), level],
    ).fetchone()[0]


def _summary(medication: dict, run: Run, level: int, hours: float | None) -> str:
    who = medication["patient_name"] or medication["patient_email"]
    since = ""
    if run.last_taken_at:
        local = run.last_taken_at.astimezone(ZoneInfo(medication["tz"]))
        since = f" The last dose taken was at {clock_label(local.time())} on {local:%a %d %b}."
    doses = f"{run.length} dose{'s' if run.length != 1 else ''} in a row"
    risk = formulary.risk_text(medication["name"]) if medication["withdrawal_risk"] else ""
    if level == 3:
        hours_text = f", about {int(hours)} hours without a dose taken" if hours is not None and hours >= 24 else ""
        return (
            f"URGENT: {who} has not taken {medication['name']}: {doses}{hours_text}.{since} {risk} "
            "Contact their prescriber now."
        ).replace("  ", " ")
    return (
        f"{who} has missed {doses} of {medication['name']}.{since} {risk} "
        "Please check on them and contact their prescriber if you are worried."
    ).replace("  ", " ")


def _tell(
    db: Database, settings: dict, alert_id: int, user: dict, channel: str | None, kind: str, now: datetime
) -> int:
    """Tell ``user`` about an alert once (returns 1), or nothing if they were already told (0)."""
    token = secrets.token_urlsafe(16)
    cursor = db.execute(
        "INSERT OR IGNORE INTO alert_recipients (alert_id, user_id, token_hash, expires_at, notified_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [alert_id, user["id"], hash_token(token), to_iso(now + timedelta(days=ACK_LINK_DAYS)), to_iso(now)],
    )
    if cursor.rowcount == 0:
        return 0
    _send(db, settings, alert_id, user, channel, kind, now, token)
    return 1


RESOLUTIONS = {
    "missed_run": "A dose has been taken, so the run of missed doses has ended.",
    "supply": "A refill has been recorded.",
    "pump": "The pump refill has been recorded.",
}


def _send(db, settings, alert_id, user, channel, kind, now, token=None) -> None:
    summary, alert_kind = db.execute("SELECT summary, kind FROM alerts WHERE id = ?", [alert_id]).fetchone()
    context = {
        "name": user["name"],
        "summary": summary,
        "resolution": RESOLUTIONS.get(alert_kind, "This has ended."),
        "link": f"{settings['server.base_url']}/a/{token}" if token else "",
    }
    delivery.queue_to_user(
        db, settings, user=user, kind=kind, context=context, now=now, only=channel, alert_id=alert_id
    )


def raise_alert(
    db: Database,
    settings: dict,
    *,
    patient_id: int,
    medication_id: int | None,
    kind: str,
    run_key: str,
    summary: str,
    now: datetime,
    level: int = 2,
    repeat_hours: float = 4,
    clinicians: bool = False,
) -> int:
    """Open an alert (once per patient, kind, key and level) and tell the patient's caregivers
    who follow the medication, each once, and with ``clinicians`` the clinicians of the
    patient's clinics. Returns how many were told. Inside a transaction."""
    db.execute(
        "INSERT OR IGNORE INTO alerts (patient_id, medication_id, kind, level, run_key, for_clinician, summary, "
        "created_at, next_repeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            patient_id,
            medication_id,
            kind,
            level,
            run_key,
            int(level == 3),
            summary,
            to_iso(now),
            to_iso(now + timedelta(hours=repeat_hours)),
        ],
    )
    alert_id = db.execute(
        "SELECT id FROM alerts WHERE patient_id = ? AND kind = ? AND run_key = ? AND level = ?",
        [patient_id, kind, run_key, level],
    ).fetchone()[0]
    told = sum(
        _tell(db, settings, alert_id, caregiver, channel, "alert", now)
        for caregiver, channel in caregivers.followers(db, patient_id, medication_id, True)
    )
    if clinicians:
        told += sum(
            _tell(db, settings, alert_id, clinician, None, "alert", now)
            for clinician in clinics.clinicians_for(db, patient_id)
        )
    return told


def repeat(db: Database, now: datetime, settings: dict) -> int:
    """Repeat every open, unacknowledged alert whose repeat is due (each claimed once)."""
    with immediate(db):
        due = db.execute(
            "UPDATE alerts SET next_repeat_at = NULL WHERE id IN (SELECT id FROM alerts "
            "WHERE status = 'open' AND next_repeat_at <= ?) AND status = 'open' RETURNING id, medication_id",
            [to_iso(now)],
        ).fetchall()
        for alert_id, medication_id in due:
            row = db.execute("SELECT alert_repeat_hours FROM medications WHERE id = ?", [medication_id]).fetchone()
            hours = row[0] if row else Ladder().repeat_hours
            db.execute(
                "UPDATE alerts SET next_repeat_at = ? WHERE id = ?", [to_iso(now + timedelta(hours=hours)), alert_id]
            )
            patient_id = _patient_of(db, alert_id)
            for (user_id,) in db.execute(
                "SELECT user_id FROM alert_recipients WHERE alert_id = ?", [alert_id]
            ).fetchall():
                token = secrets.token_urlsafe(16)
                db.execute(
                    "UPDATE alert_recipients SET repeats = repeats + 1, token_hash = ?, expires_at = ? "
                    "WHERE alert_id = ? AND user_id = ?",
                    [hash_token(token), to_iso(now + timedelta(days=ACK_LINK_DAYS)), alert_id, user_id],
                )
                user = next(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
                link = caregivers.active_link(db, user_id, patient_id)
                if link is not None or clinics.clinician_sees(db, user, patient_id):
                    # a revoked caregiver or an unlinked clinic hears nothing more
                    _send(db, settings, alert_id, user, link["channel"] if link else None, "alert_repeat", now, token)
    return len(due)


def resolve(db: Database, now: datetime, settings: dict) -> int:
    """End alerts whose cause is gone and tell everyone who was alerted: a taken dose ends a
    run of misses, a refill ends a running-out alert, a pump refill ends a pump alert."""
    # Only alerts marked by a trigger when a dose was taken or a refill recorded are looked at.
    with immediate(db):
        rows = db.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?, next_repeat_at = NULL WHERE id IN ("
            "SELECT a.id FROM alerts a LEFT JOIN doses start ON a.kind = 'missed_run' AND start.id = CAST(a.run_key AS INTEGER) "
            "WHERE a.resolve_check = 1 AND a.status != 'resolved' AND ("
            " (a.kind = 'missed_run' AND EXISTS (SELECT 1 FROM doses d WHERE d.medication_id = a.medication_id "
            "  AND d.status = 'taken' AND d.scheduled_at >= start.scheduled_at))"
            " OR (a.kind = 'supply' AND EXISTS (SELECT 1 FROM refills r WHERE r.medication_id = a.medication_id "
            "  AND r.recorded_at >= a.created_at))"
            " OR (a.kind = 'pump' AND EXISTS (SELECT 1 FROM pump_refills r WHERE r.pump_id = "
            "  CAST(substr(a.run_key, 1, instr(a.run_key, ':') - 1) AS INTEGER) AND r.refilled_at >= a.created_at))))"
            " RETURNING id, patient_id",
            [to_iso(now)],
        ).fetchall()
        db.execute("UPDATE alerts SET resolve_check = 0 WHERE resolve_check = 1")
        for alert_id, patient_id in rows:
            for (user_id,) in db.execute(
                "SELECT user_id FROM alert_recipients WHERE alert_id = ?", [alert_id]
            ).fetchall():
                link = caregivers.active_link(db, user_id, patient_id)
                user = next(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
                if link is not None or clinics.clinician_sees(db, user, patient_id):
                    _send(db, settings, alert_id, user, link["channel"] if link else None, "alert_resolved", now)
    return len(rows)


def acknowledge(db: Database, token: str, now: datetime) -> dict:
    """Acknowledge through a link (no login). Returns the alert; LookupError when unknown or expired."""
    with immediate(db):
        rows = list(db.query("SELECT * FROM alert_recipients WHERE token_hash = ?", [hash_token(token or "")]))
        if not rows:
            raise LookupError("unknown")
        if now >= parse_instant(rows[0]["expires_at"]):
            raise LookupError("expired")
        # A caregiver whose link was revoked no longer speaks for the patient's alerts.
        if not caregivers.can_see(db, rows[0]["user_id"], _patient_of(db, rows[0]["alert_id"])):
            raise LookupError("unknown")
        acknowledge_by(db, rows[0]["alert_id"], rows[0]["user_id"], now)
        return next(db.query("SELECT * FROM alerts WHERE id = ?", [rows[0]["alert_id"]]))


def acknowledge_by(db: Database, alert_id: int, user_id: int, now: datetime) -> None:
    """Record who acknowledged first; repeats stop. (Inside the caller's transaction.)"""
    db.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, next_repeat_at = NULL "
        "WHERE id = ? AND status = 'open'",
        [to_iso(now), user_id, alert_id],
    )


def alert_for_token(db: Database, token: str, now: datetime) -> dict:
    rows = list(
        db.query(
            "SELECT a.*, r.user_id AS recipient_id, r.expires_at AS link_expires_at FROM alert_recipients r "
            "JOIN alerts a ON a.id = r.alert_id WHERE r.token_hash = ?",
            [hash_token(token or "")],
        )
    )
    if not rows:
        raise LookupError("unknown")
    if now >= parse_instant(rows[0]["link_expires_at"]):
        raise LookupError("expired")
    return rows[0]


def alerts_for(
    db: Database, patient_ids: list[int], limit: int = 200, start: str | None = None, end: str | None = None
) -> list[dict]:
    """Alerts of these patients (created in [start, end) when given), newest first, each with
    who was told and who acknowledged."""
    if not patient_ids:
        return []
    marks = ", ".join("?" for _ in patient_ids)
    period = " AND a.created_at >= ? AND a.created_at < ?" if start and end else ""
    alerts = list(
        db.query(
            f"SELECT a.*, u.name AS acknowledged_by_name, p.name AS patient_name, m.name AS medication_name "
            f"FROM alerts a LEFT JOIN users u ON u.id = a.acknowledged_by JOIN users p ON p.id = a.patient_id "
            f"LEFT JOIN medications m ON m.id = a.medication_id WHERE a.patient_id IN ({marks}){period} "
            f"ORDER BY a.id DESC LIMIT ?",
            [*patient_ids, *([start, end] if period else []), limit],
        )
    )
    for alert in alerts:
        alert["told"] = list(
            db.query(
                "SELECT r.user_id, u.name, u.email, r.notified_at, r.repeats FROM alert_recipients r "
                "JOIN users u ON u.id = r.user_id WHERE r.alert_id = ? ORDER BY r.id",
                [alert["id"]],
            )
        )
    return alerts


def alert_json(alert: dict) -> dict:
    keys = (
        "id",
        "patient_id",
        "medication_id",
        "kind",
        "level",
        "for_clinician",
        "status",
        "summary",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
    )
    body = {key: alert[key] for key in keys}
    body["for_clinician"] = bool(body["for_clinician"])
    body["told"] = [
        {"user_id": t["user_id"], "name": t["name"], "notified_at": t["notified_at"], "repeats": t["repeats"]}
        for t in alert.get("told", [])
    ]
    return body


def _patient_of(db: Database, alert_id: int) -> int:
    return db.execute("SELECT patient_id FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]

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

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import accounts, alert_texts, caregivers, clinics, delivery, formulary, safety_texts
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
    unknown: int = 0  # doses in the run we could not ask about
    first_dose_id: int | None = None  # the run's oldest dose, unknown ones included


def hours_without(run: Run, now: datetime) -> float | None:
    """Hours since the last taken dose, or since the newest dose we could not ask about."""
    reference = max((t for t in (run.last_taken_at or run.start_at, run.unknown_at) if t), default=None)
    return (now - reference).total_seconds() / 3600 if reference else None


def current_run(db: Database, medication_id: int, now: datetime) -> Run:
    """The trailing run of closed doses not taken, newest first, up to the last taken one."""
    rows = db.execute(
        "SELECT id, status, scheduled_at, taken_at, EXISTS (SELECT 1 FROM messages m WHERE m.dose_id = doses.id "
        "AND m.kind IN ('reminder', 'follow_up')) OR EXISTS (SELECT 1 FROM dose_group_members g JOIN messages m "
        "ON m.dose_group_id = g.group_id WHERE g.dose_id = doses.id AND m.kind IN ('reminder', 'follow_up')) "
        "AS prompted FROM doses WHERE medication_id = ? AND scheduled_at <= ? "
        "AND (status != 'pending') AND status != 'cancelled' ORDER BY scheduled_at DESC LIMIT ?",
        [medication_id, to_iso(now), RUN_LOOKBACK],
    ).fetchall()
    length, start, unknown, first = 0, None, 0, None
    last_taken = unknown_at = None
    for dose_id, status, scheduled_at, taken_at, prompted in rows:
        if status == "taken":
            last_taken = parse_instant(taken_at)
            break
        first = dose_id
        if status == "unknown":
            # Only a prompt we tried to send and could not counts as "could not reach": a dose
            # that fell while our worker was down is our fault, not a fact about the patient.
            unknown += int(bool(prompted))
            unknown_at = unknown_at or parse_instant(scheduled_at)
        if status in NOT_TAKEN:
            length, start = length + 1, (dose_id, parse_instant(scheduled_at))
    if last_taken is None:
        row = db.execute(
            "SELECT max(taken_at) FROM doses WHERE medication_id = ? AND status = 'taken'", [medication_id]
        ).fetchone()
        last_taken = parse_instant(row[0]) if row[0] else None
    return Run(length, start[0] if start else None, start[1] if start else None, last_taken, unknown_at, unknown, first)


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
    medication = _medication(db, medication_id)
    run = current_run(db, medication_id, now)
    if run.length == 0 and run.unknown == 0:
        return 0, None
    hours = hours_without(run, now)
    reference = now - timedelta(hours=hours) if hours is not None else None
    risk = bool(medication["withdrawal_risk"])
    ladder = ladder_of(medication)
    level = level_for(run.length, hours, risk, ladder)
    kind, run_key = "missed_run", str(run.start_dose_id)
    if level < 2 and run.unknown:
        # Counting the doses we could not ask about reaches the ladder: say "we could not reach".
        level = level_for(run.length + run.unknown, hours, risk, ladder)
        kind, run_key = "unreachable", str(run.first_dose_id)
    next_check = reference + timedelta(hours=ladder.clinician_hours) if risk and reference and level < 3 else None
    if level < 2:
        return 0, next_check
    people = recipients(db, medication, level, risk)
    if not people:
        return 0, next_check  # an alert is never created with nobody to tell
    alert_id = _open_alert(db, medication, kind, run_key, level, now)
    if level == 3:  # the level-2 alert of this run stops repeating: level 3 supersedes it
        db.execute(
            "UPDATE alerts SET next_repeat_at = NULL WHERE patient_id = ? AND kind = ? AND run_key = ? AND level = 2",
            [medication["patient_id"], kind, run_key],
        )
    facts = _facts_of(medication, run, kind, level, now)
    told = sum(
        _tell(db, settings, alert_id, user, channel, role, "alert", now, facts) for user, channel, role in people
    )
    if told:  # the listed text follows the count when someone is told, and at each repeat
        _refresh_summary(db, alert_id, facts)
    return told, next_check


def _medication(db: Database, medication_id: int) -> dict:
    return next(
        db.query(
            "SELECT m.*, u.name AS patient_name, u.email AS patient_email, u.tz AS tz "
            "FROM medications m JOIN users u ON u.id = m.patient_id WHERE m.id = ?",
            [medication_id],
        )
    )


def recipients(db: Database, medication: dict, level: int, risk: bool) -> list[tuple[dict, str | None, str]]:
    """Who hears about a run at ``level``: (user, channel override, role).

    Caregivers who follow the medication; at level 3 the clinicians of the patient's clinics
    too. When nobody else would hear about a withdrawal-risk drug, the patient themself
    (domain.md section 6, "someone always hears"); for other drugs, nobody (the patient has
    had their skip notices)."""
    patient_id = medication["patient_id"]
    people = [
        (user, channel, "caregiver") for user, channel in caregivers.followers(db, patient_id, medication["id"], risk)
    ]
    if level >= 3:
        people += [(user, None, "clinician") for user in clinics.clinicians_for(db, patient_id)]
    if not people and risk:
        people = [(accounts.find_user(db, id=patient_id), None, "patient")]
    return people


def _open_alert(db: Database, medication: dict, kind: str, run_key: str, level: int, now: datetime) -> int:
    """The alert of this run and level: one per run and level for its whole life. A run longer
    than ``RUN_LOOKBACK`` seems to start later at each miss; the alert already open for the
    medication at this level still covers it, so no new URGENT alert opens."""
    open_now = db.execute(
        "SELECT id FROM alerts WHERE medication_id = ? AND kind = ? AND level = ? AND status != 'resolved' "
        "ORDER BY id DESC LIMIT 1",
        [medication["id"], kind, level],
    ).fetchone()
    if open_now:
        return open_now[0]
    db.execute(
        "INSERT OR IGNORE INTO alerts (patient_id, medication_id, kind, level, run_key, for_clinician, summary, "
        "created_at, next_repeat_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?)",
        [
            medication["patient_id"],
            medication["id"],
            kind,
            level,
            run_key,
            int(level == 3),
            to_iso(now),
            to_iso(now + timedelta(hours=medication["alert_repeat_hours"])),
        ],
    )
    return db.execute(
        "SELECT id FROM alerts WHERE patient_id = ? AND kind = ? AND run_key = ? AND level = ?",
        [medication["patient_id"], kind, run_key, level],
    ).fetchone()[0]


def run_facts(db: Database, alert: dict, now: datetime) -> alert_texts.RunFacts | None:
    """The facts of a run alert as they are ``now`` (the count and hours grow at each repeat);
    None for an alert of another kind."""
    if alert["kind"] not in RUN_KINDS:
        return None
    medication = _medication(db, alert["medication_id"])
    return _facts_of(medication, current_run(db, medication["id"], now), alert["kind"], alert["level"], now)


def _facts_of(medication: dict, run: Run, kind: str, level: int, now: datetime) -> alert_texts.RunFacts:
    hours = hours_without(run, now)
    count = run.length + run.unknown if kind == "unreachable" else run.length
    last_taken = ""
    if run.last_taken_at:
        local = run.last_taken_at.astimezone(ZoneInfo(medication["tz"]))
        last_taken = f"{clock_label(local.time())} on {local:%a %d %b}"
    risk = bool(medication["withdrawal_risk"])
    return alert_texts.RunFacts(
        who=medication["patient_name"] or medication["patient_email"],
        medication=medication["name"],
        count=count,
        hours=hours,
        last_taken=last_taken,
        risk=formulary.risk_text(medication["name"]) if risk else "",
        emergency=alert_texts.emergency_for(medication["name"]),
        level=level,
        kind=kind,
    )


def skip_notice_advice(db: Database, medication_id: int, now: datetime) -> str:
    """What a skip notice adds after two or more misses in a row of a withdrawal-risk drug:
    one skip is all right, several can cause withdrawal, the signs and when to get help."""
    medication = _medication(db, medication_id)
    if not medication["withdrawal_risk"] or current_run(db, medication_id, now).length < 2:
        return ""
    return alert_texts.withdrawal_advice(medication["name"])


def late_skip_notice(db: Database, dose: dict) -> dict:
    """What a skip notice held by quiet hours past the next dose may still say: the missed dose's
    day, and for a withdrawal-risk drug that one skip is all right but several are not, with the
    signs. No "take your next dose at ..." (gone stale), never advice to take two."""
    medication = _medication(db, dose["medication_id"])
    day = date.fromisoformat(dose["local_date"])
    return {
        "late": True,
        "day": f"{day:%a} {day.day} {day:%b}",
        "advice": alert_texts.withdrawal_advice(medication["name"]) if medication["withdrawal_risk"] else "",
    }


def ack_token(db: Database, alert_id: int, user_id: int) -> str:
    """The acknowledge link's token for one recipient of one alert: the same at every repeat.

    Derived from a random secret kept in the database (an HMAC of the alert and the person),
    so only its hash is stored beside the recipient, as for every other token."""
    db.execute(
        "INSERT OR IGNORE INTO instance_secrets (name, value) VALUES ('alert_links', ?)", [secrets.token_hex(32)]
    )
    secret = db.execute("SELECT value FROM instance_secrets WHERE name = 'alert_links'").fetchone()[0]
    digest = hmac.new(secret.encode(), f"alert:{alert_id}:{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def _tell(
    db: Database,
    settings: dict,
    alert_id: int,
    user: dict,
    channel: str | None,
    role: str,
    kind: str,
    now: datetime,
    facts: alert_texts.RunFacts | None = None,
) -> int:
    """Tell ``user`` about an alert once (returns 1), or nothing if they were already told (0)."""
    token = ack_token(db, alert_id, user["id"])
    cursor = db.execute(
        "INSERT OR IGNORE INTO alert_recipients (alert_id, user_id, token_hash, expires_at, notified_at, role, "
        "channel) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            alert_id,
            user["id"],
            hash_token(token),
            to_iso(now + timedelta(days=ACK_LINK_DAYS)),
            to_iso(now),
            role,
            _channels(settings, user, channel),
        ],
    )
    if cursor.rowcount == 0:
        return 0
    token = None if _told_once(db, alert_id, role) else token
    _send(db, settings, alert_id, user, channel, kind, now, token, role, facts)
    return 1


def _told_once(db: Database, alert_id: int, role: str) -> bool:
    """The patient of an alert worded for them apart (``patient_summary``) is told once, with no
    acknowledge link: the alert is for the others to act on, and only they can end its repeats."""
    if role != "patient":
        return False
    row = db.execute("SELECT patient_summary FROM alerts WHERE id = ?", [alert_id]).fetchone()
    return bool(row and row[0])


def _channels(settings: dict, user: dict, only: str | None) -> str:
    names = [name for name, _ in delivery.routes(user, settings)]
    return only if only in names else ", ".join(names)


RESOLUTIONS = {
    "missed_run": "A dose has been taken, so the run of missed doses has ended.",
    "unreachable": "A dose has been taken, so the run of doses we could not ask about has ended.",
    "supply": "A refill has been recorded.",
    "pump": "The pump refill has been recorded.",
}


RUN_KINDS = ("missed_run", "unreachable")


def resolution(db: Database, alert: dict) -> str:
    """Why an alert ended, in words: its medication ended, or its own cause went away."""
    ended = db.execute(
        "SELECT name, end_reason FROM medications WHERE id = ? AND ended_at IS NOT NULL", [alert["medication_id"]]
    ).fetchone()
    if ended:
        why = f" ({ended[1]})" if ended[1] else ""
        return f"{ended[0]} has ended{why}, so this alert is closed and will not repeat."
    return RESOLUTIONS.get(alert["kind"], "This has ended.")


def _send(db, settings, alert_id, user, channel, kind, now, token=None, role=None, facts=None) -> None:
    """Queue one message about an alert. A run alert's text is worded from ``facts`` (its run as
    it is ``now``; computed here when the caller, telling several people, has not)."""
    alert = next(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
    role = role or _role_of(db, alert_id, user["id"])
    summary = alert["patient_summary"] if role == "patient" and alert["patient_summary"] else alert["summary"]
    if alert["kind"] in RUN_KINDS and kind != "alert_resolved":
        summary = alert_texts.summary(facts if facts is not None else run_facts(db, alert, now), role)
    context = {
        "name": user["name"],
        "summary": summary,
        "link": f"{settings['server.base_url']}/a/{token}" if token else "",
    }
    if kind == "alert_resolved":  # each looks up the medication: only the template that shows it
        context["resolution"] = resolution(db, alert)
    else:
        context["safety"] = safety_texts.link_for(db, settings, alert["medication_id"])
    delivery.queue_to_user(
        db, settings, user=user, kind=kind, context=context, now=now, only=channel, alert_id=alert_id
    )


def _role_of(db: Database, alert_id: int, user_id: int) -> str:
    row = db.execute(
        "SELECT role FROM alert_recipients WHERE alert_id = ? AND user_id = ?", [alert_id, user_id]
    ).fetchone()
    return row[0] if row else "caregiver"


def _refresh_summary(db: Database, alert_id: int, facts: alert_texts.RunFacts | None) -> None:
    """A run alert's listed text from ``facts`` (its run as it is now): in the words of its
    recipients' role when they share one (only the patient, only clinicians), else the
    caregiver's. Nothing for an alert of another kind (no facts)."""
    if facts is None:
        return
    roles = {row[0] for row in db.execute("SELECT role FROM alert_recipients WHERE alert_id = ?", [alert_id])}
    role = roles.pop() if len(roles) == 1 else "caregiver"
    text = alert_texts.summary(facts, role)
    db.execute("UPDATE alerts SET summary = ? WHERE id = ?", [text, alert_id])


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
    caregivers_too: bool = True,
    patient_summary: str | None = None,
) -> int:
    """Open an alert (once per patient, kind, key and level) and tell the patient's caregivers
    who follow the medication (unless not ``caregivers_too``), each once, and with
    ``clinicians`` the clinicians of the patient's clinics; with ``patient_summary`` the
    patient too, in those words; when nobody else is linked, the patient (an alert always has
    someone to tell). Returns how many were told. Inside a transaction."""
    people = []
    if caregivers_too:
        people += [
            (c, channel, "caregiver") for c, channel in caregivers.followers(db, patient_id, medication_id, True)
        ]
    if clinicians:
        people += [(c, None, "clinician") for c in clinics.clinicians_for(db, patient_id)]
    if not people or patient_summary:
        people += [(accounts.find_user(db, id=patient_id), None, "patient")]
    db.execute(
        "INSERT OR IGNORE INTO alerts (patient_id, medication_id, kind, level, run_key, for_clinician, summary, "
        "patient_summary, created_at, next_repeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            patient_id,
            medication_id,
            kind,
            level,
            run_key,
            int(level == 3),
            summary,
            patient_summary,
            to_iso(now),
            to_iso(now + timedelta(hours=repeat_hours)),
        ],
    )
    alert_id = db.execute(
        "SELECT id FROM alerts WHERE patient_id = ? AND kind = ? AND run_key = ? AND level = ?",
        [patient_id, kind, run_key, level],
    ).fetchone()[0]
    return sum(_tell(db, settings, alert_id, user, channel, role, "alert", now) for user, channel, role in people)


def repeat(db: Database, now: datetime, settings: dict) -> int:
    """Repeat every open, unacknowledged alert whose repeat is due (each claimed once), with
    its text as it is now and the same acknowledge link. An alert about a medication that
    has ended (by a taper too) stops repeating; on a day a clinician paused it, it is silent."""
    with immediate(db):
        due = db.execute(
            "UPDATE alerts SET next_repeat_at = NULL WHERE id IN (SELECT id FROM alerts "
            "WHERE status = 'open' AND next_repeat_at <= ?) AND status = 'open' RETURNING id, medication_id",
            [to_iso(now)],
        ).fetchall()
        for alert_id, medication_id in due:
            row = db.execute(
                "SELECT m.alert_repeat_hours, m.ended_at, u.tz FROM medications m JOIN users u ON u.id = m.patient_id "
                "WHERE m.id = ?",
                [medication_id],
            ).fetchone()
            if medication_id is not None and (row is None or row[1]):
                continue  # claimed above with no next repeat; the resolve step closes it
            hours = row[0] if row else Ladder().repeat_hours
            db.execute(
                "UPDATE alerts SET next_repeat_at = ? WHERE id = ?", [to_iso(now + timedelta(hours=hours)), alert_id]
            )
            if row is not None and _paused_by_clinician(db, medication_id, row[2], now):
                continue  # silent today, and looked at again after the next interval
            facts = run_facts(db, next(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])), now)
            _refresh_summary(db, alert_id, facts)
            _repeat_to_each(db, settings, alert_id, now, facts)
    return len(due)


def resolve_reached(db: Database, now: datetime, settings: dict) -> int:
    """End the "could not reach" alerts whose run a taken dose ended, and tell those alerted.
    Reads only the alerts a trigger marked when a dose was taken (``resolve_check``), so it runs
    before ``resolve`` clears the marks."""
    with immediate(db):
        rows = db.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?, next_repeat_at = NULL WHERE id IN ("
            "SELECT a.id FROM alerts a JOIN doses start ON start.id = CAST(a.run_key AS INTEGER) "
            "WHERE a.resolve_check = 1 AND a.kind = 'unreachable' AND a.status != 'resolved' AND EXISTS (SELECT 1 FROM doses d "
            "WHERE d.medication_id = a.medication_id AND d.status = 'taken' AND d.scheduled_at >= start.scheduled_at)) "
            "RETURNING id",
            [to_iso(now)],
        ).fetchall()
        for (alert_id,) in rows:
            for user_id, role in db.execute(
                "SELECT user_id, role FROM alert_recipients WHERE alert_id = ?", [alert_id]
            ).fetchall():
                user = accounts.find_user(db, id=user_id)
                _send(db, settings, alert_id, user, None, "alert_resolved", now, None, role)
    return len(rows)


def _paused_by_clinician(db: Database, medication_id: int, tz: str, now: datetime) -> bool:
    """Whether a clinician paused the medication on the patient's today (in ``tz``). A patient's
    own pause does not silence the people watching: those doses close ``unknown`` and the run
    still needs a human."""
    today = now.astimezone(ZoneInfo(tz)).date().isoformat()
    paused = db.execute(
        "SELECT 1 FROM pauses p JOIN users u ON u.id = p.actor_id WHERE p.medication_id = ? AND p.local_date = ? "
        "AND u.role = 'clinician'",
        [medication_id, today],
    ).fetchone()
    return paused is not None


def _repeat_to_each(
    db: Database, settings: dict, alert_id: int, now: datetime, facts: alert_texts.RunFacts | None
) -> None:
    patient_id = _patient_of(db, alert_id)
    for user_id, role in db.execute(
        "SELECT user_id, role FROM alert_recipients WHERE alert_id = ?", [alert_id]
    ).fetchall():
        if _told_once(db, alert_id, role):
            continue
        db.execute(
            "UPDATE alert_recipients SET repeats = repeats + 1, expires_at = ? WHERE alert_id = ? AND user_id = ?",
            [to_iso(now + timedelta(days=ACK_LINK_DAYS)), alert_id, user_id],
        )
        user = accounts.find_user(db, id=user_id)
        link = caregivers.active_link(db, user_id, patient_id)
        if user_id == patient_id or link is not None or clinics.clinician_sees(db, user, patient_id):
            # a revoked caregiver or an unlinked clinic hears nothing more
            token = ack_token(db, alert_id, user_id)
            _send(
                db, settings, alert_id, user, link["channel"] if link else None, "alert_repeat", now, token, role, facts
            )


def resolve(db: Database, now: datetime, settings: dict) -> int:
    """End alerts whose cause is gone and tell everyone who was alerted: a taken dose ends a
    run of misses, a refill ends a running-out alert, a pump refill ends a pump alert, and a
    medication that ended (a clinician's stop, a finished taper or plan) ends every alert about it."""
    # Only alerts marked by a trigger when a dose was taken or a refill recorded are looked at.
    reached = resolve_reached(db, now, settings)
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
            "  CAST(substr(a.run_key, 1, instr(a.run_key, ':') - 1) AS INTEGER) AND r.refilled_at >= a.created_at))"
            " OR EXISTS (SELECT 1 FROM medications m WHERE m.id = a.medication_id AND m.ended_at <= ?)))"
            " RETURNING id, patient_id",
            [to_iso(now), to_iso(now)],
        ).fetchall()
        db.execute("UPDATE alerts SET resolve_check = 0 WHERE resolve_check = 1")
        for alert_id, patient_id in rows:
            for (user_id,) in db.execute(
                "SELECT user_id FROM alert_recipients WHERE alert_id = ?", [alert_id]
            ).fetchall():
                link = caregivers.active_link(db, user_id, patient_id)
                user = accounts.find_user(db, id=user_id)
                if user_id == patient_id or link is not None or clinics.clinician_sees(db, user, patient_id):
                    _send(db, settings, alert_id, user, link["channel"] if link else None, "alert_resolved", now)
    return len(rows) + reached


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
    """Record who acknowledged first; repeats stop. (Inside the caller's transaction.)

    A side-effect alert has nothing left to wait for once someone (a caregiver, or a clinician
    reviewing it) has seen it: it is resolved, not only acknowledged."""
    db.execute(
        "UPDATE alerts SET status = CASE kind WHEN 'side_effect' THEN 'resolved' ELSE 'acknowledged' END, "
        "resolved_at = CASE kind WHEN 'side_effect' THEN :now END, "
        "acknowledged_at = :now, acknowledged_by = :user, next_repeat_at = NULL WHERE id = :id AND status = 'open'",
        {"now": to_iso(now), "user": user_id, "id": alert_id},
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


def alert_patients(db: Database, user: dict) -> list[int]:
    """The patients whose alerts ``user`` sees: themself (a patient, read-only), their
    caregivees, and any patient they were told about and may still see (a clinician)."""
    ids = [p["id"] for p in caregivers.patients_of(db, user["id"])]
    told = db.execute(
        "SELECT DISTINCT a.patient_id FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id WHERE r.user_id = ?",
        [user["id"]],
    ).fetchall()
    ids += [row[0] for row in told if row[0] not in ids and caregivers.can_see(db, user["id"], row[0])]
    return ids


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
                "SELECT r.user_id, u.name, u.email, r.notified_at, r.repeats, r.role, r.channel "
                "FROM alert_recipients r "
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
    body["recipients"] = [
        {
            "user_id": t["user_id"],
            "name": t["name"] or t["email"],
            "role": t["role"],
            "channel": t["channel"],
            "acknowledged": t["user_id"] == alert["acknowledged_by"],
        }
        for t in alert.get("told", [])
    ]
    return body


def _patient_of(db: Database, alert_id: int) -> int:
    return db.execute("SELECT patient_id FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]

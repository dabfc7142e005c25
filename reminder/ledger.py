"""The dose ledger in the database: generating doses ahead, and recording answers.

The rules themselves live in ``schedule`` (when doses fall) and ``missed_dose`` (what an answer
means); this module loads their inputs and writes their outcomes, each user action in one
``BEGIN IMMEDIATE`` transaction with a conditional update, so two taps never both count.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import alert_texts, formulary, missed_dose, regimen, schedule, supply
from .db import immediate
from .missed_dose import Decision, DoseRule
from .regimen import steps_of
from .times import parse_instant, to_iso

log = logging.getLogger("reminder.ledger")

# Doses are always generated at least this far ahead (issue: "at least 48 h").
MIN_AHEAD = timedelta(hours=48)
# Other intakes further than this from a dose cannot be within its minimum gap: a gap is at
# most 0.9 x the interval, and intervals are found at most two weeks apart (schedule.py).
GAP_LOOKAROUND = timedelta(days=schedule.NEXT_DOSE_SEARCH_DAYS + 1)


def rule_of(medication: dict) -> DoseRule:
    return DoseRule(
        on_time_minutes=medication["on_time_minutes"],
        skip_fraction=medication["skip_fraction"],
        skip_hours_before_next=medication["skip_hours_before_next"],
        min_gap_fraction=medication["min_gap_fraction"],
    )


# ---------------------------------------------------------------- generating doses ahead


def generate_ahead(db: Database, now: datetime, horizon: timedelta, limit: int) -> int:
    """Generate doses up to ``now + horizon`` for medications with less than 48 h ahead.

    Idempotent: rows are unique per (medication, scheduled instant) and inserted with
    ``INSERT OR IGNORE``. Only medications that need it are touched, so a tick's cost does not
    grow with the number of patients. Returns how many medications were extended.
    """
    threshold = to_iso(now + min(MIN_AHEAD, horizon))
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id FROM medications WHERE ended_at IS NULL AND generated_until < ? "
            "ORDER BY generated_until LIMIT ?",
            [threshold, limit],
        ).fetchall()
    ]
    for medication_id in ids:
        try:
            with immediate(db):
                extend_medication(db, medication_id, now, now + horizon)
        except Exception:  # one broken medication must not stop every patient's reminders
            log.exception("cannot generate doses for medication %s", medication_id)
    return len(ids)


def extend_medication(db: Database, medication_id: int, now: datetime, until: datetime) -> int:
    """Insert the medication's doses from where generation stopped up to ``until``.

    Generation starts at the medication's creation: no dose is invented in the past. Must run
    inside a write transaction. Returns the number of new rows.
    """
    medication = regimen.medication(db, medication_id)
    if medication is None or medication["ended_at"]:
        return 0
    start = parse_instant(medication["generated_until"])
    if start >= until:
        return 0
    tz = ZoneInfo(medication["tz"])
    steps = steps_of(db, medication_id)
    rule = rule_of(medication)
    rows = []
    for occurrence in schedule.occurrences_between(steps, tz, start, until):
        following = schedule.next_occurrence(steps, tz, occurrence.scheduled_at)
        closes = missed_dose.window_closes_at(
            occurrence.scheduled_at, following.scheduled_at if following else None, rule
        )
        rows.append(
            [
                medication["patient_id"],
                medication_id,
                occurrence.step_id,
                occurrence.local_date.isoformat(),
                occurrence.local_time.strftime("%H:%M"),
                medication["tz"],
                to_iso(occurrence.scheduled_at),
                to_iso(closes),
                occurrence.amount,
                to_iso(occurrence.scheduled_at),
                to_iso(now),
            ]
        )
    before = db.conn.total_changes
    db.conn.executemany(
        "INSERT OR IGNORE INTO doses (patient_id, medication_id, step_id, local_date, local_time, tz, "
        "scheduled_at, window_closes_at, amount, next_prompt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    inserted = db.conn.total_changes - before
    db.execute("UPDATE medications SET generated_until = ? WHERE id = ?", [to_iso(until), medication_id])
    return inserted


def rewrite_future(db: Database, medication_id: int, now: datetime, horizon: timedelta) -> None:
    """After a schedule or time-zone change: replace future doses that nobody was told about.

    A dose that was reminded, answered or has any event stays: history is never touched.
    Windows of doses still open are recomputed against the new next dose. Must run inside a
    write transaction.
    """
    drop_future(db, medication_id, now)
    db.execute("UPDATE medications SET generated_until = ? WHERE id = ?", [to_iso(now), medication_id])
    extend_medication(db, medication_id, now, now + horizon)
    recompute_open_windows(db, medication_id)


def untouched_future_doses(db: Database, medication_id: int, now: datetime) -> list[tuple[int, str, float]]:
    """(id, scheduled_at, amount) of the medication's pending future doses nobody was told about,
    answered or touched, earliest first: after a rewrite, the doses it generated."""
    sql = f"SELECT id, scheduled_at, amount FROM doses WHERE id IN ({_untouched_future()}) ORDER BY scheduled_at"
    return db.execute(sql, [medication_id, to_iso(now)]).fetchall()


def _untouched_future(cancelled_too: bool = False) -> str:
    """The ids of a medication's future doses nobody was told about, answered or touched (a
    rewrite may replace them); parameters: the medication's id, now."""
    statuses = "('pending', 'cancelled')" if cancelled_too else "('pending')"
    return (
        f"SELECT id FROM doses WHERE medication_id = ? AND status IN {statuses} AND scheduled_at > ? "
        "AND prompt_count = 0 AND NOT EXISTS (SELECT 1 FROM dose_events e WHERE e.dose_id = doses.id) "
        "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dose_id = doses.id)"
    )


def drop_future(db: Database, medication_id: int, now: datetime, cancelled_too: bool = False) -> None:
    """Delete the future doses nobody was told about, answered or touched (inside a transaction).

    A side effect logged against one of them keeps its medication and time but lets go of the
    dose: the dose is dropped rather than left pending, where the worker would call it missed.
    A dose cancelled by a change of zone stays (its instant is not generated again) unless
    ``cancelled_too``: a new change of zone decides those instants afresh."""
    doomed = _untouched_future(cancelled_too)
    params = [medication_id, to_iso(now)]
    db.execute(f"UPDATE side_effects SET dose_id = NULL WHERE dose_id IN ({doomed})", params)
    db.execute(f"DELETE FROM doses WHERE id IN ({doomed})", params)


def stop_prompts(db: Database, medication_id: int) -> None:
    """No more reminders or follow-ups for this medication's open doses (it was ended)."""
    db.execute("UPDATE doses SET next_prompt_at = NULL WHERE medication_id = ? AND status = 'pending'", [medication_id])


def recompute_open_windows(db: Database, medication_id: int) -> None:
    """Each pending dose's window against its (new) next dose (inside a transaction)."""
    medication = regimen.medication(db, medication_id)
    tz, steps, rule = ZoneInfo(medication["tz"]), steps_of(db, medication_id), rule_of(medication)
    for dose_id, scheduled_at in db.execute(
        "SELECT id, scheduled_at FROM doses WHERE medication_id = ? AND status = 'pending'", [medication_id]
    ).fetchall():
        t = parse_instant(scheduled_at)
        following = schedule.next_occurrence(steps, tz, t)
        closes = missed_dose.window_closes_at(t, following.scheduled_at if following else None, rule)
        db.execute("UPDATE doses SET window_closes_at = ? WHERE id = ?", [to_iso(closes), dose_id])


# ---------------------------------------------------------------- answering a dose


@dataclass(frozen=True)
class Answer:
    """A confirmation of one dose: what was said, by whom, through which door."""

    action: str  # taken | skip | snooze
    source: str  # link | sms | web | api | caregiver
    actor_id: int | None
    reported_at: datetime | None = None  # "I already took it at ..."
    reason: str | None = None  # skip reason, or a caregiver's override reason
    override_gap: bool = False
    already_taken: bool = False  # "Yes, I already took it": record the intake even if it broke a rule
    correct_to: str | None = None  # with action "correct": not_taken | taken | skip


def answer_dose(db: Database, dose_id: int, answer: Answer, now: datetime, snooze: timedelta) -> Decision:
    """Apply the missed-dose rule to ``answer`` and record what it allows, atomically.

    The decision is made and written inside one ``BEGIN IMMEDIATE`` transaction and the write
    is conditional on the status read, so two simultaneous taps record one answer.
    """
    with immediate(db):
        dose = load_dose(db, dose_id)
        medication = regimen.medication(db, dose["medication_id"])
        tz = ZoneInfo(dose["tz"])
        facts = dose_facts(db, dose, medication)
        if answer.action == "taken":
            decision = _decide_taken(db, dose, facts, medication, answer, now, tz)
        elif answer.action == "correct":
            decision = _decide_correction(db, dose, facts, medication, answer, now, tz)
        elif answer.action == "skip":
            decision = missed_dose.decide_skip(facts, tz, now, rule_of(medication))
            if decision.outcome == "skipped" and medication["withdrawal_risk"]:  # issue 10 section 1
                decision = replace(
                    decision, message=f"{decision.message} {alert_texts.withdrawal_advice(medication['name'])}"
                )
        else:
            decision = missed_dose.decide_snooze(facts, now, snooze, tz, rule_of(medication))
        _record(db, dose, decision, answer, now)
    return decision


def _decide_taken(db, dose: dict, facts, medication: dict, answer: Answer, now: datetime, tz) -> Decision:
    """The missed-dose rule on a Taken, with every intake of the same drug and its ceilings."""
    return missed_dose.decide_taken(
        facts,
        now,
        rule_of(medication),
        tz,
        _other_intakes(db, dose),
        medication["max_daily_amount"],
        answer.reported_at,
        answer.reason if answer.override_gap else None,
        already_taken=answer.already_taken,
        watch_for=formulary.watch_for(medication["name"], medication["ingredient"]),
    )


def _decide_correction(db, dose: dict, facts, medication: dict, answer: Answer, now: datetime, tz) -> Decision:
    """A correction: back to pending/missed, or to skipped, or to taken under the never-double rules
    (as if the dose were still open, at the reported time or now)."""
    decision = missed_dose.decide_correction(facts, answer.correct_to, now, tz)
    if decision.code != "correct_to_taken":
        return decision
    reopened = replace(facts, status="pending", taken_at=None, confirmed_at=None)
    taken = _decide_taken(db, dose, reopened, medication, answer, now, tz)
    if taken.outcome != "taken":
        return taken
    return replace(taken, code="corrected", message="Corrected: " + taken.message[0].lower() + taken.message[1:])


def _undo_answer(db: Database, dose: dict, decision: Decision, answer: Answer, now: datetime) -> None:
    """Write a correction: the new status, the stock given back for an intake that did not happen,
    and the event saying who changed what (the earlier answer stays in the dose's events)."""
    taken_at = to_iso(decision.taken_at) if decision.outcome == "taken" else None
    changed = db.execute(
        "UPDATE doses SET status = ?, taken_at = ?, confirmed_at = ?, source = ?, actor_id = ?, skip_reason = ?, "
        "flags = CASE WHEN ? = 'taken' THEN flags ELSE NULL END, flag_alert_due = CASE WHEN ? = 'taken' "
        "THEN flag_alert_due ELSE 0 END WHERE id = ? AND status = ?",
        [
            decision.outcome,
            taken_at,
            to_iso(now) if decision.outcome in ("taken", "skipped") else None,
            answer.source,
            answer.actor_id,
            answer.reason if decision.outcome == "skipped" else None,
            decision.outcome,
            decision.outcome,
            dose["id"],
            dose["status"],
        ],
    ).rowcount
    if not changed:
        return
    if dose["status"] == "taken" and decision.outcome != "taken":
        supply.give_back(db, dose)
    elif dose["status"] != "taken" and decision.outcome == "taken":
        supply.consume(db, dose)
    if decision.flags:
        db.execute(
            "UPDATE doses SET flags = ?, flag_alert_due = 1 WHERE id = ?", [json.dumps(decision.flags), dose["id"]]
        )
    detail = {"source": answer.source, "from": dose["status"], "to": decision.outcome}
    if taken_at:
        detail["taken_at"] = taken_at
    add_event(db, dose["id"], now, answer.actor_id, "corrected", detail)


def _record(db: Database, dose: dict, decision: Decision, answer: Answer, now: datetime) -> None:
    if answer.action == "correct":
        if decision.outcome:
            _undo_answer(db, dose, decision, answer, now)
        return
    if decision.outcome:
        db.execute(
            "UPDATE doses SET status = ?, taken_at = ?, confirmed_at = ?, source = ?, actor_id = ?, "
            "skip_reason = ?, next_prompt_at = NULL WHERE id = ? AND status = ?",
            [
                decision.outcome,
                to_iso(decision.taken_at) if decision.taken_at else None,
                to_iso(now),
                answer.source,
                answer.actor_id,
                answer.reason if decision.outcome == "skipped" else None,
                dose["id"],
                dose["status"],
            ],
        )
        if decision.flags:  # the worker tells caregivers and clinicians (overdose.alert_flagged)
            db.execute(
                "UPDATE doses SET flags = ?, flag_alert_due = 1 WHERE id = ?", [json.dumps(decision.flags), dose["id"]]
            )
        if decision.outcome == "taken":
            supply.consume(db, dose)
    elif decision.snooze_until:
        db.execute("UPDATE doses SET next_prompt_at = ? WHERE id = ?", [to_iso(decision.snooze_until), dose["id"]])
    else:
        return  # refused: nothing is written
    detail = {"source": answer.source, "code": decision.code, "previous_status": dose["status"]}
    if decision.taken_at:
        detail["taken_at"] = to_iso(decision.taken_at)
    if answer.reason:
        detail["reason"] = answer.reason
    if decision.flags:
        detail["flags"] = list(decision.flags)
    add_event(db, dose["id"], now, answer.actor_id, decision.code, detail)


def add_event(db: Database, dose_id: int, now: datetime, actor_id: int | None, kind: str, detail: dict) -> None:
    db.execute(
        "INSERT INTO dose_events (dose_id, at, actor_id, kind, detail) VALUES (?, ?, ?, ?, ?)",
        [dose_id, to_iso(now), actor_id, kind, json.dumps(detail)],
    )


def load_dose(db: Database, dose_id: int) -> dict | None:
    return next(db.query("SELECT * FROM doses WHERE id = ?", [dose_id]), None)


def dose_facts(db: Database, dose: dict, medication: dict | None = None) -> missed_dose.Dose:
    """The rule's view of a ledger row, with the next scheduled dose for the skip message."""
    medication = medication or regimen.medication(db, dose["medication_id"])
    scheduled_at = parse_instant(dose["scheduled_at"])
    steps, tz = steps_of(db, dose["medication_id"]), ZoneInfo(dose["tz"])
    following = schedule.next_occurrence(steps, tz, scheduled_at) if not medication["ended_at"] else None
    # "Take your next dose at its usual time" never points at a dose a change of zone cancelled.
    while following is not None and _cancelled_at(db, dose["medication_id"], following.scheduled_at):
        following = schedule.next_occurrence(steps, tz, following.scheduled_at)
    return missed_dose.Dose(
        scheduled_at=scheduled_at,
        window_closes_at=parse_instant(dose["window_closes_at"]),
        amount=dose["amount"],
        status=dose["status"],
        taken_at=parse_instant(dose["taken_at"]) if dose["taken_at"] else None,
        confirmed_at=parse_instant(dose["confirmed_at"]) if dose["confirmed_at"] else None,
        next_scheduled_at=following.scheduled_at if following else None,
        regimen_interval=schedule.regimen_interval(steps, tz, scheduled_at),
        cancel_reason=dose["cancel_reason"],
    )


def _cancelled_at(db: Database, medication_id: int, at: datetime) -> bool:
    sql = "SELECT 1 FROM doses WHERE medication_id = ? AND scheduled_at = ? AND status = 'cancelled'"
    return db.execute(sql, [medication_id, to_iso(at)]).fetchone() is not None


def _other_intakes(db: Database, dose: dict) -> list[missed_dose.Intake]:
    """Every other intake near this dose of the same ingredient and route, from every entry of the
    patient's: two entries of one drug are one drug to the body (domain.md section 6)."""
    t = parse_instant(dose["scheduled_at"])
    intakes = []
    for medication_id in same_drug_ids(db, dose["medication_id"]):
        rows = db.execute(
            "SELECT taken_at, scheduled_at, amount FROM doses WHERE medication_id = ? AND id != ? "
            "AND status = 'taken' AND taken_at BETWEEN ? AND ?",
            [medication_id, dose["id"], to_iso(t - GAP_LOOKAROUND), to_iso(t + GAP_LOOKAROUND)],
        ).fetchall()
        intakes += [missed_dose.Intake(parse_instant(a), parse_instant(b), c) for a, b, c in rows]
    return intakes


def same_drug_ids(db: Database, medication_id: int) -> list[int]:
    """This medication and the patient's other entries of the same ingredient and route, ended ones
    included (an intake is an intake). Uses the stored ingredient; older rows resolve it once."""
    patient_id, route, ingredient = db.execute(
        "SELECT patient_id, route, ingredient FROM medications WHERE id = ?", [medication_id]
    ).fetchone()
    mine = ingredient or _ingredient_of(db, medication_id)
    if mine is None:
        return [medication_id]
    rows = db.execute("SELECT id, route, ingredient FROM medications WHERE patient_id = ?", [patient_id]).fetchall()
    return [
        other_id
        for other_id, other_route, other_ingredient in rows
        if other_id == medication_id
        or ((other_ingredient or _ingredient_of(db, other_id)) == mine and other_route == route)
    ]


def _ingredient_of(db: Database, medication_id: int) -> str | None:
    """A medication's ingredient from its name, for rows stored before ingredients were."""
    name, route = db.execute("SELECT name, route FROM medications WHERE id = ?", [medication_id]).fetchone()
    found = formulary.facts(name, route).ingredient
    return found.name if found else None

"""The worker: one process, one APScheduler job, ``tick``.

APScheduler holds no per-dose jobs; the database is the source of truth. Each step of a tick
finds its work through an indexed due-time column, claims it with one conditional ``UPDATE``
(so two workers, or a restarted one, never do the same work twice), and returns how much it
found, so tests can call any step alone. The worker can be killed at any point: every change
and the messages it causes are written in one transaction, and a message cut off mid-send is
found by ``recover_interrupted``: looked up at Twilio, or sent again in a wording that
allows a repeat (a dose prompt in the follow-up wording, an email saying it may be a repeat).
"""

from __future__ import annotations

import logging
import signal
import time as _time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from . import (
    delivery,
    escalation,
    ledger,
    overdose,
    prompts,
    quiet_hours,
    retention,
    schedule,
    summaries,
    tapering,
)
from . import upkeep as upkeep_module
from .clock import Clock, SystemClock, wall_seconds
from .db import immediate
from .notify import Transport
from .times import UTC, parse_instant, to_iso

log = logging.getLogger("reminder.worker")
GAP_TICKS = 3  # no tick for this many intervals: the worker was not running (as /healthz says)


@dataclass
class Tick:
    """What one tick works with: a connection, the instant, the settings and the transport."""

    db: Database
    now: datetime
    settings: dict
    transport: Transport
    started: float = field(default_factory=_time.monotonic)
    budgets: dict = None  # SMS this tick may still hand over (delivery.tick_budgets)

    def __post_init__(self):
        if self.budgets is None:
            self.budgets = delivery.tick_budgets(self.settings)

    @property
    def batch(self) -> int:
        return self.settings["worker.batch_size"]

    def elapsed(self) -> timedelta:
        """Real time spent in this tick so far (sends can take a while under a rate cap)."""
        return timedelta(seconds=_time.monotonic() - self.started)


def generate(tick: Tick) -> int:
    """Keep every active medication's doses generated at least 48 h ahead."""
    horizon = timedelta(hours=tick.settings["worker.horizon_hours"])
    return ledger.generate_ahead(tick.db, tick.now, horizon, tick.batch)


def recover_interrupted(tick: Tick) -> int:
    """Messages cut off mid-send by a crash: asked about, or sent again in a wording that allows
    a repeat, never blindly (``delivery.recover``)."""
    return delivery.recover(tick.db, tick.transport, tick.now, tick.settings, tick.batch)


def note_gap(tick: Tick) -> int:
    """The first tick after the worker was not running (no tick for three intervals), or after
    the clock stepped back, notes it once for the operator: in the log, and on ``/healthz``.

    The note is what ``close_windows`` reads to tell our downtime from the patient's silence.
    """
    row = tick.db.execute("SELECT last_tick_at FROM worker_heartbeat WHERE id = 1").fetchone()
    if row is None:
        return 0
    last = parse_instant(row[0])
    interval = timedelta(seconds=tick.settings["worker.tick_seconds"])
    if tick.now < last:
        kind = "clock_back"
        log.warning("the clock stepped back from %s to %s", to_iso(last), to_iso(tick.now))
    elif tick.now - last > GAP_TICKS * interval:
        kind = "gap"
        log.warning(
            "the worker did not tick from %s to %s (%s): doses whose whole window fell in between "
            "are recorded unknown, and no stale reminders or skip notices go out",
            to_iso(last),
            to_iso(tick.now),
            tick.now - last,
        )
    else:
        return 0
    with immediate(tick.db):
        tick.db.execute(
            "INSERT OR IGNORE INTO worker_gaps (kind, started_at, ended_at) VALUES (?, ?, ?)",
            [kind, to_iso(last), to_iso(tick.now)],
        )
    return 1


def close_windows(tick: Tick) -> int:
    """Doses whose window closed unanswered become ``missed`` and the patient is told to skip.

    A dose whose prompt never reached the patient (delivery failed) becomes ``unknown``
    instead: we could not ask, so it is not counted as missed. So does one whose whole window
    fell while the worker was not running (a gap ``note_gap`` recorded): our downtime is not
    the patient's non-adherence. A skip notice that could only arrive after the next dose's
    time is not sent: it would be about a dose the patient has moved past.
    """
    with immediate(tick.db):
        rows = tick.db.execute(
            "UPDATE doses SET next_prompt_at = NULL, status = CASE WHEN NOT EXISTS (" + _IN_GAP + ") "
            "AND (EXISTS (SELECT 1 FROM messages m WHERE m.dose_id = doses.id AND m.kind IN ('reminder', 'follow_up') "
            "AND m.status IN ('sent', 'delivered')) OR EXISTS ("
            + _GROUP_PROMPT_SENT
            + ")) THEN 'missed' ELSE 'unknown' END "
            "WHERE id IN (SELECT id FROM doses WHERE status = 'pending' AND window_closes_at <= ? "
            "ORDER BY window_closes_at LIMIT ?) AND status = 'pending' RETURNING id, status, EXISTS (" + _IN_GAP + ")",
            [to_iso(tick.now), tick.batch],
        ).fetchall()
        for dose_id, status, in_gap in rows:
            code = "worker_down" if in_gap else "window_closed"
            ledger.add_event(tick.db, dose_id, tick.now, None, status, {"source": "worker", "code": code})
            dose = ledger.load_dose(tick.db, dose_id)
            if status == "missed" and not _medication_ended(tick.db, dose["medication_id"]):
                _queue_skip_notice(tick, dose)
    return len(rows)


# A prompt of a group the dose was in (doses due together, one message) reached the patient.
_GROUP_PROMPT_SENT = (
    "SELECT 1 FROM dose_group_members g JOIN messages m ON m.dose_group_id = g.group_id WHERE g.dose_id = doses.id "
    "AND m.kind IN ('reminder', 'follow_up') AND m.status IN ('sent', 'delivered')"
)
# The dose's whole window (due time to close) fell between two ticks.
_IN_GAP = (
    "SELECT 1 FROM worker_gaps g WHERE g.kind = 'gap' AND g.started_at < doses.scheduled_at "
    "AND g.ended_at >= doses.window_closes_at"
)


def prompt_due(tick: Tick) -> int:
    """Queue the reminder, follow-up or snoozed reminder of every dose whose prompt is due: one
    message for the doses of a patient due at the same instant (``prompts.queue``).

    The claim is one ``UPDATE ... RETURNING``: it moves ``next_prompt_at`` on (to the one
    follow-up after a first reminder, else to nothing), so no other worker can claim it too.
    Doses claimed together keep their follow-ups together, so a group's follow-up is one message.
    """
    follow_up = tick.now + timedelta(minutes=tick.settings["worker.follow_up_minutes"])
    with immediate(tick.db):
        rows = tick.db.execute(
            "UPDATE doses SET prompt_count = prompt_count + 1, reminded_at = coalesce(reminded_at, :now), "
            "next_prompt_at = CASE WHEN prompt_count = 0 AND :follow_up < window_closes_at THEN :follow_up END "
            "WHERE id IN (SELECT id FROM doses WHERE status = 'pending' AND next_prompt_at <= :now "
            "AND window_closes_at > :now AND NOT EXISTS (SELECT 1 FROM pauses p WHERE p.medication_id = "
            "doses.medication_id AND p.local_date = doses.local_date) ORDER BY next_prompt_at LIMIT :limit) "
            "AND status = 'pending' "
            "RETURNING id, prompt_count",
            {"now": to_iso(tick.now), "follow_up": to_iso(follow_up), "limit": tick.batch},
        ).fetchall()
        prompts.queue(tick.db, tick.settings, [prompts.Claimed(*row) for row in rows], tick.now)
    return len(rows)


def escalate(tick: Tick) -> int:
    """Caregiver and clinician alerts for runs of misses (escalation.py)."""
    return escalation.escalate(tick.db, tick.now, tick.settings)


def alert_overdoses(tick: Tick) -> int:
    """Possible-overdose alerts for intakes recorded with a flag (overdose.py)."""
    return overdose.alert_flagged(tick.db, tick.now, tick.settings)


def follow_alerts(tick: Tick) -> int:
    """Resolve alerts whose run ended with a taken dose, and repeat unacknowledged ones."""
    return escalation.resolve(tick.db, tick.now, tick.settings) + escalation.repeat(tick.db, tick.now, tick.settings)


def finish_tapers(tick: Tick) -> int:
    return tapering.finish(tick.db, tick.now, tick.settings)


def upkeep(tick: Tick) -> int:
    """Refill and pump reminders and their alerts, every few minutes (upkeep.py)."""
    return upkeep_module.run(tick.db, tick.now, tick.settings)


def summarise(tick: Tick) -> int:
    """Recompute the clinic panel's summaries of patients whose doses closed (summaries.py)."""
    return summaries.refresh(tick.db, tick.now, tick.batch)


def retain(tick: Tick) -> int:
    """Delete expired phone links and prune old message texts, one batch (retention.py)."""
    return retention.run(tick.db, tick.now, message_days=tick.settings["privacy.message_retention_days"])


def deliver(tick: Tick) -> int:
    return delivery.deliver(tick.db, tick.transport, tick.now, tick.settings, tick.batch, tick.elapsed, tick.budgets)


STEPS = (
    note_gap,
    generate,
    finish_tapers,
    recover_interrupted,
    close_windows,
    prompt_due,
    alert_overdoses,
    escalate,
    follow_alerts,
    upkeep,
    deliver,
    summarise,
    retain,
)
# Steps whose work is due now drain in one tick (a burst at 08:00). Generation has 24 h of
# slack (it runs below 48 h ahead and extends to 72 h), so it takes one batch a tick and never
# holds up a reminder.
DRAINED = (recover_interrupted, close_windows, prompt_due, deliver)


def run_tick(db: Database, now: datetime, settings: dict, transport: Transport) -> dict[str, int]:
    """Run every step at ``now``; record the heartbeat; return what each step found."""
    started = _time.perf_counter()
    tick = Tick(db, now, settings, transport)
    counts = {}
    for step in STEPS:
        counts[step.__name__] = 0
        while True:
            found = step(tick)
            counts[step.__name__] += found
            if found < tick.batch or step not in DRAINED:
                break
    took_ms = (_time.perf_counter() - started) * 1000
    db.execute(
        "INSERT INTO worker_heartbeat (id, last_tick_at, took_ms, wall_seconds) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET last_tick_at = excluded.last_tick_at, took_ms = excluded.took_ms, "
        "wall_seconds = excluded.wall_seconds",
        [to_iso(now), took_ms, wall_seconds()],
    )
    return counts


def _medication_ended(db: Database, medication_id: int) -> bool:
    return db.execute("SELECT ended_at FROM medications WHERE id = ?", [medication_id]).fetchone()[0] is not None


def _queue_skip_notice(tick: Tick, dose: dict) -> None:
    """Queue "skip it, take the next" about a missed ``dose`` to its patient (inside the caller's
    transaction), unless the next dose is already due."""
    following = ledger.dose_facts(tick.db, dose).next_scheduled_at
    if following and following <= tick.now:
        return  # the next dose is already due: "skip it, take the next" comes too late
    patient = next(tick.db.query("SELECT * FROM users WHERE id = ?", [dose["patient_id"]]))
    medication = next(
        tick.db.query(
            "SELECT name, strength, unit, route, withdrawal_risk FROM medications WHERE id = ?",
            [dose["medication_id"]],
        )
    )
    context = prompts.dose_context(tick.settings, patient, dose, medication)
    tz = ZoneInfo(dose["tz"])
    context["next_time"] = schedule.next_dose_words(following, tick.now.astimezone(tz).date(), tz) if following else ""
    context["advice"] = escalation.skip_notice_advice(tick.db, dose["medication_id"], tick.now)
    valid_until = following  # retried through an outage, but never past the next dose
    if quiet_hours.held_past(delivery.quiet_until(tick.db, patient, "skip_notice", tick.now), following):
        # Held by quiet hours until after the next dose: "take your next dose at ..." would be
        # stale by then. Say only what stays true: which dose, that it was skipped (issue 10 §5).
        context.update(escalation.late_skip_notice(tick.db, dose))
        valid_until = None
    delivery.queue_to_user(
        tick.db,
        tick.settings,
        user=patient,
        kind="skip_notice",
        context=context,
        now=tick.now,
        dose_id=dose["id"],
        valid_until=valid_until,
    )


# ---------------------------------------------------------------- the process


def run_forever(connect, clock: Clock, settings: dict, transport: Transport) -> None:
    """Tick every ``worker.tick_seconds`` until SIGTERM or Ctrl-C; a running tick finishes first."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    def tick_job() -> None:
        db = connect()
        try:
            counts = run_tick(db, clock.now(), settings, transport)
            if any(counts.values()):
                log.info("tick: %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
        except Exception:  # a bad tick must not stop the next one
            log.exception("tick failed")
        finally:
            db.close()

    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            # APScheduler's default grace of 1 s silently drops a tick that starts late.
            "misfire_grace_time": settings["worker.misfire_grace_seconds"],
        },
    )
    scheduler.add_job(
        tick_job, "interval", seconds=settings["worker.tick_seconds"], id="tick", next_run_time=SystemClock().now()
    )

    stopping = []

    def stop(signum, _frame):
        # Ctrl-C reaches both processes of `reminder run`, and the parent then sends SIGTERM
        # too, possibly while the first handler is still inside shutdown(): only the first
        # signal stops the scheduler.
        if stopping:
            return
        stopping.append(signum)
        log.info("worker stopping (signal %s); finishing the current tick", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker started: a tick every %ss", settings["worker.tick_seconds"])
    scheduler.start()

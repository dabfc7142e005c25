"""The delivery policy: which channels reach a user, sending, retrying and falling back.

- A user is reached on the channels they chose (SMS, email or both) that can still reach them
  (SMS needs a phone and no STOP). In outbox mode everything goes to the outbox.
- ``deliver`` claims queued messages (``queued`` -> ``sending``, one statement), hands them to
  the providers concurrently (SMS at most ``sms.max_per_second``), and records each outcome.
- A transient failure is retried with backoff (30 s doubling, then every 10 minutes) for as
  long as the message matters, however long the outage: a dose prompt until its window closes,
  a skip notice until the next dose (both its ``valid_until``), an alert until it is
  acknowledged or resolved; anything else ``MAX_ATTEMPTS`` times.
- A dose prompt that fails transiently goes out on the patient's other channel at once (once
  per prompt, in the "if you already took it" wording); whichever copy goes first cancels the
  other's retries. A provider that only throttles us (HTTP 429) is waited for instead.
- A permanent failure is not retried; the message is re-sent on the user's other channel if
  they have one. Twilio's 21610 (and an inbound STOP) marks the user's SMS as opted out.
- Whatever goes wrong with one message (a provider answering nonsense, an error recording the
  outcome) is recorded on that message; it never fails the tick or holds the others back.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from . import links, messages, quiet_hours
from .clock import wall_seconds
from .db import connect, immediate
from .errors import InputError
from .notify import CHANNELS, OutgoingMessage, Transport, TransportError, channels_available
from .redact import REDACTED, without_tokens
from .times import parse_instant, to_iso
from .tokens import hash_token

log = logging.getLogger("reminder.delivery")
RETRY_BASE = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=10)  # also the longest wait before a provider that is back is tried
MAX_ATTEMPTS = 6  # for messages with no deadline of their own
PROMPT_KINDS = ("reminder", "follow_up")
ALERT_KINDS = ("alert", "alert_repeat")  # retried while their alert is open


def chosen_channels(user: dict) -> list[str]:
    """The channels the user chose; by default SMS when they gave a phone, else email."""
    if user.get("channels"):
        return json.loads(user["channels"])
    return ["sms"] if user.get("phone") else ["email"]


def can_reach(user: dict, channel: str) -> bool:
    return channel in CHANNELS and CHANNELS[channel].reaches(user)


def address(user: dict, channel: str) -> str:
    return user[CHANNELS[channel].address_field]


def routes(user: dict, settings: dict) -> list[tuple[str, str]]:
    """(channel, address) pairs a new message to ``user`` goes to.

    When none of the chosen channels can reach them (they replied STOP), any other channel
    that can takes over, so a reminder is not silently dropped.
    """
    available = channels_available(settings)
    if available == ("outbox",):
        return [("outbox", user.get("phone") or user["email"])]
    chosen = [c for c in chosen_channels(user) if c in available and can_reach(user, c)]
    if not chosen:
        chosen = [c for c in CHANNELS if c in available and can_reach(user, c)][:1]
    return [(channel, address(user, channel)) for channel in chosen]


@dataclass(frozen=True)
class Prompt:
    """A dose reminder or follow-up to queue: about one dose, or a group due together."""

    user: dict
    kind: str
    context: dict
    valid_until: datetime
    dose_id: int | None = None
    dose_group_id: int | None = None


def queue_prompts(db: Database, settings: dict, prompts: list[Prompt], now: datetime) -> None:
    """Queue dose prompts, each on its patient's routes, with one INSERT for the lot (a burst).

    A prompt never waits for quiet hours; one that no channel can reach is left as a visible
    failure by ``queue_to_user``."""
    outgoing = []
    for prompt in prompts:
        chosen = routes(prompt.user, settings)
        if not chosen:
            queue_to_user(
                db,
                settings,
                user=prompt.user,
                kind=prompt.kind,
                context=prompt.context,
                now=now,
                dose_id=prompt.dose_id,
                valid_until=prompt.valid_until,
                dose_group_id=prompt.dose_group_id,
            )
            continue
        outgoing += [
            messages.Outgoing(
                prompt.user["id"],
                channel,
                recipient,
                prompt.kind,
                prompt.context,
                prompt.dose_id,
                prompt.dose_group_id,
                prompt.valid_until,
            )
            for channel, recipient in chosen
        ]
    messages.queue_many(db, outgoing, now)


def queue_to_user(
    db: Database,
    settings: dict,
    *,
    user: dict,
    kind: str,
    context: dict,
    now: datetime,
    dose_id: int | None = None,
    valid_until: datetime | None = None,
    only: str | None = None,
    alert_id: int | None = None,
    dose_group_id: int | None = None,
) -> int:
    """Queue a ``kind`` message to ``user`` on each of their routes; return how many were queued.

    ``only`` narrows to one channel (a caregiver's choice for one patient) when it can reach
    them. Call inside the transaction that caused the message.
    """
    queued = 0
    chosen = routes(user, settings)
    if not chosen:
        # Nobody can be reached (no phone on an SMS-only server, say): leave a visible failure
        # rather than nothing, so Today and the Messages page can say so.
        db.execute(
            "INSERT INTO messages (user_id, channel, recipient, kind, dose_id, dose_group_id, body, status, error, "
            "created_at, valid_until, alert_id) VALUES (?, ?, '', ?, ?, ?, '', 'failed', ?, ?, ?, ?)",
            [
                user["id"],
                chosen_channels(user)[0],
                kind,
                dose_id,
                dose_group_id,
                "no channel can reach you: check your settings",
                to_iso(now),
                to_iso(valid_until) if valid_until else None,
                alert_id,
            ],
        )
        return 0
    if (
        only
        and channels_available(settings) != ("outbox",)
        and can_reach(user, only)
        and only in channels_available(settings)
    ):
        chosen = [(only, address(user, only))]
    send_after = quiet_until(db, user, kind, now, alert_id)
    for channel, recipient in chosen:
        messages.queue(
            db,
            user_id=user["id"],
            channel=channel,
            recipient=recipient,
            kind=kind,
            context=context,
            now=now,
            dose_id=dose_id,
            valid_until=valid_until,
            alert_id=alert_id,
            dose_group_id=dose_group_id,
            send_after=send_after,
        )
        queued += 1
    return queued


def quiet_until(db: Database, user: dict, kind: str, now: datetime, alert_id: int | None = None) -> datetime | None:
    """When a ``kind`` message to ``user`` may go if it must wait for their quiet hours to end;
    None when it goes now (not quiet, or it cannot wait: a dose reminder, a level-3 alert)."""
    level = alert_kind = None
    if alert_id is not None:
        level, alert_kind = db.execute("SELECT level, kind FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if not quiet_hours.may_wait(kind, level, alert_kind):
        return None
    return quiet_hours.quiet_end(
        now,
        user.get("tz") or "UTC",
        user.get("quiet_start") or quiet_hours.DEFAULT_START,
        user.get("quiet_end") or quiet_hours.DEFAULT_END,
    )


def queue_notice(
    db: Database, settings: dict, user: dict, summary: str, subject: str, now: datetime, only: str | None = None
) -> int:
    """Queue a plain ``notice`` (a line of news with its subject) to ``user``: ``queue_to_user``
    with the context every notice template reads."""
    context = {"name": user["name"], "summary": summary, "subject": subject}
    return queue_to_user(db, settings, user=user, kind="notice", context=context, now=now, only=only)


def queue_to_address(
    db: Database, settings: dict, *, channel: str, recipient: str, kind: str, context: dict, now: datetime
) -> int:
    """Queue a message to someone who has no account yet (an invitation)."""
    if channels_available(settings) == ("outbox",):
        channel = "outbox"
    elif channel not in channels_available(settings):
        label = CHANNELS[channel].label if channel in CHANNELS else channel
        raise InputError(channel, f"This server cannot send {label}.")
    return messages.queue(db, user_id=None, channel=channel, recipient=recipient, kind=kind, context=context, now=now)


def deliver(
    db: Database,
    transport: Transport,
    now: datetime,
    settings: dict,
    limit: int,
    elapsed: Callable[[], timedelta] = lambda: timedelta(0),
    budgets: dict[str, int] | None = None,
) -> int:
    """Send the queued messages that are due; return how many were attempted.

    ``now`` is the tick's instant and ``elapsed`` the real time spent in the tick so far: a
    claim is stamped with their sum, so a second worker judges the send lease correctly.
    SMS is claimed only as fast as ``sms.max_per_second`` lets it go out well within the lease,
    so a burst waits in our queue, not in a provider's; ``budgets`` (channel -> messages left,
    from ``tick_budgets``) carries that allowance across the calls of one tick, so a capped
    burst spreads over ticks instead of stretching one. Each outcome is recorded as soon as
    its send returns, so a delivery report never arrives before its message's provider id.
    """
    claimed_at = now + elapsed()
    rows = []
    with immediate(db):
        for channel, budget in _budgets(settings, limit, budgets).items():
            if budget <= 0:
                continue
            cursor = db.execute(
                "UPDATE messages SET status = 'sending', claimed_at = ?, attempts = attempts + 1 "
                "WHERE id IN (SELECT id FROM messages WHERE status = 'queued' AND next_attempt_at <= ? AND channel = ? "
                "ORDER BY next_attempt_at LIMIT ?) AND status = 'queued' RETURNING *",
                [to_iso(claimed_at), to_iso(claimed_at), channel, budget],
            )
            columns = [d[0] for d in cursor.description]
            claimed = [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]
            if budgets is not None and channel in budgets:
                budgets[channel] -= len(claimed)
            rows += claimed
        rows = _without_stale_prompts(db, rows)
    if not rows:
        return 0
    gate = SendGate(settings)
    fell_back = False
    for done in _sends(transport, gate, rows, claimed_at, settings["notify.max_concurrent_sends"]):
        # Each outcome is written as soon as its send returns, together with any other that
        # returned meanwhile: one commit (and one statement for the sent ones) per handful.
        with immediate(db):
            fell_back |= _record_all(db, done, now + elapsed(), settings)
    # A message that failed for good goes out on the other channel now, not a tick later.
    return len(rows) + (deliver(db, transport, now, settings, limit, elapsed, budgets) if fell_back else 0)


# An open dose of the group prompt ``q`` (by the group's primary key, then each dose's).
OPEN_MEMBER = (
    "SELECT 1 FROM dose_group_members g JOIN doses d ON d.id = g.dose_id JOIN medications m ON m.id = d.medication_id "
    "WHERE g.group_id = q.dose_group_id AND d.status = 'pending' AND m.ended_at IS NULL"
)
# Why a claimed prompt is not sent after all, and how to tell (``q`` is the prompt).
STALE_PROMPTS = (
    (
        "the dose was answered or closed before it went out",
        "q.kind IN ('reminder', 'follow_up') AND EXISTS (SELECT 1 FROM doses d JOIN medications m ON m.id = d.medication_id WHERE d.id = q.dose_id "
        "AND (d.status != 'pending' OR m.ended_at IS NOT NULL))",
    ),
    (
        "the doses were answered or closed before it went out",
        "q.kind IN ('reminder', 'follow_up') AND q.dose_group_id IS NOT NULL AND NOT EXISTS (" + OPEN_MEMBER + ")",
    ),
    (
        "sent on another channel",
        "q.kind IN ('reminder', 'follow_up') AND EXISTS (SELECT 1 FROM messages s WHERE s.id != q.id AND s.status IN ('sent', 'delivered') "
        "AND (s.id = coalesce(q.fallback_of, q.id) OR s.fallback_of = coalesce(q.fallback_of, q.id)))",
    ),
    (
        # A skip notice (one held by quiet hours too) about a dose since reported taken is no longer true.
        "the dose was reported taken before it went out",
        "q.kind = 'skip_notice' AND EXISTS (SELECT 1 FROM doses d WHERE d.id = q.dose_id AND d.status = 'taken')",
    ),
)


def _without_stale_prompts(db: Database, rows: list[dict]) -> list[dict]:
    """The claimed ``rows`` less the prompts that must not go, now marked cancelled: a prompt (a
    retry, a fallback) whose dose or whole group was answered, closed or stopped meanwhile (it
    would invite a second dose), or whose copy on the patient's other channel went out while it
    waited; a skip notice about a dose since reported taken. Checked on what was claimed, by primary key: a burst's 10,000 queued prompts are
    checked once each, not once per batch."""
    prompts = json.dumps([row["id"] for row in rows if row["kind"] in (*PROMPT_KINDS, "skip_notice")])
    if prompts == "[]":
        return rows
    stale = set()
    for error, condition in STALE_PROMPTS:
        cursor = db.execute(
            "UPDATE messages SET status = 'cancelled', error = ?, attempts = attempts - 1 WHERE id IN (SELECT q.id "
            "FROM messages q WHERE q.id IN (SELECT value FROM json_each(?)) AND q.status = 'sending' AND "
            + condition
            + ") RETURNING id",
            [error, prompts],
        )
        stale |= {row[0] for row in cursor.fetchall()}
    return [row for row in rows if row["id"] not in stale]


CUT_OFF = "cut off while sending"


def recover(db: Database, transport: Transport, now: datetime, settings: dict, limit: int) -> int:
    """Messages left ``sending`` longer than the lease were cut off by a crash: claimed, no
    outcome recorded. Return how many were found. None is sent again blindly:

    - an SMS is looked up at Twilio first (its Messages list, by recipient, date and body):
      found, it is recorded as sent, as it was;
    - a dose prompt not found is asked again at once in the follow-up wording ("if you already
      took it, don't take another"), as long as the dose is still open;
    - an email (the mail server cannot be asked) is queued again saying it may be a repeat;
    - an SMS Twilio does not have never reached anyone: it is queued again as it was.
    """
    cutoff = now - timedelta(seconds=settings["worker.send_lease_seconds"])
    cursor = db.execute(
        # INDEXED BY: the planner would otherwise take /healthz's index of every claimed message,
        # a range over the whole message log (0.7 s a tick at 100,000 patients), not the few in flight.
        "SELECT * FROM messages INDEXED BY messages_in_flight WHERE status = 'sending' AND claimed_at <= ? "
        "ORDER BY claimed_at LIMIT ?",
        [to_iso(cutoff), limit],
    )
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    # Asked outside any transaction: a provider call never holds the write lock.
    found = {row["id"]: _found_at_provider(transport, row) for row in rows}
    with immediate(db):
        for row in rows:
            _recover_one(db, row, found[row["id"]], now)
    return len(rows)


def _found_at_provider(transport: Transport, row: dict) -> str | None:
    find = getattr(transport, "find_sent", None)
    if find is None:
        return None
    since = parse_instant(row["claimed_at"]) - timedelta(days=1)  # Twilio filters by its own UTC date
    try:
        return find(_outgoing(row, None), since)
    except TransportError as error:  # cannot tell: send again, in the wording that allows a repeat
        log.warning("could not ask whether message %s reached the provider: %s", row["id"], error.reason)
        return None


def _recover_one(db: Database, row: dict, provider_id: str | None, now: datetime) -> None:
    if provider_id:
        db.execute(
            "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = claimed_at, error = NULL "
            "WHERE id = ? AND status = 'sending'",
            [provider_id, row["id"]],
        )
        if row["channel"] != "outbox":
            forget_tokens(db, row)
    elif row["kind"] in PROMPT_KINDS:
        changed = db.execute(
            "UPDATE messages SET status = 'interrupted', error = ?, next_attempt_at = ? "
            "WHERE id = ? AND status = 'sending'",
            [CUT_OFF, to_iso(now), row["id"]],
        ).rowcount
        if changed and row["dose_id"]:
            db.execute(
                "UPDATE doses SET next_prompt_at = ? WHERE id = ? AND status = 'pending' AND window_closes_at > ?",
                [to_iso(now), row["dose_id"], to_iso(now)],
            )
        elif changed and row.get("dose_group_id"):
            db.execute(
                "UPDATE doses SET next_prompt_at = ? WHERE id IN (SELECT dose_id FROM dose_group_members "
                "WHERE group_id = ?) AND status = 'pending' AND window_closes_at > ?",
                [to_iso(now), row["dose_group_id"], to_iso(now)],
            )
    else:
        repeat = row["channel"] in CHANNELS and CHANNELS[row["channel"]].rich
        content = messages.compose(row["kind"], row["channel"], json.loads(row["context"]), repeat=repeat)
        db.execute(
            "UPDATE messages SET status = 'queued', error = ?, next_attempt_at = ?, subject = ?, body = ?, html = ? "
            "WHERE id = ? AND status = 'sending'",
            [CUT_OFF, to_iso(now), content.subject, content.body, content.html, row["id"]],
        )


def tick_budgets(settings: dict) -> dict[str, int]:
    """How many SMS one tick may hand over: what the rate allows in a tick, and never more than
    a quarter of the send lease (room for a second worker sharing the same rate)."""
    rate = settings["sms.max_per_second"]
    if not rate or "sms" not in channels_available(settings):
        return {}
    window = min(settings["worker.tick_seconds"], settings["worker.send_lease_seconds"] / 4)
    return {"sms": max(1, int(rate * window))}


def _budgets(settings: dict, limit: int, budgets: dict[str, int] | None = None) -> dict[str, int]:
    allowed = {channel: limit for channel in channels_available(settings)}
    for channel, left in (budgets if budgets is not None else tick_budgets(settings)).items():
        if channel in allowed:
            allowed[channel] = min(limit, left)
    return allowed


class Cancelled(Exception):
    """The dose was answered or closed while its prompt waited for a send slot."""


class SendGate:
    """What a send thread checks just before it calls a provider, each with its own connection:
    its slot in the SMS rate (one row shared by every worker process) and, for a dose prompt,
    that the dose is still open."""

    # Pace a little under the cap: a thread that wakes late sends right behind the next one,
    # and the provider counts arrivals, not our slots.
    HEADROOM = 0.9

    def __init__(self, settings: dict):
        self.path = settings["database.path"]
        rate = settings["sms.max_per_second"]
        self.interval = 1 / (rate * self.HEADROOM) if rate else 0.0
        # One connection per send thread, opened at its first message and closed when the
        # thread ends with its pool (sqlite3 closes a connection it frees): opening one per
        # message cost more than the send itself in a burst.
        self.local = threading.local()

    def connection(self) -> Database:
        if not hasattr(self.local, "db"):
            self.local.db = connect(self.path)
        return self.local.db

    def wait_for_sms_slot(self) -> None:
        if not self.interval:
            return
        db = self.connection()
        with immediate(db):
            row = db.execute("SELECT last_run_at FROM worker_marks WHERE name = 'sms_rate'").fetchone()
            slot = max(float(row[0]) if row else 0.0, wall_seconds())
            db.execute(
                "INSERT INTO worker_marks (name, last_run_at) VALUES ('sms_rate', ?) "
                "ON CONFLICT (name) DO UPDATE SET last_run_at = excluded.last_run_at",
                [repr(slot + self.interval)],
            )
        delay = slot - wall_seconds()
        if delay > 0:
            time.sleep(delay)

    def dose_open(self, dose_id: int) -> bool:
        row = (
            self.connection()
            .execute(
                "SELECT d.status = 'pending' AND m.ended_at IS NULL FROM doses d "
                "JOIN medications m ON m.id = d.medication_id WHERE d.id = ?",
                [dose_id],
            )
            .fetchone()
        )
        return bool(row and row[0])

    def group_open(self, group_id: int) -> bool:
        """Whether any dose of a group prompt is still open."""
        sql = "SELECT EXISTS (" + OPEN_MEMBER.replace("q.dose_group_id", "?") + ")"
        return bool(self.connection().execute(sql, [group_id]).fetchone()[0])


def _sends(
    transport: Transport, gate: SendGate, rows: list[dict], claimed_at: datetime, concurrency: int
) -> Iterator[list[tuple[dict, str | TransportError | Cancelled]]]:
    """Send ``rows`` from at most ``concurrency`` threads; yield (row, outcome) in handfuls, each
    as soon as it has returned. The threads take the next row from one queue (a future per
    message cost more than an outbox send in a burst)."""
    todo: queue.SimpleQueue[dict] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    for row in rows:
        todo.put(row)

    def sender() -> None:
        while True:
            try:
                row = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((row, _send(transport, gate, row, claimed_at)))
            except BaseException as error:  # the process is being killed: stop, as the main thread will
                done.put((row, _Stopped(error)))
                return

    threads = min(concurrency, len(rows))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(threads):
            pool.submit(sender)
        left = len(rows)
        while left:
            handful = [done.get()]
            while True:
                try:
                    handful.append(done.get_nowait())
                except queue.Empty:
                    break
            left -= len(handful)
            for _, outcome in handful:
                if isinstance(outcome, _Stopped):
                    _drain(todo)  # the rest stay 'sending': recover() finds them after the restart
                    raise outcome.error
            yield handful


class _Stopped:
    """A send thread stopped by a BaseException (a kill), carried to the main thread to raise."""

    def __init__(self, error: BaseException):
        self.error = error


def _drain(todo: queue.SimpleQueue) -> None:
    while True:
        try:
            todo.get_nowait()
        except queue.Empty:
            return


def _send(transport: Transport, gate: SendGate, row: dict, claimed_at: datetime) -> str | TransportError | Cancelled:
    """One send, in a worker thread. Never raises: every failure becomes an outcome to record."""
    try:
        if row["kind"] in PROMPT_KINDS and row["dose_id"] and not gate.dose_open(row["dose_id"]):
            return Cancelled()
        if row["kind"] in PROMPT_KINDS and row.get("dose_group_id") and not gate.group_open(row["dose_group_id"]):
            return Cancelled()
        if row["channel"] == "sms":
            gate.wait_for_sms_slot()
        return transport.send(_outgoing(row, claimed_at))
    except TransportError as error:
        return error
    except Exception as error:  # a provider answering nonsense must not stop the rest of the batch
        return TransportError(f"unexpected {type(error).__name__}: {error}", permanent=False)


def _outgoing(row: dict, claimed_at: datetime | None) -> OutgoingMessage:
    validity = None
    if row["valid_until"] and claimed_at:
        validity = int((parse_instant(row["valid_until"]) - claimed_at).total_seconds())
    return OutgoingMessage(
        row["id"], row["channel"], row["recipient"], row["kind"], row["subject"], row["body"], row["html"], validity
    )


def _record(db: Database, row: dict, outcome: str | TransportError | Cancelled, now: datetime, settings: dict) -> bool:
    """Write one send's outcome; return whether a fallback message was queued."""
    if isinstance(outcome, Cancelled):
        db.execute(
            "UPDATE messages SET status = 'cancelled', error = 'the dose was answered or closed before it went out' "
            "WHERE id = ? AND status = 'sending'",
            [row["id"]],
        )
        return False
    if not isinstance(outcome, TransportError):
        db.execute(
            "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ?, error = NULL, error_code = NULL "
            "WHERE id = ? AND status = 'sending'",
            [outcome, to_iso(now), row["id"]],
        )
        if row["channel"] != "outbox":
            forget_tokens(db, row)
        return False
    retry_at = now + retry_delay(row["attempts"])
    if not outcome.permanent and still_matters(db, row, retry_at):
        # A failed send may still have reached the phone (a timeout after the provider took
        # it), so a retried reminder is worded as a repeat: "if you already took it, don't
        # take another".
        kind = "follow_up" if row["kind"] == "reminder" else row["kind"]
        context = still_open(db, json.loads(row["context"]))
        content = messages.compose(kind, row["channel"], context)
        db.execute(
            "UPDATE messages SET status = 'queued', error = ?, error_code = ?, next_attempt_at = ?, kind = ?, "
            "subject = ?, body = ?, html = ?, context = ? WHERE id = ? AND status = 'sending'",
            [
                outcome.reason,
                outcome.code,
                to_iso(retry_at),
                kind,
                content.subject,
                content.body,
                content.html,
                json.dumps(context),
                row["id"],
            ],
        )
        # A prompt waits for no outage: its next try is on the patient's other channel, now.
        if row["kind"] in PROMPT_KINDS and not outcome.throttled:
            return fall_back(db, row, now, settings, kind="follow_up") is not None
        return False
    reason = outcome.reason if outcome.permanent else f"gave up after {row['attempts']} tries: {outcome.reason}"
    return mark_failed(db, row, "failed", reason, outcome.code, now, settings, opted_out=outcome.opted_out) is not None


def still_open(db: Database, context: dict) -> dict:
    """A group prompt's ``context`` with only the doses still open, so a retry or a copy on the
    other channel does not ask about a dose answered meanwhile (all answered: it is cancelled)."""
    if not context.get("doses"):
        return context
    ids = [dose["dose_id"] for dose in context["doses"]]
    open_ids = {
        r[0]
        for r in db.execute(
            "SELECT id FROM doses WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'",
            [json.dumps(ids)],
        )
    }
    left = [dose for dose in context["doses"] if dose["dose_id"] in open_ids]
    return {**context, "doses": left or context["doses"]}


def forget_tokens(db: Database, row: dict) -> None:
    """Once a live provider has a message, its stored text keeps the link without the token
    (``/d/[sent]``): the database holds only the token's hash, and now the log does too. The
    outbox keeps its links, which is what it is for (dev only, never with ``notify.mode = "live"``)."""
    db.execute(FORGET_TOKENS, _without_tokens(row))


FORGET_TOKENS = "UPDATE messages SET body = ?, html = ?, context = ? WHERE id = ?"


def _without_tokens(row: dict) -> tuple:
    """``FORGET_TOKENS``'s parameters for ``row``."""
    return without_tokens(row["body"]), without_tokens(row["html"]), without_tokens(row["context"]), row["id"]


def with_live_link(db: Database, row: dict, context: dict, now: datetime) -> dict:
    """``context`` for a fallback copy of ``row``: when the first copy's link lost its token at
    hand-off (``forget_tokens``), a new token for the same dose or alert recipient, so the copy on
    the other channel still opens with one tap."""
    link = context.get("link") or ""
    if REDACTED not in link:
        return context
    if "/d/" in link and row["dose_id"]:
        token = links.reissue(db, row["dose_id"], now)
    elif "/g/" in link and row.get("dose_group_id"):
        token = links.reissue_group(db, row["dose_group_id"], now)
    elif "/a/" in link and row.get("alert_id"):
        token = secrets.token_urlsafe(16)
        # The recipient's one acknowledge token is replaced: the old one was never kept in clear.
        db.execute(
            "UPDATE alert_recipients SET token_hash = ? WHERE alert_id = ? AND user_id = ?",
            [hash_token(token), row["alert_id"], row["user_id"]],
        )
    else:
        return context
    return {**context, "link": link.replace(REDACTED, token)}


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: 30 s, 1, 2, 4, 8 minutes, then 10 minutes
    for ever. The exponent is capped before the power is taken, so try 10,000 costs what try 6
    does (2 ** 42 of a timedelta overflows)."""
    doublings = min(max(attempts - 1, 0), 5)
    return min(RETRY_BASE * 2**doublings, MAX_BACKOFF)


def still_matters(db: Database, row: dict, retry_at: datetime) -> bool:
    """Whether a message that failed transiently is worth its next try at ``retry_at``: until
    its ``valid_until`` (a dose prompt's window, a skip notice's next dose), an alert while it
    is open (neither acknowledged nor resolved), anything else for ``MAX_ATTEMPTS`` tries."""
    if row["valid_until"]:
        return retry_at < parse_instant(row["valid_until"])
    if row["kind"] in ALERT_KINDS and row.get("alert_id"):
        status = db.execute("SELECT status FROM alerts WHERE id = ?", [row["alert_id"]]).fetchone()
        return bool(status and status[0] == "open")
    return row["attempts"] < MAX_ATTEMPTS


def _record_all(db: Database, done: list[tuple[dict, object]], now: datetime, settings: dict) -> bool:
    """Record a handful of outcomes; return whether a fallback was queued. The messages sent
    are recorded with one statement; a failure is recorded alone, as is every message of a
    handful whose statement failed, so one that cannot be recorded never holds the others."""
    sent = [(row, outcome) for row, outcome in done if isinstance(outcome, str)]
    others = [(row, outcome) for row, outcome in done if not isinstance(outcome, str)]
    try:
        with immediate(db):
            _record_sent(db, sent, now)
    except Exception:
        log.exception("recording %s sent messages together failed; recording each alone", len(sent))
        others = done
    fell_back = False
    for row, outcome in others:
        fell_back |= _record_safely(db, row, outcome, now, settings)
    return fell_back


def _record_sent(db: Database, sent: list[tuple[dict, str]], now: datetime) -> None:
    """``_record`` for messages a provider took, many at once."""
    db.conn.executemany(
        "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ?, error = NULL, error_code = NULL "
        "WHERE id = ? AND status = 'sending'",
        [(provider_id, to_iso(now), row["id"]) for row, provider_id in sent],
    )
    db.conn.executemany(FORGET_TOKENS, [_without_tokens(row) for row, _ in sent if row["channel"] != "outbox"])


def _record_safely(
    db: Database, row: dict, outcome: str | TransportError | Cancelled, now: datetime, settings: dict
) -> bool:
    """``_record``, and when even that fails (a template gone, a constraint), the bare outcome
    on this one message, so the rest of the batch is recorded and the tick goes on."""
    try:
        with immediate(db):
            return _record(db, row, outcome, now, settings)
    except Exception as error:
        log.exception("recording the outcome of message %s failed", row["id"])
        if isinstance(outcome, str):
            sql = (
                "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ? WHERE id = ? AND status = 'sending'"
            )
            db.execute(sql, [outcome, to_iso(now), row["id"]])
        else:
            db.execute(
                "UPDATE messages SET status = 'failed', error = ? WHERE id = ? AND status = 'sending'",
                [f"could not record the outcome: {type(error).__name__}: {error}", row["id"]],
            )
        return False


def mark_failed(
    db: Database,
    row: dict,
    status: str,
    reason: str | None,
    code: str | None,
    now: datetime,
    settings: dict,
    opted_out: bool = False,
) -> int | None:
    """Record a message as failed or undelivered for good, and queue it on another channel;
    return the id of that fallback message, if any."""
    db.execute(
        "UPDATE messages SET status = ?, error = ?, error_code = ? WHERE id = ?", [status, reason, code, row["id"]]
    )
    if opted_out and row["user_id"]:
        set_sms_opt_out(db, row["user_id"], now)
    return fall_back(db, row, now, settings)


def fall_back(db: Database, row: dict, now: datetime, settings: dict, kind: str | None = None) -> int | None:
    """Queue ``row`` again (as ``kind``, by default its own) on a channel of its user not yet
    tried for it; return the new id."""
    if row["user_id"] is None or (row["valid_until"] and parse_instant(row["valid_until"]) <= now):
        return None
    user = _user(db, row["user_id"])
    root = row["fallback_of"] or row["id"]
    tried = {
        r[0]
        for r in db.execute(
            "SELECT channel FROM messages WHERE id = ? OR fallback_of = ? OR (user_id = ? AND dose_id IS ? "
            "AND created_at = (SELECT created_at FROM messages WHERE id = ?))",
            [root, root, row["user_id"], row["dose_id"], root],
        ).fetchall()
    }
    available = channels_available(settings)
    for channel in CHANNELS:
        if channel in available and channel not in tried and can_reach(user, channel):
            return messages.queue(
                db,
                user_id=user["id"],
                channel=channel,
                recipient=address(user, channel),
                kind=kind or row["kind"],
                context=still_open(db, with_live_link(db, row, json.loads(row["context"]), now)),
                now=now,
                dose_id=row["dose_id"],
                valid_until=parse_instant(row["valid_until"]) if row["valid_until"] else None,
                fallback_of=root,
                alert_id=row.get("alert_id"),
                dose_group_id=row.get("dose_group_id"),
            )
    return None


# Twilio's MessageStatus values, by how far along they are; ours never moves backwards.
PROVIDER_PROGRESS = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 4,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
}
FAILED_STATUSES = {"undelivered": "undelivered", "failed": "failed", "canceled": "failed"}


def apply_provider_status(
    db: Database, provider_id: str, status: str, error_code: str | None, now: datetime, settings: dict
) -> bool:
    """Record a delivery report (a Twilio status callback); return whether a message matched.

    Reports can arrive out of order: a late "sent" never undoes "delivered". An undelivered or
    failed message is re-sent on the patient's other channel, if they have one.
    """
    if status not in PROVIDER_PROGRESS:
        return False
    with immediate(db):
        cursor = db.execute("SELECT * FROM messages WHERE provider_id = ? AND channel = 'sms'", [provider_id])
        found = cursor.fetchone()
        if found is None:
            return False
        row = dict(zip([d[0] for d in cursor.description], found, strict=False))
        if PROVIDER_PROGRESS.get(row["provider_status"], -1) >= PROVIDER_PROGRESS[status]:
            return True
        db.execute("UPDATE messages SET provider_status = ? WHERE id = ?", [status, row["id"]])
        if status in ("delivered", "read"):
            db.execute("UPDATE messages SET status = 'delivered' WHERE id = ?", [row["id"]])
        elif status in FAILED_STATUSES:
            reason = f"{provider_label(row['channel'])} reported {status}" + (
                f" (error {error_code})" if error_code else ""
            )
            mark_failed(
                db, row, FAILED_STATUSES[status], reason, error_code, now, settings, opted_out=error_code == "21610"
            )
    return True


def provider_label(channel: str) -> str:
    return CHANNELS[channel].provider if channel in CHANNELS else channel


def set_sms_opt_out(db: Database, user_id: int, now: datetime | None) -> None:
    """Stop (``now``) or restart (``None``) SMS to a user."""
    db.execute("UPDATE users SET sms_opted_out_at = ? WHERE id = ?", [to_iso(now) if now else None, user_id])


def _user(db: Database, user_id: int) -> dict:
    cursor = db.execute("SELECT * FROM users WHERE id = ?", [user_id])
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=False))

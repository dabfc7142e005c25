"""The missed-dose rule: skip it if it is near the next dose, never double up.

Pure functions of a dose, the patient's answer, other intakes and ``now``; the web page, the
API, SMS replies and the worker all call these and nothing else decides. Source and defaults:
``../shared/domain.md`` section 2 (NHS baclofen leaflet: "skip the missed dose if it's nearly
time for the next one; never take 2 doses at the same time"; NHS SPS: most medicines are fine
up to 2 hours late). Every message here tells the patient to skip or to confirm, never to take
two doses or to make one up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .schedule import next_dose_words
from .times import clock_label

# With no next dose scheduled (the last dose of a medication), assume a daily rhythm.
ASSUMED_INTERVAL_WITHOUT_NEXT = timedelta(hours=24)
ROLLING_DAY = timedelta(hours=24)


@dataclass(frozen=True)
class DoseRule:
    """A medication's missed-dose parameters; the defaults are domain.md section 2."""

    on_time_minutes: int = 60
    skip_fraction: float = 0.5
    skip_hours_before_next: float = 2.0
    min_gap_fraction: float = 0.5

    @property
    def on_time(self) -> timedelta:
        return timedelta(minutes=self.on_time_minutes)


@dataclass(frozen=True)
class Dose:
    """What the rule needs to know about one scheduled dose (all instants UTC)."""

    scheduled_at: datetime
    window_closes_at: datetime
    amount: float
    status: str = "pending"
    taken_at: datetime | None = None
    confirmed_at: datetime | None = None
    next_scheduled_at: datetime | None = None
    # The regimen's spacing around this dose (the shorter gap to its scheduled neighbours).
    # The minimum gap is measured against it too, so a same-day change of dose times cannot
    # shrink the protection between two intakes.
    regimen_interval: timedelta | None = None
    cancel_reason: str | None = None  # why a ``cancelled`` dose is not scheduled (CANCEL_REASON_WORDS)


@dataclass(frozen=True)
class Intake:
    """Another recorded intake of the same ingredient and route (from this entry or a duplicate)."""

    taken_at: datetime
    scheduled_at: datetime
    amount: float


@dataclass(frozen=True)
class Decision:
    """The outcome of an answer. ``outcome`` is what to record; ``None`` records nothing.

    ``code`` names the case for the API (``taken``, ``skipped``, ``snoozed``, ``already_recorded``,
    ``window_closed``, ``window_closing`` (a snooze past the window), ``not_due_yet``, ``too_soon``,
    ``over_daily_maximum``, ``bad_time``, ``not_scheduled`` (a cancelled dose)).
    """

    code: str
    message: str
    outcome: str | None = None
    taken_at: datetime | None = None
    on_time: bool | None = None
    snooze_until: datetime | None = None
    offer_earlier_time: bool = False
    # A reported intake that broke a rule, recorded as the fact it is: "too_soon", "over_daily_maximum".
    flags: tuple[str, ...] = ()

    @property
    def ask_if_already_taken(self) -> bool:
        """A refusal the patient may answer with "Yes, I already took it" (the intake is then recorded)."""
        return self.code in ("too_soon", "over_daily_maximum")

    @property
    def accepted(self) -> bool:
        return self.code in ("taken", "skipped", "snoozed", "corrected")


def window_closes_at(t: datetime, t_next: datetime | None, rule: DoseRule) -> datetime:
    """When dose ``t`` turns from late-but-takeable to skip.

    ``min(t + skip_fraction * (t_next - t), t_next - skip_hours_before_next)``, never before the
    on-time window ends. The last dose of a day uses the next day's first dose as ``t_next``.
    """
    if t_next is None:
        t_next = t + ASSUMED_INTERVAL_WITHOUT_NEXT
    closes = min(
        t + (t_next - t) * rule.skip_fraction,
        t_next - timedelta(hours=rule.skip_hours_before_next),
    )
    return max(closes, t + rule.on_time)


def is_on_time(t: datetime, taken_at: datetime, rule: DoseRule) -> bool:
    return abs(taken_at - t) <= rule.on_time


def decide_taken(
    dose: Dose,
    now: datetime,
    rule: DoseRule,
    tz: ZoneInfo,
    other_intakes: list[Intake],
    max_daily_amount: float | None = None,
    reported_at: datetime | None = None,
    override_reason: str | None = None,
    already_taken: bool = False,
    watch_for: str = "",
) -> Decision:
    """Whether a "Taken" answer is recorded, and at what intake time.

    ``reported_at`` is "I already took it at ...", a time before now. Without it, a tap after
    the window closed is not recorded: the patient is told to skip this dose and offered the
    earlier-time form. ``override_reason`` (a caregiver's or clinician's) lifts the minimum gap.

    A "Taken" that breaks the minimum gap or the daily maximum is refused, with the question
    "have you already taken it?". ``already_taken`` is the answer "yes": a reported intake is a
    fact (domain.md section 6), so it is recorded at its time with ``flags`` and the advice of
    ``watch_for`` (what to watch for, when to call emergency services), never turned into missed.
    """
    if dose.status == "cancelled":
        return not_scheduled(dose)
    if dose.status in ("taken", "skipped"):
        return _already(dose, tz)
    if reported_at is not None:
        problem = _check_reported_time(dose, reported_at, now, rule, tz)
        if problem:
            return problem
    elif dose.status in ("missed", "unknown") or now >= dose.window_closes_at:
        return _window_closed(dose, tz, now)
    elif now < dose.scheduled_at - rule.on_time:
        return _not_due_yet(dose, tz)
    taken_at = reported_at or now
    flags = []
    too_close = _closest_intake_within_gap(dose, taken_at, rule, other_intakes)
    if too_close is not None and not override_reason:
        if not already_taken:
            return _too_soon(dose, too_close, rule, tz)
        flags.append("too_soon")
    if max_daily_amount is not None:
        total = most_in_a_day(dose.amount, taken_at, tz, other_intakes)
        if total > max_daily_amount + 1e-9:
            if not already_taken:
                return Decision(
                    "over_daily_maximum",
                    f"Not recorded: this dose would bring the total to {total:g} in 24 hours, over the maximum "
                    f"of {max_daily_amount:g} a day. Don't take it. Contact your prescriber if you are unsure.",
                )
            flags.append("over_daily_maximum")
    on_time = is_on_time(dose.scheduled_at, taken_at, rule)
    when = clock_label(taken_at.astimezone(tz).time())
    if flags:
        return Decision(
            "taken",
            f"Recorded: taken at {when}. {FLAG_WORDS[flags[0]]} {watch_for or GENERIC_WATCH_FOR} "
            "Don't take any more of this medicine until you have talked to your prescriber. Your caregivers "
            "and clinic are being told.",
            outcome="taken",
            taken_at=taken_at,
            on_time=on_time,
            flags=tuple(flags),
        )
    return Decision(
        "taken",
        f"Recorded: taken at {when}{'' if on_time else ' (late)'}.",
        outcome="taken",
        taken_at=taken_at,
        on_time=on_time,
    )


FLAG_WORDS = {
    "too_soon": "That was too soon after your previous dose.",
    "over_daily_maximum": "That is more than the most you should take in a day.",
}
GENERIC_WATCH_FOR = (
    "Watch for strong drowsiness, confusion, or slow or shallow breathing. Call emergency services (911) "
    "if breathing is slow or you cannot stay awake."
)


def decide_skip(dose: Dose, tz: ZoneInfo, now: datetime | None = None, rule: DoseRule = DoseRule()) -> Decision:
    """A "Skip" answer: recorded on a dose that is due and still open; an answered or closed
    dose stays as it is, and a dose not yet due cannot be skipped ahead (its reminder stays)."""
    if dose.status == "cancelled":
        return not_scheduled(dose)
    if dose.status in ("taken", "skipped"):
        return _already(dose, tz)
    if dose.status in ("missed", "unknown"):
        return Decision("already_recorded", "This dose was already closed as missed. Nothing changed.")
    if now is not None and now < dose.scheduled_at - rule.on_time:
        return _not_due_yet(dose, tz)
    return Decision(
        "skipped",
        "Recorded: skipped. Take your next dose at its usual time. Don't take two doses to make up.",
        outcome="skipped",
    )


def decide_snooze(dose: Dose, now: datetime, snooze: timedelta, tz: ZoneInfo, rule: DoseRule = DoseRule()) -> Decision:
    """A "Snooze" answer: one more reminder later, if the dose is due and that is still inside
    its window. A dose not yet due keeps its own reminder."""
    if dose.status == "cancelled":
        return not_scheduled(dose)
    if dose.status in ("taken", "skipped"):
        return _already(dose, tz)
    if dose.status in ("missed", "unknown") or now >= dose.window_closes_at:
        return _window_closed(dose, tz, now)
    if now < dose.scheduled_at - rule.on_time:
        return _not_due_yet(dose, tz)
    until = now + snooze
    if until >= dose.window_closes_at:
        closes = clock_label(dose.window_closes_at.astimezone(tz).time())
        return Decision(
            "window_closing",
            f"Can't snooze: after {closes} it will be too close to your next dose. "
            "Take it now if you haven't, or skip it.",
        )
    return Decision(
        "snoozed",
        f"We'll remind you again at {clock_label(until.astimezone(tz).time())}.",
        snooze_until=until,
    )


def most_in_a_day(amount: float, taken_at: datetime, tz: ZoneInfo, others: list[Intake]) -> float:
    """The largest total, this intake included, of its local calendar day or of any rolling 24 hours
    (every window ``(t - 24 h, t]``) that holds it: a change of time zone or clocks never makes
    room for more (domain.md section 6, "any rolling 24 h counts, so travel never adds doses")."""
    day = taken_at.astimezone(tz).date()
    totals = [amount + sum(i.amount for i in others if i.taken_at.astimezone(tz).date() == day)]
    window_ends = [taken_at] + [i.taken_at for i in others if taken_at < i.taken_at < taken_at + ROLLING_DAY]
    for end in window_ends:
        totals.append(amount + sum(i.amount for i in others if end - ROLLING_DAY < i.taken_at <= end))
    return max(totals)


# Why a dose was cancelled, as a person reads it ("not scheduled: time-zone change").
CANCEL_REASON_WORDS = {"time_zone_change": "time-zone change"}


def not_scheduled_words(reason: str | None) -> str:
    """How a cancelled dose reads in History and on its page."""
    return f"not scheduled: {CANCEL_REASON_WORDS.get(reason, 'cancelled')}"


def not_scheduled(dose: Dose) -> Decision:
    """Any answer on a cancelled dose: nothing is recorded, and nobody is told to make it up."""
    return Decision(
        "not_scheduled",
        f"This dose was {not_scheduled_words(dose.cancel_reason)}. Nothing was recorded. "
        "Take your next dose at its usual time.",
    )


def _not_due_yet(dose: Dose, tz: ZoneInfo) -> Decision:
    due = clock_label(dose.scheduled_at.astimezone(tz).time())
    return Decision("not_due_yet", f"This dose isn't due until {due}. Nothing was recorded.")


def _already(dose: Dose, tz: ZoneInfo) -> Decision:
    confirmed = dose.confirmed_at.astimezone(tz) if dose.confirmed_at else None
    when = f" at {clock_label(confirmed.time())} on {confirmed:%a %d %b}" if confirmed else ""
    if dose.status == "taken":
        taken = clock_label(dose.taken_at.astimezone(tz).time())
        message = f"Already recorded{when}: taken at {taken}. Don't take another. Nothing changed."
    else:
        message = f"Already recorded{when}: skipped. Nothing changed."
    return Decision("already_recorded", message)


EARLIER_TIME_HINT = "If you already took this one earlier, tell us when."


def skip_advice(dose: Dose, tz: ZoneInfo, now: datetime) -> str:
    """What a patient is told, at ``now``, about a dose whose window has closed: the next dose's
    time, with its day when that is not the patient's today."""
    next_label = ""
    if dose.next_scheduled_at is not None:
        day = now.astimezone(tz).date()  # after midnight, this morning's dose is today's, not "tomorrow"
        next_label = f" at its usual time, {next_dose_words(dose.next_scheduled_at, day, tz)}"
    return (
        "It's too close to your next dose to take this one now. Skip this dose and take your next "
        f"dose{next_label}. Don't take two doses. {EARLIER_TIME_HINT}"
    )


def _window_closed(dose: Dose, tz: ZoneInfo, now: datetime) -> Decision:
    return Decision("window_closed", skip_advice(dose, tz, now), offer_earlier_time=True)


def _too_soon(dose: Dose, other: Intake, rule: DoseRule, tz: ZoneInfo) -> Decision:
    other_label = clock_label(other.taken_at.astimezone(tz).time())
    interval = max(abs(other.scheduled_at - dose.scheduled_at), dose.regimen_interval or timedelta(0))
    earliest = other.taken_at + interval * rule.min_gap_fraction
    if other.taken_at < dose.scheduled_at and earliest < dose.window_closes_at:
        advice = f"Wait until {clock_label(earliest.astimezone(tz).time())} before taking this one."
    else:
        advice = "Don't take another dose now. Skip this one and take your next dose at its usual time."
    return Decision(
        "too_soon",
        f"Not recorded: a dose of this medication was taken at {other_label}, too close to this one. {advice}",
    )


def _check_reported_time(
    dose: Dose, reported_at: datetime, now: datetime, rule: DoseRule, tz: ZoneInfo
) -> Decision | None:
    if reported_at >= now:  # "I already took it at ..." is a time before now, or it is a tap now
        return Decision("bad_time", "That time is not in the past. Enter the time you took it.")
    if reported_at < dose.scheduled_at - rule.on_time:
        due = clock_label(dose.scheduled_at.astimezone(tz).time())
        return Decision("bad_time", f"That time is before this dose was due ({due}). Nothing was recorded.")
    if dose.next_scheduled_at is not None and reported_at >= dose.next_scheduled_at:
        following = clock_label(dose.next_scheduled_at.astimezone(tz).time())
        return Decision(
            "bad_time",
            f"That is after your next dose was due ({following}): record it on that dose "
            "instead. Nothing was recorded.",
        )
    return None


def _closest_intake_within_gap(dose: Dose, taken_at: datetime, rule: DoseRule, others: list[Intake]) -> Intake | None:
    """The other intake too close to ``taken_at``: nearer than min_gap_fraction x the interval,
    the longer of the two doses' scheduled distance and the regimen's spacing."""
    for other in sorted(others, key=lambda i: abs(i.taken_at - taken_at)):
        interval = max(abs(other.scheduled_at - dose.scheduled_at), dose.regimen_interval or timedelta(0))
        if abs(other.taken_at - taken_at) < interval * rule.min_gap_fraction:
            return other
    return None


def answer_window(
    status: str, scheduled_at: datetime, window_closes_at: datetime, on_time: timedelta, now: datetime
) -> str | None:
    """Whether a dose can be answered at ``now``: ``"open"`` from the start of its on-time
    window until its window closes (Taken is accepted), ``"not_due"`` before that (Taken is
    refused as ``not_due_yet``), None once answered or closed."""
    if status != "pending" or now >= window_closes_at:
        return None
    return "not_due" if now < scheduled_at - on_time else "open"


CORRECTION_GRACE = timedelta(hours=1)
CORRECTION_TARGETS = ("not_taken", "taken", "skip")


def decide_correction(dose: Dose, to: str, now: datetime, tz: ZoneInfo) -> Decision:
    """Whether an answer already recorded may be corrected to ``to``, and to what status.

    A wrong tap is put right until the dose's window closes, or within an hour of the answer
    (issue 9 §4). The correction is an event on the dose; history is never rewritten silently.
    ``not_taken`` puts the dose back to ``pending`` while its window is open (else ``missed``);
    ``skip`` records a skip; ``taken`` is left to ``decide_taken`` (the never-double rules apply).
    Returns a Decision whose ``outcome`` is the new status, or a refusal (``outcome`` None).
    """
    if dose.status not in ("taken", "skipped"):
        return Decision("nothing_to_correct", "There is no answer on this dose to correct. Nothing changed.")
    answered = dose.confirmed_at or dose.scheduled_at
    if now >= max(dose.window_closes_at, answered + CORRECTION_GRACE):
        return Decision(
            "too_late_to_correct",
            "This answer can no longer be changed here: tell your clinician or caregiver what happened.",
        )
    current = "taken" if dose.status == "taken" else "skip"
    if to == current:
        return Decision("already_recorded", "That is what is recorded already. Nothing changed.")
    if to == "skip":
        return Decision("corrected", "Corrected: skipped. Take your next dose at its usual time.", outcome="skipped")
    if to == "not_taken":
        reopened = now < dose.window_closes_at
        words = "not taken yet: you can still confirm it" if reopened else "not taken (missed)"
        return Decision("corrected", f"Corrected: {words}.", outcome="pending" if reopened else "missed")
    return Decision("correct_to_taken", "")  # the caller runs decide_taken on the reopened dose

"""Quiet hours: when a message that can wait may go (a pure rule; issue 10 section 5).

Each person has quiet hours in their own zone (default 22:00 to 07:00). Skip notices, refill
and pump reminders, level-2 alerts and their repeats, and "it has ended" notices wait until the
quiet hours end. Scheduled dose reminders (the patient chose those times), level-3 alerts and
alerts that are urgent by nature (a pump at its alarm date, a possible overdose, a severe side
effect) go at once (domain.md section 6).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import InputError

DEFAULT_START, DEFAULT_END = "22:00", "07:00"
# Kinds that wait whatever they are about.
WAITING_KINDS = ("skip_notice", "notice", "alert_resolved", "link_ended")
ALERT_MESSAGE_KINDS = ("alert", "alert_repeat")
URGENT_ALERT_KINDS = ("pump", "possible_overdose", "side_effect")


def may_wait(kind: str, alert_level: int | None = None, alert_kind: str | None = None) -> bool:
    """Whether a ``kind`` message (about an alert of this level and kind) waits for quiet hours to end."""
    if kind in WAITING_KINDS:
        return True
    if kind in ALERT_MESSAGE_KINDS:
        return (alert_level or 0) < 3 and alert_kind not in URGENT_ALERT_KINDS
    return False


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_end(now: datetime, tz: str, start: str = DEFAULT_START, end: str = DEFAULT_END) -> datetime | None:
    """The UTC instant the quiet hours around ``now`` end, or None when ``now`` is not in them.

    Computed on the local wall clock and converted back, so the night of a DST change ends at
    07:00 local on either side of it (New York: 2026-03-08 and 2026-11-01)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    begins, ends = _clock(start), _clock(end)
    if begins == ends:
        return None  # no quiet hours
    wall = local.time().replace(tzinfo=None)
    if begins < ends:  # within one day, e.g. 13:00-15:00
        quiet = begins <= wall < ends
        end_day = local.date()
    else:  # across midnight, e.g. 22:00-07:00
        quiet = wall >= begins or wall < ends
        end_day = local.date() + timedelta(days=1) if wall >= begins else local.date()
    if not quiet:
        return None
    # A wall time skipped by a spring-forward change is normalised by the round trip through UTC.
    return datetime.combine(end_day, ends, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def check(text: str, field: str) -> str:
    """A local ``HH:MM`` for a quiet-hours setting; InputError naming ``field`` otherwise."""
    text = (text or "").strip()
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not found:
        raise InputError(field, "Give quiet hours as a time such as 22:00 or 07:00.")
    return f"{int(found.group(1)):02d}:{found.group(2)}"

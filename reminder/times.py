"""Parsing and formatting of instants, local times and dates.

Instants are stored as UTC ISO-8601 text with a ``Z``, to the second, so that text order is
time order and indexed range queries work on the stored strings.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC = UTC
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A time as people type it: "8", "8am", "8 a.m.", "8:00 pm", "8.30pm", "20:00", "0830", "9:30:00".
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h]?(\d{2}))?(?::\d{2})?\s*(?:([ap])\.?\s*m?\.?)?$")
_MERIDIEM = re.compile(r"^[ap]\.?\s*m?\.?$")
_WORDS = {"noon": time(12, 0), "midday": time(12, 0), "midnight": time(0, 0)}


@lru_cache(maxsize=1024)  # a burst's thousands of rows share a few instants; strftime is not free
def to_iso(instant: datetime) -> str:
    """``2026-03-08T13:00:00Z``. Raises ValueError for a naive datetime."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry its offset")
    return instant.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with ``Z`` or an offset, as an aware UTC datetime.

    Raises ValueError when the text is not an instant or has no offset.
    """
    if not isinstance(text, str) or "T" not in text:
        raise ValueError(f"not an ISO-8601 instant: {text!r}")
    if len(text) == 20 and text[-1] == "Z":
        # What to_iso stores: the fast path, taken for every row a report reads. Python 3.11
        # reads the Z itself (tzinfo is UTC), 20 times faster than parsing naive then .replace().
        return datetime.fromisoformat(text)
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError(f"instant without an offset: {text!r} (add Z or +01:00)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"instant out of range: {text!r}") from None


def parse_hhmm(text: str) -> time:
    """``"08:00"`` as a time; ValueError for anything else (``"25:00"``, ``"8am"``)."""
    match = _HHMM.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a time of day in 24-hour HH:MM: {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def parse_clock(text: str) -> time:
    """A time of day typed any way people write it: ``"8"``, ``"8am"``, ``"8:00 pm"``, ``"20:00"``,
    ``"9:30"``, ``"noon"``. A bare hour or ``H:MM`` without am/pm is on the 24-hour clock ("9:30"
    is morning, "21:30" evening), as on a phone's clock. ValueError for anything else."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if cleaned in _WORDS:
        return _WORDS[cleaned]
    match = _CLOCK.match(cleaned)
    if not match:
        raise ValueError(f"not a time of day: {text!r}")
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(f"not a time of day: {text!r} (am and pm go with 1 to 12)")
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"not a time of day: {text!r}")
    return time(hour, minute)


def split_clocks(text: str) -> list[str]:
    """A list of times as typed ("8am, 1 pm and 20:00") cut into one text per time: commas,
    "and" and spaces separate them, but "pm" after a space stays with its number."""
    words = [word for word in re.split(r"[,;\s]+|\band\b", text.strip().lower()) if word]
    parts: list[str] = []
    for word in words:
        if parts and _MERIDIEM.match(word) and parts[-1][-1].isdigit():
            parts[-1] += " " + word
        else:
            parts.append(word)
    return parts


def as_hhmm(text: str) -> str:
    """Times typed in a form ("8am, 1 pm" or "8:15 am") as the ``HH:MM`` the API takes ("08:00
    13:00"); a part not understood is left as typed, so the check that follows names it. The JSON
    API itself keeps to ``HH:MM``: only the pages are lenient."""
    if not isinstance(text, str) or "T" in text:
        return text  # an ISO instant, or not text: for the checker to judge
    shown = []
    for part in split_clocks(text):
        try:
            shown.append(parse_clock(part).strftime("%H:%M"))
        except ValueError:
            shown.append(part)
    return " ".join(shown)


def parse_date(text: str) -> date:
    if not isinstance(text, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        raise ValueError(f"not a date in YYYY-MM-DD: {text!r}")
    return date.fromisoformat(text)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError for an unknown one."""
    if not isinstance(name, str) or name not in _zone_names():
        raise ValueError(f"unknown time zone: {name!r} (use an IANA name like Europe/London)")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError as error:  # pragma: no cover - listed but not loadable
        raise ValueError(f"unknown time zone: {name!r}") from error


_ZONES: set[str] = set()


def _zone_names() -> set[str]:
    """Real places' zones (Region/City) and UTC; not "localtime", "Factory" or legacy aliases."""
    if not _ZONES:
        _ZONES.update(
            name
            for name in available_timezones()
            if name == "UTC" or ("/" in name and not name.startswith(("posix/", "right/", "Etc/", "SystemV/")))
        )
    return _ZONES


def zone_names() -> list[str]:
    return sorted(_zone_names())


def local_today(tz: str | tzinfo, now: datetime) -> date:
    """The date it is at ``now`` in the zone ``tz`` (an IANA name or a zone): the patient's today."""
    return now.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz).date()


def clock_label(value: time) -> str:
    """``8:00 AM``: how a time of day reads in a message."""
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"

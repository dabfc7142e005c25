"""Message texts and the message log.

A message is rendered from ``templates/messages/<kind>.<part>`` (``.sms.txt`` for SMS and the
outbox; ``.subject.txt``, ``.email.txt`` and ``.email.html`` for email) and written as a
``queued`` row in the same transaction as the change that caused it, so a crash can never
lose one. ``delivery`` sends the rows and records what happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta, select_autoescape
from markupsafe import escape
from sqlite_utils import Database

from .notify import CHANNELS
from .times import to_iso

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class Content:
    subject: str
    body: str
    html: str = ""


def render(template: str, context: dict) -> str:
    """One template, lines right-trimmed."""
    text = _env.get_template(template).render(**context)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def compose(kind: str, channel: str, context: dict, repeat: bool = False) -> Content:
    """The subject, text and HTML of a ``kind`` message on ``channel``.

    ``repeat`` marks a message sent again after a crash cut it off mid-send, when we cannot know
    whether the first copy arrived (email cannot be asked): it says it may be a repeat.
    """
    link = context.get("link")
    if isinstance(link, str) and link:
        # A burst's messages differ only by their links: render each text once, with a stand-in
        # for the link, and put each message's own link in (a burst of 10,000 renders one text).
        used = {key: context[key] for key in _variables(kind, channel) if key in context}
        content = _compose_cached(kind, channel, json.dumps({**used, "link": LINK_STAND_IN}, sort_keys=True))
        content = Content(
            content.subject.replace(LINK_STAND_IN, link),
            content.body.replace(LINK_STAND_IN, link),
            content.html.replace(LINK_STAND_IN, str(escape(link))),
        )
    else:
        content = _compose(kind, channel, context)
    return with_repeat_note(content) if repeat else content


LINK_STAND_IN = "LINK0STAND0IN"  # the same once escaped for HTML, and in no template


@lru_cache(maxsize=256)
def _compose_cached(kind: str, channel: str, context_json: str) -> Content:
    return _compose(kind, channel, json.loads(context_json))


@lru_cache(maxsize=256)
def _variables(kind: str, channel: str) -> frozenset[str]:
    """The context keys the templates of a ``kind`` message on ``channel`` read (with what they
    extend, include or import), so the cache key leaves out the rest (a patient's name in an SMS)."""
    names, seen, todo = set(), set(), list(_templates(kind, channel))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = _env.parse(_env.loader.get_source(_env, name)[0])
        names |= meta.find_undeclared_variables(tree)
        todo += [found for found in meta.find_referenced_templates(tree) if found]
    return frozenset(names)


def _templates(kind: str, channel: str) -> tuple[str, ...]:
    if channel in CHANNELS and CHANNELS[channel].rich:
        return (f"{kind}.subject.txt", f"{kind}.email.txt", f"{kind}.email.html")
    return (f"{kind}.sms.txt",)


def _compose(kind: str, channel: str, context: dict) -> Content:
    parts = [render(template, context) for template in _templates(kind, channel)]
    return Content(*parts) if len(parts) == 3 else Content("", parts[0])


def with_repeat_note(content: Content) -> Content:
    note = render("_repeat_note.txt", {})
    return Content(
        f"Possibly a repeat: {content.subject}" if content.subject else "",
        f"{note}\n\n{content.body}",
        f"<p><em>{escape(note)}</em></p>\n{content.html}" if content.html else "",
    )


def queue(
    db: Database,
    *,
    user_id: int | None,
    channel: str,
    recipient: str,
    kind: str,
    context: dict,
    now: datetime,
    dose_id: int | None = None,
    valid_until: datetime | None = None,
    fallback_of: int | None = None,
    alert_id: int | None = None,
    dose_group_id: int | None = None,
    send_after: datetime | None = None,
) -> int:
    """Record a message to be sent (now, or from ``send_after``: the end of quiet hours); call
    inside the transaction that caused it."""
    outgoing = Outgoing(user_id, channel, recipient, kind, context, dose_id, dose_group_id, valid_until, fallback_of)
    cursor = db.execute(INSERT, [*_values(outgoing, now, send_after), alert_id])
    return cursor.lastrowid


@dataclass(frozen=True)
class Outgoing:
    """One message to queue with ``queue_many``: a burst's row, before it is written."""

    user_id: int | None
    channel: str
    recipient: str
    kind: str
    context: dict
    dose_id: int | None = None
    dose_group_id: int | None = None
    valid_until: datetime | None = None
    fallback_of: int | None = None


INSERT = (
    "INSERT INTO messages (user_id, channel, recipient, kind, dose_id, dose_group_id, subject, body, html, context, "
    "valid_until, fallback_of, created_at, next_attempt_at, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def queue_many(db: Database, outgoing: list[Outgoing], now: datetime) -> None:
    """Record many messages to be sent with one statement (a burst of reminders); call inside the
    transaction that caused them."""
    db.conn.executemany(INSERT, [[*_values(message, now), None] for message in outgoing])


def _values(message: Outgoing, now: datetime, send_after: datetime | None = None) -> list:
    content = compose(message.kind, message.channel, message.context)
    return [
        message.user_id,
        message.channel,
        message.recipient,
        message.kind,
        message.dose_id,
        message.dose_group_id,
        content.subject,
        content.body,
        content.html,
        json.dumps(message.context),
        to_iso(message.valid_until) if message.valid_until else None,
        message.fallback_of,
        to_iso(now),
        to_iso(send_after or now),
    ]


JSON_FIELDS = (
    "id",
    "channel",
    "recipient",
    "kind",
    "dose_id",
    "subject",
    "body",
    "status",
    "provider_id",
    "error",
    "error_code",
    "attempts",
    "created_at",
    "sent_at",
)


def as_json(row: dict) -> dict:
    return {key: row[key] for key in JSON_FIELDS}


def messages_page(db: Database, user_id: int, before: int | None, size: int) -> tuple[list[dict], int | None]:
    """One page of a user's messages, newest first, older than message ``before`` (the newest when
    None), and the id to ask for the next page with (None on the last page)."""
    rows = list(
        db.query(
            "SELECT * FROM messages WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            [user_id, before if before is not None else 2**63 - 1, size + 1],
        )
    )
    page = [as_json(row) for row in rows[:size]]
    return page, (page[-1]["id"] if len(rows) > size else None)


def list_messages(db: Database, user_id: int | None = None, limit: int = 200) -> list[dict]:
    sql = "SELECT * FROM messages" + (" WHERE user_id = ?" if user_id is not None else "") + " ORDER BY id DESC LIMIT ?"
    params = ([user_id] if user_id is not None else []) + [limit]
    return [as_json(row) for row in db.query(sql, params)]

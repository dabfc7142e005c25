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
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
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
    if channel in CHANNELS and CHANNELS[channel].rich:
        content = Content(
            render(f"{kind}.subject.txt", context),
            render(f"{kind}.email.txt", context),
            render(f"{kind}.email.html", context),
        )
    else:
        content = Content("", render(f"{kind}.sms.txt", context))
    return with_repeat_note(content) if repeat else content


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
) -> int:
    """Record a message to be sent; call inside the transaction that caused it."""
    content = compose(kind, channel, context)
    cursor = db.execute(
        "INSERT INTO messages (user_id, channel, recipient, kind, dose_id, subject, body, html, context, "
        "valid_until, fallback_of, created_at, next_attempt_at, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            user_id,
            channel,
            recipient,
            kind,
            dose_id,
            content.subject,
            content.body,
            content.html,
            json.dumps(context),
            to_iso(valid_until) if valid_until else None,
            fallback_of,
            to_iso(now),
            to_iso(now),
            alert_id,
        ],
    )
    return cursor.lastrowid


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

"""Tokens out of what we keep: message bodies after hand-off, and the request log.

A phone link (``/d/…``), an acknowledge link (``/a/…``) and an invitation link
(``/invitations/…``, ``/clinic-invitations/…``), a reset link (``/password/reset/…``) and an
email confirmation (``/register/confirm/…``, ``/email/confirm/…``) each act without a password. The database keeps
only their hashes; these helpers keep the clear token out of the message log and the access log.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[sent]"
TOKEN_PATH = re.compile(
    r"(/(?:d|a|invitations|clinic-invitations|password/reset|register/confirm|email/confirm)/)[A-Za-z0-9_\-]+"
)


# A phone or reset code in a message's text ("code is 123456", "code is <strong>…") and context.
CODE = re.compile(r'(code is (?:<strong>)?|"code": ")\d{4,8}')


def without_tokens(text: str | None, mark: str = REDACTED) -> str | None:
    """``text`` with every token link's token and every code replaced by ``mark``:
    ``/d/abc`` -> ``/d/[sent]``, ``code is 123456`` -> ``code is [sent]``."""
    if not text:
        return text
    text = TOKEN_PATH.sub(lambda match: match.group(1) + mark, text)
    return CODE.sub(lambda match: match.group(1) + mark, text)


class TokenFilter(logging.Filter):
    """Rewrites a log record's message and arguments so no token path reaches a log handler
    (Werkzeug logs ``"GET /d/<token> HTTP/1.1" 200`` for every request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = without_tokens(record.msg, "[token]")
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):  # gunicorn's access log passes its atoms as a mapping
            record.args = {key: _clean(value) for key, value in record.args.items()}
        return True


def _clean(value):
    return without_tokens(value, "[token]") if isinstance(value, str) else value


def install_log_filter() -> None:
    """Attach ``TokenFilter`` to the Werkzeug and gunicorn access loggers (idempotent)."""
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenFilter) for f in logger.filters):
            logger.addFilter(TokenFilter())

"""Every setting, declared once: its key, default, help line and check.

The app reads the TOML file named by ``--config`` or ``REMINDER_CONFIG``; with no file the
defaults serve. Secrets may come from the environment instead of the file. A bad value stops
start-up with a ``ConfigError`` naming the key. ``config.example.toml`` must list every key here
(a test checks it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .notify import CHANNELS, channels_available

__all__ = ["SETTINGS", "ConfigError", "Setting", "channels_available", "load"]


class ConfigError(Exception):
    """A setting is missing, unknown or has a bad value; the message names the key."""


@dataclass(frozen=True)
class Setting:
    key: str  # "section.name"
    default: Any
    help: str
    check: Callable[[Any], bool] = lambda value: True
    env: str | None = None  # environment variable that overrides the file (secrets)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _positive_whole(value: Any) -> bool:
    """A count (days, attempts): a positive whole number."""
    return _positive(value) and isinstance(value, int)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _at_least_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _url(value: Any) -> bool:
    return _text(value) and value.startswith(("http://", "https://")) and not value.endswith("/")


SETTINGS: tuple[Setting, ...] = (
    Setting("database.path", "reminder.db", "SQLite file, relative to the working folder.", _text),
    Setting("server.host", "127.0.0.1", "Address `reminder serve` and `reminder run` listen on.", _text),
    Setting("server.port", 8000, "Port `reminder serve` and `reminder run` listen on.", _positive),
    Setting(
        "server.base_url",
        "http://127.0.0.1:8000",
        "Public address put in message links, without a trailing slash.",
        _url,
    ),
    Setting(
        "server.public_url",
        "",
        "The address Twilio calls the webhooks at, as Twilio sees it (behind a proxy: the outside "
        "https address). Empty: base_url. Webhook signatures are checked against it.",
        lambda v: v == "" or _url(v),
    ),
    Setting(
        "server.secret_key",
        "",
        "Signs sessions and CSRF tokens. Empty: a random key made once and kept in the database.",
        _text,
        env="REMINDER_SECRET_KEY",
    ),
    Setting(
        "server.workers",
        2,
        "Gunicorn worker processes `reminder serve` and `reminder run` start (not with --dev); about one per core.",
        _positive,
    ),
    Setting(
        "server.threads",
        8,
        "Threads per gunicorn worker: connections each serves at once, kept alive between requests.",
        _positive,
    ),
    Setting(
        "server.proxy_hops",
        0,
        "Proxies in front of `reminder serve` whose X-Forwarded-For and X-Forwarded-Proto are trusted "
        "(1 behind one TLS proxy); 0 trusts none.",
        _at_least_zero,
    ),
    Setting("server.dev_mode", False, "Shows /dev/outbox with the messages the outbox holds.", _flag),
    Setting(
        "server.secure_cookies",
        False,
        "Mark session cookies Secure; turn on when the app is served over HTTPS.",
        _flag,
    ),
    Setting(
        "clock.mode",
        "system",
        '"system" reads the computer\'s clock; "manual" keeps the time in the database '
        "(`reminder clock set`), shared by the web app and the worker.",
        lambda v: v in ("system", "manual"),
    ),
    Setting("worker.tick_seconds", 30, "Seconds between worker ticks.", _positive),
    Setting(
        "worker.misfire_grace_seconds",
        300,
        "How late a tick may start and still run (APScheduler's default of 1 s drops ticks).",
        _positive,
    ),
    Setting(
        "worker.horizon_hours",
        72,
        "How far ahead doses are generated (at least 48).",
        lambda v: _positive(v) and v >= 48,
    ),
    Setting("worker.follow_up_minutes", 30, "Minutes after a reminder before its one follow-up.", _positive),
    Setting("worker.snooze_minutes", 15, "Minutes a Snooze tap postpones the reminder.", _positive),
    Setting("worker.batch_size", 500, "Most doses or messages one tick step handles at once.", _positive),
    Setting(
        "worker.send_lease_seconds",
        120,
        "A message still marked as sending after this long was cut off by a crash and is resent "
        "in the follow-up wording.",
        _positive,
    ),
    Setting(
        "notify.mode",
        "outbox",
        '"outbox" records every message in the database and sends nothing (no credentials needed); '
        '"live" sends each patient\'s messages by SMS and/or email as they chose, through [sms] and [email].',
        lambda v: v in ("outbox", "live"),
    ),
    Setting("notify.max_concurrent_sends", 8, "Messages handed to providers at the same time.", _positive),
    Setting(
        "notify.name_medication",
        False,
        "Name the medication in reminders. Off by default: a lock screen is not private.",
        _flag,
    ),
    Setting("sms.account_sid", "", "Twilio account SID (AC...). Empty: no SMS channel.", _text),
    Setting(
        "sms.auth_token",
        "",
        "Twilio auth token; prefer the TWILIO_AUTH_TOKEN environment variable.",
        _text,
        env="TWILIO_AUTH_TOKEN",
    ),
    Setting(
        "sms.from_number", "", "Sending number in E.164 (+1...), or leave empty and set messaging_service_sid.", _text
    ),
    Setting(
        "sms.messaging_service_sid", "", "Twilio Messaging Service SID (MG...), used instead of from_number.", _text
    ),
    Setting(
        "sms.api_base_url",
        "https://api.twilio.com",
        "Twilio's API address; a staging or test double can stand in.",
        _url,
    ),
    Setting("sms.timeout_seconds", 10, "HTTP timeout for one request to Twilio.", _positive),
    Setting(
        "sms.max_per_second",
        1,
        "Most SMS handed to Twilio per second, so a burst at 08:00 queues here instead of tripping "
        "the provider. 0: no cap.",
        _at_least_zero,
    ),
    Setting("email.host", "", "SMTP server. Empty: no email channel.", _text),
    Setting("email.port", 587, "SMTP port.", _positive),
    Setting("email.security", "starttls", '"starttls", "ssl" or "none".', lambda v: v in ("starttls", "ssl", "none")),
    Setting("email.username", "", "SMTP login; empty for none.", _text),
    Setting(
        "email.password",
        "",
        "SMTP password; prefer the REMINDER_SMTP_PASSWORD environment variable.",
        _text,
        env="REMINDER_SMTP_PASSWORD",
    ),
    Setting("email.from_address", "reminder@localhost", "The From address of reminder emails.", _text),
    Setting("email.timeout_seconds", 10, "Timeout for one SMTP conversation.", _positive),
    Setting(
        "push.contact",
        "",
        'Who push services may contact about our messages ("mailto:ops@clinic.example"). Empty: no web push channel.',
        _text,
    ),
    Setting("push.timeout_seconds", 10, "HTTP timeout for one request to a browser's push service.", _positive),
    Setting(
        "reports.adherent_cutoff",
        0.8,
        'Taking adherence at or above this counts as "adherent" in reports (80 %: PQA, MEMS literature).',
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
    ),
    Setting(
        "health.failing_attempts",
        20,
        "/healthz looks at this many of the latest send attempts to tell that every channel is failing.",
        _positive,
    ),
    Setting(
        "health.failing_min",
        5,
        "/healthz fails when none of those attempts went out and more than this many failed.",
        _at_least_zero,
    ),
    Setting(
        "health.min_free_mb", 200, "/healthz fails when the database's disk has less free space (MB).", _at_least_zero
    ),
    Setting(
        "health.clock_back_minutes",
        60,
        "/healthz fails for this long after the worker saw the clock step backwards.",
        _positive,
    ),
    Setting(
        "privacy.message_retention_days",
        90,
        "Days a message's text (body, HTML, links) is kept; the worker then blanks it. Who was told "
        "what kind of message, when and how it went stays, and so does dose history.",
        _positive_whole,
    ),
    Setting(
        "limits.failed_attempts",
        10,
        "Failed guesses (logins, reset and phone codes, clinic join codes, sign-ups) one account or "
        "one address may make within the window; past it, 429 with Retry-After.",
        _positive_whole,
    ),
    Setting(
        "limits.window_minutes",
        15,
        "Minutes a failed guess counts against its account and address.",
        _positive,
    ),
    Setting(
        "links.expire_hours",
        24,
        "Hours after a dose's window closes that its phone link keeps working.",
        _positive,
    ),
)

BY_KEY = {setting.key: setting for setting in SETTINGS}


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def load(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return every setting's value: defaults, then the file, then the environment, then overrides.

    ``path`` defaults to ``$REMINDER_CONFIG``. Raises ``ConfigError`` for an unreadable file, an
    unknown key or a bad value.
    """
    path = path or os.environ.get("REMINDER_CONFIG")
    values = {setting.key: setting.default for setting in SETTINGS}
    if path:
        try:
            from_file = _flatten(tomllib.loads(Path(path).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read config file {path}: {error}") from error
        values.update(_known(from_file, source=str(path)))
    for setting in SETTINGS:
        if setting.env and os.environ.get(setting.env):
            values[setting.key] = os.environ[setting.env]
    values.update(_known(overrides or {}, source="overrides"))
    for key, value in values.items():
        if not BY_KEY[key].check(value):
            raise ConfigError(f"bad value for {key}: {value!r} ({BY_KEY[key].help})")
    _check_channels(values)
    return values


def _check_channels(values: dict[str, Any]) -> None:
    """Live mode needs at least one complete channel; a half-configured one is an error."""
    for channel in CHANNELS.values():
        problem = channel.problem(values) if channel.enabled(values) else None
        if problem:
            raise ConfigError(problem)
    if values["notify.mode"] == "live" and not any(channel.enabled(values) for channel in CHANNELS.values()):
        raise ConfigError('notify.mode = "live" needs [sms] account_sid, [email] host or [push] contact')
    if values["notify.mode"] == "live" and "://127.0.0.1" in values["server.base_url"] + values["server.public_url"]:
        raise ConfigError(
            'server.base_url must be the public address with notify.mode = "live": '
            "links and delivery reports cannot reach 127.0.0.1"
        )
    if values["notify.mode"] == "live" and values["server.dev_mode"]:
        # /dev/outbox shows every patient's working links to anyone: never with real patients.
        raise ConfigError('server.dev_mode cannot be on with notify.mode = "live"')


def _known(values: dict[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(values) - set(BY_KEY))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]} in {source}")
    return values

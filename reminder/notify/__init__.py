"""Transports and the channel registry: how a recorded message leaves the building.

A transport is one method and one exception: ``send(message) -> provider_id``, raising
``TransportError(reason, permanent=bool)``. ``CHANNELS`` is the registry: each channel's
transport class, the settings that turn it on and what they must include, who it can reach
and at which address. Config, delivery, accounts and messages read it, so adding a channel
touches this folder: write a module with a transport class, add a ``Channel`` here, declare
its settings in ``config.py`` and ``config.example.toml``, add its message templates if it is
not plain text, and test it against a real protocol peer on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .base import OutboxTransport, OutgoingMessage, Transport, TransportError
from .smtp_email import SmtpTransport
from .twilio_sms import TwilioTransport
from .webpush import WebPushTransport

__all__ = [
    "CHANNELS",
    "Channel",
    "OutboxTransport",
    "OutgoingMessage",
    "Router",
    "Transport",
    "TransportError",
    "channels_available",
    "make_transport",
]


@dataclass(frozen=True)
class Channel:
    name: str
    transport: type
    enabled: Callable[[dict], bool]  # the settings turn it on
    problem: Callable[[dict], str | None]  # what an enabled channel's settings lack, if anything
    reaches: Callable[[dict], bool]  # the user (a users row) can get messages on it
    address_field: str  # the users column it sends to
    label: str  # how a person calls it, in errors: "This server cannot send text messages."
    provider: str  # who reports its failures: "Twilio reported undelivered"
    rich: bool = False  # has a subject and an HTML part (templates .subject.txt, .email.*)


def _sms_problem(settings: dict) -> str | None:
    if not settings["sms.auth_token"]:
        return "sms.auth_token is needed with sms.account_sid (or set TWILIO_AUTH_TOKEN)"
    if not (settings["sms.from_number"] or settings["sms.messaging_service_sid"]):
        return "sms.from_number or sms.messaging_service_sid is needed with sms.account_sid"
    return None


CHANNELS: dict[str, Channel] = {
    "sms": Channel(
        "sms",
        TwilioTransport,
        enabled=lambda settings: bool(settings["sms.account_sid"]),
        problem=_sms_problem,
        # Only a verified number: one a user typed may be someone else's until its code comes back.
        reaches=lambda user: (
            bool(user.get("phone")) and user.get("phone_verified", 1) == 1 and not user.get("sms_opted_out_at")
        ),
        address_field="phone",
        label="text messages",
        provider="Twilio",
    ),
    "email": Channel(
        "email",
        SmtpTransport,
        enabled=lambda settings: bool(settings["email.host"]),
        problem=lambda settings: None,
        reaches=lambda user: bool(user.get("email")),
        address_field="email",
        label="email",
        provider="the mail server",
        rich=True,
    ),
    # Web push to the browsers the user turned it on in (Settings): free for patient and clinic.
    # The address is the user's id; the transport sends to each of their subscriptions.
    "push": Channel(
        "push",
        WebPushTransport,
        enabled=lambda settings: bool(settings.get("push.contact")),
        problem=lambda settings: (
            None
            if settings["push.contact"].startswith(("mailto:", "https://"))
            else "push.contact must be a mailto: or https: address the push services can reach you at"
        ),
        reaches=lambda user: bool(user.get("push_devices")),
        address_field="id",
        label="push notifications",
        provider="the push service",
    ),
}


def channels_available(settings: dict) -> tuple[str, ...]:
    """The channels this deployment can send on: ("outbox",) in outbox mode."""
    if settings["notify.mode"] == "outbox":
        return ("outbox",)
    return tuple(name for name, channel in CHANNELS.items() if channel.enabled(settings))


class Router:
    """One transport per channel; a message goes to the transport of its ``channel``."""

    def __init__(self, transports: dict[str, Transport]):
        self.transports = transports

    def send(self, message: OutgoingMessage) -> str:
        transport = self.transports.get(message.channel)
        if transport is None:
            raise TransportError(f"no {message.channel} channel is configured", permanent=True)
        return transport.send(message)

    def find_sent(self, message: OutgoingMessage, since: datetime) -> str | None:
        """The provider's id for ``message`` if a send cut off mid-way reached it, else None;
        None too when the channel cannot be asked (email). Raises TransportError."""
        find = getattr(self.transports.get(message.channel), "find_sent", None)
        return find(message, since) if find else None


def make_transport(settings: dict) -> Router:
    classes = {"outbox": OutboxTransport} | {name: channel.transport for name, channel in CHANNELS.items()}
    return Router({name: classes[name](settings) for name in channels_available(settings)})

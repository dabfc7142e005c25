"""Transports: how a recorded message leaves the building.

A transport is one method and one exception: ``send(message) -> provider_id``, raising
``TransportError(reason, permanent=bool)``. ``make_transport`` maps each available channel
name to its class; the ``Router`` it returns hands each message to the transport of its
channel. To add a channel: write a class with ``send``, add it to ``make_transport``, declare
its settings in ``config.py`` and ``config.example.toml``, and test it against a real protocol
peer on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    channel: str
    recipient: str
    kind: str
    subject: str
    body: str
    html: str = ""
    validity_seconds: int | None = None  # how long a provider may hold it before it is useless


class TransportError(Exception):
    """Sending failed. ``permanent`` failures are not retried (a bad number); others are.

    ``code`` is the provider's error code when there is one; ``opted_out`` says the recipient
    has unsubscribed from this channel (Twilio 21610).
    """

    def __init__(self, reason: str, permanent: bool = False, code: str | None = None, opted_out: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.opted_out = opted_out


class Transport(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Hand ``message`` to the provider; return its id for the message. Raises TransportError."""


class OutboxTransport:
    """Delivers nowhere: the ``messages`` table is the outbox (``/dev/outbox``, ``reminder messages``)."""

    def __init__(self, settings: dict):
        self.settings = settings

    def send(self, message: OutgoingMessage) -> str:
        return f"outbox-{message.id}"


class Router:
    """One transport per channel; a message goes to the transport of its ``channel``."""

    def __init__(self, transports: dict[str, Transport]):
        self.transports = transports

    def send(self, message: OutgoingMessage) -> str:
        transport = self.transports.get(message.channel)
        if transport is None:
            raise TransportError(f"no {message.channel} channel is configured", permanent=True)
        return transport.send(message)


def make_transport(settings: dict) -> Router:
    from ..config import channels_available
    from .smtp_email import SmtpTransport
    from .twilio_sms import TwilioTransport

    transports = {"outbox": OutboxTransport, "sms": TwilioTransport, "email": SmtpTransport}
    return Router({name: transports[name](settings) for name in channels_available(settings)})

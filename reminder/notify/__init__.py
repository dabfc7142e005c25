"""Transports: how a recorded message leaves the building.

A transport is one method and one exception: ``send(message) -> provider_id``, raising
``TransportError(reason, permanent=bool)``. ``TRANSPORTS`` maps a channel name to its class.
To add a channel: write a class with ``send``, add it here, declare its settings in
``config.py`` and ``config.example.toml``, and test it against a real protocol peer.
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


class TransportError(Exception):
    """Sending failed. ``permanent`` failures are not retried (a bad number); others are."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Transport(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Hand ``message`` to the provider; return its id for the message. Raises TransportError."""


class OutboxTransport:
    """Delivers nowhere: the ``messages`` table is the outbox (``/dev/outbox``, ``reminder messages``)."""

    def __init__(self, settings: dict):
        self.settings = settings

    def send(self, message: OutgoingMessage) -> str:
        return f"outbox-{message.id}"


TRANSPORTS = {"outbox": OutboxTransport}


def make_transport(settings: dict) -> Transport:
    return TRANSPORTS[settings["notify.channel"]](settings)

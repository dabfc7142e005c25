"""What every transport shares: the message it is handed and the one exception it raises."""

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
    has unsubscribed from this channel (Twilio 21610); ``throttled`` says the provider only
    asked us to slow down (HTTP 429): the channel works, so a prompt waits for it rather than
    moving to the patient's other channel.
    """

    def __init__(
        self,
        reason: str,
        permanent: bool = False,
        code: str | None = None,
        opted_out: bool = False,
        throttled: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        self.opted_out = opted_out
        self.throttled = throttled


class Transport(Protocol):
    """``send`` is all a transport needs. One whose provider can be asked what it received
    also has ``find_sent(message, since) -> provider_id | None`` (Twilio does, SMTP cannot)."""

    def send(self, message: OutgoingMessage) -> str:
        """Hand ``message`` to the provider; return its id for the message. Raises TransportError."""


class OutboxTransport:
    """Delivers nowhere: the ``messages`` table is the outbox (``/dev/outbox``, ``reminder messages``)."""

    def __init__(self, settings: dict):
        self.settings = settings

    def send(self, message: OutgoingMessage) -> str:
        return f"outbox-{message.id}"

"""SMS through Twilio's REST API with the official client.

``sms.api_base_url`` points the client at Twilio or at a stand-in (staging, or the tests' fake
on loopback). Error codes are sorted into permanent and transient by Twilio's documentation:
https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

from datetime import datetime

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .base import OutgoingMessage, TransportError

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": the patient replied STOP
TRANSIENT_CODES = {20429}  # too many concurrent requests; any other 4xx code is permanent (a bad number)
MAX_VALIDITY = 36000  # Twilio's limit, in seconds


class TwilioTransport:
    def __init__(self, settings: dict):
        self.from_number = settings["sms.from_number"]
        self.service_sid = settings["sms.messaging_service_sid"]
        public = settings["server.public_url"] or settings["server.base_url"]
        self.status_callback = f"{public}/hooks/twilio/status"
        self.client = Client(
            settings["sms.account_sid"],
            settings["sms.auth_token"],
            http_client=TwilioHttpClient(timeout=settings["sms.timeout_seconds"]),
        )
        self.client.api.base_url = settings["sms.api_base_url"]

    def send(self, message: OutgoingMessage) -> str:
        options = {"to": message.recipient, "body": message.body, "status_callback": self.status_callback}
        if self.service_sid:
            options["messaging_service_sid"] = self.service_sid
        else:
            options["from_"] = self.from_number
        if message.validity_seconds is not None:
            # Twilio drops a queued message after this: a reminder that arrives after the
            # dose's window has closed would only invite a late dose.
            options["validity_period"] = max(1, min(MAX_VALIDITY, message.validity_seconds))
        try:
            return self.client.messages.create(**options).sid
        except TwilioRestException as error:
            raise classify(error) from error
        except requests.RequestException as error:  # timeouts, refused connections
            raise TransportError(f"Twilio unreachable: {type(error).__name__}") from error

    def find_sent(self, message: OutgoingMessage, since: datetime) -> str | None:
        """The id of ``message`` if Twilio already has it (a send cut off after Twilio took it),
        else None: Twilio's Messages list for its number since ``since``, matched on the body."""
        try:
            found = self.client.messages.list(to=message.recipient, date_sent_after=since, limit=50)
        except (TwilioRestException, requests.RequestException) as error:
            raise TransportError(f"Twilio could not be asked: {type(error).__name__}") from error
        return next((sent.sid for sent in found if sent.body == message.body), None)


def classify(error: TwilioRestException) -> TransportError:
    code = error.code
    reason = f"Twilio {error.status} {code or ''}: {error.msg}".strip()
    if code in TRANSIENT_CODES or error.status == 429:
        return TransportError(reason, permanent=False, code=str(code or error.status), throttled=True)
    if error.status >= 500:
        return TransportError(reason, permanent=False, code=str(code or error.status))
    return TransportError(reason, permanent=True, code=str(code or error.status), opted_out=code == OPTED_OUT)

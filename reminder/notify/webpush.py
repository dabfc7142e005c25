"""Web push through ``pywebpush``: the message, encrypted to each of the user's browsers.

A push message's recipient is the user's id; it goes to every browser they turned push on in
(``reminder.push``). The payload is JSON the service worker (``static/sw.js``) shows as a
notification: the text, and for a dose prompt its one-tap link, from which the "Taken" and
"Snooze" actions answer through ``/api/v1/links/<token>/answer``.

Outcomes, as SMS's: sent when any browser's push service took it; a 404 or 410 (the browser
dropped the subscription) deletes that subscription, and when none is left the failure is
permanent, so delivery falls back to the user's other channels; a 429 only throttles; any other
failure (5xx, timeout, refused connection) is transient and retried.
"""

from __future__ import annotations

import json
import re

import requests
from py_vapid import Vapid

from .. import push
from ..db import connect
from .base import OutgoingMessage, TransportError

GONE = (404, 410)  # the push service no longer knows this browser's subscription
DOSE_LINK = re.compile(r"(https?://\S+/d/[A-Za-z0-9_-]+)")
PROMPTS = ("reminder", "follow_up")
MAX_TTL = 28 * 24 * 3600  # what push services keep a message at most


class WebPushTransport:
    def __init__(self, settings: dict):
        self.path = settings["database.path"]
        self.claims = {"sub": settings["push.contact"]}
        self.timeout = settings["push.timeout_seconds"]

    def send(self, message: OutgoingMessage) -> str:
        db = connect(self.path)
        try:
            subscriptions = push.subscriptions_of(db, int(message.recipient))
            private_pem = push.private_key(db)  # made before any browser could subscribe
            if not subscriptions or private_pem is None:
                raise TransportError("push is no longer on in any of this user's browsers", permanent=True, code="410")
            data = json.dumps(payload(message))
            sent, failures = [], []
            for subscription in subscriptions:
                try:
                    sent.append(self._push(subscription, data, private_pem, message))
                except TransportError as error:
                    if error.code in {str(status) for status in GONE}:
                        push.forget(db, subscription["id"])
                    failures.append(error)
        finally:
            db.close()
        if sent:
            return " ".join(sent)[:500]
        if all(error.permanent for error in failures):
            raise TransportError("; ".join(error.reason for error in failures), permanent=True, code=failures[0].code)
        first = next(error for error in failures if not error.permanent)
        raise first

    def _push(self, subscription: dict, data: str, private_pem: str, message: OutgoingMessage) -> str:
        info = {
            "endpoint": subscription["endpoint"],
            "keys": {"p256dh": subscription["p256dh"], "auth": subscription["auth"]},
        }
        # Imported here, not at the top: pywebpush brings aiohttp, over half a second at the start
        # of every process (the CLI, the web app), and only a worker sending push needs it.
        from pywebpush import WebPushException, webpush

        ttl = MAX_TTL if message.validity_seconds is None else max(0, min(MAX_TTL, message.validity_seconds))
        try:
            response = webpush(
                info,
                data,
                vapid_private_key=Vapid.from_pem(private_pem.encode()),
                vapid_claims=dict(self.claims),  # pywebpush adds "aud" and "exp" to the dict it is given
                timeout=self.timeout,
                # A reminder is due now: "high" wakes a phone that is saving its battery.
                headers={"Urgency": "high" if message.kind in PROMPTS else "normal"},
                ttl=ttl,  # after the dose's window closes a reminder would only invite a late dose
            )
        except WebPushException as error:
            raise classify(error.response) from error
        except requests.RequestException as error:  # timeouts, refused connections
            raise TransportError(f"push service unreachable: {type(error).__name__}") from error
        return response.headers.get("Location") or f"push-{subscription['id']}"


def classify(response) -> TransportError:
    status = response.status_code if response is not None else 0
    reason = f"push service answered {status}"
    if status in GONE:
        return TransportError(reason, permanent=True, code=str(status))
    if status == 429:
        return TransportError(reason, permanent=False, code="429", throttled=True)
    if status >= 500 or status == 0:
        return TransportError(reason, permanent=False, code=str(status))
    return TransportError(reason, permanent=True, code=str(status))  # 400, 403, 413: ours to fix


def payload(message: OutgoingMessage) -> dict:
    """What the service worker shows: a title, the text without its link, and the dose link
    (for the Taken and Snooze actions) when the message is a dose prompt."""
    found = DOSE_LINK.search(message.body)
    text = DOSE_LINK.sub("", message.body).strip().rstrip(":").strip() if found else message.body
    body = {"title": message.subject or "reminder", "body": text, "kind": message.kind, "tag": f"message-{message.id}"}
    if found:
        body["url"] = found.group(1)
        body["dose_link"] = found.group(1) if message.kind in PROMPTS else None
    return body

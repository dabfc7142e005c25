"""Twilio's webhooks: delivery reports and the patient's text replies.

Both check ``X-Twilio-Signature`` against the public URL (``server.public_url``, else
``server.base_url``): a missing or forged signature gets a 403 and changes nothing. They are
exempt from CSRF, being signed instead; nothing else is.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from .. import delivery, sms_replies
from ..db import get_db
from .common import now, settings, snooze_length

bp = Blueprint("twilio_hooks", __name__, url_prefix="/hooks/twilio")


@bp.before_request
def check_signature():
    token = settings()["sms.auth_token"]
    public = settings()["server.public_url"] or settings()["server.base_url"]
    url = public + request.full_path.rstrip("?")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or not RequestValidator(token).validate(url, request.form, signature):
        abort(403, description="Bad or missing Twilio signature.")


@bp.route("/status", methods=["POST"])
def status():
    form = request.form
    delivery.apply_provider_status(
        get_db(),
        form.get("MessageSid", ""),
        form.get("MessageStatus", ""),
        form.get("ErrorCode") or None,
        now(),
        settings(),
    )
    return "", 204


@bp.route("/sms", methods=["POST"])
def inbound():
    reply = sms_replies.answer(
        get_db(), request.form.get("From", ""), request.form.get("Body", ""), now(), snooze_length()
    )
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return Response(str(twiml), mimetype="application/xml")

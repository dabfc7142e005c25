"""The installed app's parts: the service worker at the site's root, the push key and a
browser's push subscription (Settings), and the pages the service worker keeps for offline use.

The service worker (``static/sw.js``) is served from ``/sw.js`` so its scope is the whole site.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user, login_required

from .. import push
from ..db import get_db
from ..times import to_iso
from .common import now

bp = Blueprint("pwa", __name__)
OFFLINE_AHEAD = timedelta(hours=48)  # the dose pages kept on the phone for use without a network


@bp.route("/sw.js")
def service_worker():
    # Never cached (every page but a static file is no-store): a new version reaches phones at their next visit.
    return Response((Path(current_app.static_folder) / "sw.js").read_text(), mimetype="text/javascript")


@bp.route("/push/key")
@login_required
def push_key():
    """The server's VAPID public key, the ``applicationServerKey`` a browser subscribes with."""
    _private, public = push.vapid_keys(get_db(), now())
    return jsonify({"public_key": public})


@bp.route("/push/subscriptions", methods=["POST"])
@login_required
def subscribe():
    """Keep this browser's push subscription (``PushSubscription.toJSON()``) and add push to the
    user's channels. CSRF: the page's token in the ``X-CSRFToken`` header."""
    subscription = push.read_subscription(request.get_json(silent=True))
    push.subscribe(get_db(), current_user.id, subscription, request.headers.get("User-Agent", ""), now())
    return jsonify({"subscribed": True, "devices": len(push.subscriptions_of(get_db(), current_user.id))}), 201


@bp.route("/push/subscriptions/remove", methods=["POST"])
@login_required
def unsubscribe():
    data = request.get_json(silent=True)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    removed = push.unsubscribe(get_db(), current_user.id, endpoint if isinstance(endpoint, str) else "")
    return jsonify({"removed": removed, "devices": len(push.subscriptions_of(get_db(), current_user.id))})


@bp.route("/offline/pages")
def offline_pages():
    """The pages the service worker keeps for use offline: a patient's Today and dose pages of the
    next 48 h (and of the last 24, which may still be answered); none without a login. ``now`` is
    the server's clock, which dates the taps the phone saves while offline (a texted link's too)."""
    current = now()
    if not current_user.is_authenticated or current_user.role != "patient":
        return jsonify({"pages": [], "now": to_iso(current)})
    rows = get_db().execute(
        "SELECT id FROM doses WHERE patient_id = ? AND scheduled_at >= ? AND scheduled_at < ? ORDER BY scheduled_at",
        [current_user.id, to_iso(current - timedelta(hours=24)), to_iso(current + OFFLINE_AHEAD)],
    )
    return jsonify({"pages": ["/", *(f"/doses/{row[0]}" for row in rows)], "now": to_iso(current)})

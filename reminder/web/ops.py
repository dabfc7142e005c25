"""For operators and newcomers: /healthz, the dev outbox, and the web app manifest."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template

from .. import health
from ..db import get_db
from ..messages import list_messages
from .common import now, settings

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """200 when all is well; 503 with every reason in ``problems`` (health.py says which)."""
    problems, details = health.report(get_db(), now(), settings())
    body = {"status": problems[0] if problems else "ok", "problems": problems, **details}
    return jsonify(body), 503 if problems else 200


@bp.route("/dev/outbox")
def outbox():
    """Every recorded message, newest first, with working links. Only with server.dev_mode on."""
    if not settings()["server.dev_mode"]:
        abort(404)
    return render_template("outbox.html", messages=list_messages(get_db(), limit=200))


@bp.route("/manifest.webmanifest")
def manifest():
    """What makes the site installable: PNG icons (any and maskable), colours, and standalone
    display; the service worker is ``/sw.js`` (``pwa.py``). Icons: ``tools/make_icons.py``."""
    icons = [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {"src": "/static/icons/maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
    ]
    return (
        jsonify(
            {
                "id": "/",
                "name": "reminder: medication reminders",
                "short_name": "reminder",
                "description": "Reminders for your medication doses, with one tap to say you took them.",
                "start_url": "/",
                "scope": "/",
                "display": "standalone",
                "background_color": "#ffffff",
                "theme_color": "#1f5f8b",
                "icons": icons,
            }
        ),
        200,
        {"Content-Type": "application/manifest+json"},
    )

"""For operators and newcomers: /healthz, the dev outbox, and the web app manifest."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template

from ..db import get_db
from ..messages import list_messages
from ..times import parse_instant
from .common import now, settings

bp = Blueprint("ops", __name__)
STALE_TICKS = 3  # /healthz fails when the last tick is older than this many intervals


@bp.route("/healthz")
def healthz():
    """200 with the age of the last tick; 503 when the worker looks dead."""
    row = get_db().execute("SELECT last_tick_at, took_ms FROM worker_heartbeat WHERE id = 1").fetchone()
    limit = STALE_TICKS * settings()["worker.tick_seconds"]
    if row is None:
        return jsonify({"status": "no tick yet", "last_tick_at": None, "limit_seconds": limit}), 503
    age = (now() - parse_instant(row[0])).total_seconds()
    healthy = age <= limit
    body = {
        "status": "ok" if healthy else "worker stale",
        "last_tick_at": row[0],
        "age_seconds": age,
        "limit_seconds": limit,
        "last_tick_ms": round(row[1], 1),
    }
    return jsonify(body), 200 if healthy else 503


@bp.route("/dev/outbox")
def outbox():
    """Every recorded message, newest first, with working links. Only with server.dev_mode on."""
    if not settings()["server.dev_mode"]:
        abort(404)
    return render_template("outbox.html", messages=list_messages(get_db(), limit=200))


@bp.route("/manifest.webmanifest")
def manifest():
    return (
        jsonify(
            {
                "name": "reminder: medication reminders",
                "short_name": "reminder",
                "start_url": "/",
                "display": "standalone",
                "background_color": "#ffffff",
                "theme_color": "#1f5f8b",
                "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
            }
        ),
        200,
        {"Content-Type": "application/manifest+json"},
    )

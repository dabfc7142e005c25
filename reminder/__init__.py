"""reminder: medication reminders with the missed-dose rule built in.

Where things live:
- ``missed_dose``: the rule (skip if near the next dose, never double), pure functions;
- ``schedule``: regimen steps to local and UTC dose times, DST included;
- ``ledger``: the dose ledger in the database, and answering a dose;
- ``worker``: the tick that generates, reminds, follows up and closes windows;
- ``web/`` and ``api``: thin views over those.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from . import config, db
from .clock import make_clock
from .notify import make_transport

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_path: str | None = None, overrides: dict | None = None) -> Flask:
    """Build the web app from the config file (or ``$REMINDER_CONFIG``) and ``overrides``."""
    settings = config.load(config_path, overrides)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(
        REMINDER=settings,
        SECRET_KEY=settings["server.secret_key"] or db.stored_secret(settings["database.path"], "secret_key"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["server.secure_cookies"],
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings["server.secure_cookies"],
        WTF_CSRF_TIME_LIMIT=None,  # a reminder page may sit open on a phone for hours
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["reminder.clock"] = make_clock(settings["clock.mode"], lambda: db.connect(settings["database.path"]))
    app.extensions["reminder.transport"] = make_transport(settings)

    db.init_app(app)
    from .web import init_app as init_web

    init_web(app)
    return app

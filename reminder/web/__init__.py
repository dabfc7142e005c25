"""The web app's parts: sessions and CSRF, the patient pages, the phone link, the API, ops.

Each view module is a blueprint registered here; what several of them share lives in
``common.py`` (and ``api/common.py`` for the API), never in another view module.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, request
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from ..amounts import dose_words
from ..redact import install_log_filter
from ..schedule import days_words
from ..times import clock_label, parse_hhmm, parse_instant
from .common import STATUS_WORDS, dose_status_words, safety_path

csrf = CSRFProtect()
# Scripts, styles and images only from this site; no inline script or handler can run, and no
# other site may frame a page (the one-tap dose and alert forms would be clickjackable).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class IdConverter(IntegerConverter):
    """A row id in a URL: a positive integer SQLite can hold (a bigger one is simply not found)."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**63 - 1)


def init_app(app) -> None:
    app.url_map.converters["id"] = IdConverter
    from . import (
        admin,
        api,
        auth,
        care,
        clinic,
        clinic_plans,
        data_rights,
        dose_group,
        dose_link,
        errors,
        ops,
        patient,
        pwa,
        safety,
        twilio_hooks,
    )

    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in check_csrf below
    csrf.init_app(app)
    app.before_request(check_csrf)
    auth.login_manager.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(patient.bp)
    app.register_blueprint(data_rights.bp)
    app.register_blueprint(care.bp)
    app.register_blueprint(clinic.bp)
    app.register_blueprint(clinic_plans.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(dose_link.bp)
    app.register_blueprint(dose_group.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(pwa.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(twilio_hooks.bp)
    app.register_blueprint(safety.bp)
    errors.init_app(app)
    app.context_processor(
        lambda: {
            "status_words": STATUS_WORDS,
            "dose_status_words": dose_status_words,
            "safety_path": safety_path,
            "days_words": days_words,
            "dose_words": dose_words,
        }
    )
    app.add_template_filter(local_time)
    app.add_template_filter(clock)
    app.after_request(security_headers)
    install_log_filter()  # the request log never records a phone link's token


def check_csrf() -> None:
    """CSRF on every state-changing request, except Twilio's webhooks (signed by Twilio), API
    calls that carry a bearer token (no cookie rides along for a forged page to borrow) and
    answers by a dose link's token."""
    if request.blueprint == "twilio_hooks":
        return
    # By path, not blueprint: a URL no API route matches (an id too big for SQLite) has no
    # blueprint, and its answer is the API's 404, not a CSRF error.
    if request.path.startswith("/api/") and request.headers.get("Authorization", "").startswith("Bearer "):
        return
    # A dose link's token in the path is the credential (no cookie is read): what a notification
    # action or an offline tap sends from the service worker, which has no form to carry a token.
    if request.endpoint == "api.answer_by_link":
        return
    csrf.protect()


def security_headers(response):
    """The same headers on every response, pages and API alike.

    Phone links carry a token in their path, so no page tells another site where it came from
    (``no-referrer``); every answer but a static file may hold health data, so none is stored by a
    browser or a proxy; ``Server`` names no version (Werkzeug sends its own only when none is set).
    """
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Server"] = "reminder"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    if current_app.config["REMINDER"]["server.secure_cookies"]:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def local_time(instant: str | None) -> str:
    """An ISO instant as the logged-in user reads it: ``Sat 07 Mar 8:04 AM``."""
    if not instant:
        return ""
    local = parse_instant(instant).astimezone(ZoneInfo(current_user.tz if current_user.is_authenticated else "UTC"))
    return f"{local:%a %d %b} {clock_label(local.time())}"


def clock(hhmm: str) -> str:
    """A stored ``HH:MM`` as pages show times: ``20:00`` reads ``8:00 PM``."""
    return clock_label(parse_hhmm(hhmm))

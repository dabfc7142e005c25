"""Every error answers in the caller's language: JSON under /api/, a clear page elsewhere."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import InputError


def json_error(status: int, code: str, message: str, field: str | None = None):
    return jsonify({"error": {"code": code, "message": message, "field": field}}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http(error: HTTPException):
    message = error.description or error.name
    if _wants_json():
        return json_error(error.code, error.name.lower().replace(" ", "_"), message)
    return render_template("error.html", title=error.name, message=message), error.code


def handle_csrf(error: CSRFError):
    if _wants_json():
        return json_error(400, "csrf", "Send your API token: Authorization: Bearer rmd_...")
    message = "This form has expired or was not sent from this site. Go back, reload the page and try again."
    return render_template("error.html", title="Please try again", message=message), 400


def handle_input(error: InputError):
    if _wants_json():
        return json_error(error.status, error.code, error.message, error.field)
    return render_template("error.html", title="Please check", message=error.message), error.status


def init_app(app) -> None:
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InputError, handle_input)

"""JSON API v1: bearer-token auth, JSON errors, and nothing written by a rejected request.

One blueprint (``common.bp``) under ``/api/v1``; each resource module below adds its routes to
it and shares only what ``common.py`` holds.
"""

from __future__ import annotations

from flask import g, request

from ... import accounts
from ...db import get_db
from ..common import now
from ..errors import json_error
from . import care, clinic, data, doses, me, medications, openapi, pumps
from .common import bp

RESOURCES = (me, data, medications, doses, care, clinic, pumps, openapi)  # each registers its routes on bp
__all__ = ["RESOURCES", "bp"]


@bp.before_request
def authenticate():
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    user = accounts.user_for_token(get_db(), header[7:].strip(), now()) if header.startswith("Bearer ") else None
    if user is None:
        return json_error(401, "unauthorized", "Send a personal API token: Authorization: Bearer rmd_...")
    g.api_user = user
    return None

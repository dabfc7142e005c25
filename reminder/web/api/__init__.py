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
from . import care, clinic, data, doses, links, me, medications, openapi, pumps
from .common import bp

RESOURCES = (me, data, medications, doses, links, care, clinic, pumps, openapi)  # each registers its routes on bp
__all__ = ["PUBLIC", "RESOURCES", "bp"]
# Routes that need no bearer token: this document, and answers by a dose link's token (the
# token in the path is the credential, so no cookie is used and no CSRF check applies).
PUBLIC = ("api.openapi", "api.answer_by_link")


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    user = accounts.user_for_token(get_db(), header[7:].strip(), now()) if header.startswith("Bearer ") else None
    if user is None:
        return json_error(401, "unauthorized", "Send a personal API token: Authorization: Bearer rmd_...")
    g.api_user = user
    return None

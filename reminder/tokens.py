"""Secret tokens sent in links (dose links, invitations, alert acknowledgements, API tokens).

A token is shown once, in the message or the page that hands it out; the database keeps only
its SHA-256, so a leaked copy of the database opens nothing.
"""

from __future__ import annotations

import hashlib

INVITATION_DAYS = 14  # how long a caregiver's or a clinic's invitation link works


def hash_token(token: str) -> str:
    """The stored form of ``token``: its SHA-256 in hex."""
    return hashlib.sha256(token.encode()).hexdigest()

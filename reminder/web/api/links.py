"""API v1: answering a dose with its one-tap link's token, no login: the notification's
"Taken" and "Snooze" actions, and taps a phone queued while offline (``tapped_at``).

The token in the path is the credential, as on the link's page (``/d/<token>``), and the
answer goes through the same missed-dose rule: a too-soon Taken is refused (409) and the
service worker then opens the link's page, which says why.
"""

from __future__ import annotations

from flask import abort

from ... import answers, ledger, links
from ...db import get_db
from ...errors import InputError
from ..common import now, snooze_length
from .common import answered, bp, json_body, only

LINK_ACTIONS = ("taken", "snooze", "skip")


@bp.route("/links/<token>/answer", methods=["POST"])
def answer_by_link(token: str):
    db = get_db()
    try:
        dose_id = links.resolve(db, token, now())
    except links.LinkExpired:
        abort(410, description="This link has expired. Open the app to see your doses.")
    except links.LinkNotFound:
        abort(404, description="No dose has this link.")
    data = json_body()
    only(data, ("action", "tapped_at"))
    if data.get("action") not in LINK_ACTIONS:
        raise InputError("action", "action must be taken, snooze or skip.")
    answer = answers.read_answer(db, {"action": data["action"]}, dose_id, source="link", actor_id=None)
    tapped_at = answers.read_tapped_at(db, data, dose_id, now())
    decision = ledger.answer_dose(db, dose_id, answer, tapped_at or now(), snooze_length())
    return answered(dose_id, decision)

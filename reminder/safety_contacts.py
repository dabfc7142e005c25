"""Someone always watches a withdrawal-risk medication (issue 10 section 1, domain.md section 6).

A patient's **safety contacts** are their active caregivers and the clinics they are linked to.
Removing the last one while on a withdrawal-risk drug needs a confirmation (the API's
``409 last_safety_contact`` unless ``?confirm=true``); the removed caregiver or clinic is told
the link ended. A patient on such a drug with no contact is asked to add one, again each week,
until they do; meanwhile the ladder's alerts go to the patient (``escalation.recipients``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from . import accounts, delivery
from .errors import InputError
from .times import parse_instant, to_iso

ASK_AGAIN = timedelta(days=7)
ASK = (
    "Nobody else hears from us if you miss doses of {drugs}, which must not be stopped suddenly. Invite a "
    "caregiver or join your clinic, so someone can check on you. Until then, we send those alerts to you."
)
LAST_CONTACT = (
    "You take {drugs}, which must not be stopped suddenly. Without a caregiver or a clinic, nobody else "
    "hears from us when you miss doses: we will send the alerts to you instead. Confirm to go ahead."
)


def withdrawal_risk_drugs(db: Database, patient_id: int) -> list[str]:
    """Names of the patient's current medications that must not be stopped suddenly."""
    rows = db.execute(
        "SELECT name FROM medications WHERE patient_id = ? AND ended_at IS NULL AND withdrawal_risk = 1 ORDER BY name",
        [patient_id],
    )
    return [row[0] for row in rows]


def contacts(db: Database, patient_id: int) -> tuple[list[int], list[int]]:
    """(active caregiver link ids, linked clinic ids) of the patient."""
    links = [
        row[0]
        for row in db.execute("SELECT id FROM care_links WHERE patient_id = ? AND status = 'active'", [patient_id])
    ]
    clinic_ids = [
        row[0]
        for row in db.execute(
            "SELECT clinic_id FROM clinic_links WHERE patient_id = ? AND status = 'active'", [patient_id]
        )
    ]
    return links, clinic_ids


def check_removal(
    db: Database, patient_id: int, *, link_id: int | None = None, clinic_id: int | None = None, confirm: bool
) -> None:
    """Raise ``InputError(409, last_safety_contact)`` when removing this caregiver link or clinic
    would leave a withdrawal-risk medication with nobody watching, unless ``confirm``."""
    if confirm:
        return
    drugs = withdrawal_risk_drugs(db, patient_id)
    if not drugs:
        return
    links, clinic_ids = contacts(db, patient_id)
    left = [i for i in links if i != link_id] + [i for i in clinic_ids if i != clinic_id]
    if left or (link_id not in links and clinic_id not in clinic_ids):
        return
    raise InputError(None, LAST_CONTACT.format(drugs=" and ".join(drugs)), status=409, code="last_safety_contact")


def tell_link_ended(db: Database, settings: dict, people: list[dict], patient: dict, what: str, now: datetime) -> None:
    """Tell each of ``people`` that the patient ended their link (``what``: "caregiver" or a
    clinic's name). Inside the caller's transaction."""
    for person in people:
        context = {"name": person["name"], "patient_name": patient["name"] or patient["email"], "what": what}
        delivery.queue_to_user(db, settings, user=person, kind="link_ended", context=context, now=now)


def ask_text(db: Database, patient_id: int) -> str:
    """The request to add a caregiver or a clinic, or "" when one is linked or nothing needs one."""
    drugs = withdrawal_risk_drugs(db, patient_id)
    if not drugs:
        return ""  # most patients: no need to look at their contacts
    links, clinic_ids = contacts(db, patient_id)
    return "" if links or clinic_ids else ASK.format(drugs=" and ".join(drugs))


def question_due(db: Database, patient_id: int, now: datetime) -> str:
    """``ask_text`` when the patient should be asked to add a caregiver or a clinic now, "" when
    there is nothing to ask or they were asked (or skipped it) in the last week."""
    text = ask_text(db, patient_id)
    if not text:
        return ""
    asked = (accounts.find_user(db, id=patient_id) or {}).get("safety_contact_asked_at")
    return text if not asked or now - parse_instant(asked) >= ASK_AGAIN else ""


def asked(db: Database, patient_id: int, now: datetime) -> None:
    """The patient saw (or skipped) the question: ask again in a week."""
    db.execute("UPDATE users SET safety_contact_asked_at = ? WHERE id = ?", [to_iso(now), patient_id])

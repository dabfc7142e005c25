"""Dose prompts: the reminders and follow-ups for the doses ``worker.prompt_due`` claimed.

- A dose alone gets its own message and link, ``/d/<token>``: "Time for your 8:00 AM dose:
  10 mg (1 tablet)".
- Doses of one patient due at the same instant go in **one** message with one link,
  ``/g/<token>``, to a page that lists each with its own Taken and Skip (issue 9 section 6):
  "2 doses due at 1:00 PM: 10 mg (1 tablet) and 300 mg (1 capsule)". The group is recorded
  (``dose_groups``) so its message counts as a prompt of every dose in it. A follow-up is a new
  group of what is still open, so it names only the doses not answered yet.
- The amount is always said; the medication's name only where the patient (or the server)
  chose it, as lock screens are not private.

A burst (10,000 doses due at 08:00) costs one query per batch to read the doses, their
medications and patients, and one statement per table to write the links and messages, not one
per dose (issue 13).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlite_utils import Database

from . import accounts, amounts, delivery, links, safety_texts
from .times import clock_label, parse_hhmm, parse_instant, to_iso
from .tokens import hash_token

# The dose and its medication, for every claimed dose, in one query (primary keys only).
_DOSES = (
    "SELECT d.id, d.patient_id, d.medication_id, d.scheduled_at, d.local_time, d.window_closes_at, d.amount, "
    "m.name, m.strength, m.unit, m.route, m.withdrawal_risk FROM doses d JOIN medications m ON m.id = d.medication_id "
    "WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.patient_id, d.scheduled_at, m.name, d.id"
)


@dataclass(frozen=True)
class Claimed:
    """A dose whose prompt ``prompt_due`` claimed, and which prompt it is (1: the reminder)."""

    dose_id: int
    prompt_count: int


def queue(db: Database, settings: dict, claimed: list[Claimed], now: datetime) -> int:
    """Queue one prompt per patient and due instant for the ``claimed`` doses (inside the
    claim's transaction); return how many prompts (single or grouped) were made."""
    if not claimed:
        return 0
    count_of = {c.dose_id: c.prompt_count for c in claimed}
    rows = _rows(db, _DOSES, [json.dumps(list(count_of))])
    users = {
        user["id"]: user
        for user in db.query(
            "SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(sorted({row["patient_id"] for row in rows}))],
        )
    }
    together: dict[tuple, list[dict]] = {}
    for row in rows:
        kind = "reminder" if count_of[row["id"]] == 1 else "follow_up"
        together.setdefault((row["patient_id"], row["scheduled_at"], kind), []).append(row)
    issued = _Links(settings, now)
    prompts = [
        _prompt(db, settings, users[patient_id], kind, doses, issued, now)
        for (patient_id, _, kind), doses in together.items()
    ]
    issued.store(db)
    delivery.queue_prompts(db, settings, prompts, now)
    return len(prompts)


def dose_context(settings: dict, patient: dict, dose: dict, medication: dict) -> dict:
    """What a message about one dose says: its time, the amount (tablets where the strength
    allows) and, where chosen, the medication's name. ``medication`` has name, strength, unit,
    route and withdrawal_risk."""
    return {
        "name": patient["name"],
        "time": _time_label(dose["local_time"]),
        **_amount_words(settings, patient, dose["amount"], medication),
        # The Safety link names the ingredient: only where the server names medications.
        "safety": settings["server.base_url"] + safety_texts.page_path(medication["name"], medication["route"])
        if medication["withdrawal_risk"] and settings["notify.name_medication"]
        else "",
    }


def _prompt(
    db: Database, settings: dict, patient: dict, kind: str, doses: list[dict], issued: _Links, now: datetime
) -> delivery.Prompt:
    valid_until = _instant(max(dose["window_closes_at"] for dose in doses))
    expires = valid_until + timedelta(hours=settings["links.expire_hours"])
    if len(doses) == 1:
        context = {**dose_context(settings, patient, doses[0], doses[0]), "link": issued.dose(doses[0]["id"], expires)}
        return delivery.Prompt(patient, kind, context, valid_until, dose_id=doses[0]["id"])
    group_id = db.execute(
        "INSERT INTO dose_groups (patient_id, created_at) VALUES (?, ?)", [patient["id"], to_iso(now)]
    ).lastrowid
    db.conn.executemany(
        "INSERT INTO dose_group_members (group_id, dose_id) VALUES (?, ?)", [(group_id, d["id"]) for d in doses]
    )
    context = {
        "name": patient["name"],
        "time": _time_label(doses[0]["local_time"]),
        "doses": [{"dose_id": d["id"], **_amount_words(settings, patient, d["amount"], d)} for d in doses],
        "link": issued.group(group_id, expires),
    }
    return delivery.Prompt(patient, kind, context, valid_until, dose_group_id=group_id)


def _amount_words(settings: dict, patient: dict, amount: float, medication: dict) -> dict:
    named = accounts.names_medication(patient, settings)
    return {
        "medication": f"{medication['name']} {medication['strength']}".strip() if named else "",
        "amount": _in_hand(amount, medication["strength"], medication["unit"], False),
        "amount_plain": _in_hand(amount, medication["strength"], medication["unit"], True),
        "amount_short": f"{amount:g} {medication['unit']}",  # the follow-up SMS has no room for tablets
    }


@lru_cache(maxsize=1024)
def _in_hand(amount: float, strength: str, unit: str, plain: bool) -> str:
    # A burst says the same few amounts thousands of times.
    return amounts.in_hand(amount, strength, unit, plain=plain)


@lru_cache(maxsize=1024)
def _instant(text: str) -> datetime:
    return parse_instant(text)


@lru_cache(maxsize=1024)
def _time_label(local_time: str) -> str:
    return clock_label(parse_hhmm(local_time))


class _Links:
    """Phone links issued for one batch of prompts, written with one statement per table."""

    def __init__(self, settings: dict, now: datetime):
        self.base = settings["server.base_url"]
        self.now = to_iso(now)
        self.doses: list[tuple] = []
        self.groups: list[tuple] = []

    def dose(self, dose_id: int, expires: datetime) -> str:
        token = secrets.token_urlsafe(links.TOKEN_BYTES)
        self.doses.append((dose_id, hash_token(token), to_iso(expires), self.now))
        return f"{self.base}/d/{token}"

    def group(self, group_id: int, expires: datetime) -> str:
        token = secrets.token_urlsafe(links.TOKEN_BYTES)
        self.groups.append((group_id, hash_token(token), to_iso(expires), self.now))
        return f"{self.base}/g/{token}"

    def store(self, db: Database) -> None:
        links.store_many(db, self.doses, self.groups)


def _rows(db: Database, sql: str, params: list) -> list[dict]:
    cursor = db.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

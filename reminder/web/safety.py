"""The Safety page of a medication (``/safety/<name>``, no login) and a patient's pump card.

The Safety page holds no personal data: what the formulary and ``safety_texts`` say about a
medication name, so it opens from any message, the phone-link page and the medication card.
The pump card is the patient's own (login): what emergency staff must know, for phone and print.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from .. import clinics, formulary, pumps, safety_texts
from ..db import get_db

bp = Blueprint("safety", __name__)


@bp.route("/safety/<path:name>")
def page(name: str):
    facts = formulary.facts(name)
    shown = facts.ingredient.name.capitalize() if facts.ingredient else name
    return render_template(
        "safety.html",
        name=shown,
        sections=safety_texts.sections(facts.drug_class, formulary.risk_text(name)),
        leaflet=facts.ingredient.leaflet_url if facts.ingredient else None,
        withdrawal_risk=facts.withdrawal_risk,
    )


@bp.route("/pumps/<id:pump_id>/card")
@login_required
def pump_card(pump_id: int):
    pump = pumps.get_pump(get_db(), pump_id)
    if pump is None or pump["patient_id"] != current_user.id:
        abort(404)
    return render_template(
        "pump_card.html",
        pump=pump,
        card=pumps.card_facts(pump),
        clinics=clinics.clinics_of(get_db(), current_user.id),
        patient=current_user,
    )

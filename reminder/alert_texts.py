"""What an alert about a run of missed doses says, to whom (a pure rule, no I/O).

Each recipient gets words for their role (issue 10 sections 1 and 5):

- a **caregiver** is asked to check on the patient and to contact the prescriber;
- a **clinician** (who may be the prescriber) is asked to contact the patient;
- the **patient**, when nobody else is linked, gets the withdrawal signs, "call your
  prescriber today" and when to call emergency services.

``unreachable`` alerts say that we could not reach the patient, never that they "have not
taken" a dose: a reminder that did not arrive says nothing about the patient. No text ever
advises taking a dose (domain.md section 3); ``tests/test_alert_routing.py`` checks every one.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import formulary

ROLES = ("caregiver", "clinician", "patient")

# The emergency line for the patient, per drug class (baclofen label: abrupt withdrawal has
# caused hallucinations, seizures and high fever; domain.md section 6, "someone always hears").
EMERGENCY = {
    "baclofen": "Call emergency services (911) if you have hallucinations, a seizure or a high fever.",
}
GENERIC_EMERGENCY = "Call emergency services (911) if you have a seizure, chest pain, or feel very unwell."


@dataclass(frozen=True)
class RunFacts:
    """What is known about a run when its alert is sent or repeated."""

    who: str  # the patient's name, or email
    medication: str
    count: int  # doses in the run
    hours: float | None  # hours without a dose taken (or since we last could ask)
    last_taken: str  # "8:00 AM on Sat 07 Mar", or "" when never
    risk: str  # the formulary's withdrawal sentence, "" when the drug carries no risk
    emergency: str  # the emergency line for the patient
    level: int
    kind: str = "missed_run"  # or "unreachable"


def doses(count: int) -> str:
    return f"{count} dose{'s' if count != 1 else ''}"


def summary(facts: RunFacts, role: str) -> str:
    """The alert's text for a recipient of ``role``."""
    if facts.kind == "unreachable":
        return _unreachable(facts, role)
    since = f" The last dose taken was at {facts.last_taken}." if facts.last_taken else ""
    run = f"{doses(facts.count)} in a row"
    hours = (
        f", about {int(facts.hours)} hours without a dose taken"
        if facts.level >= 3 and facts.hours is not None and facts.hours >= 24
        else ""
    )
    urgent = "URGENT: " if facts.level >= 3 else ""
    if role == "patient":
        text = (
            f"{urgent}You have missed {run} of {facts.medication}{hours}.{since} {facts.risk} "
            f"Call your prescriber today. {facts.emergency}"
        )
    elif role == "clinician":
        text = (
            f"{urgent}Your patient {facts.who} has missed {run} of {facts.medication}{hours}.{since} {facts.risk} "
            f"Please contact {facts.who} today."
        )
    elif facts.level >= 3:
        text = (
            f"URGENT: {facts.who} has not taken {facts.medication}: {run}{hours}.{since} {facts.risk} "
            "Contact their prescriber now."
        )
    else:
        text = (
            f"{facts.who} has missed {run} of {facts.medication}.{since} {facts.risk} "
            "Please check on them and contact their prescriber if you are worried."
        )
    return " ".join(text.split())


def _unreachable(facts: RunFacts, role: str) -> str:
    about = f"{doses(facts.count)} of {facts.medication}"
    urgent = "URGENT: " if facts.level >= 3 else ""
    if role == "patient":
        text = (
            f"{urgent}We could not reach you about {about}: our reminders did not get through. "
            f"Please check your phone number and email in Settings. {facts.risk} "
            f"Call your prescriber today if you have missed doses. {facts.emergency}"
        )
    else:
        ask = f"Please contact {facts.who} today." if role == "clinician" else "Please check on them."
        text = (
            f"{urgent}We could not reach {facts.who} about {about}: our reminders did not get through, "
            f"so we do not know whether they were taken. {facts.risk} {ask}"
        )
    return " ".join(text.split())


def skip_advice(risk: str, emergency: str) -> str:
    """What a patient is told on skipping (or missing) a dose of a withdrawal-risk drug."""
    return (
        "One skipped dose is all right, but skipping several can cause withdrawal. "
        f"{risk} If you notice these signs, call your prescriber today. {emergency}"
    )


def emergency_for(medication_name: str) -> str:
    """The emergency line for a patient on this drug."""
    return EMERGENCY.get(formulary.drug_class(medication_name) or "", GENERIC_EMERGENCY)


def withdrawal_advice(medication_name: str) -> str:
    """``skip_advice`` for this drug, from the formulary's withdrawal sentence."""
    return skip_advice(formulary.risk_text(medication_name), emergency_for(medication_name))


@dataclass(frozen=True)
class Worded:
    """One alert in the words of the clinicians and of the patient."""

    clinician: str
    patient: str


def renal_ceiling(who: str, medication: str, planned: float, ceiling: float, unit: str, measured: dict) -> Worded:
    """An eGFR under 30 against a plan above the halved ceiling: the clinicians are asked to review
    the plan; the patient is told what changed and whom to call, never what to take."""
    egfr = f"eGFR {measured['egfr']:g} (blood test of {measured['measured_on']})"
    return Worded(
        clinician=(
            f"URGENT: {who}'s kidney function is low, {egfr}. {medication} is cleared by the kidneys and its "
            f"daily ceiling is now halved to {ceiling:g} {unit}, but the plan in force gives {planned:g} {unit} "
            f"a day. Please review the plan and contact {who} today."
        ),
        patient=(
            f"Your kidney test ({egfr}) shows your kidneys clear {medication} more slowly, so the same amount "
            f"can affect you more. Your clinic has been told and will contact you about your plan. Do not stop "
            f"{medication} suddenly. Call your prescriber today if you feel very drowsy, weak or confused. "
            "Call emergency services (911) if your breathing is slow or someone cannot wake you."
        ),
    )

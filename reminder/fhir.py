"""The FHIR R4 export: one patient's medications, final doses, caregivers and alerts over a
period, as a ``collection`` Bundle.

Every resource is built with the ``fhir.resources.R4B`` model classes (the package's default is
R5; R4-shaped JSON comes from its R4B sub-package, ../shared/notes/adherence-standards.md §3.5),
so a value the models reject raises ``pydantic.ValidationError`` instead of reaching a client.
The models check required elements, choice types and primitive formats, not code values: the
codes used here (statuses, ``dayOfWeek``, ``periodUnit``) come from the fixed tables below.

What goes in (``../shared/domain.md`` §5):

- the Patient;
- a MedicationRequest per medication in use during the period, one ``dosageInstruction`` per
  regimen step (``sequence``, ``timing.repeat`` with ``timeOfDay`` as floating local times of
  the patient's zone, ``dayOfWeek``, ``boundsPeriod``; ``doseAndRate``; ``maxDosePerPeriod``);
- a MedicationAdministration per dose of the period that reached a final state: taken is
  ``completed``; skipped and missed are ``not-done`` with a ``statusReason``; unknown (no
  reminder reached the patient) is ``unknown``. Pending doses are not exported;
- the caregivers of active links as RelatedPerson;
- the alerts raised in the period and sent to someone as Communication.

Ids are uuid5 of the row they come from (``dose-12``), so the same row always has the same
``urn:uuid:`` fullUrl and every reference resolves inside the bundle.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.communication import Communication, CommunicationPayload
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.dosage import Dosage, DosageDoseAndRate
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.medicationadministration import (
    MedicationAdministration,
    MedicationAdministrationDosage,
    MedicationAdministrationPerformer,
)
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.ratio import Ratio
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.relatedperson import RelatedPerson
from fhir.resources.R4B.timing import Timing, TimingRepeat
from sqlite_utils import Database

from . import regimen
from .reports import period_bounds
from .times import UTC, parse_instant

# The namespace of every id in the export: uuid5(NAMESPACE, "dose-12") and so on.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:reminder:fhir")
UCUM = "http://unitsofmeasure.org"
# Medication units we store that have a UCUM code; any other unit is exported as text only.
UCUM_CODES = {"mg": "mg", "g": "g", "mcg": "ug", "ug": "ug", "µg": "ug", "ml": "mL", "l": "L"}
DAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # FHIR days-of-week; 0 = Monday
ADMINISTRATION_STATUS = {"taken": "completed", "skipped": "not-done", "missed": "not-done", "unknown": "unknown"}
FINAL = tuple(ADMINISTRATION_STATUS)
MISSED_REASON = "missed: no answer before the window closed"
UNKNOWN_NOTE = "outcome unknown: no reminder could be sent before the window closed"
ALERT_CATEGORY = CodeableConcept(
    coding=[
        Coding(system="http://terminology.hl7.org/CodeSystem/communication-category", code="alert", display="Alert")
    ],
    text="medication adherence alert",
)


def bundle(db: Database, patient_id: int, first_day: date, last_day: date, now: datetime) -> dict:
    """The FHIR R4 Bundle of ``patient_id`` over local days ``first_day``..``last_day`` (both
    included), as a JSON-ready dict. Raises ``pydantic.ValidationError`` if a resource is invalid."""
    patient = next(db.query("SELECT * FROM users WHERE id = ?", [patient_id]))
    tz = ZoneInfo(patient["tz"])
    start, end = period_bounds(first_day, last_day, tz)
    export = _Export()

    patient_url = export.add("patient", patient_id, _patient(patient))
    patient_ref = Reference(reference=patient_url, display=patient["name"] or patient["email"])

    caregivers = {}  # caregiver user id -> Reference to their RelatedPerson
    for link in db.query(
        "SELECT c.id, c.accepted_at, c.created_at, u.id AS user_id, u.name, u.email FROM care_links c "
        "JOIN users u ON u.id = c.caregiver_id WHERE c.patient_id = ? AND c.status = 'active' ORDER BY c.id",
        [patient_id],
    ):
        if link["user_id"] in caregivers:
            continue
        url = export.add("caregiver", link["id"], _related_person(link, patient_ref, tz))
        caregivers[link["user_id"]] = Reference(reference=url, display=link["name"] or link["email"])

    doses = list(
        db.query(
            f"SELECT * FROM doses WHERE patient_id = ? AND local_date BETWEEN ? AND ? "
            f"AND status IN ({', '.join('?' for _ in FINAL)}) ORDER BY scheduled_at, id",
            [patient_id, first_day.isoformat(), last_day.isoformat(), *FINAL],
        )
    )
    with_doses = {dose["medication_id"] for dose in doses}
    requests = {}  # medication id -> (Reference to its MedicationRequest, its CodeableConcept, its unit)
    for medication in db.query("SELECT * FROM medications WHERE patient_id = ? ORDER BY created_at, id", [patient_id]):
        in_use = medication["created_at"] < end and (medication["ended_at"] is None or medication["ended_at"] >= start)
        if not in_use and medication["id"] not in with_doses:
            continue
        concept = CodeableConcept(text=_medication_text(medication))
        url = export.add("medication", medication["id"], _medication_request(db, medication, concept, patient_ref, tz))
        requests[medication["id"]] = (Reference(reference=url, display=concept.text), concept, medication["unit"])

    for dose in doses:
        request_ref, concept, unit = requests[dose["medication_id"]]
        performer = _performer(db, dose, patient_id, patient_ref, caregivers) if dose["status"] == "taken" else None
        export.add("dose", dose["id"], _administration(dose, unit, concept, request_ref, patient_ref, performer, tz))

    for alert in db.query(
        "SELECT * FROM alerts WHERE patient_id = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
        [patient_id, start, end],
    ):
        told = list(
            db.query(
                "SELECT u.id, u.name, u.email, u.role FROM alert_recipients r JOIN users u ON u.id = r.user_id "
                "WHERE r.alert_id = ? ORDER BY r.id",
                [alert["id"]],
            )
        )
        if not told:
            continue  # raised, but nobody was there to tell: not a communication that was sent
        about = requests[alert["medication_id"]][0] if alert["medication_id"] in requests else None
        export.add("alert", alert["id"], _communication(alert, told, caregivers, patient_ref, about, tz))

    stamp = now.astimezone(UTC).replace(microsecond=0)
    model = Bundle(
        id=_id("bundle", f"{patient_id}-{first_day}-{last_day}-{stamp:%Y%m%dT%H%M%SZ}"),
        type="collection",
        timestamp=stamp,
        entry=[BundleEntry(fullUrl=url, resource=resource) for url, resource in export.entries],
    )
    return model.model_dump(mode="json", exclude_none=True)


class _Export:
    """The entries of the bundle, in order, each with its stable ``urn:uuid:`` fullUrl."""

    def __init__(self):
        self.entries: list[tuple[str, object]] = []

    def add(self, kind: str, key, resource) -> str:
        resource.id = _id(kind, key)  # validated on assignment, like every field
        url = f"urn:uuid:{resource.id}"
        self.entries.append((url, resource))
        return url


def _id(kind: str, key) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}-{key}"))


def _local(instant: str | None, tz: ZoneInfo) -> datetime | None:
    """A stored UTC instant as a dateTime with the patient's offset (FHIR requires an offset)."""
    return parse_instant(instant).astimezone(tz) if instant else None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _quantity(value: float, unit: str) -> Quantity:
    code = UCUM_CODES.get(unit.strip()) or UCUM_CODES.get(unit.strip().lower())
    if code:
        return Quantity(value=_number(value), unit=unit, system=UCUM, code=code)
    return Quantity(value=_number(value), unit=unit or None)


def _text(value: str | None) -> str | None:
    """Stored free text as a FHIR string: trimmed, and None when nothing is left."""
    return value.strip() or None if value else None


def _performer(db: Database, dose: dict, patient_id: int, patient_ref: Reference, caregivers: dict) -> Reference | None:
    """Who gave a taken dose: the patient (their own answer, or their phone's link or SMS), a
    caregiver in the bundle, or someone named but not exported (a caregiver no longer linked)."""
    actor = dose["actor_id"]
    if actor == patient_id or (actor is None and dose["source"] in ("link", "sms")):
        return patient_ref
    if actor in caregivers:
        return caregivers[actor]
    user = next(db.query("SELECT name, email, role FROM users WHERE id = ?", [actor]), None) if actor else None
    return Reference(display=f"{user['name'] or user['email']} ({user['role']})") if user else None


def _patient(user: dict) -> Patient:
    telecom = [ContactPoint(system="email", value=user["email"])]
    if user["phone"]:
        telecom.append(ContactPoint(system="phone", value=user["phone"], use="mobile"))
    return Patient(name=[HumanName(text=_text(user["name"]))] if _text(user["name"]) else None, telecom=telecom)


def _related_person(link: dict, patient_ref: Reference, tz: ZoneInfo) -> RelatedPerson:
    return RelatedPerson(
        active=True,
        patient=patient_ref,
        relationship=[CodeableConcept(text="caregiver")],
        name=[HumanName(text=_text(link["name"]))] if _text(link["name"]) else None,
        telecom=[ContactPoint(system="email", value=link["email"])],
        period=Period(start=_local(link["accepted_at"] or link["created_at"], tz)),
    )


def _medication_text(medication: dict) -> str:
    return " ".join(part for part in (medication["name"].strip(), (medication["strength"] or "").strip()) if part)


def _request_status(medication: dict) -> str:
    if medication["ended_at"] is None:
        return "active"
    return "completed" if medication["end_reason"] == "taper finished" else "stopped"


def _medication_request(
    db: Database, medication: dict, concept: CodeableConcept, patient_ref: Reference, tz: ZoneInfo
) -> MedicationRequest:
    status = _request_status(medication)
    steps = regimen.steps_of(db, medication["id"])
    return MedicationRequest(
        status=status,
        statusReason=CodeableConcept(text=_text(medication["end_reason"]))
        if status != "active" and _text(medication["end_reason"])
        else None,
        intent="order",
        medicationCodeableConcept=concept,
        subject=patient_ref,
        authoredOn=_local(medication["created_at"], tz),
        dosageInstruction=[_dosage(number, step, medication, tz) for number, step in enumerate(steps, start=1)] or None,
    )


def _dosage(sequence: int, step, medication: dict, tz: ZoneInfo) -> Dosage:
    unit = medication["unit"]
    times = [t.strftime("%H:%M") for t in step.times]
    days = [DAY_CODES[d] for d in sorted(step.days)] if step.days else None
    text = (
        f"{step.amount:g} {unit} at {', '.join(times)} ({tz.key} time), "
        f"{'on ' + ', '.join(days) if days else 'every day'}, from {step.start_date}"
        + (f" to {step.end_date}" if step.end_date else "")
    )
    max_daily = medication["max_daily_amount"]
    return Dosage(
        sequence=sequence,
        text=text,
        timing=Timing(
            repeat=TimingRepeat(
                boundsPeriod=Period(start=step.start_date, end=step.end_date),
                frequency=len(step.times),
                period=1,
                periodUnit="d",
                dayOfWeek=days,
                timeOfDay=list(step.times),  # floating local times: FHIR `time` carries no zone
            )
        ),
        doseAndRate=[DosageDoseAndRate(doseQuantity=_quantity(step.amount, unit))],
        maxDosePerPeriod=Ratio(
            numerator=_quantity(max_daily, unit), denominator=Quantity(value=1, unit="d", system=UCUM, code="d")
        )
        if max_daily
        else None,
    )


def _administration(
    dose: dict,
    unit: str,
    concept: CodeableConcept,
    request_ref: Reference,
    patient_ref: Reference,
    performer: Reference | None,
    tz: ZoneInfo,
) -> MedicationAdministration:
    status = dose["status"]
    reason = None
    if status == "skipped":
        who = "caregiver" if dose["source"] == "caregiver" else "patient"
        reason = (
            f"skipped by {who}: {_text(dose['skip_reason'])}" if _text(dose["skip_reason"]) else f"skipped by {who}"
        )
    elif status == "missed":
        reason = MISSED_REASON
    taken = status == "taken"
    return MedicationAdministration(
        status=ADMINISTRATION_STATUS[status],
        statusReason=[CodeableConcept(text=reason)] if reason else None,
        medicationCodeableConcept=concept,
        subject=patient_ref,
        effectiveDateTime=_local(dose["taken_at"] if taken else dose["scheduled_at"], tz),
        performer=[MedicationAdministrationPerformer(actor=performer)] if taken and performer else None,
        request=request_ref,
        note=[Annotation(text=UNKNOWN_NOTE)] if status == "unknown" else None,
        dosage=MedicationAdministrationDosage(dose=_quantity(dose["amount"], unit)),
    )


def _communication(
    alert: dict, told: list[dict], caregivers: dict, patient_ref: Reference, about: Reference | None, tz: ZoneInfo
) -> Communication:
    recipients = []
    for user in told:
        if user["id"] in caregivers:
            recipients.append(caregivers[user["id"]])
        else:  # a clinician, or a caregiver whose link has since ended: named, not in the bundle
            recipients.append(Reference(display=f"{user['name'] or user['email']} ({user['role']})"))
    return Communication(
        status="completed",
        category=[ALERT_CATEGORY],
        priority="urgent" if alert["level"] >= 3 else "routine",
        subject=patient_ref,
        about=[about] if about else None,
        sent=_local(alert["created_at"], tz),
        recipient=recipients,
        payload=[CommunicationPayload(contentString=alert["summary"])],
    )

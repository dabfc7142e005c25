"""Who may see or change a patient's data: the one home of every access check.

A viewer is a user row (``accounts.find_user``). Views and API routes ask one of these and
answer 404 on False, as if the patient did not exist. A clinician's look at a patient is
written to the audit log by the caller (``is_audited`` says when).
"""

from __future__ import annotations

from sqlite_utils import Database

from . import caregivers, clinics


def can_see(db: Database, viewer: dict, patient_id: int) -> bool:
    """The patient themself, a caregiver with an active link, or a clinician of a clinic the
    patient is linked to: their doses, medications, pumps and alerts."""
    return caregivers.can_see(db, viewer["id"], patient_id)


def can_see_clinical(db: Database, viewer: dict, patient_id: int) -> bool:
    """The patient or one of their clinicians, not a caregiver: the report and its exports
    (they carry every caregiver's contact details), and recording a pump."""
    return viewer["id"] == patient_id or clinics.clinician_sees(db, viewer, patient_id)


def is_caregiver_of(db: Database, viewer: dict, patient_id: int) -> bool:
    """A caregiver's pages about a patient: only through an active link."""
    return caregivers.active_link(db, viewer["id"], patient_id) is not None


def is_clinician_of(db: Database, viewer: dict, patient_id: int) -> bool:
    """The clinic's pages about a patient: a clinician of a clinic the patient is linked to."""
    return clinics.clinician_sees(db, viewer, patient_id)


def can_change_medications(db: Database, viewer: dict, patient_id: int) -> bool:
    """A clinician's change to a patient's medication: only through a clinic link. A clinician
    who is also the patient's caregiver has a caregiver's powers there, never a clinician's."""
    return clinics.clinician_sees(db, viewer, patient_id)


def can_give(db: Database, viewer: dict, patient_id: int, medication_id: int) -> bool:
    """Recording "I gave it" (an intake with source ``caregiver``): only a caregiver with an active
    link whose scope holds the medication. A clinician of the patient's clinic may see the dose
    but did not give it, so they may not record it; a clinician who is also a caregiver may, as
    a caregiver."""
    link = caregivers.active_link(db, viewer["id"], patient_id)
    return link is not None and caregivers.in_scope(link, medication_id)


def can_acknowledge(db: Database, viewer: dict, alert_id: int) -> bool:
    """An alert is acknowledged by someone it told who may still see its patient; not by a
    patient told once in their own words (``patient_summary``): that alert is for the others."""
    row = db.execute("SELECT patient_id, patient_summary FROM alerts WHERE id = ?", [alert_id]).fetchone()
    told = (
        row
        and db.execute(
            "SELECT 1 FROM alert_recipients WHERE alert_id = ? AND user_id = ? AND NOT (role = 'patient' AND ?)",
            [alert_id, viewer["id"], row[1] is not None],
        ).fetchone()
    )
    return bool(told) and can_see(db, viewer, row[0])


def is_audited(viewer: dict, patient_id: int) -> bool:
    """A clinician's look at someone else's data goes to the audit log the patient reads."""
    return viewer["role"] == "clinician" and viewer["id"] != patient_id

"""Clinics on the web: the clinician's panel, a patient's report with its charts and its CSV and
FHIR downloads; the patient's clinics, their audit log and their side-effect taps.

Who may see what: a clinician sees a patient only while the patient is linked to the
clinician's clinic (``clinics.clinician_sees``), checked on every route that names a patient;
anyone else gets 404, as if the patient did not exist. Every clinician view of a patient's data
(the report and each download) is written to the audit log before it is shown, so the patient
reads every look on ``/audit``. The panel lists patients' summaries and is not audited per
patient: that would be thousands of rows per page view.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from .. import access, accounts, charts, clinics, fhir, kidneys, reports, side_effects, throttle
from ..db import get_db, immediate
from ..errors import InputError
from ..times import parse_instant
from .common import field_errors, now, report_period, safe_path, settings, today_in

bp = Blueprint("clinic", __name__)
PAGE_SIZE = 50
SORTS = {
    "risk": "at risk first",
    "name": "name",
    "adherence_7d": "7-day adherence",
    "adherence_30d": "30-day adherence",
    "last_taken": "last taken",
}
SIDE_EFFECT_WORDS = {kind: kind.replace("_", " ").capitalize() for kind in side_effects.KINDS}
SEVERITY_WORDS = charts.SEVERITY_WORDS


@bp.before_request
@login_required
def _logged_in():
    """Every page here needs a login."""


@bp.app_context_processor
def _side_effect_choices() -> dict:
    """The side-effect tap form (``_side_effects.html``) is on Today and the dose page."""
    return {"side_effect_kinds": SIDE_EFFECT_WORDS, "severity_words": SEVERITY_WORDS}


# ---------------------------------------------------------------- the clinician's panel


@bp.route("/panel")
def panel():
    _clinicians_only()
    args = request.args
    sort = args.get("sort") if args.get("sort") in SORTS else "risk"
    page = max(1, args.get("page", 1, type=int))
    query = args.get("q", "").strip()[:100]
    if current_user.clinic_id:
        result = reports.panel(get_db(), current_user.clinic_id, now(), query, sort, page, PAGE_SIZE)
    else:
        result = {"patients": [], "total": 0, "page": page, "per_page": PAGE_SIZE, "sort": sort}
    cutoff = settings()["reports.adherent_cutoff"]
    for row in result["patients"]:
        row["at_risk"] = (
            row["top_level"] >= 3
            or row["risk_misses_7"] > 0
            or (row["adherence_7d"] is not None and row["adherence_7d"] < cutoff)
        )
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return render_template(
        "panel.html",
        result=result,
        sorts=SORTS,
        sort=sort,
        q=query,
        page=page,
        pages=pages,
        cutoff=cutoff,
        in_clinic=bool(current_user.clinic_id),
    )


# ---------------------------------------------------------------- one patient's report


@bp.route("/panel/patients/<id:patient_id>/report")
def report(patient_id: int):
    patient = _visible_patient(patient_id)
    try:
        first, last = report_period(patient)
    except InputError as error:  # the dates stay as typed, the error beside its field
        return render_template("report.html", report=None, patient=patient, error=error, typed=request.args), 400
    return _report_page(patient, first, last)


def _report_page(patient: dict, first: date, last: date, kidney_form=None, errors: dict[str, str] | None = None):
    """The report for ``first``..``last``; ``kidney_form`` and ``errors`` reopen a refused eGFR as typed."""
    patient_id = patient["id"]
    _audit(patient_id, "viewed report")
    data = reports.build(get_db(), patient_id, first, last, now(), settings())
    zone = ZoneInfo(patient["tz"])
    footnotes, numbers = _footnotes(data["medications"])
    for medication in data["medications"]:
        medication["charts"] = _charts(medication, data, first, last)
        medication["rows"] = _metric_rows(medication["metrics"])
        medication["notes"] = numbers[medication["id"]]
        medication["reasons"] = Counter(medication["skip_reasons"]).most_common()
    return render_template(
        "report.html",
        report=data,
        patient=patient,
        first=first,
        last=last,
        footnotes=footnotes,
        alerts=_alert_rows(data),
        side_effects=data["side_effects"],
        when=lambda instant: _when(instant, zone),
        severity_words=SEVERITY_WORDS,
        kind_words=SIDE_EFFECT_WORDS,
        kidney_form=kidney_form or {},
        field_errors=errors or {},
    )


@bp.route("/panel/patients/<id:patient_id>/kidney-function", methods=["POST"])
def kidney_function(patient_id: int):
    """A clinician records the patient's eGFR and the blood test's date; back to the report. A
    refused one shows the report with what was typed and the error beside its field."""
    patient = _visible_patient(patient_id)  # a clinician of a linked clinic, else 404
    try:
        kidneys.record(get_db(), patient_id, request.form, current_user.id, today_in(patient["tz"]), now(), settings())
    except InputError as error:
        flash(error.message, "error")
        first, last = report_period(patient)  # the default period: the form posts no dates
        return _report_page(patient, first, last, request.form, field_errors(error)), error.status
    _audit(patient_id, "recorded kidney function")
    flash("Kidney function recorded.", "ok")
    return redirect(url_for("clinic.report", patient_id=patient_id))


@bp.route("/panel/patients/<id:patient_id>/report.csv")
def report_csv(patient_id: int):
    patient = _visible_patient(patient_id)
    first, last = report_period(patient)
    _audit(patient_id, "exported CSV")
    return Response(
        reports.ledger_csv(get_db(), patient_id, first, last),
        mimetype="text/csv",
        headers=_attachment(f"doses-{patient_id}-{first}-{last}.csv"),
    )


@bp.route("/panel/patients/<id:patient_id>/fhir")
def report_fhir(patient_id: int):
    patient = _visible_patient(patient_id)
    first, last = report_period(patient)
    _audit(patient_id, "exported FHIR")
    return Response(
        json.dumps(fhir.bundle(get_db(), patient_id, first, last, now())),
        mimetype="application/fhir+json",
        headers=_attachment(f"fhir-{patient_id}-{first}-{last}.json"),
    )


def _clinicians_only() -> None:
    if current_user.role != "clinician":
        abort(404)


def _visible_patient(patient_id: int) -> dict:
    """The patient, if linked to the logged-in clinician's clinic; 404 for anyone else."""
    _clinicians_only()
    db = get_db()
    if not access.is_clinician_of(db, current_user.row, patient_id):
        abort(404, description="No such patient.")
    return accounts.find_user(db, id=patient_id)


def _audit(patient_id: int, action: str) -> None:
    db = get_db()
    with immediate(db):
        clinics.audit(db, current_user.id, patient_id, action, now(), request.full_path.rstrip("?"))


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _charts(medication: dict, data: dict, first: date, last: date) -> dict:
    prefix = f"chart-{medication['id']}"
    return {
        "calendar": Markup(charts.calendar_heatmap(medication, f"{prefix}-calendar")),
        "chronology": Markup(charts.chronology_plot(medication, first, last, f"{prefix}-chronology")),
        "steps": Markup(
            charts.steps_strip(
                medication, data["side_effects"], data["alerts"], first, last, data["patient"]["tz"], f"{prefix}-steps"
            )
        ),
    }


def _footnotes(medications: list[dict]) -> tuple[list[str], dict[int, dict[str, int]]]:
    """The metric definitions as numbered footnotes, each text once (medications differ only
    in their parameters, such as the on-time window); and per medication, metric -> number."""
    texts: list[str] = []
    numbers: dict[int, dict[str, int]] = {}
    for medication in medications:
        numbers[medication["id"]] = {}
        for key, text in medication["metrics"]["definitions"].items():
            if text not in texts:
                texts.append(text)
            numbers[medication["id"]][key] = texts.index(text) + 1
    return texts, numbers


def _metric_rows(m: dict) -> list[tuple[str, str, str]]:
    """(definition key, label, value as read) for each metric on the report."""
    if m["reason"]:
        return [("window", "Window", f"Not computed: {m['reason']}.")]
    cutoff = f"{m['parameters']['adherent_cutoff'] * 100:g} %"
    counts = m["counts"]
    discontinued = "no"
    if m["discontinued"]:
        discontinued = f"yes, on {_day(m['discontinued_on'])}" + (
            " (clinician-ordered stop: censored)" if m["censored"] else ""
        )
    return [
        ("window", "Window", f"{_day(m['window_first_day'])} to {_day(m['window_last_day'])} ({m['days']} days)"),
        (
            "taking_adherence",
            "Taking adherence",
            f"{_percent(m['taking_adherence'])} ({counts['taken']} of {counts['scheduled']})",
        ),
        (
            "timing_adherence",
            "Timing adherence",
            f"{_percent(m['timing_adherence'])} ({counts['taken_on_time']} of {counts['scheduled']})",
        ),
        (
            "correct_dosing_days",
            "Correct dosing days",
            f"{_percent(m['correct_dosing_days'])} ({m['correct_days']} of {m['dosing_days']} days)",
        ),
        (
            "drug_holidays",
            "Drug holidays",
            f"{m['drug_holidays']}" + (f" (longest {m['longest_holiday_days']} days)" if m["drug_holidays"] else ""),
        ),
        (
            "longest_gap_hours",
            "Longest gap",
            f"{m['longest_gap_hours']:.1f} h"
            if m["longest_gap_hours"] is not None
            else "— (fewer than two doses taken)",
        ),
        (
            "days_covered",
            "Days covered (PDC-style)",
            _percent(m["days_covered"]) if m["days_covered"] is not None else "not computed: no refills recorded",
        ),
        ("discontinued", "Discontinued", discontinued),
        ("adherent", "Adherent", {True: f"yes (≥ {cutoff})", False: f"no (< {cutoff})", None: "—"}[m["adherent"]]),
    ]


def _alert_rows(data: dict) -> list[dict]:
    """The period's alerts with the names of the medication and of who acknowledged."""
    names = {m["id"]: m["name"] for m in data["medications"]}
    ids = {a["acknowledged_by"] for a in data["alerts"] if a["acknowledged_by"]}
    people = (
        {
            row["id"]: row["name"] or row["email"]
            for row in get_db().query(
                f"SELECT id, name, email FROM users WHERE id IN ({', '.join('?' for _ in ids)})", list(ids)
            )
        }
        if ids
        else {}
    )
    return [
        {
            **alert,
            "medication": names.get(alert["medication_id"], ""),
            "acknowledged_by_name": people.get(alert["acknowledged_by"]),
        }
        for alert in data["alerts"]
    ]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _day(iso_day: str) -> str:
    return f"{date.fromisoformat(iso_day):%a %d %b %Y}"


def _when(instant: str | None, zone: ZoneInfo) -> str:
    """An instant in the patient's zone: ``Sat 07 Mar 13:05``."""
    if not instant:
        return ""
    return f"{parse_instant(instant).astimezone(zone):%a %d %b %H:%M}"


# ---------------------------------------------------------------- the patient's side


@bp.route("/clinics", methods=["GET", "POST"])
def my_clinics():
    _patients_only()
    if request.method == "POST":
        try:
            code, limit = request.form.get("code", ""), throttle.limit_of(settings())
            clinic = clinics.join(get_db(), current_user.id, code, now(), request.remote_addr, limit)
        except InputError as error:  # the code typed stays, the error beside it
            flash(error.message, "error")
            return _clinics_page(request.form.get("code", ""), field_errors(error)), error.status
        flash(
            f"You are now linked to {clinic['name']}. Its clinicians can see your doses, side effects and "
            "reports; each time they look, it shows in your audit log.",
            "ok",
        )
        return redirect(url_for("clinic.my_clinics"))
    return _clinics_page("")


@bp.route("/clinics/<id:clinic_id>/leave", methods=["POST"])
def leave_clinic(clinic_id: int):
    _patients_only()
    clinic = next((c for c in clinics.clinics_of(get_db(), current_user.id) if c["id"] == clinic_id), None)
    if clinic is None:
        abort(404)
    try:
        left = clinics.leave(
            get_db(),
            current_user.id,
            clinic_id,
            current_user.id,
            now(),
            settings=settings(),
            confirm=request.form.get("confirm") == "yes",
        )
    except InputError as error:  # the last safety contact: explain and ask
        return render_template(
            "confirm_removal.html",
            message=error.message,
            action=url_for("clinic.leave_clinic", clinic_id=clinic_id),
            button=f"Leave {clinic['name']} anyway",
            back=url_for("clinic.my_clinics"),
        ), error.status
    if not left:
        abort(404)
    flash(f"You left {clinic['name']}. Its clinicians can no longer see your data.", "ok")
    return redirect(url_for("clinic.my_clinics"))


@bp.route("/audit")
def audit_log():
    """Every clinician view of the patient's data: who, from which clinic, what and when."""
    _patients_only()
    return render_template("audit.html", rows=clinics.audit_of(get_db(), current_user.id))


@bp.route("/side-effects", methods=["POST"])
def side_effect():
    """A side effect tapped on Today or a dose page; back to that page. A refused one (its 4xx,
    nothing written) shows the form again with what was tapped and the error beside its field;
    a dose that is not the patient's is the error page."""
    _patients_only()
    form = request.form
    try:
        entry = side_effects.record(
            get_db(),
            current_user.id,
            {
                "kind": form.get("kind"),
                "severity": _whole(form.get("severity"), None),
                "note": form.get("note", ""),
                "dose_id": _whole(form.get("dose_id"), 0),  # 0 is no dose's id: "No such dose"
            },
            now(),
            settings(),
        )
    except InputError as error:
        if error.field not in ("kind", "severity", "note"):
            raise
        flash(error.message, "error")
        page = render_template(
            "side_effect.html",
            dose_id=_whole(form.get("dose_id"), None),
            back=_local_path(form.get("next")),
            typed=form,
            errors=field_errors(error),
        )
        return page, error.status
    if entry["advice"]:
        flash(entry["advice"]["text"], "error")  # what to do now, never "Noted" alone
        return redirect(_local_path(form.get("next")))
    seen = " Your clinic sees it on your report." if clinics.clinics_of(get_db(), current_user.id) else ""
    flash(f"Noted: {SIDE_EFFECT_WORDS[entry['kind']].lower()}, {SEVERITY_WORDS[entry['severity']]}.{seen}", "ok")
    return redirect(_local_path(form.get("next")))


def _whole(text: str | None, otherwise):
    """A form's whole number: ASCII digits as an int, nothing as None, anything else as
    ``otherwise``, which ``side_effects.record`` refuses with its message. (It would pass other
    Unicode digits, such as "²", to ``int()``, which raises a ValueError: a 500.)"""
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else otherwise


def _patients_only() -> None:
    if current_user.role != "patient":
        abort(404)


def _clinics_page(code: str, errors: dict[str, str] | None = None):
    rows = clinics.clinics_of(get_db(), current_user.id)
    return render_template("clinics.html", clinics=rows, code=code, field_errors=errors or {})


def _local_path(path: str | None) -> str:
    """Where to go back to: a path on this site only, never another host."""
    return safe_path(path, url_for("patient.today"))

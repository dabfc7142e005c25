"""The OpenAPI 3.1 document of API v1, served at ``/api/v1/openapi.json`` without a token. A test
checks that every /api/v1 route is listed here."""

from __future__ import annotations

from flask import jsonify

from .common import bp

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(
    summary: str,
    ok: str,
    schema: dict | None = None,
    body: dict | None = None,
    params: list | None = None,
    errors: tuple[int, ...] = (401,),
) -> dict:
    operation = {
        "summary": summary,
        "responses": {
            ok: {"description": "OK", **({"content": {"application/json": {"schema": schema}}} if schema else {})}
        },
    }
    for status in sorted({401, *errors}):  # every route but this document needs a token
        operation["responses"][str(status)] = {
            "description": "Error",
            "content": {"application/json": {"schema": _ERROR}},
        }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        operation["parameters"] = params
    return operation


def _also(operation: dict, status: str, description: str, schema: dict) -> dict:
    """``operation`` with a second success answer (an idempotent POST's "already done")."""
    operation["responses"][status] = {"description": description, "content": {"application/json": {"schema": schema}}}
    return operation


def _param(name: str, where: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": ROW_ID if where == "path" and schema == {"type": "integer"} else schema or {"type": "string"},
    }


# A row id in a path: what the app's ``id`` converter matches (any other number is not a route).
ROW_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


_ID = _param("id", "path", "The medication's id.", {"type": "integer"})
_DOSE_ID = _param("id", "path", "The dose's id.", {"type": "integer"})
_REF = {name: {"$ref": f"#/components/schemas/{name}"} for name in ("Medication", "MedicationInput", "Dose", "User")}

_STEP_EVERY_DAYS = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 14,
    "description": "Every N days from this step's start_date (2 = every other day, 1 = daily); left out: today's",
}
PATHS = {
    "/api/v1/openapi.json": {
        "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
    },
    "/api/v1/me": {
        "get": _op("The token's user", "200", _REF["User"]),
        "patch": _op(
            "Change name, email, phone (E.164), tz, channels or quiet hours (quiet_start, quiet_end, local HH:MM); a new tz moves future reminders; a new email changes when the link sent to it comes back (pending_email), whether or not it is taken",
            "200",
            _REF["User"],
            body={
                "type": "object",
                "properties": {
                    **{k: {"type": "string"} for k in ("name", "email", "phone", "tz", "quiet_start", "quiet_end")},
                    "channels": {"type": "array", "items": {"enum": ["sms", "email", "push"]}},
                    "name_medication": {"type": ["boolean", "null"]},
                },
            },
            errors=(400, 401),
        ),
    },
    "/api/v1/medications": {
        "get": _op(
            "The user's medications",
            "200",
            {"type": "object", "properties": {"medications": {"type": "array", "items": _REF["Medication"]}}},
            params=[_param("include_ended", "query", "true to list ended medications too")],
        ),
        "post": _op(
            "Add a medication; its doses are generated at once",
            "201",
            _REF["Medication"],
            body=_REF["MedicationInput"],
            errors=(400, 401, 403, 409, 422),  # 403, 409, 422: the safety limits (safety_limits.py)
        ),
    },
    "/api/v1/medications/{id}": {
        "get": _op("One medication", "200", _REF["Medication"], params=[_ID], errors=(401, 404)),
        "patch": _op(
            "Change a medication; a new plan starts today and rewrites only future, unreminded doses",
            "200",
            _REF["Medication"],
            body=_REF["MedicationInput"],
            params=[_ID],
            errors=(400, 401, 403, 404, 409, 422),
        ),
        "delete": _op(
            "End a medication; its history is kept",
            "200",
            _REF["Medication"],
            params=[_ID, _param("reason", "query", "Why it ended")],
            errors=(400, 401, 404, 409),  # 409: a withdrawal-risk medication is tapered, not stopped
        ),
    },
    "/api/v1/doses": {
        "get": _op(
            "Doses whose scheduled instant is in [from, to)",
            "200",
            {"type": "object", "properties": {"doses": {"type": "array", "items": _REF["Dose"]}}},
            params=[
                _param("from", "query", "ISO-8601 instant with Z or an offset"),
                _param("to", "query", "ISO-8601 instant with Z or an offset"),
                _param("status", "query", "pending, taken, skipped, missed, unknown or cancelled"),
            ],
            errors=(400, 401),
        ),
    },
    "/api/v1/doses/{id}/confirm": {
        "post": _op(
            "Answer a dose under the missed-dose rule",
            "200",
            {"type": "object", "properties": {"result": {"type": "object"}, "dose": _REF["Dose"]}},
            body={
                "type": "object",
                "required": ["action"],
                "properties": {
                    "action": {"enum": ["taken", "skip", "snooze"]},
                    "taken_at": {
                        "type": "string",
                        "description": "ISO-8601 with an offset, or HH:MM in the patient's zone on the dose's day",
                    },
                    "reason": {"type": "string"},
                },
            },
            params=[_DOSE_ID],
            errors=(400, 401, 404, 409),
        ),
    },
}

_PATIENT = _param(
    "id", "path", "The patient's id (yourself, or a patient whose caregiver you are).", {"type": "integer"}
)
_OBJ = {"type": "object"}
_ARRAY_OF = lambda key: {"type": "object", "properties": {key: {"type": "array", "items": _OBJ}}}  # noqa: E731

PATHS.update(
    {
        "/api/v1/caregivers": {
            "get": _op("Your caregivers and invitations", "200", _ARRAY_OF("caregivers")),
            "post": _op(
                "Invite a caregiver by email or phone; the invitation link ends in its token",
                "201",
                _OBJ,
                body={"type": "object", "properties": {"email": {"type": "string"}, "phone": {"type": "string"}}},
                errors=(400, 401),
            ),
        },
        "/api/v1/caregivers/{id}": {
            "delete": _op(
                "Revoke a caregiver or invitation at once",
                "200",
                _OBJ,
                params=[_param("id", "path", "The id POST returned", {"type": "integer"})],
                errors=(401, 404),
            )
        },
        "/api/v1/invitations/{token}/accept": {
            "post": _op(
                "Accept an invitation, with the caregiver's own token (403: the invitation went to another address)",
                "200",
                _OBJ,
                params=[_param("token", "path", "From the invitation link")],
                errors=(401, 403, 404, 409, 410),
            )
        },
        "/api/v1/patients": {"get": _op("The patients you may see", "200", _ARRAY_OF("patients"))},
        "/api/v1/patients/{id}/doses": {
            "get": _op(
                "That patient's doses ([from, to), status)",
                "200",
                _ARRAY_OF("doses"),
                params=[_PATIENT],
                errors=(400, 401, 404),
            )
        },
        "/api/v1/patients/{id}/medications": {
            "get": _op(
                "That patient's medications, with supply",
                "200",
                _ARRAY_OF("medications"),
                params=[_PATIENT],
                errors=(401, 404),
            )
        },
        "/api/v1/patients/{id}/doses/{dose_id}/confirm": {
            "post": _op(
                '"I gave it": a caregiver whose link covers the medication confirms under the same rules; a '
                "reason lifts the minimum gap (403 not_a_caregiver: a clinician, or a link without this medication)",
                "200",
                _OBJ,
                body={
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "action": {"enum": ["taken", "skip", "snooze"]},
                        "taken_at": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
                params=[_PATIENT, _param("dose_id", "path", "The dose", {"type": "integer"})],
                errors=(400, 401, 403, 404, 409),
            )
        },
        "/api/v1/patients/{id}/alert-settings": {
            "patch": _op(
                "A caregiver's alert settings for one patient",
                "200",
                _OBJ,
                body={
                    "type": "object",
                    "properties": {
                        "medication_ids": {"type": ["array", "null"]},
                        "channel": {"enum": ["sms", "email", None]},
                        "all_medications": {"type": "boolean"},
                    },
                },
                params=[_PATIENT],
                errors=(400, 401, 404),
            )
        },
        "/api/v1/alerts": {
            "get": _op(
                "Alerts of the patients you may see (a patient: their own, read-only; a clinician: those sent to them), with `recipients`: name, role, channel, acknowledged",
                "200",
                _ARRAY_OF("alerts"),
            )
        },
        "/api/v1/alerts/{id}/ack": {
            "post": _op(
                "Acknowledge an alert; its repeats stop",
                "200",
                _OBJ,
                params=[_param("id", "path", "The alert", {"type": "integer"})],
                errors=(401, 404),
            )
        },
        "/api/v1/medications/{id}/refills": {
            "post": _op(
                "Record a refill; the medication with stock and days_left",
                "201",
                _REF["Medication"],
                params=[_ID],
                body={
                    "type": "object",
                    "required": ["quantity"],
                    "properties": {"quantity": {"type": "number"}, "pharmacy": {"type": "string"}},
                },
                errors=(400, 401, 404),
            )
        },
        "/api/v1/medications/{id}/taper": {
            "post": _op(
                "A taper plan: decreasing steps over at least min_taper_days; the medication ends after the last",
                "200",
                _REF["Medication"],
                params=[_ID],
                body={
                    "type": "object",
                    "required": ["steps"],
                    "properties": {
                        "steps": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "start_date": {"type": "string"},
                                    "end_date": {"type": "string"},
                                    "amount": {"type": "number"},
                                    "times": {"type": "array"},
                                    "every_days": _STEP_EVERY_DAYS,
                                },
                            },
                        }
                    },
                },
                errors=(400, 401, 403, 404, 409, 422),
            )
        },
        "/api/v1/medications/{id}/pause": {
            "post": _also(
                _op(
                    "Pause reminders for today; recorded, and caregivers are told",
                    "201",
                    _OBJ,
                    params=[_ID],
                    errors=(401, 404, 409),
                ),
                "200",
                "Already paused today",
                _OBJ,
            )
        },
        "/api/v1/pumps": {
            "get": _op("Your intrathecal pumps", "200", _ARRAY_OF("pumps")),
            "post": _op(
                "Record a pump: medication, alarm_date, refill_by (default alarm_date - 5 days)",
                "201",
                _OBJ,
                body={
                    "type": "object",
                    "required": ["alarm_date"],
                    "properties": {
                        "medication": {"type": "integer"},
                        "alarm_date": {"type": "string", "format": "date"},
                        "refill_by": {"type": "string", "format": "date"},
                        "concentration": {"type": "string"},
                        "clinic_phone": {"type": "string"},
                    },
                },
                errors=(400, 401),
            ),
        },
        "/api/v1/pumps/{id}/refills": {
            "post": _op(
                "A refill is done: the new alarm date",
                "201",
                _OBJ,
                params=[_param("id", "path", "The pump", {"type": "integer"})],
                body={
                    "type": "object",
                    "required": ["alarm_date"],
                    "properties": {"alarm_date": {"type": "string", "format": "date"}},
                },
                errors=(400, 401, 404),
            )
        },
    }
)
_DATES = [
    _param("from", "query", "First local date, YYYY-MM-DD (default: 29 days before to)"),
    _param("to", "query", "Last local date, YYYY-MM-DD, included (default: today)"),
]
PATHS.update(
    {
        "/api/v1/me/clinics": {
            "get": _op("The clinics you are linked to", "200", _ARRAY_OF("clinics")),
            "post": _op(
                "Join a clinic with its code",
                "201",
                _OBJ,
                body={"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
                errors=(400, 401, 404, 409),
            ),
        },
        "/api/v1/me/clinics/{id}": {
            "delete": _op(
                "Leave a clinic",
                "200",
                _OBJ,
                params=[_param("id", "path", "The clinic", {"type": "integer"})],
                errors=(401, 404),
            )
        },
        "/api/v1/me/audit": {
            "get": _op("Your audit log: every clinician view of your data", "200", _ARRAY_OF("audit"))
        },
        "/api/v1/patients/{id}/report": {
            "get": _op(
                "Adherence metrics per medication with definitions and parameters, calendar, chronology, steps, alerts and "
                "side effects (audited)",
                "200",
                _OBJ,
                params=[_PATIENT, *_DATES],
                errors=(400, 401, 404),
            )
        },
        "/api/v1/patients/{id}/report.csv": {
            "get": {
                "summary": "The dose ledger of the period as CSV (audited)",
                "parameters": [_PATIENT, *_DATES],
                "responses": {
                    "200": {"description": "text/csv"},
                    "400": {"description": "from or to is not a date, or the period is too long"},
                    "401": {"description": "No valid token"},
                    "404": {"description": "Not a patient you may see"},
                },
            }
        },
        "/api/v1/patients/{id}/fhir": {
            "get": {
                "summary": "A FHIR R4 Bundle: Patient, MedicationRequest, "
                "MedicationAdministration, RelatedPerson, Communication (audited)",
                "parameters": [_PATIENT, *_DATES],
                "responses": {
                    "200": {"description": "application/fhir+json"},
                    "400": {"description": "from or to is not a date, or the period is too long"},
                    "401": {"description": "No valid token"},
                    "404": {"description": "Not a patient you may see"},
                },
            }
        },
        "/api/v1/patients/{id}/medications/{medication_id}": {
            "patch": _op(
                "A clinician changes a linked patient's medication; reason required and recorded",
                "200",
                _REF["Medication"],
                params=[_PATIENT, _param("medication_id", "path", "The medication", {"type": "integer"})],
                body={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
                errors=(400, 401, 403, 404, 409, 422),
            ),
            "delete": _op(
                "A clinician stops a linked patient's medication with a reason (their confirmation)",
                "200",
                _REF["Medication"],
                params=[
                    _PATIENT,
                    _param("medication_id", "path", "The medication", {"type": "integer"}),
                    _param("reason", "query", "Why it is stopped"),
                ],
                errors=(400, 401, 404, 409),
            ),
        },
        "/api/v1/patients/{id}/medications/{medication_id}/titration": {
            "post": _op(
                "A clinician writes a titration plan (steps up, each at least 3 days, under the patient's ceilings); "
                "reason required and recorded; each step is announced the day before",
                "200",
                _REF["Medication"],
                params=[_PATIENT, _param("medication_id", "path", "The medication", {"type": "integer"})],
                body={
                    "type": "object",
                    "required": ["steps", "reason"],
                    "properties": {
                        "reason": {"type": "string"},
                        "steps": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["start_date", "amount"],
                                "properties": {
                                    "start_date": {"type": "string", "format": "date"},
                                    "end_date": {"type": "string", "format": "date"},
                                    "amount": {"type": "number"},
                                    "times": {"type": "array", "items": {"type": "string"}},
                                    "every_days": _STEP_EVERY_DAYS,
                                },
                            },
                        },
                    },
                },
                errors=(400, 401, 403, 404, 409, 422),
            )
        },
        "/api/v1/patients/{id}/pumps": {
            "get": _op("That patient's pumps", "200", _ARRAY_OF("pumps"), params=[_PATIENT], errors=(401, 404)),
            "post": _op(
                "The patient or their clinician records a pump (refill_by defaults to alarm_date - 5 days)",
                "201",
                _OBJ,
                params=[_PATIENT],
                body={
                    "type": "object",
                    "required": ["alarm_date"],
                    "properties": {
                        "medication": {"type": "integer"},
                        "alarm_date": {"type": "string", "format": "date"},
                        "refill_by": {"type": "string", "format": "date"},
                        "concentration": {"type": "string"},
                        "clinic_phone": {"type": "string"},
                    },
                },
                errors=(400, 401, 404),
            ),
        },
        "/api/v1/clinic/invitations": {
            "post": _op(
                "A clinician invites a patient (email or phone); the invitation link ends in its token",
                "201",
                _OBJ,
                body={"type": "object", "properties": {"email": {"type": "string"}, "phone": {"type": "string"}}},
                errors=(400, 401, 403),
            )
        },
        "/api/v1/clinic-invitations/{token}/accept": {
            "post": _op(
                "The patient accepts a clinic's invitation, with their own token",
                "201",
                _OBJ,
                params=[_param("token", "path", "From the invitation link")],
                errors=(401, 403, 404, 409, 410),
            )
        },
        "/api/v1/patients/{id}/kidney-function": {
            "get": _op(
                "The patient's latest eGFR and its date",
                "200",
                _OBJ,
                params=[_param("id", "path", "The patient", {"type": "integer"})],
                errors=(401, 404),
            ),
            "post": _op(
                "A clinician records eGFR (mL/min/1.73 m2) and the blood test's date; under 60 flags renal "
                "caution, under 30 halves a renally cleared drug's daily ceiling",
                "201",
                _OBJ,
                params=[_param("id", "path", "The patient", {"type": "integer"})],
                body={
                    "type": "object",
                    "required": ["egfr", "measured_on"],
                    "properties": {
                        "egfr": {"type": "number"},
                        "measured_on": {"type": "string", "format": "date"},
                    },
                },
                errors=(400, 401, 404),
            ),
        },
        "/api/v1/side-effects": {
            "post": _op(
                "Log a side effect, with the dose it followed; a danger sign answers advice and alerts "
                "caregivers and clinicians",
                "201",
                _OBJ,
                body={
                    "type": "object",
                    "required": ["kind", "severity"],
                    "properties": {
                        "kind": {
                            "enum": [
                                "drowsiness",
                                "dizziness",
                                "weakness",
                                "headache",
                                "constipation",
                                "dry_mouth",
                                "mood_change",
                                "other",
                            ]
                        },
                        "severity": {"type": "integer", "minimum": 1, "maximum": 3},
                        "note": {"type": "string"},
                        "dose_id": {"type": "integer"},
                    },
                },
                errors=(400, 401, 404),
            )
        },
    }
)
_TOKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "label": {"type": "string"},
        "created_at": {"type": "string"},
        "last_used_at": {"type": ["string", "null"]},
        "expires_at": {"type": ["string", "null"]},
    },
}
_TOO_MANY = {
    "description": "Too many failed tries: wait Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
}
PATHS.update(
    {
        "/api/v1/me/password": {
            "post": _op(
                "Change your password (the current one first); every web session of the account ends",
                "204",
                body={
                    "type": "object",
                    "required": ["current_password", "new_password"],
                    "properties": {
                        "current_password": {"type": "string"},
                        "new_password": {"type": "string", "minLength": 8},
                    },
                },
                errors=(400, 401, 403, 429),
            )
        },
        "/api/v1/me/phone/verify": {
            "post": _op(
                "Verify your phone number with the code texted to it; until then no text goes to it",
                "200",
                _REF["User"],
                body={"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}},
                errors=(400, 401, 429),
            )
        },
        "/api/v1/me/tokens": {
            "get": _op(
                "Your API tokens (never the token itself): label, created, last used, expiry",
                "200",
                {"type": "object", "properties": {"tokens": {"type": "array", "items": _TOKEN}}},
            ),
            "post": _op(
                "Create an API token, shown once in the answer; expires_in_days optional (none: never expires)",
                "201",
                {**_TOKEN, "properties": {**_TOKEN["properties"], "token": {"type": "string"}}},
                body={
                    "type": "object",
                    "properties": {
                        "label": {"type": "string", "maxLength": 100},
                        "expires_in_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3660},
                    },
                },
                errors=(400, 401),
            ),
        },
        "/api/v1/me/tokens/{id}": {
            "delete": _op(
                "Revoke one of your API tokens: it answers 401 from then on",
                "204",
                params=[_param("id", "path", "The token's id", {"type": "integer"})],
                errors=(401, 404),
            )
        },
    }
)
PATHS["/api/v1/me/password"]["post"]["responses"]["429"] = _TOO_MANY
PATHS["/api/v1/me/phone/verify"]["post"]["responses"]["429"] = _TOO_MANY
PATHS["/api/v1/me/clinics"]["post"]["responses"]["429"] = _TOO_MANY  # join codes are guessed at this rate
PATHS["/api/v1/patients"]["get"]["summary"] = (
    "A clinician's panel (q, sort=risk|name|adherence_7d|adherence_30d|last_taken, page, per_page); "
    "otherwise the patients you may see"
)
PATHS["/api/v1/medications/{id}"]["delete"]["summary"] = (
    "End a medication (history kept); a withdrawal-risk one answers 409: it needs a taper plan or a clinician"
)
PATHS["/api/v1/medications/{id}"]["delete"]["responses"]["409"] = {"description": "Must not be stopped suddenly"}

SCHEMAS = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "User": {
        "type": "object",
        "properties": {
            k: {"type": ["string", "null"]}
            for k in ("email", "name", "role", "phone", "tz", "quiet_start", "quiet_end", "created_at")
        }
        | {
            "id": {"type": "integer"},
            "channels": {"type": "array", "items": {"enum": ["sms", "email", "push"]}},
            "sms_opted_out": {"type": "boolean"},
            "phone_verified": {"type": "boolean"},
            "pending_email": {
                "type": ["string", "null"],
                "description": "A new email waiting for the link sent to it; the email changes when it comes back",
            },
            "name_medication": {
                "type": ["boolean", "null"],
                "description": "Reminders name the medication; null: the server's default",
            },
        },
    },
    "MedicationInput": {
        "type": "object",
        "required": ["name", "amount", "times"],
        "properties": {
            "name": {"type": "string"},
            "strength": {"type": "string"},
            "unit": {"type": "string"},
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "times": {"type": "array", "items": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}},
            "days": {"type": ["array", "null"], "items": {"type": ["string", "integer"]}},
            "every_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 14},
            "acknowledge_interactions": {"type": "boolean"},
            "start_date": {"type": "string", "format": "date"},
            "withdrawal_risk": {"type": "boolean"},
            "max_daily_amount": {"type": ["number", "null"]},
            "on_time_minutes": {"type": "integer"},
            "skip_fraction": {"type": "number"},
            "skip_hours_before_next": {"type": "number"},
            "min_gap_fraction": {"type": "number"},
        },
    },
    "Medication": {
        "allOf": [
            {"$ref": "#/components/schemas/MedicationInput"},
            {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "ended_at": {"type": ["string", "null"]},
                    "steps": {"type": "array"},
                    "safety_url": {"type": "string"},
                },
            },
        ]
    },
    "Dose": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "medication_id": {"type": "integer"},
            "scheduled_at": {"type": "string", "format": "date-time"},
            "local_date": {"type": "string"},
            "local_time": {"type": "string"},
            "tz": {"type": "string"},
            "window_closes_at": {"type": "string"},
            "amount": {"type": "number"},
            "status": {"enum": ["pending", "taken", "skipped", "missed", "unknown", "cancelled"]},
            "reason": {
                "enum": ["time_zone_change", None],
                "description": "Why a cancelled dose is not scheduled (null otherwise): travel never adds doses",
            },
            "taken_at": {"type": ["string", "null"]},
            "confirmed_at": {"type": ["string", "null"]},
            "source": {"type": ["string", "null"]},
            "actor": {"type": ["integer", "null"]},
            "skip_reason": {"type": ["string", "null"]},
        },
    },
}

# A patient's data rights (web/api/data.py).
PATHS["/api/v1/me"]["delete"] = _op(
    "Delete your account and all your data (patients); then every token of it gets 401",
    "204",
    body={
        "type": "object",
        "properties": {"password": {"type": "string"}, "confirm": {"const": "delete my account"}},
    },
    errors=(400, 401, 403),
)
PATHS["/api/v1/me/export"] = {
    "get": _op(
        "All your data as JSON: profile, medications, doses, side effects, caregivers, clinics, messages",
        "200",
        _OBJ,
        errors=(401, 403),
    )
}


# ---------------------------------------------------------------- safety limits (issue 9)
# Refusals carry a machine-readable ``error.code``: 403 ``clinician_only`` (a patient loosening a
# floor), 409 ``duplicate_ingredient`` (unless ``confirm_duplicate``), 409 ``plan_running`` (an edit
# during a taper or titration other than moving its times), 422 ``over_ceiling``, ``unit_mismatch``,
# ``times_too_close``, ``taper_invalid``; on a dose, 409 ``too_soon``/``over_daily_maximum`` (answer
# again with ``already_taken`` if it was already swallowed), ``too_late_to_correct``, ``not_scheduled``
# (a dose cancelled by a change of time zone: nothing is recorded).
SAFETY_CODES = (
    "clinician_only, duplicate_ingredient, plan_running, over_ceiling, unit_mismatch, times_too_close, "
    "taper_invalid, titration_invalid, too_soon, over_daily_maximum, too_late_to_correct, not_scheduled"
)
SCHEMAS["Error"]["properties"]["error"]["properties"]["code"]["description"] = (
    f"invalid, unauthorized, not_found, ...; the safety rules' own: {SAFETY_CODES}"
)
SCHEMAS["MedicationInput"]["properties"] |= {
    "route": {"enum": ["oral", "intrathecal"], "description": "Pump products are intrathecal whatever is chosen"},
    "max_single_amount": {"type": ["number", "null"], "description": "Defaults to the formulary's ceiling"},
    "confirm_duplicate": {"type": "boolean", "description": "Yes, a second entry of the same ingredient and route"},
}
SCHEMAS["Medication"]["allOf"][1]["properties"] |= {
    "ingredient": {
        "type": ["object", "null"],
        "properties": {k: {"type": ["string", "null"]} for k in ("name", "drugbank_id", "medline_plus_id")},
    },
    "clinician_limits": {"type": "object", "description": "What a clinician set for this patient: the floor"},
}
SCHEMAS["Dose"]["properties"]["flags"] = {
    "type": "array",
    "items": {"enum": ["too_soon", "over_daily_maximum"]},
    "description": "A reported intake recorded although it broke a rule",
}
_CONFIRM = PATHS["/api/v1/doses/{id}/confirm"]["post"]
_CONFIRM["requestBody"]["content"]["application/json"]["schema"]["properties"] |= {
    "action": {"enum": ["taken", "skip", "snooze", "correct"]},
    "already_taken": {"type": "boolean", "description": "Yes, it was already swallowed: record it, flagged"},
    "to": {"enum": ["not_taken", "taken", "skip"], "description": "With action correct"},
}
for _path, _method in (("/api/v1/medications", "post"), ("/api/v1/medications/{id}", "patch")):
    for _status, _words in (
        ("403", "A looser rule: clinician_only"),
        ("409", "Conflict"),
        ("422", "Over a safety limit"),
    ):
        PATHS[_path][_method]["responses"][_status] = {
            "description": _words,
            "content": {"application/json": {"schema": _ERROR}},
        }

PATHS["/api/v1/medications/{id}/taper"]["post"]["responses"]["422"] = {
    "description": "taper_invalid: a step under 3 days, a last step over a quarter of the start, or tablets cannot give it",
    "content": {"application/json": {"schema": _ERROR}},
}

_TITRATION = PATHS["/api/v1/patients/{id}/medications/{medication_id}/titration"]["post"]["responses"]
_TITRATION["403"]["description"] = "clinician_only: the patient or a caregiver"
_TITRATION["422"]["description"] = (
    "titration_invalid, naming the step: not after tomorrow, under 3 days, not a rise, over a ceiling, "
    "or tablets cannot give it"
)

# Issue 10: removing the last caregiver or clinic watching a withdrawal-risk drug asks first.
for _path in ("/api/v1/caregivers/{id}", "/api/v1/me/clinics/{id}"):
    _delete = PATHS[_path]["delete"]
    _delete["responses"]["409"] = {
        "description": "last_safety_contact: the last one watching a withdrawal-risk medication; add ?confirm=true",
        "content": {"application/json": {"schema": _ERROR}},
    }
    _delete.setdefault("parameters", []).append(
        _param("confirm", "query", "true to remove the last safety contact anyway", {"enum": ["true", "false"]})
    )

# Issue 14: a notification's Taken and Snooze, and taps queued offline, answer by the dose link's token.
PATHS["/api/v1/links/{token}/answer"] = {
    "post": _op(
        "Answer a dose with its one-tap link's token (no login), under the missed-dose rule; tapped_at for a tap queued offline",
        "200",
        {"type": "object", "properties": {"result": {"type": "object"}, "dose": _REF["Dose"]}},
        body={
            "type": "object",
            "required": ["action"],
            "properties": {
                "action": {"enum": ["taken", "snooze", "skip"]},
                "tapped_at": {
                    "type": "string",
                    "description": "When a tap made offline was made (ISO-8601 with an offset): not in the future, "
                    "not before the dose was due, at most 24 hours old",
                },
            },
        },
        params=[_param("token", "path", "The token of the dose's one-tap link")],
        errors=(400, 404, 409, 410),
    )
}
PATHS["/api/v1/links/{token}/answer"]["post"]["security"] = []
del PATHS["/api/v1/links/{token}/answer"]["post"]["responses"]["401"]


# Issue 10 §5: a clinician's pause silences the alert repeats on its days; they resume after.
PATHS["/api/v1/patients/{id}/medications/{medication_id}/pause"] = {
    "post": _op(
        "A clinician of a linked clinic pauses a medication's reminders from today to until (default today, "
        "at most 14 days), with a reason kept beside each day; the patient and caregivers are told; alert "
        "repeats are silent on those days",
        "201",
        {
            "type": "object",
            "properties": {
                "medication_id": {"type": "integer"},
                "paused_from": {"type": "string", "format": "date"},
                "paused_until": {"type": "string", "format": "date"},
                "reason": {"type": "string"},
            },
        },
        params=[_PATIENT, _param("medication_id", "path", "The medication", {"type": "integer"})],
        body={
            "type": "object",
            "required": ["reason"],
            "properties": {"reason": {"type": "string"}, "until": {"type": "string", "format": "date"}},
        },
        errors=(400, 401, 403, 404, 409),
    )
}
PATHS["/api/v1/patients/{id}/medications/{medication_id}/pause"]["post"]["responses"]["403"]["description"] = (
    "clinician_only: the patient or a caregiver"
)


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "reminder API", "version": "1"},
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": PATHS,
    }


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())

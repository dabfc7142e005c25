"""Schemathesis (4.x) in-process against the WSGI app and its own OpenAPI document: whatever it
sends, no answer is a 5xx, and every answer matches the document (status, content type, body).

Bounded to about a minute: a few examples per operation, for a patient with a medication, its
doses and a caregiver (so ids in paths sometimes hit real rows). Issue 11, finding 10.

Driven with Hypothesis directly rather than ``schemathesis.pytest.from_fixture``, whose
parametrization does not run under pytest 9.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from builders import bearer, link_caregiver, make_medication, make_patient

EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def run_operation(operation, headers: dict) -> None:
    """Hypothesis's cases for one operation, each answer checked against the document."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,  # the same cases every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()


def test_no_api_answer_is_a_5xx_or_breaks_the_openapi_document(app, db):
    patient = make_patient(db)
    make_medication(db, patient)
    link_caregiver(db, patient)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    # Deleting the account (which a generated {"confirm": ...} may do) goes last: after it the
    # caller no longer exists for the operations that follow.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: op.label == "DELETE /api/v1/me"
    )
    for operation in operations:
        try:
            # A fresh token per operation: an earlier one may have revoked the caller's token.
            run_operation(operation, bearer(db, patient))
        except (Exception, BaseExceptionGroup) as error:  # every operation's first failure, not only the first's
            failures.append(f"{operation.label}: {error}")
    assert failures == [], "\n\n".join(failures)

"""Passwords: the tests hash cheaply (conftest's autouse fixture), production keeps scrypt."""

from __future__ import annotations

import pytest

from reminder import accounts

from builders import PASSWORD, make_patient


@pytest.mark.production_password_hashing
def test_outside_the_tests_passwords_are_stored_as_scrypt_hashes(db):
    patient = make_patient(db)
    assert accounts.find_user(db, id=patient)["password_hash"].startswith("scrypt:")
    assert accounts.authenticate(db, "pat@example.com", PASSWORD)["id"] == patient


def test_a_password_hashed_cheaply_in_the_tests_still_logs_in_and_a_wrong_one_does_not(db):
    patient = make_patient(db)
    assert accounts.find_user(db, id=patient)["password_hash"].startswith("pbkdf2:sha256:1$")
    assert accounts.authenticate(db, "pat@example.com", PASSWORD)["id"] == patient
    assert accounts.authenticate(db, "pat@example.com", "wrong-horse") is None

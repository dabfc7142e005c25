"""Browser test: the page of doses due together, opened from the one reminder, on a 360 px phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browser_kit import assert_fits_phone, outbox_link
from builders import doses, make_medication, make_patient

pytestmark = pytest.mark.browser

ONE_PM_DOSE = "2026-03-07T18:00:00Z"  # 13:00 in New York


def one_pm(db) -> list[dict]:
    return doses(db, local_date="2026-03-07", local_time="13:00")


def test_taken_all_of_them_from_the_one_reminder_records_both_doses(phone, db, tick):
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient)
    make_medication(db, patient, name="Omeprazole", strength="20 mg capsule", amount=20, times=["13:00"])
    tick(ONE_PM_DOSE)
    page = phone()
    link = outbox_link(page, "reminder")
    assert "/g/" in link
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("2 doses due at 1:00 PM")
    expect(page.get_by_role("button", name="Taken", exact=True)).to_have_count(2)
    assert_fits_phone(page)
    page.get_by_role("button", name="Taken, all of them").tap()
    expect(page.locator(".flash.ok")).to_have_count(2)
    assert_fits_phone(page)
    assert [dose["status"] for dose in one_pm(db)] == ["taken", "taken"]


def test_a_dose_the_rule_refuses_asks_whether_it_was_already_taken_and_never_advises_two(phone, db, tick):
    patient = make_patient(db, name="Pat Example")
    make_medication(db, patient, times=["13:00"])
    make_medication(db, patient, name="Lioresal", times=["13:00"], confirm_duplicate=True)
    tick(ONE_PM_DOSE)
    page = phone()
    page.goto(outbox_link(page, "reminder"))
    page.get_by_role("button", name="Taken, all of them").tap()
    expect(page.get_by_text("Have you already taken it?")).to_be_visible()
    assert_fits_phone(page)
    assert sorted(dose["status"] for dose in one_pm(db)) == ["pending", "taken"]
    page.get_by_role("link", name="No, I have not").tap()
    expect(page.get_by_text("Good: don't take it now.")).to_be_visible()
    assert_fits_phone(page)
    assert sorted(dose["status"] for dose in one_pm(db)) == ["pending", "taken"]

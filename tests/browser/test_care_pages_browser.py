"""Browser test (issue 10 sections 2 and 4): the Safety page, opened from the medication card,
and the pump card, each on the 360 px phone. Debian's Chromium through Playwright."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reminder import pumps

from browser_kit import assert_fits_phone, log_in
from builders import START, make_medication, make_patient

pytestmark = pytest.mark.browser


def test_the_safety_page_and_the_pump_card_read_on_a_phone(db, phone, artifacts):
    patient = make_patient(db, email="pat@example.com", name="Pat Example")
    make_medication(db, patient)
    gablofen = make_medication(
        db, patient, name="Gablofen", unit="mcg", amount=100, times=["08:00"], max_daily_amount=None
    )
    pump_id = pumps.create_pump(db, patient, gablofen, "2026-04-10", None, patient, START)

    page = phone()
    log_in(page, "pat@example.com", "Today")
    page.goto("/medications")
    page.locator("#medication-1").get_by_role("link", name="Safety").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Baclofen: what to know")
    expect(page.locator("#safety-withdrawal")).to_contain_text("hallucinations, seizures")
    expect(page.locator("#safety-sedation")).to_contain_text("slow your breathing")
    expect(page.get_by_role("link", name="Full leaflet on MedlinePlus")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "safety-page.png"), full_page=True)

    page.goto("/pumps")
    page.get_by_role("link", name="Pump card").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pump card")
    expect(page.locator(".pump-card")).to_contain_text("Gablofen")
    expect(page.get_by_role("heading", name="For emergency staff")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / "pump-card.png"), full_page=True)
    assert page.url.endswith(f"/pumps/{pump_id}/card")

"""The phone pages over HTTP (issue 14 §2): the menu, doses as tablets, times typed as people
write them, History by month, Messages paged, the patient's own progress page, admins' landing."""

from __future__ import annotations

import re

from reminder import clinics

from builders import (
    DOCTOR,
    START,
    csrf,
    doses,
    make_clinic,
    make_clinician,
    make_medication,
    make_patient,
    make_user,
    page_text,
)


def words(response) -> str:
    """The page's words without tags, spaces collapsed: what a person reads."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def test_every_patient_page_has_one_heading_a_skip_link_and_the_menu(client, db, patient, login, tick):
    make_medication(db, patient)
    tick("2026-03-07T18:05:00Z")
    login()
    dose_id = doses(db)[0]["id"]
    for path in ("/", "/history", "/adherence", "/messages", "/medications", "/settings", f"/doses/{dose_id}"):
        html = client.get(path).get_data(as_text=True)
        assert len(re.findall(r"<h1[ >]", html)) == 1, path
        assert 'href="#main"' in html and 'id="main"' in html, path
        assert '<details class="menu">' in html and 'href="/adherence"' in html, path


def test_today_shows_a_dose_as_tablets_first(client, db, patient, login):
    make_medication(db, patient, amount=15, strength="10 mg tablet")
    login()
    assert "Take 1½ tablets (15 mg)" in words(client.get("/"))


def test_a_liquid_dose_is_shown_measured(client, db, patient, login):
    make_medication(
        db,
        patient,
        name="Vitamin D",
        amount=5,
        unit="mL",
        strength="400 units/mL",
        withdrawal_risk=False,
        max_daily_amount=None,
    )
    login()
    assert "Take 5 mL" in words(client.get("/"))


def test_medication_times_typed_as_people_write_them_are_saved_and_shown_in_12_hour_style(client, db, patient, login):
    login()
    response = client.post(
        "/medications/new",
        data={
            "csrf_token": csrf(client, "/medications/new"),
            "name": "Metformin",
            "strength": "500 mg",
            "amount": "500",
            "unit": "mg",
            "times": "8am, 8:00 pm",
        },
    )
    assert response.status_code == 302
    text = words(client.get("/medications"))
    assert "8:00 AM, 8:00 PM" in text


def test_i_already_took_it_at_understands_8_15_am(client, db, patient, login, clock, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:30:00Z")  # 8:30 AM in New York
    login()
    dose_id = next(d["id"] for d in doses(db) if d["local_time"] == "08:00")
    path = f"/doses/{dose_id}"
    client.post(path, data={"csrf_token": csrf(client, path), "action": "taken", "taken_at": "8:15 am"})
    assert next(d for d in doses(db) if d["id"] == dose_id)["taken_at"] == "2026-03-07T13:15:00Z"


def test_history_shows_one_month_a_page_with_a_link_to_the_month_before(client, db, patient, login, tick_until, clock):
    make_medication(db, patient, horizon_hours=24 * 40)
    tick_until("2026-04-02T13:00:00Z", step=6 * 3600)
    login()
    april = client.get("/history")
    text = words(april)
    assert "History April 2026" in text and "Wed 01 Apr" in text and "Tue 31 Mar" not in text
    assert 'href="/history?month=2026-03"' in april.get_data(as_text=True)
    march = words(client.get("/history?month=2026-03"))
    assert "Tue 31 Mar" in march and "Wed 01 Apr" not in march and "Sat 07 Mar" in march


def test_a_bad_month_shows_this_month(client, patient, login):
    login()
    assert client.get("/history?month=2026-13").status_code == 200


def test_messages_come_a_page_at_a_time(client, db, patient, login, tick_until):
    make_medication(db, patient, horizon_hours=24 * 15)
    tick_until("2026-03-19T12:00:00Z", step=1800)
    login()
    first = client.get("/messages").get_data(as_text=True)
    assert first.count('class="card message"') == 30
    older = re.search(r'href="(/messages\?before=\d+)"', first).group(1)
    second = client.get(older).get_data(as_text=True)
    assert 'class="card message"' in second and "Newest" in second


def test_the_progress_page_says_this_week_this_month_and_the_streak_in_plain_words(client, db, patient, login, tick):
    make_medication(db, patient, times=["08:00"], horizon_hours=24 * 5)
    tick("2026-03-07T18:00:00Z")
    login()
    dose_id = doses(db)[0]["id"]
    path = f"/doses/{dose_id}"
    client.post(path, data={"csrf_token": csrf(client, path), "action": "taken", "taken_at": "8:05"})
    text = words(client.get("/adherence"))
    assert "This week 1 of 1 You took your 1 dose." in text
    assert "1 day in a row with every dose taken." in text
    assert "PDC" not in text and "adherence" not in text.lower().replace("/adherence", "")


def test_an_admin_lands_on_the_admin_page(client, db, login):
    make_user(db, "admin@example.com", "admin")
    login("admin@example.com")
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/admin/")


def test_a_bad_report_range_keeps_the_dates_with_the_error_beside_them(client, db, login):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Ours")
    clinics.join(db, patient, code, START)
    login(DOCTOR)
    response = client.get(f"/panel/patients/{patient}/report?from=2026-03-09&to=2026-03-07")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="2026-03-09"' in html and 'value="2026-03-07"' in html
    assert 'aria-describedby="from-error"' in html and 'aria-invalid="true"' in html
    assert re.search(r'id="from-error">Please check the dates: from must not be after to', html)


def test_the_report_has_a_print_button_and_its_tables_scroll_in_their_own_box(client, db, login):
    clinic, code = make_clinic(db, "Neurology")
    make_clinician(db, clinic)
    patient = make_patient(db, name="Pat Ours")
    make_medication(db, patient)
    clinics.join(db, patient, code, START)
    login(DOCTOR)
    html = client.get(f"/panel/patients/{patient}/report").get_data(as_text=True)
    assert "data-print>Print</button>" in html and "/static/print.js" in html
    assert 'class="table-box"' in html


def test_a_refused_refill_keeps_the_quantity_typed_with_the_error_beside_it(client, db, patient, login):
    medication = make_medication(db, patient)
    login()
    path = f"/medications/{medication}/refills"
    response = client.post(
        path, data={"csrf_token": csrf(client, "/medications"), "quantity": "-3", "pharmacy": "Main St"}
    )
    html = page_text(response)
    assert response.status_code == 400
    assert f'id="quantity-{medication}"' in html and 'value="-3"' in html and 'value="Main St"' in html
    assert f'aria-describedby="quantity-{medication}-error"' in html and f'id="quantity-{medication}-error"' in html


def test_a_refused_taken_time_keeps_the_time_with_the_reason_beside_it(client, db, patient, login, tick):
    make_medication(db, patient)
    tick("2026-03-07T13:30:00Z")  # 8:30 AM in New York
    login()
    dose_id = next(d["id"] for d in doses(db) if d["local_time"] == "08:00")
    path = f"/doses/{dose_id}"
    response = client.post(path, data={"csrf_token": csrf(client, path), "action": "taken", "taken_at": "09:15"})
    html = page_text(response)
    assert 'value="09:15"' in html and 'aria-describedby="taken_at-error"' in html
    assert re.search(r'id="taken_at-error">That time is not in the past', html)


def test_a_refused_setting_keeps_what_was_typed_with_the_error_beside_its_field(client, db, patient, login):
    login()
    response = client.post(
        "/settings",
        data={
            "csrf_token": csrf(client, "/settings"),
            "name": "Pat",
            "email": "not-an-email",
            "tz": "America/New_York",
        },
    )
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="not-an-email" aria-invalid="true" aria-describedby="email-error"' in html
    assert 'id="email-error">Enter a valid email' in html


def test_a_refused_medication_keeps_what_was_typed_with_the_error_beside_its_field(client, db, patient, login):
    login()
    response = client.post(
        "/medications/new",
        data={
            "csrf_token": csrf(client, "/medications/new"),
            "name": "Metformin",
            "strength": "500 mg",
            "amount": "500",
            "unit": "mg",
            "times": "8am, 25:00",
        },
    )
    html = page_text(response)
    assert response.status_code == 400
    assert 'value="Metformin"' in html and 'value="8am, 25:00" placeholder' in html
    assert 'aria-invalid="true" aria-describedby="times-error"' in html and 'id="times-error">' in html

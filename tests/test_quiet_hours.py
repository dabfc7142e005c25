"""Quiet hours (issue 10 section 5): what waits for the night to end and what goes at once, on
ordinary nights and on the nights the clocks change."""

from __future__ import annotations

import pytest

from reminder import escalation, quiet_hours
from reminder.db import immediate
from reminder.errors import InputError

from builders import Z, bearer, link_caregiver, messages

NY, SYDNEY = "America/New_York", "Australia/Sydney"


@pytest.mark.parametrize(
    "now, tz, start, end, ends_at",
    [
        (Z("2026-03-07T20:00"), NY, "22:00", "07:00", None),  # 15:00 in New York
        (Z("2026-03-08T02:59"), NY, "22:00", "07:00", None),  # 21:59
        (Z("2026-03-08T03:00"), NY, "22:00", "07:00", Z("2026-03-08T11:00")),  # 22:00 EST; ends 07:00 EDT
        (Z("2026-03-08T06:30"), NY, "22:00", "07:00", Z("2026-03-08T11:00")),  # 01:30 EST, the spring-forward night
        (Z("2026-03-08T07:30"), NY, "22:00", "07:00", Z("2026-03-08T11:00")),  # 03:30 EDT, after the change
        (Z("2026-03-08T11:00"), NY, "22:00", "07:00", None),  # 07:00 EDT: over
        (Z("2026-11-01T03:00"), NY, "22:00", "07:00", Z("2026-11-01T12:00")),  # 23:00 EDT; ends 07:00 EST
        (Z("2026-11-01T05:30"), NY, "22:00", "07:00", Z("2026-11-01T12:00")),  # the first 01:30 (EDT)
        (Z("2026-11-01T06:30"), NY, "22:00", "07:00", Z("2026-11-01T12:00")),  # the second 01:30 (EST)
        (Z("2026-11-01T11:30"), NY, "22:00", "07:00", Z("2026-11-01T12:00")),  # 06:30 EST
        (Z("2026-04-04T12:00"), SYDNEY, "22:00", "07:00", Z("2026-04-04T21:00")),  # 23:00 AEDT; ends 07:00 AEST
        (Z("2026-10-03T12:00"), SYDNEY, "22:00", "07:00", Z("2026-10-03T20:00")),  # 22:00 AEST; ends 07:00 AEDT
        (Z("2026-03-07T18:30"), NY, "13:00", "15:00", Z("2026-03-07T20:00")),  # a nap, within one day
        (Z("2026-03-08T04:00"), NY, "00:00", "00:00", None),  # the same start and end: no quiet hours
    ],
)
def test_quiet_hours_end_at_the_local_wall_time_on_either_side_of_a_clock_change(now, tz, start, end, ends_at):
    assert quiet_hours.quiet_end(now, tz, start, end) == ends_at


@pytest.mark.parametrize(
    "kind, level, alert_kind, waits",
    [
        ("reminder", None, None, False),  # the patient chose that time
        ("follow_up", None, None, False),
        ("skip_notice", None, None, True),
        ("notice", None, None, True),  # refill and pump reminders
        ("alert", 2, "missed_run", True),
        ("alert_repeat", 2, "missed_run", True),
        ("alert", 2, "supply", True),
        ("alert", 3, "missed_run", False),
        ("alert_repeat", 3, "unreachable", False),
        ("alert", 2, "pump", False),  # a pump at its alarm date is urgent at any level
        ("alert", 3, "possible_overdose", False),
        ("invitation", None, None, False),
    ],
)
def test_what_waits_for_the_quiet_hours_to_end(kind, level, alert_kind, waits):
    assert quiet_hours.may_wait(kind, level, alert_kind) is waits


@pytest.mark.parametrize("text", ["25:00", "7", "noon", "", "07:60"])
def test_a_quiet_hour_must_be_a_clock_time(text):
    with pytest.raises(InputError):
        quiet_hours.check(text, "quiet_start")


def raise_at(db, settings, patient, now, level, kind="supply"):
    with immediate(db):
        escalation.raise_alert(
            db,
            settings,
            patient_id=patient,
            medication_id=None,
            kind=kind,
            run_key=f"{kind}:{level}",
            summary="Test alert",
            now=now,
            level=level,
        )


def test_a_level_2_alert_at_night_waits_for_the_caregivers_morning_and_level_3_goes_at_once(
    db, patient, settings, tick
):
    carol = link_caregiver(db, patient, tz="America/Chicago")
    night = Z("2026-03-08T05:00")  # 23:00 in Chicago, the night the clocks spring forward
    raise_at(db, settings, patient, night, level=2)
    raise_at(db, settings, patient, night, level=3)
    tick(night)
    by_level = {
        db.execute("SELECT level FROM alerts WHERE id = ?", [m["alert_id"]]).fetchone()[0]: m
        for m in messages(db, "alert")
        if m["user_id"] == carol
    }
    assert by_level[3]["status"] == "sent"
    assert (by_level[2]["status"], by_level[2]["next_attempt_at"]) == ("queued", "2026-03-08T12:00:00Z")
    tick(Z("2026-03-08T11:59"))
    assert messages(db, "alert")[0]["status"] == "queued"
    tick(Z("2026-03-08T12:00"))  # 07:00 CDT
    assert {m["status"] for m in messages(db, "alert")} == {"sent"}


def test_quiet_hours_are_a_setting_of_each_person(db, client, patient, settings):
    api = bearer(db, patient)
    changed = client.patch("/api/v1/me", json={"quiet_start": "23:30", "quiet_end": "6:15"}, headers=api)
    assert changed.status_code == 200 and (changed.json["quiet_start"], changed.json["quiet_end"]) == ("23:30", "06:15")
    assert client.patch("/api/v1/me", json={"quiet_end": "late"}, headers=api).status_code == 400
    raise_at(db, settings, patient, Z("2026-03-08T04:00"), level=2)  # 23:00 EST: not quiet yet for them
    assert messages(db, "alert")[0]["next_attempt_at"] == "2026-03-08T04:00:00Z"

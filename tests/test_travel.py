"""Travel never adds doses (issue 9 section 3): after a change of time zone, a new dose that falls
too soon after the previous one or over the daily maximum in any rolling 24 hours stays in the
ledger as ``cancelled`` (reason ``time_zone_change``) and nobody is reminded of it.

The patient takes baclofen 20 mg at 08:00, 14:00 and 20:00, at most 60 mg a day. Expected
instants are worked out by hand in UTC in each case's comment.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminder import db as dbmod
from reminder import escalation, fhir, ledger, links, metrics, profile, reports, summaries, travel
from reminder.db import immediate
from reminder.missed_dose import Intake, most_in_a_day
from reminder.times import parse_instant, to_iso

from builders import Z, bearer, csrf, doses, log_in, make_medication, make_patient, messages, page_text

SNOOZE = timedelta(minutes=10)
HORIZON = timedelta(hours=72)
TWENTY_THRICE = {"amount": 20, "strength": "10 mg", "times": ["08:00", "14:00", "20:00"], "max_daily_amount": 60}


# ---------------------------------------------------------------- the rule alone


def planned(at: str, amount: float = 20, gap_hours: float = 3) -> travel.Planned:
    return travel.Planned(Z(at), amount, timedelta(hours=gap_hours))


def counted(at: str, amount: float = 20) -> travel.Counted:
    return travel.Counted(Z(at), amount)


@pytest.mark.parametrize(
    "new, before, maximum, cancelled",
    [
        # Two hours after an intake, with a three-hour minimum gap: too soon, whatever the total.
        ([planned("2026-06-01T20:00")], [counted("2026-06-01T18:00")], None, {0}),
        # Exactly the minimum gap is not "closer than" it.
        ([planned("2026-06-01T21:00")], [counted("2026-06-01T18:00")], None, set()),
        # 60 mg already in the last 24 hours: a fourth 20 mg is over 60 mg a day, and so is the
        # next one; once the first intake is 24 hours old, there is room again.
        (
            [planned("2026-06-01T21:00"), planned("2026-06-02T03:00"), planned("2026-06-02T15:00")],
            [counted("2026-06-01T06:00"), counted("2026-06-01T12:00"), counted("2026-06-01T18:00")],
            60,
            {0, 1},
        ),
        # A cancelled dose does not count against the next one: 13:00 (over) is cancelled, 17:00
        # finds 40 mg in its 24 hours.
        (
            [planned("2026-06-02T13:00"), planned("2026-06-02T17:00")],
            [counted("2026-06-01T16:00"), counted("2026-06-02T06:00"), counted("2026-06-02T10:00")],
            60,
            {0},
        ),
        # Another entry's dose at the same instant is not a "previous" dose; the shared maximum
        # still holds (10 + 5 mg of one drug at 08:00 is one 15 mg dose).
        ([planned("2026-06-02T08:00", 5)], [counted("2026-06-02T08:00", 10)], 80, set()),
        ([planned("2026-06-02T08:00", 5)], [counted("2026-06-02T08:00", 10)], 12, {0}),
        # A dose that stays scheduled later in the day counts in the windows that hold it.
        ([planned("2026-06-02T06:00")], [counted("2026-06-01T12:00"), counted("2026-06-02T05:00", 40)], 60, {0}),
    ],
)
def test_a_planned_dose_is_cancelled_only_when_it_is_too_soon_or_over_the_maximum(new, before, maximum, cancelled):
    assert travel.doses_to_cancel(new, before, maximum, ZoneInfo("UTC")) == cancelled


# ---------------------------------------------------------------- the ledger after a change of zone


def patient_on_baclofen(db, zone: str, since: str, **fields) -> tuple[int, int]:
    patient = make_patient(db, tz=zone)
    return patient, make_medication(db, patient, now=Z(since), horizon_hours=96, **{**TWENTY_THRICE, **fields})


def take_at_their_times(db, patient: int, first: str, last: str) -> None:
    """The patient takes every dose due from ``first`` to ``last`` (UTC) at its time."""
    for row in db.query(
        "SELECT id, scheduled_at FROM doses WHERE scheduled_at BETWEEN ? AND ? ORDER BY scheduled_at",
        [to_iso(Z(first)), to_iso(Z(last))],
    ):
        decision = ledger.answer_dose(
            db, row["id"], ledger.Answer("taken", "web", patient), parse_instant(row["scheduled_at"]), SNOOZE
        )
        assert decision.outcome == "taken", decision.message


def change_zone(db, settings, patient: int, zone: str, at: str) -> None:
    profile.change(db, settings, patient, {"tz": zone}, Z(at), HORIZON)


def cancelled_instants(db) -> list:
    return [parse_instant(d["scheduled_at"]) for d in doses(db, status="cancelled")]


def assert_never_over_the_maximum(db, maximum: float = 60) -> None:
    """Every intake and every dose still scheduled, in any rolling 24 hours: at most ``maximum``."""
    timeline = [
        Intake(parse_instant(d["taken_at"] or d["scheduled_at"]), parse_instant(d["scheduled_at"]), d["amount"])
        for d in doses(db)
        if d["status"] in ("taken", "pending")
    ]
    for i, dose in enumerate(timeline):
        others = timeline[:i] + timeline[i + 1 :]
        assert most_in_a_day(dose.amount, dose.taken_at, ZoneInfo("UTC"), others) <= maximum, dose


TRAVELS = [
    # Paris (UTC+2) to Los Angeles (UTC-7) after the three Paris doses (06:00, 12:00, 18:00 UTC),
    # at 20:30 in Paris: LA's 14:00 (21:00 UTC) and 20:00 (03:00 UTC) would make 80 mg in 24 h;
    # LA's 08:00 the next morning (15:00 UTC) is 21 h after the last Paris dose: kept.
    pytest.param(
        "Europe/Paris",
        "America/Los_Angeles",
        "2026-05-31T20:00",
        ("2026-06-01T00:00", "2026-06-01T18:00"),
        "2026-06-01T18:30",
        ["2026-06-01T21:00", "2026-06-02T03:00"],
        id="paris-to-los-angeles-after-all-three-doses",
    ),
    # Los Angeles (UTC-7) to Tokyo (UTC+9) at noon, after 08:00 (15:00 UTC): Tokyo's 08:00 (23:00)
    # and 14:00 (05:00) make 60 mg with it; Tokyo's 20:00 (11:00 UTC) would be the fourth in 24 h.
    pytest.param(
        "America/Los_Angeles",
        "Asia/Tokyo",
        "2026-06-01T12:00",
        ("2026-06-01T12:00", "2026-06-01T15:00"),
        "2026-06-01T19:00",
        ["2026-06-02T11:00"],
        id="los-angeles-to-tokyo-mid-day",
    ),
    # Europe springs forward on 2026-03-29: the same as the first case in summer time.
    pytest.param(
        "Europe/Paris",
        "America/Los_Angeles",
        "2026-03-28T20:00",
        ("2026-03-29T00:00", "2026-03-29T18:00"),
        "2026-03-29T18:30",
        ["2026-03-29T21:00", "2026-03-30T03:00"],
        id="paris-to-los-angeles-on-the-european-spring-change",
    ),
    # ... and back: LA's three doses of the 28th (15:00, 21:00, 03:00 UTC) and 08:00 on the 29th
    # (15:00), then Paris at 18:00: Paris's 20:00 CEST (18:00 UTC) would be 80 mg in 24 h.
    pytest.param(
        "America/Los_Angeles",
        "Europe/Paris",
        "2026-03-28T12:00",
        ("2026-03-28T12:00", "2026-03-29T15:00"),
        "2026-03-29T16:00",
        ["2026-03-29T18:00"],
        id="los-angeles-to-paris-on-the-european-spring-change",
    ),
    # The US springs forward on 2026-03-08: Tokyo's three doses (23:00, 05:00, 11:00 UTC), then LA
    # at 05:00 PDT: LA's 08:00 (15:00) and 14:00 (21:00) would be the fourth in 24 h; 20:00 (03:00)
    # finds 05:00, 11:00 and itself.
    pytest.param(
        "Asia/Tokyo",
        "America/Los_Angeles",
        "2026-03-07T20:00",
        ("2026-03-07T20:00", "2026-03-08T11:00"),
        "2026-03-08T12:00",
        ["2026-03-08T15:00", "2026-03-08T21:00"],
        id="tokyo-to-los-angeles-on-the-us-spring-change",
    ),
    # ... and LA to Tokyo that day after 08:00 PDT (15:00 UTC), the 7th's 14:00 and 20:00 PST taken
    # (22:00, 04:00): Tokyo's 08:00 (23:00) and 14:00 (05:00) fit, its 20:00 (11:00) does not.
    pytest.param(
        "America/Los_Angeles",
        "Asia/Tokyo",
        "2026-03-07T20:00",
        ("2026-03-07T20:00", "2026-03-08T15:00"),
        "2026-03-08T16:00",
        ["2026-03-09T11:00"],
        id="los-angeles-to-tokyo-on-the-us-spring-change",
    ),
    # Europe falls back on 2026-10-25: Paris's doses at 07:00, 13:00, 19:00 UTC, then LA (still
    # PDT): its 14:00 (21:00) and 20:00 (03:00) go; 08:00 the next morning (15:00) stays.
    pytest.param(
        "Europe/Paris",
        "America/Los_Angeles",
        "2026-10-24T20:00",
        ("2026-10-25T00:00", "2026-10-25T19:00"),
        "2026-10-25T19:30",
        ["2026-10-25T21:00", "2026-10-26T03:00"],
        id="paris-to-los-angeles-on-the-european-autumn-change",
    ),
    # The US falls back on 2026-11-01: LA's 31st (15:00, 21:00, 03:00 UTC) and 08:00 PST on the
    # 1st (16:00), then Paris at 18:00 CET: its 20:00 (19:00 UTC) would be the fourth in 24 h.
    pytest.param(
        "America/Los_Angeles",
        "Europe/Paris",
        "2026-10-31T12:00",
        ("2026-10-31T12:00", "2026-11-01T16:00"),
        "2026-11-01T17:00",
        ["2026-11-01T19:00"],
        id="los-angeles-to-paris-on-the-us-autumn-change",
    ),
]


@pytest.mark.parametrize("home, away, since, taken, switch, expected", TRAVELS)
def test_a_change_of_zone_cancels_the_doses_that_travel_would_add(
    db, settings, home, away, since, taken, switch, expected
):
    patient, _ = patient_on_baclofen(db, home, since)
    take_at_their_times(db, patient, *taken)

    change_zone(db, settings, patient, away, switch)

    assert cancelled_instants(db) == [Z(at) for at in expected]
    assert {d["cancel_reason"] for d in doses(db, status="cancelled")} == {"time_zone_change"}
    assert all(d["next_prompt_at"] is None for d in doses(db, status="cancelled"))
    assert_never_over_the_maximum(db)
    # After the cancelled ones, the new zone's plan is whole: every local time of the next days.
    later = [d for d in doses(db, status="pending") if parse_instant(d["scheduled_at"]) > Z(expected[-1])]
    assert {d["local_time"] for d in later} == {"08:00", "14:00", "20:00"} and {d["tz"] for d in later} == {away}


def test_a_second_change_of_zone_decides_the_cancelled_instants_afresh(db, settings):
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")

    change_zone(db, settings, patient, "Europe/Paris", "2026-06-01T18:40")  # a slip of the finger, undone

    assert cancelled_instants(db) == []
    assert [d["scheduled_at"] for d in doses(db, status="pending")][:1] == ["2026-06-02T06:00:00Z"]


def test_editing_the_times_after_travel_never_brings_a_cancelled_dose_back(db, settings):
    patient, medication = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")

    with immediate(db):
        ledger.rewrite_future(db, medication, Z("2026-06-01T18:35"), HORIZON)

    assert cancelled_instants(db) == [Z("2026-06-01T21:00"), Z("2026-06-02T03:00")]
    assert doses(db, scheduled_at="2026-06-01T21:00:00Z")[0]["status"] == "cancelled"


def test_an_intake_of_a_duplicate_entry_counts_across_a_change_of_zone(db, settings):
    """Baclofen and Lioresal are one drug: LA's first Lioresal dose at 12:00 PDT (19:00 UTC), an
    hour after the last Paris baclofen, is too soon; the next day's, 4 h after LA's 08:00, is not."""
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00", max_daily_amount=80)
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    lioresal = make_medication(
        db,
        patient,
        now=Z("2026-06-01T18:20"),
        name="Lioresal",
        amount=5,
        strength="5 mg",
        times=["12:00"],
        max_daily_amount=80,
        confirm_duplicate=True,
    )

    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")

    assert [d["scheduled_at"] for d in doses(db, medication_id=lioresal, status="cancelled")] == [
        "2026-06-01T19:00:00Z"
    ]
    assert doses(db, medication_id=lioresal, scheduled_at="2026-06-02T19:00:00Z")[0]["status"] == "pending"


def test_the_skip_advice_never_points_at_a_cancelled_dose(db, settings):
    """LA to Tokyo mid-day: the 14:00 Tokyo dose is let go; its next dose is not the cancelled 20:00
    (11:00 UTC) but 08:00 the next morning."""
    patient, medication = patient_on_baclofen(db, "America/Los_Angeles", "2026-06-01T12:00")
    take_at_their_times(db, patient, "2026-06-01T12:00", "2026-06-01T15:00")
    change_zone(db, settings, patient, "Asia/Tokyo", "2026-06-01T19:00")
    afternoon = doses(db, scheduled_at="2026-06-02T05:00:00Z")[0]

    facts = ledger.dose_facts(db, afternoon)

    assert facts.next_scheduled_at == Z("2026-06-02T23:00")


# ---------------------------------------------------------------- nobody is told, nothing counts


def test_a_cancelled_dose_gets_no_reminder_follow_up_or_skip_notice_when_the_worker_runs(db, settings, tick):
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")
    cancelled = {d["id"] for d in doses(db, status="cancelled")}

    current = Z("2026-06-01T18:30")
    while current < Z("2026-06-02T16:00"):  # through the cancelled doses and LA's next morning dose
        current += timedelta(minutes=5)
        tick(current)

    told = [m for m in messages(db) if m["dose_id"] is not None]
    assert cancelled and not [m for m in told if m["dose_id"] in cancelled]
    assert [d["status"] for d in doses(db) if d["id"] in cancelled] == ["cancelled", "cancelled"]
    reminded = {m["dose_id"] for m in told if m["kind"] == "reminder"}
    assert reminded == {d["id"] for d in doses(db, scheduled_at="2026-06-02T15:00:00Z")}  # LA's 08:00 only
    assert not db.execute("SELECT count(*) FROM alerts").fetchone()[0]  # no run of misses, nobody alerted


def test_a_cancelled_dose_never_joins_a_run_of_misses(db, settings, tick):
    """LA's first 08:00 goes unanswered: the run is that one miss, back to the last Paris intake;
    the two cancelled doses between them are neither misses nor its first dose."""
    patient, medication = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")
    for at in ("2026-06-02T15:00", "2026-06-02T15:30", "2026-06-02T18:30"):
        tick(Z(at))
    morning = doses(db, scheduled_at="2026-06-02T15:00:00Z")[0]
    assert morning["status"] == "missed"

    run = escalation.current_run(db, medication, Z("2026-06-02T18:30"))

    assert (run.length, run.start_dose_id, run.first_dose_id) == (1, morning["id"], morning["id"])
    assert run.last_taken_at == Z("2026-06-01T18:00")


def report_without_timestamps(db, patient: int, settings) -> dict:
    built = reports.build(db, patient, date(2026, 5, 31), date(2026, 6, 3), Z("2026-06-03T12:00"), settings)
    return {"medications": built["medications"]}


def test_a_cancelled_dose_changes_no_metric_report_csv_or_panel_summary(db, settings, tick):
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")
    take_at_their_times(db, patient, "2026-06-02T15:00", "2026-06-03T03:00")
    tick(Z("2026-06-03T12:00"))
    assert len(doses(db, status="cancelled")) == 2

    with_cancelled = (
        report_without_timestamps(db, patient, settings),
        reports.ledger_csv(db, patient, date(2026, 5, 31), date(2026, 6, 3)),
        summaries.compute(db, [patient], Z("2026-06-03T12:00")),
    )
    db.execute("DELETE FROM doses WHERE status = 'cancelled'")
    without = (
        report_without_timestamps(db, patient, settings),
        reports.ledger_csv(db, patient, date(2026, 5, 31), date(2026, 6, 3)),
        summaries.compute(db, [patient], Z("2026-06-03T12:00")),
    )

    assert with_cancelled == without
    counts = with_cancelled[0]["medications"][0]["metrics"]["counts"]
    assert isinstance(counts, dict) and counts["scheduled"] == counts["taken"] == 6


def test_the_fhir_export_leaves_a_cancelled_dose_out(db, settings, tick):
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    change_zone(db, settings, patient, "America/Los_Angeles", "2026-06-01T18:30")
    take_at_their_times(db, patient, "2026-06-02T15:00", "2026-06-02T15:00")

    body = fhir.bundle(db, patient, date(2026, 5, 31), date(2026, 6, 2), Z("2026-06-02T16:00"))

    given = [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"]
    assert len(given) == 4 and {r["status"] for r in given} == {"completed"}


def test_the_metrics_refuse_a_cancelled_dose_rather_than_count_it():
    with pytest.raises(ValueError):
        metrics.LedgerDose(Z("2026-06-01T21:00"), date(2026, 6, 1), "cancelled", None, 20)


# ---------------------------------------------------------------- the web, the phone link and the API


@pytest.fixture
def traveller(db, app, clock):
    """The Paris patient of the first case, in Los Angeles at 20:30 Paris time, through the API."""
    patient, _ = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    take_at_their_times(db, patient, "2026-06-01T00:00", "2026-06-01T18:00")
    clock.set(Z("2026-06-01T18:30"))
    return patient


def test_a_zone_change_through_the_api_shows_the_cancelled_dose_with_its_reason(db, client, traveller):
    headers = bearer(db, traveller)
    assert client.patch("/api/v1/me", json={"tz": "America/Los_Angeles"}, headers=headers).status_code == 200

    listed = client.get("/api/v1/doses?status=cancelled", headers=headers).json["doses"]
    assert [(d["scheduled_at"], d["status"], d["reason"]) for d in listed] == [
        ("2026-06-01T21:00:00Z", "cancelled", "time_zone_change"),
        ("2026-06-02T03:00:00Z", "cancelled", "time_zone_change"),
    ]
    every = client.get("/api/v1/doses", headers=headers).json["doses"]
    assert {d["reason"] for d in every if d["status"] != "cancelled"} == {None}

    for action in ({"action": "taken"}, {"action": "skip"}, {"action": "snooze"}):
        refused = client.post(f"/api/v1/doses/{listed[0]['id']}/confirm", json=action, headers=headers)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "not_scheduled"
        assert "time-zone change" in refused.json["error"]["message"]
    assert doses(db, id=listed[0]["id"])[0]["status"] == "cancelled"
    assert not db.execute("SELECT count(*) FROM dose_events WHERE dose_id = ?", [listed[0]["id"]]).fetchone()[0]


def test_history_and_the_phone_link_say_the_dose_was_not_scheduled(db, client, clock, traveller):
    log_in(client)
    data = {"csrf_token": csrf(client, "/settings"), "email": "pat@example.com", "phone": "+15005550006"}
    saved = client.post("/settings", data={**data, "tz": "America/Los_Angeles", "channels": ["sms"]})
    assert saved.status_code == 302
    cancelled = doses(db, status="cancelled")[0]
    assert cancelled["scheduled_at"] == "2026-06-01T21:00:00Z"

    clock.set(Z("2026-06-02T16:00"))
    history = page_text(client.get("/history"))
    assert "not scheduled: time-zone change" in history

    with immediate(db):
        token = links.issue(db, cancelled["id"], Z("2026-06-09T00:00"), clock.now())
    shown = page_text(client.get(f"/d/{token}"))
    assert "This dose was not scheduled: time-zone change" in shown
    assert 'value="taken"' not in shown and "I already took it at" not in shown

    tapped = client.post(f"/d/{token}", data={"action": "taken", "csrf_token": csrf(client, f"/d/{token}")})
    assert tapped.status_code == 409 and "This dose was not scheduled: time-zone change" in page_text(tapped)
    assert doses(db, id=cancelled["id"])[0]["status"] == "cancelled"


# ---------------------------------------------------------------- the migration


def schema_migrations():
    spec = importlib.util.spec_from_file_location("travel_test_migrations", dbmod.MIGRATIONS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.migrations


def doses_schema(db) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT type, name FROM sqlite_master WHERE tbl_name = 'doses' AND type != 'table' ORDER BY type, name"
    ).fetchall()


def test_the_doses_rebuild_keeps_every_row_index_trigger_reference_and_the_id_counter(tmp_path):
    db = dbmod.connect(str(tmp_path / "old.db"))
    schema_migrations().apply(db, stop_before="0015_travel_cancelled_doses")
    patient, medication = patient_on_baclofen(db, "Europe/Paris", "2026-05-31T20:00")
    first = doses(db)[0]["id"]
    db.execute("UPDATE doses SET status = 'taken', taken_at = scheduled_at WHERE id = ?", [first])
    ledger.add_event(db, first, Z("2026-06-01T06:00"), patient, "taken", {})  # a reference to keep
    newest = db.execute("SELECT max(id) FROM doses").fetchone()[0]
    db.execute("DELETE FROM doses WHERE id = ?", [newest])  # a rewritten future dose: its id is not reused
    db.conn.commit()
    rows, schema = doses(db), doses_schema(db)

    schema_migrations().apply(db)

    assert [{k: v for k, v in d.items() if k != "cancel_reason"} for d in doses(db)] == rows
    assert doses_schema(db) == schema and len(schema) == 12  # 6 indexes (one automatic), 6 triggers
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("SELECT count(*) FROM dose_events").fetchone()[0] == 1
    with immediate(db):
        ledger.extend_medication(db, medication, Z("2026-06-04T20:00"), Z("2026-06-05T20:00"))
    assert min(d["id"] for d in doses(db) if d["scheduled_at"] >= "2026-06-05") > newest
    with pytest.raises(sqlite3.IntegrityError):  # a cancelled dose always says why
        db.execute("UPDATE doses SET status = 'cancelled' WHERE id = ?", [rows[-1]["id"]])
    db.execute(
        "UPDATE doses SET status = 'cancelled', cancel_reason = 'time_zone_change' WHERE id = ?", [rows[-1]["id"]]
    )
    db.close()

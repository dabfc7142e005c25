"""Doses due at the same instant: one message, one link, a page with each dose (issue 9 section 6).

Driven through the worker tick and the real outbox: Pat (New York) takes Baclofen 10 mg at 08:00,
13:00 and 18:00 and, unless a test says otherwise, Omeprazole 20 mg capsules at 13:00 too.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reminder import sms_replies
from reminder.tokens import hash_token

from builders import Z, csrf, doses, make_medication, messages, page_text

ONE_PM = "2026-03-07T18:00:00Z"  # 13:00 in New York


@pytest.fixture
def both(db, patient):
    """Baclofen and Omeprazole, both due at 13:00."""
    baclofen = make_medication(db, patient)
    omeprazole = make_medication(
        db,
        patient,
        name="Omeprazole",
        strength="20 mg capsule",
        amount=20,
        times=["13:00"],
        max_daily_amount=None,
    )
    return baclofen, omeprazole


def group_token(body: str) -> str:
    return re.search(r"/g/([A-Za-z0-9_-]+)", body).group(1)


def one_pm_doses(db) -> list[dict]:
    return [dose for dose in doses(db, local_time="13:00") if dose["local_date"] == "2026-03-07"]


def post(client, token: str, **data):
    return client.post(f"/g/{token}", data={"csrf_token": csrf(client, f"/g/{token}"), **data})


def test_doses_due_at_the_same_instant_go_in_one_message_with_one_link(db, both, tick):
    tick(ONE_PM)
    reminders = messages(db, "reminder")
    assert len(reminders) == 1
    body = reminders[0]["body"]
    assert body.startswith("2 doses due at 1:00 PM: 10 mg (1 tablet) and 20 mg (1 capsule).")
    assert "/g/" in body and "/d/" not in body
    assert "Baclofen" not in body and "Omeprazole" not in body  # lock screens are not private


def test_the_group_message_names_the_medications_when_the_patient_chose_it(db, both, patient, tick):
    db.execute("UPDATE users SET name_medication = 1 WHERE id = ?", [patient])
    tick(ONE_PM)
    body = messages(db, "reminder")[0]["body"]
    assert "10 mg (1 tablet) of Baclofen 10 mg and 20 mg (1 capsule) of Omeprazole 20 mg capsule" in body


def test_a_dose_alone_keeps_its_own_message_and_link(db, both, tick):
    tick("2026-03-07T13:00:00Z")  # 08:00: Baclofen only
    body = messages(db, "reminder")[0]["body"]
    assert body.startswith("Time for your 8:00 AM dose: 10 mg (1 tablet).") and "/d/" in body


def test_the_group_page_lists_each_dose_and_answers_one_without_the_other(client, db, both, tick):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    page = client.get(f"/g/{token}")
    text = page_text(page)
    assert page.status_code == 200 and "2 doses due at 1:00 PM" in text
    assert "Baclofen" in text and "Omeprazole" in text and "Taken, all of them" in text
    assert [d["status"] for d in one_pm_doses(db)] == ["pending", "pending"]  # a GET changes nothing
    baclofen = next(d for d in one_pm_doses(db) if d["amount"] == 10)
    answered = post(client, token, dose_id=str(baclofen["id"]), action="taken")
    assert answered.status_code == 200
    assert {d["amount"]: d["status"] for d in one_pm_doses(db)} == {10: "taken", 20: "pending"}


def test_a_wrong_tap_on_the_group_page_can_be_undone_there_without_logging_in(client, db, both, tick):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    baclofen = next(d for d in one_pm_doses(db) if d["amount"] == 10)
    answered = post(client, token, dose_id=str(baclofen["id"]), action="taken")
    assert f'id="undo-{baclofen["id"]}"' in answered.get_data(as_text=True)
    assert "Undo: I didn&#39;t take it" in answered.get_data(as_text=True)
    undone = post(client, token, dose_id=str(baclofen["id"]), action="correct", to="not_taken")
    assert undone.status_code == 200
    assert {d["amount"]: d["status"] for d in one_pm_doses(db)} == {10: "pending", 20: "pending"}
    kinds = [row[0] for row in db.execute("SELECT kind FROM dose_events WHERE dose_id = ?", [baclofen["id"]])]
    assert "corrected" in kinds  # the correction is an event, not a rewrite


def test_the_follow_up_names_only_the_doses_still_open(client, db, both, tick, settings):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    baclofen = next(d for d in one_pm_doses(db) if d["amount"] == 10)
    post(client, token, dose_id=str(baclofen["id"]), action="skip")
    tick(Z("2026-03-07T18:00") + timedelta(minutes=settings["worker.follow_up_minutes"]))
    follow_ups = messages(db, "follow_up")
    assert len(follow_ups) == 1
    assert follow_ups[0]["body"].startswith("Your 1:00 PM dose (20 mg) isn't confirmed.")
    assert "/d/" in follow_ups[0]["body"]


def test_taken_all_of_them_records_each_dose_and_no_follow_up_is_sent(client, db, both, tick, settings):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    tick("2026-03-07T18:05:00Z")
    response = post(client, token, action="taken_all")
    assert response.status_code == 200
    assert [d["status"] for d in one_pm_doses(db)] == ["taken", "taken"]
    assert all(d["taken_at"] == "2026-03-07T18:05:00Z" and d["source"] == "link" for d in one_pm_doses(db))
    tick(Z("2026-03-07T18:00") + timedelta(minutes=settings["worker.follow_up_minutes"]))
    assert messages(db, "follow_up") == []


def test_a_queued_group_prompt_is_cancelled_once_all_its_doses_are_answered(client, db, both, tick, clock, settings):
    from reminder import prompts, worker
    from reminder.notify import make_transport

    clock.set(Z("2026-03-07T18:00"))
    claimed = worker.Tick(db, clock.now(), settings, make_transport(settings))
    with db.conn:  # queue the group's prompt without sending it, as a crash between the two would
        db.execute("UPDATE doses SET prompt_count = 1, reminded_at = ? WHERE local_time = '13:00'", [ONE_PM])
        ids = [d["id"] for d in one_pm_doses(db)]
        prompts.queue(db, settings, [prompts.Claimed(i, 1) for i in ids], claimed.now)
    token = group_token(db.execute("SELECT body FROM messages").fetchone()[0])
    post(client, token, action="taken_all")
    tick()
    row = db.execute("SELECT status, error FROM messages").fetchone()
    assert row[0] == "cancelled" and "answered" in row[1]


def test_each_dose_of_a_group_meets_the_missed_dose_rule_on_its_own(client, db, patient, tick):
    # Two entries of one ingredient (a confirmed duplicate) share one minimum gap: "Taken, all of
    # them" records the first and refuses the second, never advising two doses.
    make_medication(db, patient, times=["13:00"])
    make_medication(db, patient, name="Lioresal", times=["13:00"], confirm_duplicate=True)
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    response = post(client, token, action="taken_all")
    text = page_text(response)
    assert response.status_code == 409
    assert sorted(d["status"] for d in one_pm_doses(db)) == ["pending", "taken"]
    assert "Have you already taken it?" in text
    assert "take two" not in text.lower().replace("do not take two", "")
    refused = next(d for d in one_pm_doses(db) if d["status"] == "pending")
    not_taken = client.get(f"/g/{token}?answer=not_taken&dose={refused['id']}")
    assert "Good: don't take it now" in page_text(not_taken)
    yes = post(client, token, dose_id=str(refused["id"]), action="taken", already_taken="1")
    assert yes.status_code == 200
    flagged = next(d for d in one_pm_doses(db) if d["id"] == refused["id"])
    assert flagged["status"] == "taken"


def test_a_dose_of_another_group_cannot_be_answered_through_this_link(client, db, both, patient, tick):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    morning = next(d for d in doses(db, local_time="08:00") if d["local_date"] == "2026-03-07")
    assert post(client, token, dose_id=str(morning["id"]), action="taken").status_code == 404
    assert post(client, token, dose_id="nonsense", action="taken").status_code == 404
    assert doses(db, id=morning["id"])[0]["status"] != "taken"


def test_group_links_are_random_hashed_and_expire_like_the_doses_links(client, db, both, tick, clock, settings):
    tick(ONE_PM)
    token = group_token(messages(db, "reminder")[0]["body"])
    assert len(token) >= 22  # 16 random bytes
    stored, expires = db.execute("SELECT token_hash, expires_at FROM dose_group_links").fetchone()
    assert stored == hash_token(token)
    closes = max(d["window_closes_at"] for d in one_pm_doses(db))
    assert expires == (Z(closes[:16]) + timedelta(hours=settings["links.expire_hours"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.get("/g/nonsense").status_code == 410
    clock.set(Z(expires[:16]))
    assert client.get(f"/g/{token}").status_code == 410


def test_doses_whose_group_prompt_was_sent_are_missed_not_unknown_when_their_window_closes(db, both, tick):
    tick(ONE_PM)
    tick(max(d["window_closes_at"] for d in one_pm_doses(db)))
    assert sorted(d["status"] for d in one_pm_doses(db)) == ["missed", "missed"]


def test_replying_1_to_a_group_records_nothing_and_points_to_the_link(db, both, tick, settings):
    tick(ONE_PM)
    reply = sms_replies.answer(db, "+15005550006", "1", Z("2026-03-07T18:02"), timedelta(minutes=10))
    assert "Nothing was recorded" in reply and "link" in reply
    assert [d["status"] for d in one_pm_doses(db)] == ["pending", "pending"]


def test_deleting_a_patient_takes_their_dose_groups_and_group_links_too(db, both, patient, settings):
    from reminder import erasure, prompts

    # The group prompt is queued without a whole tick: a tick also writes the panel summary,
    # whose deletion fails on its own (reported to the lead; not this test's subject).
    with db.conn:
        ids = [d["id"] for d in one_pm_doses(db)]
        prompts.queue(db, settings, [prompts.Claimed(i, 1) for i in ids], Z("2026-03-07T18:00"))
    assert db.execute("SELECT count(*) FROM dose_group_links").fetchone()[0] == 1
    erasure.erase_patient(db, patient, Z("2026-03-07T18:10"), "cli")
    for table in ("dose_groups", "dose_group_members", "dose_group_links", "messages"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table

from builders import doses, make_medication, messages


def test_a_due_dose_gets_one_reminder_with_a_phone_link(db, patient, tick):
    make_medication(db, patient)
    tick("2026-03-07T18:00:00Z")  # 13:00 in New York
    tick("2026-03-07T18:00:30Z")
    reminders = messages(db, "reminder")
    assert len(reminders) == 1
    assert reminders[0]["body"].startswith("Time for your 1:00 PM dose: 10 mg (1 tablet).")
    assert "http://127.0.0.1:8000/d/" in reminders[0]["body"]
    assert doses(db, local_time="13:00")[0]["prompt_count"] == 1
    # The 08:00 dose was never asked about (no tick ran then): unknown, not missed.
    assert doses(db, local_time="08:00")[0]["status"] == "unknown"

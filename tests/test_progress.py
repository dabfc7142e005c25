"""A patient's own summary (issue 14 §2): this week, this month and the streak, as table tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from reminder.progress import calendar, streak, streak_words, stretch

TODAY = date(2026, 3, 15)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_this_week_counts_the_closed_doses_of_the_last_seven_days():
    doses = [(days_ago(n), "taken") for n in range(1, 10)] + [(days_ago(2), "missed"), (TODAY, "pending")]
    week = stretch(doses, TODAY, 7)
    assert (week.taken, week.due) == (6, 7)
    assert week.words == "You took 6 of your 7 doses."


def test_a_week_with_every_dose_taken_says_so():
    assert stretch([(days_ago(1), "taken")] * 3, TODAY, 7).words == "You took all 3 of your doses."


def test_a_week_with_nothing_due_yet_says_so():
    assert stretch([(TODAY, "pending")], TODAY, 7).words == "No doses were due yet."


@pytest.mark.parametrize(
    ("doses", "days"),
    [
        ([], 0),
        ([(days_ago(n), "taken") for n in range(0, 5)], 5),
        ([(days_ago(n), "taken") for n in range(1, 5)] + [(TODAY, "pending")], 4),  # today not over yet
        ([(days_ago(n), "taken") for n in range(0, 5)] + [(days_ago(2), "missed")], 2),
        ([(days_ago(n), "taken") for n in range(0, 5)] + [(days_ago(0), "skipped")], 0),
        ([(days_ago(n), "taken") for n in (0, 2, 4)] + [(days_ago(6), "unknown")], 3),  # every other day
        ([(days_ago(1), "pending"), (days_ago(2), "taken")], 0),  # an unanswered yesterday is no streak
    ],
)
def test_the_streak_counts_days_back_from_today_with_every_dose_taken(doses, days):
    assert streak(doses, TODAY) == days


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (0, "Take every dose today to start a streak."),
        (1, "1 day in a row with every dose taken."),
        (9, "9 days in a row with every dose taken."),
    ],
)
def test_the_streak_reads_as_plain_words(days, words):
    assert streak_words(days) == words


@pytest.mark.parametrize(
    ("doses", "words"),
    [([(TODAY, "taken")], "You took your 1 dose."), ([(TODAY, "missed")], "You did not take your 1 dose.")],
)
def test_one_dose_reads_as_one(doses, words):
    assert stretch(doses, TODAY, 7).words == words


def test_the_calendar_is_weeks_from_monday_with_each_days_doses_and_nothing_after_today():
    doses = [(TODAY, "taken"), (TODAY, "pending"), (days_ago(1), "missed"), (days_ago(2), "taken")]
    weeks = calendar(doses, TODAY, 2)  # 15 March 2026 is a Sunday
    assert [len(week) for week in weeks] == [7, 7]
    assert weeks[0][0].day == date(2026, 3, 2) and weeks[1][6].day == TODAY
    assert [(d.taken, d.due, d.state) for d in weeks[1][4:]] == [(1, 1, "all"), (0, 1, "none"), (1, 2, "some")]
    assert weeks[0][0].state == "rest" and weeks[1][6].words == "1 of 2 taken"


def test_the_calendar_leaves_the_days_after_today_empty():
    assert calendar([], date(2026, 3, 11), 1)[0][3:] == [None, None, None, None]

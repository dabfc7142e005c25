"""Times of day typed the way people write them (issue 14 §2), and the lists a medication form takes."""

from __future__ import annotations

from datetime import time

import pytest

from reminder.times import as_hhmm, clock_label, parse_clock, split_clocks


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("8", time(8, 0)),
        ("8am", time(8, 0)),
        ("8 AM", time(8, 0)),
        ("8 a.m.", time(8, 0)),
        ("8:00", time(8, 0)),
        ("08:00", time(8, 0)),
        ("08:00:00", time(8, 0)),  # what some time inputs send
        ("8:00 pm", time(20, 0)),
        ("8.30pm", time(20, 30)),
        ("7 p.m.", time(19, 0)),
        ("20:00", time(20, 0)),
        ("9:30", time(9, 30)),
        ("0830", time(8, 30)),
        ("12am", time(0, 0)),
        ("12:30 am", time(0, 30)),
        ("12pm", time(12, 0)),
        ("noon", time(12, 0)),
        ("Midnight", time(0, 0)),
        ("  21:45 ", time(21, 45)),
    ],
)
def test_a_time_typed_any_usual_way_is_understood(typed, meant):
    assert parse_clock(typed) == meant


@pytest.mark.parametrize("typed", ["", "abc", "24:00", "8:60", "13pm", "0am", "8 pmx", "8:0", "-1", None, 8])
def test_something_that_is_not_a_time_of_day_is_refused(typed):
    with pytest.raises(ValueError):
        parse_clock(typed)


@pytest.mark.parametrize(
    ("typed", "parts"),
    [
        ("08:00 20:00", ["08:00", "20:00"]),
        ("8am, 1 pm and 20:00", ["8am", "1 pm", "20:00"]),
        ("8:00 pm 9:00 am", ["8:00 pm", "9:00 am"]),
        ("8, 13, 20", ["8", "13", "20"]),
        ("  ", []),
    ],
)
def test_a_list_of_times_is_cut_where_people_separate_them(typed, parts):
    assert split_clocks(typed) == parts


@pytest.mark.parametrize("typed", ["8", "8am", "20:00", "8:00 pm"])
def test_a_typed_time_is_shown_back_in_the_pages_12_hour_style(typed):
    assert clock_label(parse_clock(typed)) in ("8:00 AM", "8:00 PM")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("8am, 8:00 pm", "08:00 20:00"),
        ("8 13 18:30", "08:00 13:00 18:30"),
        ("8:15 am", "08:15"),
        ("8am 25:00", "08:00 25:00"),  # left as typed: the medication check names it
        ("2026-03-07T13:15:00Z", "2026-03-07T13:15:00Z"),
    ],
)
def test_a_form_sends_the_times_it_understood_as_hh_mm_and_leaves_the_rest_for_the_check(typed, sent):
    assert as_hhmm(typed) == sent

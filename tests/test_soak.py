"""The crash soak of ``bench/soak.py``, short: about 50 kills of the worker's tick at random
moments lose no dose, repeat no first reminder or non-prompt SMS, and leave no message stuck."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import soak  # noqa: E402


def test_fifty_kills_of_the_tick_lose_nothing_and_repeat_nothing_that_matters():
    result = soak.run(kills=50, seconds=45, patients=16, seed=7)
    assert result["kills"] >= 30, result  # bounded in time on a busy machine, but a real soak
    assert result["sms at provider"] > 20 and result["answered taken"] > 10, result
    harm = {key: result[key] for key in list(result)[:4]}
    assert harm == {
        "doses lost": 0,
        "duplicate first reminders": 0,
        "non-prompt SMS delivered twice": 0,
        "messages stuck": 0,
    }, result

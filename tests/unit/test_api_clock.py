"""The API's clock, from its replies' Date headers: each header text read once."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from runner.fetch import asof
from runner.fetch.asof import ApiClock


def _date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def test_a_header_seen_last_time_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    parse = email.utils.parsedate_to_datetime

    def counted(stamp: str) -> Any:
        calls.append(stamp)
        return parse(stamp)

    monkeypatch.setattr(asof.email.utils, "parsedate_to_datetime", counted)
    clock, ahead = ApiClock(), _date(600)
    for _ in range(50):
        clock.reply({"Date": ahead})
    assert len(calls) == 1
    assert clock.skew is not None and 598 <= clock.skew <= 601
    clock.reply({"Date": _date(0)})  # a new text is read, and the smaller skew kept
    assert len(calls) == 2 and clock.skew is not None and abs(clock.skew) <= 1


def test_an_unreadable_header_says_nothing_and_a_readable_one_after_it_counts() -> None:
    clock = ApiClock()
    for _ in range(3):
        clock.reply({"Date": "not a date"})
    assert clock.skew is None and clock.warning() == ""
    clock.reply({"Date": _date(-3600)})
    assert clock.skew is not None and -3601 <= clock.skew <= -3598
    assert "behind" in clock.warning()

"""A record read again on a window's upper instant is the window above's (``edged``),
whatever form the API writes that instant in; one below it means the window moved."""

from __future__ import annotations

import pytest

from runner.fetch.windows.open_window import OpenWindow, read_again
from runner.fetch.windows.plan import Window, ms

TOP = ms("2026-11-20T08:00:10.000Z") or 0


@pytest.mark.parametrize(
    "written", ["2026-11-20T08:00:10.000Z", "2026-11-20T08:00:10Z", "2026-11-20T08:00:10.0Z"]
)
def test_the_upper_instant_in_any_form_is_the_window_aboves(written: str) -> None:
    state = OpenWindow(Window(TOP - 60_000, TOP), 32)
    tie, new = {"_id": 1, "createdAt": written}, {"_id": 2, "createdAt": "2026-11-20T08:00:05Z"}
    assert read_again(state, [tie, new], [new]) == (1, False)


def test_a_record_read_again_below_the_upper_instant_moves_the_window() -> None:
    state = OpenWindow(Window(TOP - 60_000, TOP), 32)
    old = {"_id": 1, "createdAt": "2026-11-20T08:00:09.999Z"}
    assert read_again(state, [old], []) == (0, True)


def test_the_first_window_has_no_window_above() -> None:
    state = OpenWindow(Window(None, TOP), 32, first=True)
    tie = {"_id": 1, "createdAt": "2026-11-20T08:00:10.000Z"}
    assert read_again(state, [tie, tie], [tie]) == (0, False)  # a repeat the API sent

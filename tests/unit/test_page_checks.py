"""The checks every page of a read goes through (the as-of cut, and with windows the
order check) look at a whole page in a few C calls, not a Python call a record: at zero
latency a page's CPU is the export's speed (issue 23). The plain per-record forms are
the oracle: same answers, same records kept, same messages."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.fetch.asof import AsOfCut
from runner.fetch.windows.plan import (
    CREATED,
    Order,
    OutOfOrder,
    Window,
    all_canonical,
    canonical,
    created_after,
    ms,
    text,
)
from tests.conftest import collector_held

DAY = 86_400_000
TOP = 1_764_028_800_000  # 2025-11-25T00:00:00.000Z
instants = st.integers(TOP - 400 * DAY, TOP + DAY)
# What createdAt holds: the API's form, other ISO forms of an instant, lengths one off,
# text that is no instant, and values that are not text.
created = st.one_of(
    instants.map(text),
    instants.map(lambda i: text(i).replace(".000Z", "Z").replace("Z", "+00:00")),
    instants.map(lambda i: text(i)[:-1]),
    instants.map(lambda i: text(i) + "Z"),
    st.text(max_size=30),
    st.text(alphabet="0123456789-:.TZ", min_size=24, max_size=24),
    st.none(),
    st.integers(),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(created, max_size=12))
def test_all_canonical_answers_what_canonical_answers_value_by_value(values: list[Any]) -> None:
    assert all_canonical(values) == all(map(canonical, values))


def test_values_of_other_lengths_that_line_up_as_instants_are_not_taken_for_them() -> None:
    one, two = text(TOP), text(TOP - DAY)
    shifted = [one[:-1], "Z" + two]  # 23 + 25 characters: joined, two instants' shape
    assert "".join(shifted) == one + two and not all_canonical(shifted)
    assert all_canonical([one, two]) and all_canonical([])


def reference_check(order: Order, number: int, records: list[Any], repeated: int = 0) -> Any:
    """Order.check a Python step for every record."""
    raw = [r.get(CREATED) if isinstance(r, dict) else None for r in records]
    values = (
        raw
        if all(map(canonical, raw))
        else [order._normal(number, i, v) for i, v in enumerate(raw)]
    )
    # Records shared with the page above: not compared with its last, still in order.
    previous = order.high if repeated else order.last or order.high
    for index, value in enumerate(values):
        if value > previous:
            if value > order.high:
                raise OutOfOrder(order._outside(number, index, value))
            raise OutOfOrder(
                f"page {number} of {order.window.label}: record {index} was created at "
                f"{value}, later than the record before it ({previous}): the API does "
                "not list newest createdAt first"
            )
        previous = value
    if values and order.low and values[-1] < order.low:
        raise OutOfOrder(order._outside(number, len(values) - 1, values[-1]))
    order.last = previous
    return ms(values[-1]) if values else None


def outcome(
    check: Callable[[Order, int, list[Any], int], Any], order: Order, *args: Any
) -> tuple[str, Any, Any]:
    try:
        return ("ok", check(order, *args), order.last)
    except OutOfOrder as exc:
        return ("out of order", str(exc), order.last)


pages = st.lists(st.one_of(created, instants.map(text), instants.map(text)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(pages, min_size=1, max_size=3),
    st.integers(0, 3),
    st.sampled_from([None, TOP - 200 * DAY]),
    st.booleans(),
)
def test_the_order_check_gives_what_the_record_by_record_check_gave(
    page_values: list[list[Any]], repeated: int, start: int | None, sort: bool
) -> None:
    window = Window(start, TOP)
    fast, plain = Order(window), Order(window)
    for number, values in enumerate(page_values, 1):
        if sort:  # mostly newest first, as the API lists them
            values = sorted(values, key=lambda v: str(v), reverse=True)
        records: list[Any] = [{CREATED: v} if v is not None else {} for v in values]
        cut = min(repeated, len(records))
        got = outcome(Order.check, fast, number, records, cut)
        want = outcome(reference_check, plain, number, records, cut)
        assert got == want
        if got[0] != "ok":
            break


@settings(max_examples=300, deadline=None)
@given(st.lists(created, max_size=12), instants.map(text))
def test_the_as_of_cut_keeps_what_the_record_by_record_cut_kept(
    values: list[Any], as_of: str
) -> None:
    records = [{CREATED: v, "_id": str(i)} for i, v in enumerate(values)]
    cut = AsOfCut(as_of)
    kept = cut.keep(records)
    assert kept == [r for r in records if not created_after(r[CREATED], as_of)]
    assert cut.after == len(records) - len(kept)


def python_calls(work: Callable[[], Any]) -> int:
    calls = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    with collector_held():
        sys.setprofile(count)
        try:
            work()
        finally:
            sys.setprofile(None)
    return calls


@pytest.mark.parametrize("size", [50, 500])
def test_a_page_of_instants_costs_no_python_call_a_record(size: int) -> None:
    records = [{CREATED: text(TOP - i * 1000), "_id": str(i)} for i in range(size)]
    order = Order(Window(None, TOP))
    cut = AsOfCut(text(TOP))
    # Before: a call (or two) a record, 50 and 500 on these pages; now the same few calls
    # whatever the page holds.
    assert python_calls(lambda: order.check(1, records)) <= 6
    assert python_calls(lambda: cut.keep(records)) <= 4
    assert cut.keep(records) == records and cut.after == 0

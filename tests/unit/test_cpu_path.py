"""The hot path page -> rows -> bytes: the faster forms give what the plain ones gave.

csv.writer is the oracle for CSV bytes, the per-record getter for column values;
a call count (deterministic, unlike a timing) holds the CSV encoder's per-cell work
at zero Python calls.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import sys
from types import FrameType
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.formats import Encoder
from runner.formats.csv import MinimalQuoting, guard_formula
from runner.rows.build import RowBuilder, to_text
from runner.rows.columns import Prefixes, compile_expr, compile_many
from runner.sandbox.data import make_contact
from runner.spec.segment import Column, CsvOptions, OutputSpec
from tests.unit.test_rows_formats import Sink

# Every character class csv.writer treats apart, and NUL (the fast path's joiner).
EDGES = ["", ",", ";", '"', "\r", "\n", "\r\n", "\t", "|", " ", "\x00", "=1", "+4", "-x", "@a"]
cell = st.one_of(
    st.sampled_from(EDGES),
    st.lists(st.sampled_from([*EDGES, "a", "é", "🎉", "\ud800", "'"]), max_size=4).map("".join),
    st.text(max_size=8),
)
delimiters = st.sampled_from([",", ";", "\t", "|", "\x00", "a", "'"])


def writer_lines(rows: list[list[str]], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 5), st.lists(st.lists(cell, min_size=5, max_size=5), max_size=12), delimiters)
def test_minimal_quoting_writes_what_csv_writer_writes(
    width: int, rows: list[list[str]], delimiter: str
) -> None:
    rows = [row[:width] for row in rows]
    if not rows:
        return
    cols = [list(col) for col in zip(*rows, strict=True)]
    assert MinimalQuoting(delimiter)(cols) == writer_lines(rows, delimiter)


# Records come from orjson, which refuses lone surrogates: none here.
plain_cell = cell.filter(lambda text: "\ud800" not in text)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | plain_cell,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def csv_spec(delimiter: str, guard: bool, columns: tuple[Column, ...]) -> OutputSpec:
    options = CsvOptions(delimiter=delimiter, formula_guard=guard, list_separator="; ")
    return OutputSpec("csv", "x.csv", columns, "none", options, {})


def reference_csv(pages: list[list[Any]], spec: OutputSpec) -> bytes:
    """The bytes as the plain way makes them: every cell to text, then guarded, then
    csv.writer, row by row."""
    builder, opts = RowBuilder(spec.columns), spec.csv
    rows = [[guard_formula(h) if opts.formula_guard else h for h in builder.header]]
    for page in pages:
        cols = builder.columns(page)
        for row in zip(*cols, strict=True):
            cells = [to_text(v, opts.list_separator) for v in row]
            if opts.formula_guard:
                safe = builder.formula_safe
                cells = [c if s else guard_formula(c) for c, s in zip(cells, safe, strict=True)]
            rows.append(cells)
    return writer_lines(rows, opts.delimiter).encode("utf-8", "surrogatepass")


COLUMNS = (
    Column("a", "a"),
    Column("b", "b.c"),
    Column("phone", "e164(p)"),
    Column("d", "b.d", default="=none"),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.fixed_dictionaries({}, optional={"a": json_value, "b": json_value, "p": json_value}),
            max_size=6,
        ),
        max_size=4,
    ),
    st.sampled_from([",", ";", "\t", " ", "|"]),
    st.booleans(),
    st.integers(1, 4),
)
def test_csv_pages_are_the_bytes_of_the_plain_way(
    pages: list[list[Any]], delimiter: str, guard: bool, width: int
) -> None:
    spec = csv_spec(delimiter, guard, COLUMNS[:width])
    sink = Sink()
    encoder = Encoder(spec, sink)
    for page in pages:
        encoder.write_page(page)
    encoder.finish()
    assert bytes(sink.data) == reference_csv(pages, spec)


nested = st.recursive(
    st.none() | st.integers(0, 3) | st.sampled_from(["x", ""]),
    lambda inner: st.lists(inner, max_size=2)
    | st.dictionaries(st.sampled_from(["p", "q", "r"]), inner, max_size=3),
    max_leaves=8,
)
PATHS = ["p", "p.q", "p.q.r", "p.r", "q.p", "p.q.p", "coalesce(p.q.r, p.r)", "count(p.q)"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(nested, max_size=5), min_size=1, max_size=4))
def test_columns_sharing_prefixes_give_each_record_its_own_values(pages: list[list[Any]]) -> None:
    prefixes = Prefixes()
    manys = [compile_many(path, prefixes=prefixes) for path in PATHS]
    ones = [compile_expr(path) for path in PATHS]
    for page in pages:  # one page after another: nothing of the last one is served again
        prefixes.clear()
        got = [many(page) for many in manys]
        assert got == [[one(r) for r in page] for one in ones]


def test_a_column_shares_its_walk_only_within_one_page() -> None:
    builder = RowBuilder((Column("q", "p.q"), Column("r", "p.r")))
    first = builder.columns([{"p": {"q": 1, "r": 2}}])
    second = builder.columns([{"p": {"q": 3, "r": 4}}, {"p": {"q": 5}}])
    assert first == [[1], [2]]
    assert second == [[3, 5], [4, None]]


def steps_per_record(spec: OutputSpec, records: list[Any]) -> float:
    """Lines of runner/formats/csv.py run per record (a comprehension's line counts once
    an item): deterministic where a timing is not, and what a per-cell step costs."""
    encoder = Encoder(spec, Sink())
    pages = [records[i : i + 50] for i in range(0, len(records), 50)]
    steps = 0

    def trace(frame: FrameType, event: str, _arg: Any) -> Any:
        nonlocal steps
        if not frame.f_code.co_filename.endswith(os.path.join("formats", "csv.py")):
            return None
        steps += event == "line"
        return trace

    sys.settrace(trace)
    try:
        for page in pages:
            encoder.write_page(page)
    finally:
        sys.settrace(None)
    return steps / len(records)


def test_a_csv_page_of_plain_text_takes_no_python_step_per_cell() -> None:
    rng, anchor = random.Random(3), dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    records = [make_contact(rng, anchor, "steps") for _ in range(1_000)]
    # Text with nothing to quote or guard, in five columns: a few steps a column and
    # page, none a cell (the old way ran two a cell: is it text? a formula start?).
    plain = ("_id", "createdAt", "status", "_bot", "updatedAt")
    columns = tuple(Column(path, path) for path in plain)
    plain_steps = steps_per_record(csv_spec(",", True, columns), records)
    assert plain_steps / len(columns) < 0.5
    # A column that needs them still gets the per-cell checks, and only that one.
    email = (*columns, Column("email", "profile.userDetails.contact.email"))
    emails = [r["profile"]["userDetails"]["contact"]["email"] for r in records]
    assert any(set(e) & set(',"\r\n') for e in emails)  # cells to quote on every page
    assert 1 < steps_per_record(csv_spec(",", True, email), records) - plain_steps < 5


def frames_per_record(spec: OutputSpec, records: list[Any], module: str) -> float:
    """Python frames entered (or a generator resumed) in runner/formats/``module`` per
    record, pages of 50."""
    encoder = Encoder(spec, Sink())
    calls = 0

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call" and frame.f_code.co_filename.endswith(os.path.join("formats", module)):
            calls += 1

    sys.setprofile(profile)
    try:
        for i in range(0, len(records), 50):
            encoder.write_page(records[i : i + 50])
    finally:
        sys.setprofile(None)
    return calls / len(records)


def test_a_jsonl_page_takes_no_python_step_per_record() -> None:
    """Raw records and selected columns alike: orjson writes each line with its newline,
    one comprehension joins a page; the lines are orjson's own, one a record."""
    rng, anchor = random.Random(5), dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    records = [make_contact(rng, anchor, "steps") for _ in range(1_000)]
    for columns in (None, (Column("id", "_id"), Column("tags", "profile.userDetails.tags"))):
        spec = OutputSpec("jsonl", "x.jsonl", columns, "none", CsvOptions(), {})
        assert frames_per_record(spec, records, "jsonl.py") < 0.2  # a generator: 1 or more
        sink = Sink()
        encoder = Encoder(spec, sink)
        encoder.write_page(records)
        encoder.finish()
        lines = bytes(sink.data).split(b"\n")
        assert lines.pop() == b"" and len(lines) == len(records)
        if columns is None:
            assert [orjson.loads(line) for line in lines] == records

"""Rows, CSV/JSONL encoding and de-duplication, without a server."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.fetch.records import Deduplicator, SeenIds
from runner.formats import FORMATS, Encoder, content_type
from runner.formats.csv import guard_formula
from runner.rows.build import EXTRA, KNOWN_FIELDS, RowBuilder
from runner.rows.columns import compile_expr, compile_many
from runner.sinks import DiscardUpload
from runner.spec import targets
from runner.spec.segment import Column, CsvOptions, OutputSpec


class Sink(DiscardUpload):
    """An upload that keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def spec(guard: bool, fmt: str = "csv", columns: tuple[Column, ...] | None = None) -> OutputSpec:
    if columns is None:
        columns = tuple(Column(n, n) for n in ("a", "b"))
    return OutputSpec(fmt, "x.csv", columns, "none", CsvOptions(formula_guard=guard, bom=True), {})


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(text, text), max_size=20), st.booleans())
def test_csv_round_trip_gives_back_the_same_strings(
    pairs: list[tuple[str, str]], guard: bool
) -> None:
    sink = Sink()
    encoder = Encoder(spec(guard), sink)
    encoder.write_page([{"a": a, "b": b} for a, b in pairs])
    encoder.finish()
    rows = list(csv.reader(io.StringIO(bytes(sink.data).decode("utf-8-sig"), newline="")))
    expected = [(guard_formula(a), guard_formula(b)) if guard else (a, b) for a, b in pairs]
    assert [tuple(r) for r in rows[1:]] == expected
    assert rows[0] == ["a", "b"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("+447911123456", "+447911123456"),
        ("+44 7911 123456", "+44 7911 123456"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("1e5", "1e5"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_formula_guard(cell: str, expected: str) -> None:
    assert guard_formula(cell) == expected


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ({"prefix": "91", "number": "9876543210"}, "+919876543210"),
        ({"prefix": "+44", "number": "07911 123456"}, "+447911123456"),
        ({"prefix": "", "number": "555-0100"}, ""),  # no country to read it in: not E.164
        ({"prefix": "1", "number": ""}, ""),
        (None, ""),
    ],
)
def test_e164(phone: Any, expected: str) -> None:
    get = compile_expr("e164(p)")
    assert get({"p": phone}) == expected


def test_default_columns_are_stable_and_lossless() -> None:
    builder = RowBuilder(None)
    assert builder.header == [*KNOWN_FIELDS, EXTRA]
    record = {"_id": "x", "newField": 1, "profile": {"userDetails": {"name": "n", "nick": "k"}}}
    row = [column[0] for column in builder.columns([record])]
    assert row[0] == "x" and row[builder.header.index("profile.userDetails.name")] == "n"
    assert row[-1] == {"newField": 1, "profile": {"userDetails": {"nick": "k"}}}


def test_jsonl_with_columns_keeps_types() -> None:
    cols = (Column("id", "_id"), Column("tags", "t"))
    sink = Sink()
    encoder = Encoder(spec(False, "jsonl", cols), sink)
    encoder.write_page([{"_id": "a", "t": ["x", "y"], "other": 1}])
    encoder.finish()
    assert bytes(sink.data) == b'{"id":"a","tags":["x","y"]}\n'


@pytest.mark.parametrize(
    "make", [lambda: SeenIds(shards=1, capacity=4), SeenIds, lambda: SeenIds(shards=4, capacity=5)]
)
def test_seen_ids_grow_and_remember(make: Any) -> None:
    seen = make()
    ids = [f"{i:024x}" for i in range(10_000)]
    assert all(seen.add(i) for i in ids)
    assert not any(seen.add(i) for i in ids[::7])
    assert len(seen) == 10_000


def test_deduplicator_counts_and_keeps_records_without_id() -> None:
    """A record without an id is kept and counted; the same record read again (a list
    read twice in part) is one contact, compared by its whole content."""
    dedupe = Deduplicator("meta.id")
    records = [{"meta": {"id": 1}}, {"meta": {"id": 2}}, {"meta": {"id": 1}}, {"x": 1}, {"x": 2}]
    kept = dedupe.filter(records)
    assert kept == [{"meta": {"id": 1}}, {"meta": {"id": 2}}, {"x": 1}, {"x": 2}]
    assert dedupe.dropped == 1 and dedupe.without_id == 2
    again = dedupe.filter([{"x": 2}, {"x": 1, "y": 0}, {"meta": {"id": ""}}])
    assert again == [{"x": 1, "y": 0}, {"meta": {"id": ""}}]
    assert dedupe.dropped == 2 and dedupe.without_id == 5


def test_csv_options_delimiter_lists_header_and_bom() -> None:
    cols = (Column("id", "_id"), Column("tags", "t"))
    out = OutputSpec(
        "csv",
        "x.csv",
        cols,
        "none",
        CsvOptions(delimiter=";", header=False, bom=False, list_separator=", "),
        {},
    )
    sink = Sink()
    encoder = Encoder(out, sink)
    encoder.write_page([{"_id": "a", "t": ["x", "y"]}, {"_id": "b;c", "t": []}])
    encoder.finish()
    assert bytes(sink.data) == b'a;x, y\r\n"b;c";\r\n'


def test_expression_string_literals_with_escapes() -> None:
    assert compile_expr('coalesce(missing, "say \\"hi\\", ok")')({}) == 'say "hi", ok'
    assert compile_many("coalesce(missing, 'x')")([{}, {"missing": "y"}]) == ["x", "y"]
    from runner.spec.expressions import ExprError

    with pytest.raises(ExprError, match="bad string"):
        compile_expr('coalesce(x, "\\N{no such name}")')


def test_the_spec_allows_exactly_the_registered_formats_and_extensions() -> None:
    # spec/ may not import formats/ (layers import downward), so it keeps its own table:
    # this is what keeps the two from drifting apart.
    registered = {name: cls.extensions for name, cls in FORMATS.items()}
    assert registered == targets.EXTENSIONS
    assert all(cls.extensions[0] == cls.extension for cls in FORMATS.values())


@pytest.mark.parametrize(
    ("fmt", "compression", "expected"),
    [
        ("csv", "none", "text/csv; charset=utf-8"),
        ("jsonl", "none", "application/x-ndjson; charset=utf-8"),
        ("jsonl", "gzip", "application/gzip"),
        ("parquet", "none", "application/vnd.apache.parquet"),
    ],
)
def test_content_type_is_the_formats_or_gzips(fmt: str, compression: str, expected: str) -> None:
    spec = OutputSpec(fmt, "x", None, compression, CsvOptions(), {})
    assert content_type(spec) == expected


@pytest.mark.parametrize(
    "value",
    [2**70, "\ud800 lone surrogate", {"b": 1, "a": [1.5, None]}, "é ✓ 𝄞", -(2**63)],
)
def test_a_record_without_an_id_read_twice_passes_once_whatever_it_holds(value: object) -> None:
    """The content comparison takes what orjson refuses (an integer past 64 bits, a lone
    surrogate) as well as what it takes; the same content twice is one record, another
    value of the same kind another record."""
    dedupe = Deduplicator("_id")
    first = dedupe.filter([{"x": value}, {"x": value, "y": 1}])
    again = dedupe.filter([{"x": value}, {"y": 1, "x": value}, {"x": [value]}])
    assert first == [{"x": value}, {"x": value, "y": 1}] and again == [{"x": [value]}]
    assert dedupe.dropped == 2 and dedupe.without_id == 5


@pytest.mark.parametrize(
    ("record", "has_id"),
    [
        ({"c": {"email": ""}}, False),  # empty: no one's id
        ({"c": {"email": None}}, False),
        ({"c": {}}, False),
        ({"c": None}, False),  # the parent itself missing
        ({"c": {"email": 0}}, True),  # falsy, but an id
        ({"c": {"email": False}}, True),
        ({"c": {"email": " "}}, True),  # a space is a value; only "" is none
    ],
)
def test_which_values_at_the_id_key_are_no_id(record: dict[str, object], has_id: bool) -> None:
    from runner.fetch.records import record_ids

    assert (record_ids("c.email")([record])[0] is not None) is has_id

"""De-duplication compares ids exactly: by JSON type and value, never by Python's hash."""

from __future__ import annotations

import random
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.fetch.records import Deduplicator, SeenIds, _digest, first_non_object, json_type

M = 2**61 - 1  # hash(n) == hash(n + M) for ints


def test_ids_that_share_a_python_hash_stay_apart() -> None:
    ids = [0, 1, -1, -2, M, 2 * M, M + 1, -M, -M - 1, 3 * M + 5, 5]
    assert len({hash(i) or 1 for i in ids}) < len(ids)  # what the old table stored
    seen = SeenIds()
    assert [seen.add(i) for i in ids] == [True] * len(ids)
    assert [seen.add(i) for i in ids] == [False] * len(ids)
    assert len(seen) == len(ids)


def test_a_string_id_never_equals_a_number_or_a_boolean() -> None:
    seen = SeenIds()
    distinct = [1, "1", True, "true", 1.5, "1.5", None, "null", [1], "[1]", {"a": 1}, '{"a":1}']
    assert all(seen.add(key) for key in distinct)
    # one JSON number, whatever its spelling; an object whatever its key order
    assert not seen.add(1.0)
    assert not seen.add({"a": 1})
    # exact values: 2**53 + 1 has no float of its own, 2**53 and 2.0**53 are one number
    assert seen.add(2**53 + 1) and seen.add(2.0**53) and not seen.add(2**53)


def test_strings_compare_by_every_character() -> None:
    seen = SeenIds()
    keys = ["a", "a ", "A", "\ud800", "\ud800x", "é", "e\u0301", ""]
    assert [seen.add(k) for k in keys] == [True] * len(keys)
    assert [seen.add(k) for k in keys] == [False] * len(keys)


def test_growth_keeps_every_id() -> None:
    seen = SeenIds(shards=4, capacity=8)
    n = 60_000
    keys: list[Any] = [i * M for i in range(-n // 2, n // 2)]  # every one hashes to 0
    assert all(seen.add(k) for k in keys)
    assert not any(seen.add(k) for k in keys)
    assert len(seen) == n


JSON_SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-3, max_value=3).map(lambda i: i * M + 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.booleans(),
)


def _model(key: Any) -> tuple[str, Any]:
    """The specification: booleans, numbers (1 == 1.0) and strings are separate kinds."""
    if isinstance(key, bool):
        return ("boolean", key)
    if isinstance(key, int | float):
        return ("number", key)  # Python compares int and float by exact value
    return ("string", key)


@given(st.lists(JSON_SCALARS, max_size=60))
def test_same_answers_as_an_exact_set(keys: list[Any]) -> None:
    seen, model = SeenIds(capacity=4), set()
    for key in keys:
        expected = _model(key) not in model
        model.add(_model(key))
        assert seen.add(key) is expected, key


def test_deduplicator_keeps_records_without_id_and_counts() -> None:
    dedupe = Deduplicator("_id")
    page = [{"_id": 0}, {"_id": 1}, {"_id": "1"}, {"x": 1}, {"_id": None}, {"_id": 1}]
    assert dedupe.filter(page) == page[:5]
    assert (dedupe.dropped, dedupe.without_id) == (1, 2)


def test_first_non_object() -> None:
    assert first_non_object([{"a": 1}, {}]) is None
    assert first_non_object([{}, 1, "a", None, [2]]) == (2, 1)
    assert [json_type(v) for v in (1, "a", None, [2], True, 1.5)] == [
        "a number",
        "a string",
        "null",
        "an array",
        "a boolean",
        "a number",
    ]


def test_a_page_at_once_gives_what_one_at_a_time_and_an_exact_set_give() -> None:
    """add_many, the string path a page of ids takes, across the x4 growth of a small
    shard into the x1.5 growth past SeenIds.SMALL, repeats within a page and across."""
    pages_seen, one_seen, model = (
        SeenIds(shards=1, capacity=8),
        SeenIds(shards=1, capacity=8),
        set(),
    )
    rng = random.Random(7)
    universe = [f"{i:024x}" for i in range(0, 40_000 * 7919, 7919)] + ["", "\ud800", 5, 5.0]
    for _ in range(1_200):
        page = [rng.choice(universe) for _ in range(50)]
        expected = []
        for key in page:
            expected.append(_model(key) not in model)
            model.add(_model(key))
        assert pages_seen.add_many(page) == expected
        assert [one_seen.add(key) for key in page] == expected
    assert len(pages_seen) == len(model) > SeenIds.SMALL


# An e-mail and the text whose two-byte characters are its bytes: a string's own hash
# reads how it is stored, so the two share it under any key, and their UTF-8 was made
# to share its CRC-32 too (a review's construction, solving 32 equations over GF(2)).
EMAIL = "contact-djamnnn`ecba`onmlkjihgfedcba`onmlkjihgfedcba````@example.com"
TWIN = EMAIL.encode("latin-1").decode("utf-16-le")


def test_an_id_stored_as_another_ids_bytes_is_another_id() -> None:
    assert TWIN != EMAIL and zlib.crc32(TWIN.encode()) == zlib.crc32(EMAIL.encode())
    assert hash(TWIN) == hash(EMAIL)  # why the string's own hash cannot be the digest
    seen = SeenIds()
    assert seen.add_many([EMAIL, TWIN]) == [True, True] and TWIN in seen
    assert SeenIds().add(EMAIL) and not SeenIds().__contains__(TWIN)
    dedupe = Deduplicator("email")
    assert dedupe.filter([{"email": EMAIL}, {"email": TWIN}]) == [
        {"email": EMAIL},
        {"email": TWIN},
    ]


@pytest.mark.parametrize(
    ("text", "twin"),
    [
        ("ab", "\u6261"),  # one byte a character, and two
        ("\xe9\x01", "\u01e9"),  # Latin-1 past ASCII, and two bytes
        ("\U0001f600", "\uf600\x01"),  # four bytes a character, and two
    ],
)
def test_strings_stored_as_the_same_bytes_get_their_own_digest(text: str, twin: str) -> None:
    """Every kind of storage CPython has: its string hash reads the stored bytes, so
    each pair shares it; the digest reads the UTF-8 and tells them apart."""
    assert hash(text) == hash(twin) and text != twin
    assert _digest(text)[0] != _digest(twin)[0]
    seen = SeenIds()
    assert seen.add_many([text, twin]) == [True, True]

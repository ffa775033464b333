"""Id snapshots and the DeltaTracker: added/removed equal the set differences, the
snapshot is canonical and checked when read back, memory stays bounded."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import SnapshotError
from runner.history.delta import DeltaTracker, id_record
from runner.history.snapshot import SnapshotBase, canonical, digest


def identity(value: Any) -> tuple[str, Any]:
    """What makes two ids the same, written independently of the code under test."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", Fraction(value))
    if isinstance(value, str):
        return ("string", value)
    return ("json", json.dumps(value, sort_keys=True))


def run(
    folder: Path,
    pages: list[list[Any]],
    base: bytes | None,
    id_key: str = "_id",
    buffer_bytes: int = 4096,
) -> tuple[list[Any], list[Any], bytes, Any]:
    """One export through a tracker: (added records, removed ids, snapshot bytes, summary)."""
    loaded = SnapshotBase(io.BytesIO(base), id_key) if base is not None else None
    with DeltaTracker(id_key, loaded, folder, buffer_bytes=buffer_bytes) as delta:
        added = [record for page in pages for record in delta.page(page)]
        summary = delta.finish()
        removed = [key for ids in delta.removed(page_size=7) for key in ids]
        snapshot = summary.snapshot.read_bytes()
    return added, removed, snapshot, summary


def snapshot_ids(data: bytes) -> list[bytes]:
    return gzip.decompress(data).split(b"\n")[1:-1]


ids = st.one_of(
    st.text(min_size=1, max_size=6),  # "" is no id (records.record_ids): not in the sets
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(ids, max_size=40), after=st.lists(ids, max_size=40), split=st.integers(1, 9))
def test_added_and_removed_are_the_set_differences(
    tmp_path: Path, before: list[Any], after: list[Any], split: int
) -> None:
    first = [[{"_id": v} for v in before]]
    _, _, base, _ = run(tmp_path, first, None)

    unique: dict[Any, Any] = {}
    for v in after:  # the export de-duplicates before the tracker sees a page
        unique.setdefault(identity(v), v)
    records = [{"_id": v, "n": i} for i, v in enumerate(unique.values())]
    pages = [records[i : i + split] for i in range(0, len(records), split)]
    added, removed, snapshot, summary = run(tmp_path, pages, base)

    old = {identity(v) for v in before}
    new = set(unique)
    assert [identity(r["_id"]) for r in added] == [k for k in unique if k not in old]
    assert sorted(map(identity, removed), key=repr) == sorted(old - new, key=repr)
    assert (summary.added, summary.removed, summary.ids) == (
        len(new - old),
        len(old - new),
        len(new),
    )
    again = [identity(json.loads(line)) for line in snapshot_ids(snapshot)]
    assert sorted(again, key=repr) == sorted(new, key=repr)


def test_the_snapshot_is_canonical_whatever_the_order_and_buffer(tmp_path: Path) -> None:
    values = [f"{i:024x}" for i in range(3000)] + [1, 2.0, "2", True, {"b": 1, "a": 2}]
    forward = [[{"_id": v} for v in values]]
    backward = [[{"_id": v}] for v in reversed(values)]
    _, _, one, _ = run(tmp_path, forward, None, buffer_bytes=64)
    _, _, two, _ = run(tmp_path, backward, None, buffer_bytes=10**7)
    assert one == two
    lines = snapshot_ids(one)
    assert len(lines) == len(values)
    assert [digest(line) for line in lines] == sorted(digest(line) for line in lines)
    assert b'{"a":2,"b":1}' in lines and b"2" in lines and b'"2"' in lines


def test_first_run_adds_everything_and_removes_nothing(tmp_path: Path) -> None:
    added, removed, _, summary = run(tmp_path, [[{"_id": "a"}, {"_id": "b"}]], None)
    assert [r["_id"] for r in added] == ["a", "b"]
    assert removed == [] and summary.removed == 0 and not summary.had_base


def test_records_without_an_id_are_counted_and_in_neither_file(tmp_path: Path) -> None:
    _, _, base, _ = run(tmp_path, [[{"_id": "a"}, {"_id": "gone"}]], None)
    page = [{"_id": "a"}, {"x": 1}, {"_id": None}, {"_id": "new"}]
    added, removed, snapshot, summary = run(tmp_path, [page], base)
    assert added == [{"_id": "new"}]
    assert removed == ["gone"]
    assert summary.without_id == 2
    assert snapshot_ids(snapshot) == sorted([b'"a"', b'"new"'], key=digest)


def test_nested_id_key_and_removed_records(tmp_path: Path) -> None:
    first = [[{"profile": {"id": 1}}, {"profile": {"id": 2}}]]
    _, _, base, _ = run(tmp_path, first, None, id_key="profile.id")
    added, removed, _, _ = run(tmp_path, [[{"profile": {"id": 2.0}}]], base, id_key="profile.id")
    assert added == [] and removed == [1]
    assert id_record("profile.id", 1) == {"profile": {"id": 1}}


def test_lone_surrogate_ids_round_trip(tmp_path: Path) -> None:
    _, _, base, _ = run(tmp_path, [[{"_id": "\ud800x"}, {"_id": "ok"}]], None)
    added, removed, _, _ = run(tmp_path, [[{"_id": "ok"}]], base)
    assert added == [] and removed == ["\ud800x"]
    assert canonical("\ud800x") == b'"\\ud800x"'


def write_raw(lines: list[bytes], head: dict[str, Any] | None = None) -> bytes:
    head = head or {"format": "segment-runner/ids", "version": 1, "id_key": "_id"}
    return gzip.compress(orjson.dumps(head) + b"\n" + b"".join(line + b"\n" for line in lines))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            write_raw(
                [b'"a"', b'"b"'], {"format": "segment-runner/ids", "version": 1, "id_key": "uid"}
            ),
            "holds ids by 'uid' but api.id_key is '_id'",
        ),
        (
            write_raw([], {"format": "segment-runner/ids", "version": 9, "id_key": "_id"}),
            "format version 9",
        ),
        (write_raw([], {"format": "other"}), "is not an id snapshot"),
        (gzip.compress(b"not json\n"), "is not an id snapshot"),
        (sorted([b'"a"', b'"b"', b'"c"'], key=digest, reverse=True), "out of order"),
        ([b'"a"', b'"a"'], "out of order"),
        (write_raw(sorted([b'"a"', b'"b"'], key=digest))[:-9], "damaged"),
        (b"plain text, not gzip", "damaged"),
    ],
    # named, not shown: a gzip header holds the time it was written, and xdist's
    # workers must collect the same test ids
    ids=[
        "id-key-uid",
        "version-9",
        "other-format",
        "not-json",
        "unsorted",
        "duplicate",
        "cut-short",
        "not-gzip",
    ],
)
def test_a_bad_snapshot_is_refused_with_a_reason(data: Any, message: str) -> None:
    raw = write_raw(data) if isinstance(data, list) else data
    with pytest.raises(SnapshotError, match=message):
        SnapshotBase(io.BytesIO(raw), "_id", name="s")


def test_a_snapshot_without_its_last_newline_is_refused() -> None:
    raw = gzip.compress(b'{"format":"segment-runner/ids","version":1,"id_key":"_id"}\n"a"')
    with pytest.raises(SnapshotError, match="middle of a line"):
        SnapshotBase(io.BytesIO(raw), "_id")


def delta_peak(folder: Path, n: int) -> int:
    """tracemalloc's peak of a run over ``n`` ids against a snapshot of ``n`` others (a
    tenth of them leaving, a tenth new): loading the snapshot, the pages, the new snapshot
    and the removed ids (the pages themselves are the export's)."""

    def pages(offset: int) -> list[list[dict[str, str]]]:
        return [
            [{"_id": f"{i * 7919:024x}"} for i in range(s, s + 500)]
            for s in range(offset, offset + n, 500)
        ]

    folder.mkdir()
    _, _, base, _ = run(folder, pages(0), None)
    (folder / "base.gz").write_bytes(base)
    later = pages(n // 10)
    tracemalloc.start()
    try:
        with (
            (folder / "base.gz").open("rb") as file,
            DeltaTracker(
                "_id", SnapshotBase(file, "_id"), folder, buffer_bytes=256 * 1024
            ) as delta,
        ):
            added = sum(len(delta.page(page)) for page in later)
            delta.finish()
            removed = sum(len(ids) for ids in delta.removed())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert added == removed == n // 10
    return peak


def test_memory_per_id_stays_far_below_the_budget(tmp_path: Path) -> None:
    """60 MB for 1,000,000 ids (bench/delta_memory.py measures RSS at 1M). The peak is
    measured at two sizes: what each id adds, times the ids up to a million, on top of
    the larger run's peak (about 30 bytes an id and 2.3 MB besides; a run of 200,000 ids
    took 12 s of CPU under tracemalloc where these two take 5)."""
    small, large = 20_000, 60_000
    low, high = delta_peak(tmp_path / "small", small), delta_peak(tmp_path / "large", large)
    per_id = (high - low) / (large - small)
    at_a_million = high + per_id * (1_000_000 - large)
    assert at_a_million < 60e6, f"{per_id:.1f} bytes an id, {at_a_million / 1e6:.1f} MB at 1M"

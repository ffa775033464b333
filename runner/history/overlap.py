"""How much audiences overlap: shared contacts and Jaccard index, from id snapshots.

Each segment's latest id snapshot (the one its last successful run published,
:mod:`runner.history.snapshot`) is loaded as its sorted digests (BLAKE2b-96 of each
id, 12 bytes an id, in one Arrow buffer: never a Python set of the ids); two
audiences are compared by merging their sorted digests a sixteenth of the digest
space at a time (Arrow sorts the two slices together, then equal neighbours are
counted: each snapshot holds an id once, so an equal pair is a shared id). Nothing
is fetched: the figures are those of the files the segments last published.

>>> a, b = digests_of([b'"x"', b'"y"']), digests_of([b'"y"', b'"z"'])
>>> pair = Pair("a", "b", len(a), len(b), shared(a, b))
>>> pair.shared, round(pair.jaccard, 4)
(1, 0.3333)
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from itertools import combinations
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from runner.errors import HistoryError, SnapshotError
from runner.fetch.records import record_ids
from runner.history.record import RunRecord
from runner.history.snapshot import DIGEST_SIZE, canonical, read_digests
from runner.history.store import HistoryStore, last_success, open_snapshot_of

DIGESTS = pa.binary(DIGEST_SIZE)
PARTS = 16  # the merge works on a sixteenth of the digest space at a time


@dataclass(frozen=True)
class Audience:
    """A segment's latest published ids (``digests``), or why there are none (``missing``)."""

    segment: str
    digests: Digests | None = None
    run: RunRecord | None = None  # the run that published them
    missing: str = ""
    damaged: bool = False  # the snapshot is there but cannot be read

    @property
    def ids(self) -> int:
        return 0 if self.digests is None else len(self.digests)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    a_ids: int
    b_ids: int
    shared: int

    @property
    def jaccard(self) -> float:
        """Shared over either: 0 when both are empty (nothing to share)."""
        union = self.a_ids + self.b_ids - self.shared
        return self.shared / union if union else 0.0


@dataclass(frozen=True)
class Digests:
    """Sorted 12-byte digests in one Arrow buffer, and where each sixteenth of the digest
    space starts (by the first four bits): two are merged a sixteenth at a time, so the
    merge's working memory is a sixteenth of what the arrays hold."""

    array: Any  # a pyarrow FixedSizeBinaryArray
    starts: tuple[int, ...]  # PARTS + 1 offsets into it

    @classmethod
    def of(cls, blob: bytes | bytearray) -> Digests:
        count = len(blob) // DIGEST_SIZE
        array = pa.FixedSizeBinaryArray.from_buffers(DIGESTS, count, [None, pa.py_buffer(blob)])
        # the digests are sorted, so the first offset whose top four bits reach ``part``
        at = [
            bisect.bisect_left(range(count), part, key=lambda i: blob[i * DIGEST_SIZE] >> 4)
            for part in range(PARTS)
        ]
        return cls(array, (*at, count))

    def __len__(self) -> int:
        return len(self.array)

    def part(self, index: int) -> Any:
        start, stop = self.starts[index], self.starts[index + 1]
        return self.array.slice(start, stop - start)


def digests_of(lines: Iterable[bytes]) -> Digests:
    """Sorted digests of id lines (canonical JSON), as the snapshots hold them."""
    return Digests.of(b"".join(sorted(blake2b(x, digest_size=DIGEST_SIZE).digest() for x in lines)))


def load_digests(file: IO[bytes], id_key: str, name: str) -> Digests:
    """A snapshot's digests in one buffer of 12 bytes an id (SnapshotError if damaged)."""
    blob = bytearray()
    try:
        for raw in read_digests(file, id_key, name):
            blob += raw
    except (OSError, EOFError, zlib.error) as exc:
        raise SnapshotError(f"{name} cannot be read ({exc}); it is damaged") from exc
    return Digests.of(blob)


def latest_audience(store: HistoryStore, segment: str, id_key: str) -> Audience:
    """``segment``'s ids as its last successful run published them, or why not."""
    try:
        run = last_success(store, segment)
    except HistoryError as exc:
        return Audience(segment, missing=f"its history cannot be read: {exc}", damaged=True)
    if run is None:
        return Audience(segment, missing=f"no successful run in {store.where}")
    if not run.snapshot:
        # exporting an incremental segment again keeps none either: its runs are windows
        why = (
            "an incremental segment's runs keep none: each is one window, not its audience"
            if run.mode == "incremental"
            else "an older runner kept none; export it again"
        )
        return Audience(
            segment,
            run=run,
            missing=f"its last successful run ({run.run_id}) kept no id snapshot ({why})",
        )
    try:
        run, opened = open_snapshot_of(store, segment, run)  # pruned since: the newest's
        with opened as file:
            digests = load_digests(file, id_key, f"snapshot {run.snapshot}")
    except HistoryError as exc:  # SnapshotError too
        return Audience(segment, run=run, missing=str(exc), damaged=True)
    return Audience(segment, digests, run)


def shared(a: Digests, b: Digests) -> int:
    """How many digests two sorted, duplicate-free digest arrays have in common: each
    sixteenth of both sorted together, then the equal neighbours counted."""
    total = 0
    for index in range(PARTS):
        mine, theirs = a.part(index), b.part(index)
        if len(mine) and len(theirs):
            both = pa.concat_arrays([mine, theirs])
            merged = both.take(pc.sort_indices(both))
            total += int(pc.sum(pc.equal(merged[:-1], merged[1:])).as_py() or 0)
    return total


def pairs(audiences: Sequence[Audience]) -> list[Pair]:
    """Every pair of the audiences that have ids, in the order given."""
    known = [(a.segment, a.digests) for a in audiences if a.digests is not None]
    return [
        Pair(a, b, len(mine), len(theirs), shared(mine, theirs))
        for (a, mine), (b, theirs) in combinations(known, 2)
    ]


class IdCollector:
    """The digests of the ids of the records it is fed, as an audience to compare with
    snapshots (``segments diff --count``): 12 bytes an id, sorted once at the end."""

    fetch_needed = True

    def __init__(self, id_key: str) -> None:
        self._ids = record_ids(id_key)
        self._blob = bytearray()

    def page(self, records: list[Any]) -> None:
        for key in self._ids(records):
            if key is not None:  # an id-less record cannot be compared
                self._blob += blake2b(canonical(key), digest_size=DIGEST_SIZE).digest()

    def digests(self) -> Digests:
        count = len(self._blob) // DIGEST_SIZE
        array = pa.FixedSizeBinaryArray.from_buffers(
            DIGESTS, count, [None, pa.py_buffer(self._blob)]
        )
        ordered = array.take(pc.sort_indices(array))
        return Digests.of(ordered.buffers()[1].to_pybytes()[: count * DIGEST_SIZE])

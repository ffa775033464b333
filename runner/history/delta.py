"""Deltas: which records of this export are new, which ids left, and the next snapshot.

Fed the (de-duplicated) records page by page, a :class:`DeltaTracker` answers
with the records whose id was not in the previous snapshot (for
``<name>.added.<ext>``), and at the end gives the ids of the previous snapshot it
never saw (for ``<name>.removed.<ext>``) and writes this run's snapshot.

Memory: the previous snapshot costs 25 bytes an id (see
:mod:`runner.history.snapshot`); this run's ids go to a temporary file as they
come, in 256 buckets by digest, through a buffer of ``buffer_bytes``; at the end
each bucket is read, sorted and written in turn, so the snapshot comes out in
digest order while only one bucket (1/256 of the ids) is in memory.
``bench/delta_memory.py`` measures it.

Records without an id (``null`` or missing) cannot be matched: they are counted
in ``without_id`` and are in neither delta file.

>>> import io, pathlib, tempfile
>>> with DeltaTracker("_id", None, pathlib.Path(tempfile.gettempdir())) as delta:
...     added = delta.page([{"_id": "a"}, {"_id": "b"}, {"x": 1}])
...     summary = delta.finish()
>>> [r["_id"] for r in added], summary.added, summary.ids, summary.without_id
(['a', 'b'], 2, 2, 1)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import blake2b
from pathlib import Path
from types import TracebackType
from typing import Any

from runner.errors import SnapshotError
from runner.fetch.records import record_ids
from runner.history.snapshot import (
    DIGEST_SIZE,
    SnapshotBase,
    canonical,
    header,
    load_id,
    open_writer,
)

BUCKETS = 256  # by the digest's first byte: the snapshot's order, one bucket at a time
BUFFER_BYTES = 4 * 1024 * 1024
_HEX = 2 * DIGEST_SIZE  # a bucket entry: the digest in hex, then the id line


@dataclass(frozen=True)
class DeltaSummary:
    """``snapshot``: this run's snapshot file (in the tracker's folder, until closed)."""

    added: int
    removed: int
    ids: int
    without_id: int
    snapshot: Path
    had_base: bool


@contextlib.contextmanager
def _disk(what: str) -> Iterator[None]:
    """An OSError while writing ``what`` (a full disk) as one line that says where."""
    try:
        yield
    except OSError as exc:
        raise SnapshotError(f"cannot write {what}: {exc.strerror or exc}") from exc


class DeltaTracker:
    """Compare an export's records, by ``id_key``, with ``base`` (None: the first run,
    every record is added). Temporary files go in ``workdir``; use as a context manager.
    """

    def __init__(
        self,
        id_key: str,
        base: SnapshotBase | None,
        workdir: Path,
        buffer_bytes: int = BUFFER_BYTES,
    ) -> None:
        self.id_key = id_key
        self.base = base
        self.ids = record_ids(id_key)
        self.added = 0
        self.without_id = 0
        self._workdir = workdir
        self._spill = tempfile.TemporaryFile(dir=workdir, prefix=".delta-")  # noqa: SIM115
        self._buffers = [bytearray() for _ in range(BUCKETS)]
        self._buffered = 0
        self._buffer_bytes = buffer_bytes
        self._chunks: list[list[tuple[int, int]]] = [[] for _ in range(BUCKETS)]
        self._snapshot: Path | None = None

    def page(self, records: list[Any], ids: list[Any] | None = None) -> list[Any]:
        """The records of one page whose id is not in the previous snapshot, in order.

        ``ids``: the page's ids when the caller has them (``compile_many(id_key)``).
        """
        if ids is None:
            ids = self.ids(records)
        if None in ids:
            keyed = [(r, k) for r, k in zip(records, ids, strict=True) if k is not None]
            self.without_id += len(records) - len(keyed)
            records, ids = [r for r, _ in keyed], [k for _, k in keyed]
        lines = [canonical(key) for key in ids]
        digests = [blake2b(line, digest_size=DIGEST_SIZE).digest() for line in lines]
        buffers = self._buffers
        for raw, line in zip(digests, lines, strict=True):
            buffers[raw[0]] += raw.hex().encode() + line + b"\n"  # hex sorts as the digest
        self._buffered += sum(map(len, lines)) + len(lines) * (_HEX + 1)
        if self._buffered >= self._buffer_bytes:
            with _disk(f"the id snapshot's temporary file in {self._workdir}"):
                self._flush()
        if self.base is None:
            added = records
        else:
            known = self.base.mark(digests)
            added = [record for record, old in zip(records, known, strict=True) if not old]
        self.added += len(added)
        return added

    def _flush(self) -> None:
        spill = self._spill
        for bucket, data in enumerate(self._buffers):
            if data:
                self._chunks[bucket].append((spill.tell(), len(data)))
                spill.write(data)
                data.clear()
        self._buffered = 0

    def finish(self) -> DeltaSummary:
        """Write this run's snapshot (sorted, each id once); the counts of both deltas."""
        with _disk(f"the id snapshot in {self._workdir}"):
            ids, path = self._write()
        removed = self.base.unseen if self.base is not None else 0
        return DeltaSummary(
            self.added,
            removed,
            ids,
            self.without_id,
            path,
            had_base=self.base is not None,
        )

    def _write(self) -> tuple[int, Path]:
        # Nothing spilled yet (under buffer_bytes of ids): sorted from memory, so a small
        # export writes one file, the snapshot, and no temporary beside it.
        in_memory = not any(self._chunks)
        if not in_memory:
            self._flush()
        fd, name = tempfile.mkstemp(dir=self._workdir, prefix=".snapshot-", suffix=".ids.gz")
        self._snapshot = path = Path(name)
        ids = 0
        with os.fdopen(fd, "wb") as file, open_writer(file) as out:
            out.write(header(self.id_key))
            for bucket, chunks in enumerate(self._chunks):
                found = (
                    bytes(self._buffers[bucket]).split(b"\n")[:-1]
                    if in_memory
                    else self._read_bucket(chunks)
                )
                entries = sorted(set(found))  # each id once
                ids += len(entries)
                if entries:
                    out.write(b"\n".join([entry[_HEX:] for entry in entries]) + b"\n")
            out.close()
            file.flush()
            os.fsync(file.fileno())
        return ids, path

    def _read_bucket(self, chunks: list[tuple[int, int]]) -> list[bytes]:
        data = bytearray()
        for offset, length in chunks:
            self._spill.seek(offset)
            data += self._spill.read(length)
        return bytes(data).split(b"\n")[:-1]

    def removed(self, page_size: int = 1000) -> Iterator[list[Any]]:
        """The ids of the previous snapshot this run did not see, a page at a time
        (in the snapshot's order); call after the last :meth:`page`."""
        if self.base is None:
            return
        page: list[Any] = []
        for line in self.base.unseen_lines():
            page.append(load_id(line))
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def removed_records(self) -> Iterator[list[dict[str, Any]]]:
        """:meth:`removed` as the removed file's records: each id alone at ``id_key``."""
        for ids in self.removed():
            yield [id_record(self.id_key, value) for value in ids]

    def close(self) -> None:
        """Remove the temporary files (this run's snapshot too: store it first)."""
        self._spill.close()
        if self._snapshot is not None:
            self._snapshot.unlink(missing_ok=True)
        if self.base is not None:
            self.base.close()

    def __enter__(self) -> DeltaTracker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def id_record(id_key: str, value: Any) -> dict[str, Any]:
    """A record holding only ``value`` at the dotted path ``id_key``, for the removed file.

    >>> id_record("profile.id", 7)
    {'profile': {'id': 7}}
    """
    record: dict[str, Any] = {}
    node = record
    *parents, leaf = id_key.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value
    return record

"""Records: drop the duplicates that live data produces under page-number paging.

:class:`SeenIds` is the only structure that grows with the export: an
open-addressing table of 64-bit hashes in one ``array``, about 16 bytes per id
instead of ~100 for a ``set`` of strings. Two different ids collide with a
probability near n²/2⁶⁵ (3·10⁻⁸ for a million ids).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.columns import compile_path

_EMPTY = 0


class SeenIds:
    """A set of hashed ids. ``add`` returns True the first time it sees an id."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        size = 1
        while size < capacity:
            size <<= 1
        self._table = array("q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: Any) -> bool:
        return self.add_hash(hash(key) or 1)  # 0 marks an empty slot

    def add_hash(self, h: int) -> bool:
        table, mask = self._table, self._mask
        i = h & mask
        while True:
            slot = table[i]
            if slot == _EMPTY:
                table[i] = h
                self._count += 1
                if self._count * 4 > len(table) * 3:
                    self._grow()
                return True
            if slot == h:
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._table
        size = len(old) * 2
        self._table = array("q", bytes(8 * size))
        self._mask = size - 1
        table, mask = self._table, self._mask
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h


class ShardedSeenIds:
    """:class:`SeenIds` split in 16 by hash, so growing one shard copies 1/16 of the table.

    Keeps the peak of a growth step (old and new table alive together) small.
    """

    def __init__(self, shards: int = 16) -> None:
        self._shards = [SeenIds(256) for _ in range(shards)]
        self._mask = shards - 1

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards)

    def add(self, key: Any) -> bool:
        h = hash(key) or 1
        return self._shards[(h >> 40) & self._mask].add_hash(h)


class Deduplicator:
    """Pass each record once, by ``id_key`` (a dotted path); count what was dropped.

    Records without an id are kept: there is nothing to compare them by.
    """

    def __init__(self, id_key: str) -> None:
        self.seen = ShardedSeenIds()
        self.dropped = 0
        self.without_id = 0
        self._get: Callable[[Any], Any] = compile_path(id_key)

    def filter(self, records: Iterable[Any]) -> Iterator[Any]:
        get, add = self._get, self.seen.add
        for record in records:
            key = get(record)
            if key is None:
                self.without_id += 1
                yield record
            elif add(key if type(key) is str or type(key) is int else repr(key)):
                yield record
            else:
                self.dropped += 1

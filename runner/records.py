"""Records: drop the duplicates that live data produces under page-number paging.

:class:`SeenIds` is the only structure that grows with the export: open-addressing
tables of 64-bit hashes in ``array``s, about 16 bytes per id instead of ~100 for
a ``set`` of strings. Two different ids collide with a probability near n²/2⁶⁵
(3·10⁻⁸ for a million ids). The table is split in shards by hash so that growing
copies one shard, not the whole table: the peak of a growth step stays small.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from runner.columns import compile_many


class SeenIds:
    """A set of hashed ids. ``add`` returns True the first time it sees an id."""

    def __init__(self, shards: int = 16, capacity: int = 256) -> None:
        if shards & (shards - 1) or capacity & (capacity - 1):
            raise ValueError("shards and capacity must be powers of two")
        self._tables = [array("q", bytes(8 * capacity)) for _ in range(shards)]
        self._counts = [0] * shards
        self._shard_mask = shards - 1

    def __len__(self) -> int:
        return sum(self._counts)

    def add(self, key: Any) -> bool:
        h = hash(key) or 1  # 0 marks an empty slot
        shard = (h >> 40) & self._shard_mask
        table = self._tables[shard]
        mask = len(table) - 1
        i = h & mask
        while True:
            slot = table[i]
            if slot == 0:
                table[i] = h
                count = self._counts[shard] = self._counts[shard] + 1
                if count * 4 > len(table) * 3:
                    self._grow(shard)
                return True
            if slot == h:
                return False
            i = (i + 1) & mask

    def _grow(self, shard: int) -> None:
        old = self._tables[shard]
        table = array("q", bytes(16 * len(old)))
        mask = len(table) - 1
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h
        self._tables[shard] = table


class Deduplicator:
    """Pass each record once, by ``id_key`` (a dotted path); count what was dropped.

    Records without an id are kept: there is nothing to compare them by.
    """

    def __init__(self, id_key: str) -> None:
        self.seen = SeenIds()
        self.dropped = 0
        self.without_id = 0
        self._ids = compile_many(id_key)

    def filter(self, records: Sequence[Any]) -> list[Any]:
        """The records of one page whose id has not been seen before, in order."""
        records = list(records)
        ids = self._ids(records)
        add = self.seen.add
        kept = [
            record
            for record, key in zip(records, ids, strict=True)
            if key is None or add(key if type(key) is str or type(key) is int else repr(key))
        ]
        without = sum(1 for key in ids if key is None)
        self.without_id += without
        self.dropped += len(records) - len(kept)
        return kept

"""Records: drop the duplicates that live data produces under page-number paging.

:class:`SeenIds` is the only structure that grows with the export: open-addressing
tables of 64-bit hashes in ``array``s, about 13 bytes per id instead of ~100 for a
``set`` of strings. Two different ids collide with a probability near n²/2⁶⁵
(3·10⁻⁸ for a million ids).
"""

from __future__ import annotations

from array import array
from typing import Any

from runner.columns import compile_many

_ZERO = (0,)


class SeenIds:
    """A set of hashed ids. ``add`` returns True the first time it sees an id.

    The ids are split in shards by hash; each shard is a linear-probing table that
    grows by half when three quarters full, so a growth step copies one shard
    (1/16 of the ids), not all of them. Shard sizes start spread over one growth
    step: the shards fill up at different counts, and memory follows the number
    of ids smoothly instead of doubling at once.
    """

    MAX_LOAD = 0.75
    GROWTH = 1.5

    def __init__(self, shards: int = 16, capacity: int = 256) -> None:
        if shards < 1 or shards & (shards - 1) or capacity < 4:
            raise ValueError("shards must be a power of two and capacity at least 4")
        sizes = [int(capacity * self.GROWTH ** (i / shards)) for i in range(shards)]
        self._tables = [array("q", _ZERO) * size for size in sizes]
        self._limits = [int(size * self.MAX_LOAD) for size in sizes]
        self._counts = [0] * shards
        self._shard_mask = shards - 1

    def __len__(self) -> int:
        return sum(self._counts)

    def add(self, key: Any) -> bool:
        h = hash(key) or 1  # 0 marks an empty slot
        shard = (h >> 40) & self._shard_mask
        table = self._tables[shard]
        size = len(table)
        i = h % size
        while True:
            slot = table[i]
            if slot == 0:
                break
            if slot == h:
                return False
            i += 1
            if i == size:
                i = 0
        table[i] = h
        count = self._counts[shard] = self._counts[shard] + 1
        if count > self._limits[shard]:
            self._grow(shard)
        return True

    def _grow(self, shard: int) -> None:
        old = self._tables[shard]
        size = int(len(old) * self.GROWTH)
        table = array("q", _ZERO) * size  # one allocation (bytes(n) would be a second)
        for h in old:
            if h:
                i = h % size
                while table[i]:
                    i += 1
                    if i == size:
                        i = 0
                table[i] = h
        self._tables[shard] = table
        self._limits[shard] = int(size * self.MAX_LOAD)


class Deduplicator:
    """Pass each record once, by ``id_key`` (a dotted path); count what was dropped.

    Records without an id are kept: there is nothing to compare them by.
    """

    def __init__(self, id_key: str) -> None:
        self.seen = SeenIds()
        self.dropped = 0
        self.without_id = 0
        self._ids = compile_many(id_key)

    def filter(self, records: list[Any]) -> list[Any]:
        """The records of one page whose id has not been seen before, in order."""
        ids = self._ids(records)
        add = self.seen.add
        kept = [
            record
            for record, key in zip(records, ids, strict=True)
            if key is None or add(key if type(key) is str or type(key) is int else repr(key))
        ]
        self.without_id += ids.count(None)
        self.dropped += len(records) - len(kept)
        return kept

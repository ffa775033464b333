"""Records: check the records of a page and drop the duplicates that live data
produces under page-number paging.

Which ids are the same: ids compare by JSON type and value. A string id equals
only the same string, a number only the same number (``1`` and ``1.0`` are one
JSON number), ``true``/``false`` only themselves; a string never equals a number
(``"1"`` and ``1`` are two records), because the API sends each id in one type
and a change of type is a different value. ``null`` or a missing id is no id:
such records are kept and counted. Objects and arrays (unusual as ids) compare
by their JSON text with sorted keys.

How: :class:`SeenIds` stores a 96-bit BLAKE2b digest of each id's type-tagged
bytes (64 bits in an open-addressing table of ``array``s, 32 more beside it),
about 20 bytes per id instead of ~100 for a ``set`` of strings. Nothing about
an id's shape makes two digests equal (Python's ``hash`` maps the integers 0
and 1, -1 and -2, or n and n + 2⁶¹ - 1 to one value); two different ids share
a digest only by chance, with a probability near n²/2⁹⁷: 6·10⁻¹⁸ for a million
ids, far below the rate of undetected memory errors in the machine doing it.
"""

from __future__ import annotations

import json
import struct
from array import array
from hashlib import blake2b
from typing import Any

import orjson

from runner.rows.columns import Many, compile_many

_ZERO = (0,)
_SPLIT = struct.Struct("<qi").unpack_from  # digest -> its first 64 bits and 32 more
_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    type(None): "null",
}


def id_bytes(key: Any) -> bytes:
    """``key`` as bytes that no other JSON value shares.

    A string is its UTF-8 (lone surrogates kept), which never holds the byte 0xFF;
    every other type starts with 0xFF and a letter for its type. Numbers are their
    decimal value (an integral float as the integer it equals).
    """
    kind = type(key)
    if kind is str:
        data: bytes = key.encode("utf-8", "surrogatepass")
        return data
    if kind is int:
        return b"\xffn%d" % key
    if kind is float:
        return b"\xffn%d" % key if key.is_integer() else b"\xffn" + repr(key).encode()
    if kind is bool:
        return b"\xffbtrue" if key else b"\xffbfalse"
    return b"\xffj" + orjson.dumps(key, option=orjson.OPT_SORT_KEYS)


def record_ids(id_key: str) -> Many:
    """The ids of a page's records at ``id_key``, None where a record has none, or has
    an empty string there: an empty email is no one's id (taken as one, every contact
    without an email would be one contact, and all but one of them dropped).

    >>> record_ids("email")([{"email": "a@x"}, {"email": ""}, {}, {"email": 0}])
    ['a@x', None, None, 0]
    """
    many = compile_many(id_key)

    def ids(records: list[Any]) -> list[Any]:
        found = many(records)
        return [None if key == "" else key for key in found] if "" in found else found

    return ids


def content_key(record: Any) -> bytes:
    r"""A record's whole content as bytes that equal records share and no other does:
    canonical JSON (keys sorted), by :func:`json.dumps` where orjson refuses the value
    (an integer past 64 bits, a lone surrogate), escaped to ASCII so it always encodes.

    >>> content_key({"b": 1, "a": [2]}) == content_key({"a": [2], "b": 1})
    True
    >>> content_key({"x": 2**70}) != content_key({"x": 2**70 + 1})
    True
    >>> content_key({"x": chr(0xD800)})
    b'{"x":"\\ud800"}'
    """
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode("ascii")


def id_digest(key: Any) -> tuple[int, int]:
    """96 bits of the BLAKE2b digest of :func:`id_bytes`, as a 64-bit and a 32-bit int."""
    return _SPLIT(blake2b(id_bytes(key)).digest())


class SeenIds:
    """A set of id digests. ``add`` returns True the first time it sees an id.

    The ids are split in shards by digest; each shard is a linear-probing table
    that grows by half when three quarters full, so a growth step copies one shard
    (1/16 of the ids), not all of them. Shard sizes start spread over one growth
    step: the shards fill up at different counts, and memory follows the number
    of ids smoothly instead of doubling at once. The table holds the first 64
    bits of each digest (0 marks an empty slot); ``_rest`` the other 32, compared
    only when the first 64 match.
    """

    MAX_LOAD = 0.75
    GROWTH = 1.5

    def __init__(self, shards: int = 16, capacity: int = 256) -> None:
        if shards < 1 or shards & (shards - 1) or capacity < 4:
            raise ValueError("shards must be a power of two and capacity at least 4")
        sizes = [int(capacity * self.GROWTH ** (i / shards)) for i in range(shards)]
        self._tables = [array("q", _ZERO) * size for size in sizes]
        self._rests = [array("i", _ZERO) * size for size in sizes]
        self._limits = [int(size * self.MAX_LOAD) for size in sizes]
        self._counts = [0] * shards
        self._shard_mask = shards - 1

    def __len__(self) -> int:
        return sum(self._counts)

    def __contains__(self, key: Any) -> bool:
        h, rest = id_digest(key)
        h = h or 1
        shard = (h >> 40) & self._shard_mask
        table, rests = self._tables[shard], self._rests[shard]
        size = len(table)
        i = h % size
        while slot := table[i]:
            if slot == h and rests[i] == rest:
                return True
            i = 0 if i + 1 == size else i + 1
        return False

    def add(self, key: Any) -> bool:
        try:  # the usual id, a string, without a call (keyword arguments cost as much)
            h, rest = _SPLIT(blake2b(key.encode()).digest())
        except (AttributeError, UnicodeEncodeError):  # not a str, or a lone surrogate
            h, rest = id_digest(key)
        h = h or 1  # 0 marks an empty slot; 1 then shares it, with 32 bits still apart
        shard = (h >> 40) & self._shard_mask
        table = self._tables[shard]
        size = len(table)
        i = h % size
        while True:
            slot = table[i]
            if slot == 0:
                break
            if slot == h and self._rests[shard][i] == rest:
                return False
            i += 1
            if i == size:
                i = 0
        table[i] = h
        self._rests[shard][i] = rest
        count = self._counts[shard] = self._counts[shard] + 1
        if count > self._limits[shard]:
            self._grow(shard)
        return True

    def _grow(self, shard: int) -> None:
        old, old_rest = self._tables[shard], self._rests[shard]
        size = int(len(old) * self.GROWTH)
        table = array("q", _ZERO) * size  # one allocation (bytes(n) would be a second)
        rests = array("i", _ZERO) * size
        for j, h in enumerate(old):
            if h:
                i = h % size
                while table[i]:
                    i += 1
                    if i == size:
                        i = 0
                table[i] = h
                rests[i] = old_rest[j]
        self._tables[shard] = table
        self._rests[shard] = rests
        self._limits[shard] = int(size * self.MAX_LOAD)


def first_non_object(records: list[Any]) -> tuple[int, Any] | None:
    """The position (from 1) and value of the first record that is not a JSON object."""
    if set(map(type, records)) <= {dict}:
        return None
    for index, record in enumerate(records, 1):
        if type(record) is not dict:
            return index, record
    return None  # pragma: no cover (a dict subclass)


def json_type(value: Any) -> str:
    """What JSON calls ``value``'s type, with an article: 'a number', 'null'."""
    return _JSON_TYPES.get(type(value), "an object")


class Deduplicator:
    """Pass each record once, by ``id_key`` (a dotted path); count what was dropped.

    A record without an id (see :func:`record_ids`) is compared by its whole content:
    a reader that reads part of a list again (windows, the page-1 check) must not pass
    the same contact twice, and two contacts' records are never byte for byte the same
    (each holds the platform's own ``_id``); a record that changed between two reads
    still passes twice, and is counted in ``without_id`` each time.

    >>> dedupe = Deduplicator("_id")
    >>> dedupe.filter([{"_id": 0}, {"_id": 1}, {"_id": "1"}, {"_id": 1.0}, {"x": 2}])
    [{'_id': 0}, {'_id': 1}, {'_id': '1'}, {'x': 2}]
    >>> dedupe.filter([{"x": 2}, {"x": 3}, {"_id": ""}, {"_id": ""}])
    [{'x': 3}, {'_id': ''}]
    >>> dedupe.dropped, dedupe.without_id
    (3, 5)
    """

    def __init__(self, id_key: str) -> None:
        self.id_key = id_key
        self.seen = SeenIds()
        self.whole = SeenIds()  # records without an id, by their content
        self.dropped = 0
        self.without_id = 0
        self.ids = record_ids(id_key)

    def filter(self, records: list[Any]) -> list[Any]:
        """The records of one page whose id has not been seen before, in order."""
        return self.keep_new(records, self.ids(records))

    def keep_new(self, records: list[Any], ids: list[Any]) -> list[Any]:
        """:meth:`filter` with the page's ids already taken out (``self.ids(records)``)."""
        add, whole = self.seen.add, self._add_whole
        kept = [
            record
            for record, key in zip(records, ids, strict=True)
            if (add(key) if key is not None else whole(record))
        ]
        self.without_id += ids.count(None)
        self.dropped += len(records) - len(kept)
        return kept

    def _add_whole(self, record: Any) -> bool:
        return self.whole.add(content_key(record).decode("utf-8", "surrogatepass"))

"""Records: check the records of a page and drop the duplicates that live data
produces under page-number paging.

Which ids are the same: ids compare by JSON type and value. A string id equals
only the same string, a number only the same number (``1`` and ``1.0`` are one
JSON number), ``true``/``false`` only themselves; a string never equals a number
(``"1"`` and ``1`` are two records), because the API sends each id in one type
and a change of type is a different value. ``null`` or a missing id is no id:
such records are kept and counted. Objects and arrays (unusual as ids) compare
by their JSON text with sorted keys.

How: :class:`SeenIds` stores a 96-bit digest of each id (64 bits in an
open-addressing table of ``array``s, 32 more beside it), about 20 bytes per id
instead of ~100 for a ``set`` of strings. A string id, the usual one, is digested
by the interpreter's hash of its UTF-8 bytes (SipHash under a key drawn at start-up,
so no API can choose ids that meet) and their CRC-32: 0.5 us where BLAKE2b took 1.2.
Any other id by a BLAKE2b digest of its type-tagged bytes: nothing about its shape
makes two digests equal (Python's ``hash`` maps the integers 0 and 1, -1 and -2, or
n and n + 2⁶¹ - 1 to one value). Two different ids share a digest only by chance,
with a probability near n²/2⁹⁷: 6·10⁻¹⁸ for a million ids, far below the rate of
undetected memory errors in the machine doing it.
"""

from __future__ import annotations

import json
import struct
import zlib
from array import array
from collections.abc import Iterable
from hashlib import blake2b
from typing import Any

import orjson

from runner.rows.columns import Many, compile_many

_ZERO = (0,)
_SPLIT = struct.Struct("<qI").unpack_from  # digest -> its first 64 bits and 32 more
_CRC = zlib.crc32
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


def _digest(key: Any) -> tuple[int, int]:
    """The 96 bits :class:`SeenIds` keeps for ``key``: for a string (the usual id), the
    interpreter's hash of its UTF-8 bytes (64 bits of SipHash under a key drawn at
    start-up) and their CRC-32; for any other value :func:`id_digest`. Never 0 in the
    first part (0 marks an empty slot).

    The bytes, not the string: a string's own hash reads how it is stored, and "ab"
    (one byte a character) and U+6261 (two) are stored as the same bytes, so every
    such pair shares it, whatever the key, and the keyless CRC-32 alone, which anyone
    can match, would be left to tell them apart (found by review).

    >>> _digest("ab") != _digest(chr(0x6261)), _digest(chr(0xD800)) == _digest(chr(0xD800))
    (True, True)
    """
    if type(key) is str:
        data = key.encode("utf-8", "surrogatepass")  # a lone surrogate: bytes no text has
        return hash(data) or 1, _CRC(data)
    h, rest = id_digest(key)
    return h or 1, rest


class SeenIds:
    """A set of id digests (:func:`_digest`). ``add`` returns True the first time it
    sees an id; ``add_many`` does so for a page's ids at once.

    The ids are split in shards by digest; each shard is a linear-probing table.
    A small shard grows four times over when three quarters full (a 100,000-id export
    copies its ids three times, not nine), one past ``SMALL`` slots by half, so a
    growth step copies one shard (1/16 of the ids), not all of them. Shard sizes start
    spread over one growth step: the shards fill up at different counts, and memory
    follows the number of ids smoothly instead of doubling at once. The table holds the
    first 64 bits of each digest (0 marks an empty slot); ``_rests`` the other 32,
    compared only when the first 64 match.
    """

    MAX_LOAD = 0.75
    GROWTH = 1.5
    SMALL = 1 << 14  # slots of a shard (192 KiB) up to which it grows x4

    def __init__(self, shards: int = 16, capacity: int = 256) -> None:
        if shards < 1 or shards & (shards - 1) or capacity < 4:
            raise ValueError("shards must be a power of two and capacity at least 4")
        sizes = [int(capacity * self.GROWTH ** (i / shards)) for i in range(shards)]
        self._tables = [array("q", _ZERO) * size for size in sizes]
        self._rests = [array("I", _ZERO) * size for size in sizes]
        self._limits = [int(size * self.MAX_LOAD) for size in sizes]
        self._counts = [0] * shards
        self._shard_mask = shards - 1

    def __len__(self) -> int:
        return sum(self._counts)

    def __contains__(self, key: Any) -> bool:
        h, rest = _digest(key)
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
        return self.add_many((key,))[0]

    def add_many(self, keys: Iterable[Any]) -> list[bool]:
        """:meth:`add` for each of ``keys``, in order: whether it is new. One call a page,
        the tables' parts looked up once, and a string's digest without a call."""
        tables, rests, counts, limits = self._tables, self._rests, self._counts, self._limits
        mask, crc = self._shard_mask, _CRC
        new: list[bool] = []
        for key in keys:
            try:  # the usual id, a string, inline (a call costs as much as the digest)
                data = key.encode()
                h, rest = hash(data) or 1, crc(data)
            except (AttributeError, UnicodeEncodeError):  # not a str, or a lone surrogate
                h, rest = _digest(key)
            shard = (h >> 40) & mask
            table, rest_of = tables[shard], rests[shard]
            size = len(table)
            i = h % size
            while slot := table[i]:
                if slot == h and rest_of[i] == rest:
                    new.append(False)
                    break
                i = 0 if i + 1 == size else i + 1
            else:
                table[i] = h
                rest_of[i] = rest
                count = counts[shard] = counts[shard] + 1
                if count > limits[shard]:
                    self._grow(shard)
                new.append(True)
        return new

    def _grow(self, shard: int) -> None:
        old, old_rest = self._tables[shard], self._rests[shard]
        size = len(old) * 4 if len(old) < self.SMALL else int(len(old) * self.GROWTH)
        table = array("q", _ZERO) * size  # one allocation (bytes(n) would be a second)
        rests = array("I", _ZERO) * size
        for h, rest in zip(old, old_rest, strict=True):
            if h:
                i = h % size
                while table[i]:
                    i = 0 if i + 1 == size else i + 1
                table[i] = h
                rests[i] = rest
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
        if None in ids:
            add, whole = self.seen.add, self._add_whole
            kept = [
                record
                for record, key in zip(records, ids, strict=True)
                if (add(key) if key is not None else whole(record))
            ]
            self.without_id += ids.count(None)
        else:
            new = self.seen.add_many(ids)
            kept = [record for record, is_new in zip(records, new, strict=True) if is_new]
        self.dropped += len(records) - len(kept)
        return kept

    def _add_whole(self, record: Any) -> bool:
        return self.whole.add(content_key(record).decode("utf-8", "surrogatepass"))

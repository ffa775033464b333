"""The account's saved segments, as ``GET /inbox/segments`` serves them.

The contacts' ``segments`` field holds the ids of the first four (``SEGMENT_IDS``), so
filtering ``/inbox/users`` by an id a name resolves to gives that segment's contacts.
The others are kinds a client must handle: a saved segment nobody is in yet, a name
two saved segments share (only its id tells them apart), a name with a colon, and
names in other scripts.
"""

from __future__ import annotations

from typing import Any

import orjson

from runner.sandbox.data import SEGMENT_IDS

EXTRA_IDS = [f"66b0c1d2e3f4a5b6c7d8e9{i:02x}" for i in range(4, 9)]
NAMES = [
    "VIP list",
    "Newsletter subscribers",
    "Churn risk",
    "Black Friday 2025",
    "Churn risk",  # a second one, made later: the name alone cannot say which
    "Q4: lapsed buyers",
    "Clientes São Paulo",
    "高价值客户",
    "Empty for now",
]
SAVED: list[dict[str, Any]] = [
    {
        "_id": segment_id,
        "segmentName": name,
        "_customer": "65f0e1d2c3b4a5968778695a",
        "createdAt": f"2026-0{1 + i % 9}-0{1 + i % 9}T09:00:00.000Z",
        "__v": 0,
    }
    for i, (segment_id, name) in enumerate(zip([*SEGMENT_IDS, *EXTRA_IDS], NAMES, strict=True))
]
PATH = "/inbox/segments"


def segments_reply() -> bytes:
    """The reply to ``GET /inbox/segments``: every saved segment, in the usual envelope."""
    return orjson.dumps(
        {"success": True, "message": "Segments fetched successfully", "data": SAVED, "code": 200}
    )

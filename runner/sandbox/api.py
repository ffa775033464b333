"""Request checks and filter semantics of the sandbox: our reading of the real API.

Semantics (also in the README):

- ``searchText``: case-insensitive substring of name, user-provided name, email or phone.
- Array filters (``tags``, ``status``, ``_bot*``, ``_agentAssigned``, ``segments``,
  ``lastMessageBy``): applied when non-empty; a contact matches any listed value.
  The ``_bot*`` lists together name the bots a contact may belong to.
- Toggles (``isOnline``, ``userInteracted``, ``isLiveChatActive``, ``isSubscriber``) and
  ranges (``lastSeenAt``, ``createdAt``, inclusive bounds, each optional) apply only when
  named in ``applicableFilters``. ``hasOrdered`` there: ``status: true`` keeps contacts
  who ordered (at or after ``lastAt`` when given); ``status: false`` keeps contacts who
  never ordered (or whose last order is before ``lastAt`` when given).
- ``isContact: true`` keeps contacts only; ``false`` keeps every chat user.
- ``tagsV2``, ``ctwaNewUsers``, ``ctwaOldUsers``: accepted, not applied.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from collections.abc import Callable, Sequence
from typing import Any

from runner.sandbox.data import BOT_FIELDS, Facts, api_time

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "searchText": str,
    "tags": list,
    "status": list,
    "isOnline": bool,
    "_botWebsite": list,
    "_botWhatsapp": list,
    "_botTelegram": list,
    "_botFacebook": list,
    "_agentAssigned": list,
    "segments": list,
    "applicableFilters": list,
    "lastSeenAt": dict,
    "createdAt": dict,
    "userInteracted": bool,
    "lastMessageBy": list,
    "isLiveChatActive": bool,
    "hasOrdered": dict,
    "page": int,
    "isExport": str,
    "isContact": bool,
}
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "_botAutomation": list,
    "tagsV2": list,
    "isSubscriber": bool,
    "ctwaNewUsers": bool,
    "ctwaOldUsers": bool,
}
_JS = {str: "String", list: "Array", bool: "Boolean", int: "Number", dict: "Object"}


class BadRequest(Exception):
    """Becomes a 400 envelope with this message."""


def _date(value: Any, path: str) -> str:
    """Normalise a bound to the platform's own format so strings compare in time order."""
    if value in ("", None):
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            f'Cast to date failed for value "{value}" (type string) at path "{path}"'
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return api_time(moment)


def check_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    for key in REQUIRED:
        if key not in body:
            raise BadRequest(f"Missing required field: {key}")
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        if key not in body:
            continue
        value = body[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            name = _JS.get(kind if isinstance(kind, type) else str, "value")
            kind_name = type(value).__name__
            raise BadRequest(
                f'Cast to {name} failed for value "{value}" (type {kind_name}) at path "{key}"'
            )
    if body["page"] < 1:
        raise BadRequest(f"page must be 1 or more, got {body['page']}")
    for rng in ("lastSeenAt", "createdAt"):
        for end in ("startAt", "endsAt"):
            _date(body[rng].get(end, ""), f"{rng}.{end}")
    _date(body["hasOrdered"].get("lastAt", ""), "hasOrdered.lastAt")
    return body


Predicate = Callable[[Facts], bool]


# Body field -> Facts attribute, by how the field matches.
ONE_OF = {"status": "status", "_agentAssigned": "agent", "lastMessageBy": "last_by"}
OVERLAPS = {"tags": "tags", "segments": "segments"}
TOGGLES = {
    "isOnline": "is_online",
    "userInteracted": "user_interacted",
    "isLiveChatActive": "is_live_chat_active",
    "isSubscriber": "is_subscriber",
}
RANGES = {"lastSeenAt": "last_seen_at", "createdAt": "created_at"}


def compile_filter(body: dict[str, Any]) -> Predicate:
    """Turn a checked body into one predicate over :class:`Facts`."""
    tests: list[Predicate] = []
    applicable = set(body.get("applicableFilters", []))
    text = body["searchText"].strip().lower()
    if text:
        tests.append(lambda f: text in f.search)
    for key, attr in ONE_OF.items():
        if body[key]:
            tests.append(_one_of(attr, set(body[key])))
    for key, attr in OVERLAPS.items():
        if body[key]:
            tests.append(_overlaps(attr, set(body[key])))
    bots = {(platform, bot) for key, platform in BOT_FIELDS.items() for bot in body[key]}
    automation = set(body.get("_botAutomation", []))
    if bots or automation:
        tests.append(lambda f: (f.platform, f.bot) in bots or f.bot in automation)
    if body["isContact"]:
        tests.append(lambda f: f.is_contact)
    for name, attr in TOGGLES.items():
        if name in applicable:
            tests.append(_one_of(attr, {bool(body.get(name, False))}))
    for name, attr in RANGES.items():
        if name in applicable:
            lo = _date(body[name].get("startAt", ""), name)
            hi = _date(body[name].get("endsAt", ""), name)
            if lo:
                tests.append(_compare(attr, operator.ge, lo))
            if hi:
                tests.append(_compare(attr, operator.le, hi))
    if "hasOrdered" in applicable:
        want = bool(body["hasOrdered"].get("status", False))
        since = _date(body["hasOrdered"].get("lastAt", ""), "hasOrdered.lastAt")
        if want:
            tests.append(lambda f: f.ordered and (not since or f.ordered_at >= since))
        else:
            tests.append(lambda f: not f.ordered or bool(since and f.ordered_at < since))
    return lambda f: all(t(f) for t in tests)


def created_rows(facts: Sequence[Facts], body: dict[str, Any], dated: range) -> range:
    """Where ``facts`` (newest ``createdAt`` first in the rows ``dated``; contacts without
    one before or after them) can match ``body``'s createdAt range, found by bisection as
    a database's index would: a window of a large list costs what its own contacts
    cost. Every row when the range does not apply; none without a createdAt when it does."""
    if "createdAt" not in body.get("applicableFilters", []):
        return range(len(facts))
    lo = _date(body["createdAt"].get("startAt", ""), "createdAt")
    hi = _date(body["createdAt"].get("endsAt", ""), "createdAt")
    start, stop = dated.start, dated.stop
    first = bisect.bisect_left(facts, True, start, stop, key=lambda f: f.created_at <= hi)
    last = bisect.bisect_left(facts, True, start, stop, key=lambda f: f.created_at < lo)
    first, last = (first if hi else start), (last if lo else stop)
    return range(first, max(first, last))


def _one_of(attr: str, wanted: set[Any]) -> Predicate:
    return lambda f: getattr(f, attr) in wanted


def _compare(attr: str, op: Callable[[str, str], bool], bound: str) -> Predicate:
    # Dates are all in the platform's own format, so strings compare in time order; a
    # contact without the date ("") is in no range, as a database's range query skips it.
    return lambda f: bool(getattr(f, attr)) and op(getattr(f, attr), bound)


def _overlaps(attr: str, wanted: set[Any]) -> Predicate:
    return lambda f: not wanted.isdisjoint(getattr(f, attr))

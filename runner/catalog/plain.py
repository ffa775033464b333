"""A rendered request body in plain English, for people who do not read JSON.

:func:`describe` turns the complete body of page 1 (what ``segments render`` prints)
into clauses, one per filter the API applies; :func:`filter_text` joins them into
one sentence. Dates are told relative to the run (the instant the body was
rendered for), so "the 7 days before the run" reads the same every night. A
toggle or a range that ``applicableFilters`` does not name is said to be ignored,
as the API ignores it, and a field this module does not know is named with its
value, never dropped.

>>> import datetime as dt
>>> run = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
>>> filter_text({"tags": ["vip"], "applicableFilters": ["lastSeenAt"], "lastSeenAt": {
...     "startAt": "2026-11-18T00:00:00.000Z", "endsAt": "2026-11-25T00:00:00.000Z"}}, run)
'Contacts tagged vip, last seen in the 7 days before the run.'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

# Set by the runner on every page, never by a segment: nothing to tell.
HOUR, ZERO = dt.timedelta(hours=1), dt.timedelta(0)
RUNNER_FIELDS = frozenset({"page", "isExport"})
STATUS_WORDS = {
    "OPEN": "open",
    "INPROGRESS": "in progress",
    "REVIEW": "in review",
    "ONHOLD": "on hold",
    "DEPENDANCY": "waiting on a dependency",
    "CLOSED": "closed",
}
CHANNELS = {
    "_botWebsite": "Website",
    "_botWhatsapp": "WhatsApp",
    "_botTelegram": "Telegram",
    "_botFacebook": "Facebook",
    "_botAutomation": "automation",
}
# Each boolean toggle: what true means, what false means.
TOGGLES = {
    "isOnline": ("online now", "offline now"),
    "userInteracted": ("who have interacted", "who have never interacted"),
    "isLiveChatActive": ("in an active live chat", "not in an active live chat"),
    "isSubscriber": ("subscribed", "not subscribed"),
    "ctwaNewUsers": ("new from click-to-WhatsApp ads", "not new from click-to-WhatsApp ads"),
    "ctwaOldUsers": (
        "returning from click-to-WhatsApp ads",
        "not returning from click-to-WhatsApp ads",
    ),
}
RANGES = {"lastSeenAt": "last seen", "createdAt": "created"}
LISTS = ("searchText", "tags", "tagsV2", "status", "_agentAssigned", "segments", "lastMessageBy")
KNOWN = frozenset(
    {*RUNNER_FIELDS, *CHANNELS, *TOGGLES, *RANGES, *LISTS}
    | {"hasOrdered", "applicableFilters", "isContact"}
)


def filter_text(body: Mapping[str, Any], run: dt.datetime | None = None) -> str:
    """The whole filter as one sentence (see the module's example)."""
    return sentence(describe(body, run))


def sentence(clauses: Sequence[str]) -> str:
    """The clauses of :func:`describe` as one sentence: who, then the filters."""
    who, *rest = clauses
    return " ".join([who, ", ".join(rest)]).strip() + "." if rest else who + "."


def describe(body: Mapping[str, Any], run: dt.datetime | None = None) -> list[str]:
    """The clauses: who (contacts or every chat user), then each filter applied, then what
    is ignored or unknown. ``run``: the instant the body was rendered for (its ``now``);
    None tells dates as they are."""
    who = (
        "Contacts" if body.get("isContact", True) is not False else "Chat users (not only contacts)"
    )
    applied = _applied(body)
    clauses = [who, *_lists(body), *_channels(body)]
    clauses += _toggles(body, applied)
    clauses += [
        _range(body.get(name), word, run) for name, word in RANGES.items() if name in applied
    ]
    if "hasOrdered" in applied:
        clauses.append(_ordered(body.get("hasOrdered"), run))
    clauses += _ignored(body, applied)
    clauses += [
        f"unknown field {name} = {_shown(body[name])} (sent as written)"
        for name in sorted(set(body) - KNOWN)
    ]
    return clauses


def _applied(body: Mapping[str, Any]) -> list[str]:
    named = body.get("applicableFilters", ["userInteracted"])
    return [str(n) for n in named] if isinstance(named, list) else []


def _lists(body: Mapping[str, Any]) -> list[str]:
    out = []
    if body.get("searchText"):
        out.append(f"matching {_shown(body['searchText'])} in name, email or phone")
    if body.get("tags"):
        out.append(f"tagged {_any(body['tags'])}")
    if body.get("tagsV2"):
        out.append(f"with tagsV2 {_any(body['tagsV2'])}")
    if body.get("status"):
        words = [STATUS_WORDS.get(str(s), f"status {_shown(s)}") for s in body["status"]]
        out.append(f"whose chat is {_any(words)}")
    if body.get("_agentAssigned"):
        out.append(f"assigned to agent {_any(body['_agentAssigned'])}")
    if body.get("segments"):
        out.append(f"in platform segment {_any(body['segments'])}")
    if body.get("lastMessageBy"):
        who = [
            {"user": "the contact", "bot": "a bot"}.get(str(b), f"agent {b}")
            for b in body["lastMessageBy"]
        ]
        out.append(f"whose last message came from {_any(who)}")
    return out


def _channels(body: Mapping[str, Any]) -> list[str]:
    bots = [
        f"{channel} bot {_any(body[field])}"
        for field, channel in CHANNELS.items()
        if isinstance(body.get(field), list) and body[field]
    ]
    return [f"on {_any(bots)}"] if bots else []


def _toggles(body: Mapping[str, Any], applied: Sequence[str]) -> list[str]:
    return [TOGGLES[name][0 if body.get(name) else 1] for name in TOGGLES if name in applied]


def _ignored(body: Mapping[str, Any], applied: Sequence[str]) -> list[str]:
    """Filters set that the API will not apply, and names it would not understand."""
    out = []
    for name in RANGES:
        rng = body.get(name)
        if name not in applied and isinstance(rng, Mapping) and any(rng.values()):
            out.append(f"the {name} range is ignored (applicableFilters does not name it)")
    unknown = [n for n in applied if n not in TOGGLES and n not in RANGES and n != "hasOrdered"]
    out += [
        f"applicableFilters names {_shown(n)}, which this catalog does not know" for n in unknown
    ]
    return out


def _range(rng: Any, word: str, run: dt.datetime | None) -> str:
    if not isinstance(rng, Mapping):
        return f"{word} in {_shown(rng)}"
    start, end = _instant(rng.get("startAt")), _instant(rng.get("endsAt"))
    if start is None and end is None:
        return f"{word} at any time (the range is empty)"
    whole_hours = (
        run is not None and start is not None and start < run and (run - start) % HOUR == ZERO
    )
    if start is not None and end is not None and run is not None and end == run and whole_hours:
        span = _duration(run - start)
        one = span.startswith("1 ") and " " not in span[2:]  # "the day", not "the 1 day"
        return f"{word} in the {span[2:] if one else span} before the run"
    if start is not None and end is not None:
        return f"{word} from {_when(start, run)} to {_when(end, run)}"
    if start is not None:
        return f"{word} since {_when(start, run)}"
    assert end is not None
    return f"{word} until {_when(end, run)}"


def _ordered(value: Any, run: dt.datetime | None) -> str:
    if not isinstance(value, Mapping):
        return f"hasOrdered {_shown(value)}"
    said = "who have ordered" if value.get("status") else "who have not ordered"
    last = _instant(value.get("lastAt"))
    return f"{said} (hasOrdered.lastAt {_when(last, run)})" if last else said


def _instant(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _when(moment: dt.datetime, run: dt.datetime | None) -> str:
    """An instant relative to the run, with the date when the offset is not whole days
    (``start_of('day')`` is a date; ``minus(days=7)`` is a distance from the run)."""
    shown = moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if run is None:
        return shown
    offset = moment - run
    if not offset:
        return "the run"
    side = "after" if offset > dt.timedelta(0) else "before"
    relative = f"{_duration(abs(offset))} {side} the run"
    whole_days = abs(offset) % dt.timedelta(days=1) == dt.timedelta(0)
    return relative if whole_days else f"{shown} ({relative})"


def _duration(span: dt.timedelta) -> str:
    """``7 days``, ``1 day 12 hours``, ``9 hours 30 minutes``: exact, in words."""
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = zip((days, hours, minutes, seconds), ("day", "hour", "minute", "second"), strict=True)
    return " ".join(_count(n, unit) for n, unit in parts if n) or "0 seconds"


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _any(items: Sequence[Any]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."

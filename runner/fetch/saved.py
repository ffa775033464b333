"""The account's saved segments by name: ``GET /inbox/segments`` (``_id``, ``segmentName``).

Read once per command, and only when a selected segment names one
(``filter.segments: ["name:VIP list"]``, :mod:`runner.spec.saved`). The reply is
judged by the same rules as a page of ``/inbox/users`` (:mod:`runner.fetch.reply`:
the envelope ``{success, message, code, data}``, 429 and 5xx tried again within
``api.retry``, 401/403 the token) through the same retry loop. No paging is
documented for this list: it is read as one reply (*inferred*); a saved segment
missing from it is an unknown name, never a wrong audience.

:func:`resolve_all` puts the ids in each segment's body (``Segment.resolved`` keeps
the names they came from, for ``render``), or gives the problems at the ``name:``
items' ``file:line:col``: a name no saved segment has (with the nearest), one that
two share, one whose ``_id`` is not a 24-hex id (checked like an id typed in the
file: the listing is not trusted to hold only ids the API accepts), or a list that
could not be read.

For example (not run: it needs a server or a project)::

    lookup = SavedSegments(api, os.environ)
    lookup()["VIP list"]
    # -> ('66b0c1d2e3f4a5b6c7d8e900',)
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from runner.errors import PagingError, RunnerError
from runner.fetch.fetcher import USER_AGENT, token_from_env
from runner.fetch.paging import PageRequest
from runner.fetch.redact import Redactor
from runner.fetch.reply import Replies
from runner.fetch.retry import InFlight, Tries
from runner.fetch.transport import Response, Transport, UrllibTransport
from runner.problems import Problem
from runner.spec.project import ApiSettings
from runner.spec.saved import ByName
from runner.spec.schema import FILTER_SCHEMA, validator
from runner.spec.segment import Segment

PATH = "/inbox/segments"
SHOWN = 12  # saved segments listed in a message at most


class _GetTransport(UrllibTransport):
    """The urllib3 transport asking with GET and no body."""

    method = "GET"

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        with super().post(label, b"", deadline) as response:
            yield response


@dataclasses.dataclass(frozen=True)
class _ListRequest(PageRequest):
    @property
    def label(self) -> str:
        return f"GET {PATH}"


class SavedSegments:
    """Call it for the account's saved segments by name; the first call asks the API
    (RunnerError if it cannot: the token, the network, a reply that says failure), later
    calls give the same answer. ``transport`` replaces the HTTP client."""

    def __init__(
        self, api: ApiSettings, env: Mapping[str, str], transport: Transport | None = None
    ) -> None:
        self.api = dataclasses.replace(api, path=PATH)
        self.env = env
        self.transport = transport
        self._found: dict[str, tuple[object, ...]] | None = None

    def __call__(self) -> ByName:
        if self._found is None:
            self._found = by_name(self._ask())
        return self._found

    def _ask(self) -> list[Any]:
        token = token_from_env(self.api, self.env)
        headers = {
            **self.api.headers,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        transport = self.transport or _GetTransport(self.api, headers, 1)
        in_flight = InFlight(1)
        wanted = "a list of saved segments (objects with _id and segmentName)"
        replies = Replies(self.api, Redactor(token), in_flight.slow_down, wanted)
        try:
            return Tries(self.api, transport, replies, in_flight).fetch(_ListRequest(1, {}))
        finally:
            transport.close()


def by_name(records: Sequence[Any]) -> dict[str, tuple[object, ...]]:
    """Saved segments by ``segmentName``: the ``_id`` of each name as listed (two when two
    share it; None when it has none), judged when a name is used (:func:`resolve`). A
    record without a text ``segmentName`` cannot be named: it is left out, but a listing
    where none can be named is a failure that says what it held, not an empty account.

    >>> by_name([{"_id": "a", "segmentName": "VIP"}, {"_id": 7, "segmentName": "VIP"}, 1])
    {'VIP': ('a', 7)}
    """
    found: dict[str, tuple[object, ...]] = {}
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("segmentName"), str):
            continue
        name, ident = record["segmentName"], record.get("_id")
        if ident not in found.get(name, ()):
            found[name] = (*found.get(name, ()), ident)
    if records and not found:
        raise PagingError(f"GET {PATH}: {_held(records)}")
    return found


def _held(records: Sequence[Any]) -> str:
    """What a listing with no named saved segment held, for the message."""
    kinds = sorted({type(r).__name__ for r in records if not isinstance(r, dict)})
    keys = sorted({str(k) for r in records if isinstance(r, dict) for k in r})
    parts = [f"objects with keys {', '.join(keys)[:200]}" if keys else ""]
    parts += [f"{', '.join(kinds)} values" if kinds else ""]
    return (
        f"the listing held {len(records)} {'entry' if len(records) == 1 else 'entries'} "
        f"({'; '.join(filter(None, parts))}), "
        "none with a text segmentName"
    )


def resolve_names(
    segments: Sequence[Segment], api: ApiSettings, env: Mapping[str, str]
) -> tuple[list[Segment], list[Problem]]:
    """The segments with their ``name:`` items resolved (one request for all of them, none
    when no segment names a saved segment), and the problems of those left out."""
    return resolve_all(segments, SavedSegments(api, env))


def resolve_all(
    segments: Sequence[Segment], lookup: Callable[[], ByName]
) -> tuple[list[Segment], list[Problem]]:
    """Each segment with its names resolved, and the problems of those that could not be.

    ``lookup`` is called once, and only when a segment names a saved segment; a
    :class:`~runner.errors.RunnerError` it raises is a problem at every ``name:`` item.
    """
    ready: list[Segment] = []
    problems: list[Problem] = []
    saved: ByName | None = None
    failure = ""
    for seg in segments:
        if not seg.saved_names:
            ready.append(seg)
            continue
        if saved is None and not failure:
            try:
                saved = lookup()
            except RunnerError as exc:
                failure = str(exc)
        if saved is None:
            reason = f"cannot be resolved: {failure}"
            problems += [ref.problem(seg.file, reason) for ref in seg.saved_names]
            continue
        found, wrong = resolve(seg, saved)
        problems += wrong
        if not wrong:
            ready.append(found)
    return ready, problems


def resolve(seg: Segment, saved: ByName) -> tuple[Segment, list[Problem]]:
    """``seg`` with each ``name:`` replaced by its saved segment's id (an id listed twice
    is sent once), or the problems: a name no saved segment has, or two have."""
    ids: list[Any] = list(seg.body["segments"])
    problems: list[Problem] = []
    came_from: list[tuple[str, str]] = []
    for ref in seg.saved_names:
        found = list(saved.get(ref.name, ()))
        if len(found) == 1 and not validator(FILTER_SCHEMA, "/$defs/objectId").is_valid(found[0]):
            problems.append(ref.problem(seg.file, _not_an_id(found[0])))
        elif len(found) == 1:
            ids[ref.index] = found[0]
            came_from.append((ref.name, str(found[0])))
        elif found:
            problems.append(ref.problem(seg.file, _shared(found)))
        else:
            problems.append(ref.problem(seg.file, _unknown(ref.name, sorted(saved))))
    if problems:
        return seg, problems
    unique = list(dict.fromkeys(ids))
    return dataclasses.replace(
        seg,
        body={**seg.body, "segments": unique},
        filter={**seg.filter, "segments": unique},
        saved_names=(),
        resolved=tuple(came_from),
    ), []


def _unknown(name: str, names: list[str]) -> str:
    if not names:
        return "names no saved Flowmatix segment: the account has none (GET /inbox/segments)"
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    close += [n for n in names if n.casefold() == name.casefold() and n not in close]
    hint = f" (did you mean {_either(close)}?)" if close else ""
    shown = ", ".join(repr(n) for n in names[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"names no saved Flowmatix segment{hint}; the account's: {shown}{more}"


def _not_an_id(ident: object) -> str:
    listed = "no _id" if ident is None else f"_id {json.dumps(ident, ensure_ascii=False)[:80]}"
    return (
        f"names a saved Flowmatix segment listed with {listed} (GET /inbox/segments), "
        "expected a 24-hex platform segment id: it is not sent"
    )


def _shared(ids: list[object]) -> str:
    return (
        f"names {len(ids)} saved Flowmatix segments ({', '.join(map(str, ids))}): "
        "write the one you mean as its id"
    )


def _either(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]

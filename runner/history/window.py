"""Incremental mode: which ``createdAt`` range a run asks for.

Run *k* covers the half-open interval ``[W, A)``: ``W`` is the watermark (the
as-of of the last incremental run that published), ``A`` this run's as-of,
both cut to the millisecond, the API's precision. The API's bounds are
inclusive (the sandbox's reading, docs/flowmatix-api.md), so the request says
``startAt: W``, ``endsAt: A - 1 ms``. The next run starts at ``A`` exactly, so
runs laid end to end cover every millisecond once: no gap, no duplicate at the
boundary. A contact created during a run has ``createdAt >= A`` and is left for
the next run. A run that fails or is guarded records no watermark, so the next
run asks for the same range again, and more.

The first run (no watermark) starts where the segment's own range starts (the
whole past when it has none), or at ``--since``. The window is intersected
with the segment's own ``createdAt`` range when ``applicableFilters`` names it;
an empty intersection is an empty window (nothing to ask; the watermark still
moves).

A run at the as-of of the last published run repeats that run's window
(:func:`next_window`): a re-run (a CI retry) asks for the same contacts and, if
they have not changed, writes the same dated file byte for byte.

>>> w = incremental_window("2026-11-25T00:00:00Z", "2026-11-24T00:00:00.000Z", {})
>>> w.created_at
{'startAt': '2026-11-24T00:00:00.000Z', 'endsAt': '2026-11-24T23:59:59.999Z'}
>>> w.watermark
'2026-11-25T00:00:00.000Z'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import UsageError
from runner.history.record import RunRecord, parse_time, utc_text

MS = dt.timedelta(milliseconds=1)
RANGE = "createdAt"


def floor_ms(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Window:
    """Inclusive ``createdAt`` bounds (``start`` None: from the beginning) and the
    watermark to record when this run publishes."""

    start: dt.datetime | None
    end: dt.datetime
    watermark: str

    @property
    def empty(self) -> bool:
        return self.start is not None and self.start > self.end

    @property
    def created_at(self) -> dict[str, str]:
        start = "" if self.start is None else utc_text(self.start)
        return {"startAt": start, "endsAt": utc_text(self.end)}

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` asking for this window's contacts only."""
        filters = list(body.get("applicableFilters", []))
        if RANGE not in filters:
            filters.append(RANGE)
        return {**body, RANGE: self.created_at, "applicableFilters": filters}


def _instant(value: str | dt.datetime, what: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise UsageError(f"{what} {value.isoformat()} has no time zone")
        return floor_ms(value)
    try:
        return floor_ms(parse_time(value))
    except ValueError as exc:
        raise UsageError(f"{what} {value!r} is not an ISO-8601 instant: {exc}") from None


def _own_range(body: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The segment's own inclusive createdAt bounds, when it applies them."""
    if RANGE not in body.get("applicableFilters", []):
        return None, None
    own = body.get(RANGE) or {}
    start, end = own.get("startAt") or "", own.get("endsAt") or ""
    return (
        _instant(start, f"filter.{RANGE}.startAt") if start else None,
        _instant(end, f"filter.{RANGE}.endsAt") if end else None,
    )


def incremental_window(
    as_of: str | dt.datetime,
    watermark: str | None,
    body: Mapping[str, Any],
    since: str | dt.datetime | None = None,
) -> Window:
    """The window of a run at ``as_of`` after ``watermark`` (None: the first run).

    UsageError when ``since`` is given after the first run (the watermark decides),
    or when ``as_of``/``since`` lie before where the runs have reached.
    """
    now = _instant(as_of, "--as-of")
    start: dt.datetime | None = None
    if watermark is not None:
        if since is not None:
            raise UsageError(
                f"--since applies only to the first incremental run; this segment "
                f"continues from its watermark {watermark}"
            )
        start = _instant(watermark, "the watermark")
        if start > now:
            raise UsageError(
                f"--as-of {utc_text(now)} is before the watermark {watermark} of the last "
                "incremental run: those contacts were exported already"
            )
    elif since is not None:
        start = _instant(since, "--since")
        if start >= now:
            raise UsageError(f"--since {utc_text(start)} is not before the as-of {utc_text(now)}")
    own_start, own_end = _own_range(body)
    if own_start is not None and (start is None or own_start > start):
        start = own_start
    end = now - MS
    if own_end is not None and own_end < end:
        end = own_end
    return Window(start, end, utc_text(now))


def next_window(
    as_of: str | dt.datetime,
    last: RunRecord | None,
    body: Mapping[str, Any],
    since: str | dt.datetime | None = None,
) -> Window:
    """The window of a run at ``as_of`` after ``last``, the newest published incremental
    run (None: this is the first). At ``last``'s own as-of it is ``last``'s window again
    (``--since`` then only if it is where that window started)."""
    now = _instant(as_of, "--as-of")
    if last is None or last.watermark is None or _instant(last.watermark, "") != now:
        return incremental_window(now, last.watermark if last else None, body, since)
    start = _instant(last.window_start, "the window start") if last.window_start else None
    if since is not None and (start is None or _instant(since, "--since") != start):
        raise UsageError(
            f"--since applies only to the first incremental run; the run at {last.watermark} "
            f"started at {last.window_start or 'the beginning'} and this one repeats it"
        )
    end = _instant(last.window_end, "the window end") if last.window_end else now - MS
    return Window(start, end, last.watermark)

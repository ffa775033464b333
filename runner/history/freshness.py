"""Freshness: is a segment's last published export recent enough?

``expect.fresh_within: 26h`` (units ``m``, ``h``, ``d``) bounds the age of the last
*successful* run: a scheduled export that stops, or fails night after night,
turns the segment ``stale`` once that age passes the bound, whatever the later
failures were. A segment never published is ``never``; one whose history cannot be read
``unknown`` (not fresh either). Without the key any published run is ``fresh``:
nothing says how old is too old.

>>> parse_within("26h")
datetime.timedelta(days=1, seconds=7200)
>>> from runner.history.record import new_run_id
>>> rec = RunRecord(run_id=new_run_id("2026-11-25T00:00:00Z"), segment="vip",
...                 status=RunStatus.SUCCESS, ended="2026-11-25T00:00:00.000Z", rows=3)
>>> judge(rec, "26h", dt.datetime(2026, 11, 26, 3, tzinfo=dt.UTC)).state
<Freshness.STALE: 'stale'>
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from runner.errors import HistoryError
from runner.history.record import RunRecord, RunStatus, parse_time

__all__ = [
    "Freshness",
    "Judgement",
    "SegmentFreshness",
    "age_text",
    "judge",
    "parse_within",
    "unreadable",
]

_WITHIN = re.compile(r"^\s*([0-9]+)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class Freshness(enum.StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    NEVER = "never"
    UNKNOWN = "unknown"  # the history could not be read


def parse_within(text: str) -> dt.timedelta:
    """``26h`` as a duration; ValueError naming the units for anything else."""
    match = _WITHIN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: a whole number then m, h or d (26h)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Judgement:
    """A segment's freshness at ``now``: its state, the last published run and its age."""

    state: Freshness
    within: str | None  # expect.fresh_within as written; None: no bound
    last_success: RunRecord | None
    age: dt.timedelta | None  # now - last_success.ended
    error: str = ""  # why the history could not be read (state UNKNOWN)

    @property
    def ok(self) -> bool:
        return self.state is Freshness.FRESH

    def describe(self) -> str:
        """One line for a table or a message: ``last published 27h 5m ago, over 26h``."""
        if self.error:
            return f"unknown: {self.error}"
        if self.last_success is None or self.age is None:
            return "never published"
        ago = f"last published {age_text(self.age)} ago"
        if self.within is None:
            return ago
        word = "within" if self.ok else "over"
        return f"{ago}, {word} {self.within.strip()}"


@dataclass(frozen=True)
class SegmentFreshness:
    """One segment as ``segments freshness`` shows it: its judgement and the newest run,
    whatever that run did."""

    name: str
    judgement: Judgement
    newest: RunRecord | None


def age_text(age: dt.timedelta) -> str:
    """``2d 3h``, ``27h 5m`` style: the two largest units, nothing smaller than a minute."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def judge(last: RunRecord | None, within: str | None, now: dt.datetime) -> Judgement:
    """The freshness of a segment whose last successful run is ``last``."""
    if last is None or last.status is not RunStatus.SUCCESS:
        return Judgement(Freshness.NEVER, within, None, None)
    age = now - parse_time(last.ended)
    stale = within is not None and age > parse_within(within)
    return Judgement(Freshness.STALE if stale else Freshness.FRESH, within, last, age)


def unreadable(within: str | None, error: HistoryError) -> Judgement:
    """The judgement of a segment whose history could not be read: not fresh."""
    return Judgement(Freshness.UNKNOWN, within, None, None, str(error))

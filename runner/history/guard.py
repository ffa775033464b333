"""The drift guard: ``expect.max_change`` against the last successful run, before publishing.

The change is ``(rows - previous) / previous``; the guard trips when its size is
strictly above the limit, so 1000 -> 700 passes ``30%`` and 1000 -> 699 trips.
The comparison is exact (fractions, not floats): ``30%`` of 1000 is 300, not
300.00000000000006.

Edge cases:

- no successful run before (the first run, or only failed ones): nothing to
  compare with, the run passes;
- the last successful run had 0 rows: 0 -> 0 passes; 0 -> any rows is a change
  no percentage bounds, so it trips (``--accept-change`` lets it through once).

>>> limit = parse_max_change("30%")
>>> check_drift(700, Baseline(1000, "2026-11-24T00:00:00+00:00"), limit).tripped
False
>>> print(check_drift(480, Baseline(1000, "2026-11-24T00:00:00+00:00"), limit).message)
rows 480 vs 1000 at the last successful run (2026-11-24T00:00Z): -52.0%, above expect.max_change 30%
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from runner.history.record import RunRecord, parse_time, utc_text

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_max_change(text: str) -> Fraction:
    """``"30%"`` -> 3/10. ValueError (with the accepted form) for anything else.

    >>> parse_max_change("12.5%")
    Fraction(1, 8)
    """
    match = _PERCENT.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expect.max_change {text!r} is not a percentage such as '30%'")
    return Fraction(match.group(1)) / 100


@dataclass(frozen=True)
class Baseline:
    """What a run is compared with: the rows and as-of of the last successful run."""

    rows: int
    as_of: str

    @classmethod
    def of(cls, record: RunRecord | None) -> Baseline | None:
        """The baseline a history entry gives (None gives None: nothing to compare)."""
        if record is None:
            return None
        # A holdout's rows are part of the audience the guard compares (runner.run.compose).
        return cls(record.rows + (record.held_out or 0), record.as_of or record.ended)


@dataclass(frozen=True)
class DriftCheck:
    """``change``: the relative change (None when there is nothing to compare, or the
    baseline had 0 rows and this run has some); ``message``: one line for people."""

    tripped: bool
    change: Fraction | None
    message: str


def short_time(text: str) -> str:
    """An ISO instant in UTC, without seconds when they are zero: 2026-11-24T00:00Z."""
    if not text:
        return "?"
    try:
        full = utc_text(parse_time(text))
    except ValueError:
        return text
    return full[:16] + "Z" if full.endswith(":00.000Z") else full


def percent(value: Fraction, limit: bool = False) -> str:
    """-0.52 -> '-52.0%'; a limit is written as given: 3/10 -> '30%'."""
    if limit:
        return f"{float(value * 100):g}%"
    return f"{float(value * 100):+.1f}%"


def describe_change(rows: int, baseline: Baseline | None) -> str:
    """The change in words: 'rows 480 vs 1000 at the last successful run (…): -52.0%'."""
    if baseline is None:
        return f"rows {rows}, no successful run before to compare with"
    where = f"rows {rows} vs {baseline.rows} at the last successful run"
    where += f" ({short_time(baseline.as_of)})"
    if baseline.rows == 0:
        return where + (": no change" if rows == 0 else ": up from none")
    return f"{where}: {percent(Fraction(rows - baseline.rows, baseline.rows))}"


def check_drift(rows: int, baseline: Baseline | None, max_change: Fraction) -> DriftCheck:
    """Compare ``rows`` with ``baseline`` against ``max_change`` (see the module)."""
    text = describe_change(rows, baseline)
    if baseline is None:
        return DriftCheck(False, None, text)
    if baseline.rows == 0:
        tripped = rows > 0
        change = None if tripped else Fraction(0)
    else:
        change = Fraction(rows - baseline.rows, baseline.rows)
        tripped = abs(change) > max_change
    if tripped:
        text += f", above expect.max_change {percent(max_change, limit=True)}"
    return DriftCheck(tripped, change, text)


# -- incremental runs: new contacts per hour of window -------------------------------------
# An incremental run's rows are the contacts created in its window, so their number grows
# with the window: a run a day after a skipped day has twice the rows. What a limit can
# bound is the rate, rows per hour of window; a window without a start (the first run)
# or without length (a second run at the same as-of) has no rate and is never judged.

HOUR_MS = 3_600_000


def window_ms(start: str | None, end: str | None) -> int | None:
    """The length of the inclusive window ``[start, end]`` in milliseconds, or None when
    it has no start or is empty.

    >>> window_ms("2026-11-24T00:00:00.000Z", "2026-11-24T23:59:59.999Z")
    86400000
    """
    if not start or not end:
        return None
    try:
        length = parse_time(end) - parse_time(start)
    except ValueError:
        return None
    ms = round(length.total_seconds() * 1000) + 1
    return ms if ms > 0 else None


@dataclass(frozen=True)
class RateBaseline:
    """The rows and window length of the last successful incremental run."""

    rows: int
    window_ms: int
    as_of: str

    @classmethod
    def of(cls, record: RunRecord | None) -> RateBaseline | None:
        span = None if record is None else window_ms(record.window_start, record.window_end)
        if record is None or span is None:
            return None
        return cls(record.rows, span, record.as_of or record.ended)


def _hours(ms: int) -> str:
    return f"{ms / HOUR_MS:g} h"


def check_rate(
    rows: int, span: int | None, baseline: RateBaseline | None, max_change: Fraction
) -> DriftCheck:
    """Compare the new contacts an hour of this run's window (``span`` ms) with the last
    successful incremental run's; trips past ``max_change``. Nothing to compare (no
    window length on either side, or no new contacts before): passes.

    >>> day = 24 * HOUR_MS
    >>> base = RateBaseline(100, day, "2026-11-24T00:00:00.000Z")
    >>> check_rate(200, 2 * day, base, Fraction(3, 10)).tripped  # two days, same rate
    False
    >>> print(check_rate(0, day, base, Fraction(3, 10)).message.split(": ")[1])
    -100.0% an hour, above expect.max_change 30%
    """
    if span is None or baseline is None or baseline.rows == 0:
        why = "no window to compare" if span is None or baseline is None else "none before"
        return DriftCheck(False, None, f"rows {rows}, {why}")
    text = (
        f"rows {rows} in {_hours(span)} vs {baseline.rows} in {_hours(baseline.window_ms)} "
        f"at the last successful run ({short_time(baseline.as_of)})"
    )
    change = Fraction(rows * baseline.window_ms, span * baseline.rows) - 1
    text += f": {percent(change)} an hour"
    tripped = abs(change) > max_change
    if tripped:
        text += f", above expect.max_change {percent(max_change, limit=True)}"
    return DriftCheck(tripped, change, text)

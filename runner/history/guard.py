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
        return None if record is None else cls(record.rows, record.as_of or record.ended)


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

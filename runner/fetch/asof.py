"""The as-of rule, the same whichever way the list is read (issue 22).

A run is a snapshot at its as-of: a contact whose ``createdAt`` is after it is left
for the next run. Windows never ask for such a contact (their range ends at the
as-of); page numbers read the list as it is, so :class:`AsOfCut` drops it from
their pages, and counts it. So ``api.windows: true`` and ``false`` publish the same
file, and the summary, manifest and results say how many were left out.

The as-of is this machine's clock; ``createdAt`` is the API's. :class:`ApiClock`
reads the API's clock from its replies' ``Date`` header: where the two differ by
more than :data:`SKEW_TOLERANCE`, contacts the API dated just before the run can
fall after the as-of (its clock ahead) or ones dated during the run before it (its
clock behind); the run says so. Nothing is lost either way: an incremental run's
next window starts at this as-of, and the next full export takes them in.

>>> cut = AsOfCut("2026-11-25T00:00:00.000Z")
>>> cut.keep([{"createdAt": "2026-11-24T23:59:59.999Z"}, {"createdAt": "2026-11-25T00:01Z"}, {}])
[{'createdAt': '2026-11-24T23:59:59.999Z'}, {}]
>>> cut.after
1
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Mapping
from typing import Any

from runner.fetch.windows.plan import CREATED, all_canonical, created_after

SKEW_TOLERANCE = 5.0  # seconds: a Date header has whole seconds, and a reply takes some


class AsOfCut:
    """Drops records created after ``as_of`` (the API's form) and counts them (``after``);
    None: the segment's own range cannot be read, and the list is taken as it comes."""

    def __init__(self, as_of: str | None) -> None:
        self.as_of = as_of
        self.after = 0

    def keep(self, records: list[Any]) -> list[Any]:
        if self.as_of is None:
            return records
        values = [r.get(CREATED) for r in records]
        if all_canonical(values) and (not values or max(values) <= self.as_of):
            return records  # the usual page: text order is time order, nothing after
        kept = [r for r in records if not created_after(r.get(CREATED), self.as_of)]
        self.after += len(records) - len(kept)
        return kept


class ApiClock:
    """The API's clock against this machine's, from the replies' ``Date`` headers.

    ``skew``: seconds the API is ahead (negative: behind), the smallest in size seen
    (a reply's own time on the wire only adds to it); None before a reply has one."""

    def __init__(self) -> None:
        self.skew: float | None = None
        self._lock = threading.Lock()
        self._last: tuple[str, float | None] = ("", None)  # a Date header and its instant

    def reply(self, headers: Mapping[str, str]) -> None:
        """Take a reply's headers, read as it arrives. A header read last time is not
        read again (at zero latency hundreds of replies share a second, and reading
        one cost 3 % of a page's CPU)."""
        stamp = headers.get("Date")
        if not stamp:
            return
        last, theirs = self._last
        if stamp != last:
            try:
                theirs = email.utils.parsedate_to_datetime(stamp).timestamp()
            except (TypeError, ValueError):
                theirs = None
            self._last = (stamp, theirs)
        if theirs is None:
            return
        # The header drops the fraction of its second: compare with ours dropped too.
        skew = float(int(theirs) - int(time.time()))
        with self._lock:
            if self.skew is None or abs(skew) < abs(self.skew):
                self.skew = skew

    def warning(self) -> str:
        """What to tell the user when the clocks differ beyond the tolerance ("" else)."""
        if self.skew is None or abs(self.skew) <= SKEW_TOLERANCE:
            return ""
        ahead = "ahead of" if self.skew > 0 else "behind"
        effect = (
            "contacts it dated in the last {s} before the as-of count as created after it"
            if self.skew > 0
            else "contacts it created up to {s} after the as-of count as created before it"
        ).format(s=f"{abs(self.skew):,.0f} s")
        return (
            f"the API's clock is {abs(self.skew):,.0f} s {ahead} this machine's (its Date "
            f"header): {effect}; the next run takes in what this one leaves out. Set this "
            "machine's clock (NTP), or pass --as-of in the API's time"
        )

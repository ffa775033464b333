"""What a person sees during an export: a live line on a terminal, log lines elsewhere."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from runner.history import RunStatus

if TYPE_CHECKING:
    from runner.run.export import SegmentResult


class Progress:
    """A live line per segment on a terminal; one log line per event elsewhere."""

    def __init__(self, stream: TextIO, *, live: bool | None = None, interval: float = 0.1) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.interval = interval
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, event: str, r: SegmentResult) -> None:
        if event == "start":
            self._start = time.monotonic()
            if not self.live:
                self._log(f"{r.segment}: started -> {r.destination}")
        elif event == "page":
            if self.live and time.monotonic() - self._last >= self.interval:
                self._last = time.monotonic()
                rate = r.rows / max(time.monotonic() - self._start, 1e-6)
                self.stream.write(
                    f"\r\x1b[K{r.segment}: page {r.pages}, {r.rows:,} rows, {rate:,.0f} rows/s"
                )
                self.stream.flush()
        elif event.startswith("warning:"):
            if self.live:
                self.stream.write("\r\x1b[K")
            self._log(f"{r.segment}: warning: {event[8:]}")
        elif event.startswith("retry:"):
            if not self.live:
                self._log(f"{r.segment}: retrying {event[6:]}")
        elif event == "end":
            if self.live:
                self.stream.write("\r\x1b[K")
            detail = f"{r.rows:,} rows, {r.pages} pages, {r.duplicates} duplicates dropped, "
            detail += f"{r.retries} retries, {r.seconds:.1f}s"
            if r.dropped_unmatchable:
                detail += f", {r.dropped_unmatchable:,} with nothing to match on left out"
            if r.status in (RunStatus.FAILED, RunStatus.GUARD):
                self._log(f"{r.segment}: {str(r.status).upper()}: {r.error}")
            elif r.status == RunStatus.INTERRUPTED:
                self._log(f"{r.segment}: INTERRUPTED after {detail}")
            else:
                self._log(f"{r.segment}: {r.status}: {detail}")

    def _log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()

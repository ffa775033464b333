"""What a person sees during an export: a live line on a terminal, log lines elsewhere.

On a terminal the line shows the pages, the rows and the rate and, when a total is known,
the rows expected and the time left. The only total there is before a run ends is an
estimate, the rows of the segment's last successful run (from the history; not for an
incremental run, whose windows differ), and the line says so (``of ~12,345 rows (last
run)``). In log mode (CI) the same status is a line at least every ``log_every`` seconds
(10 by default), from a thread of its own, so a run waiting on a slow API is not silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from runner.history import RunStatus
from runner.problems import counted

if TYPE_CHECKING:
    from runner.run.record import ExportResult

LOG_EVERY = 10.0  # seconds between status lines in log mode


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: a time left, to a useful precision.

    >>> [duration(s) for s in (0.4, 42, 185, 7620)]
    ['0s', '42s', '3m05s', '2h07m']
    """
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Progress:
    """A live line per segment on a terminal; log lines elsewhere (see the module).

    ``interval``: seconds between redraws of the live line; ``log_every``: seconds between
    status lines in log mode; ``clock``: where the elapsed time comes from (a test's own).
    Call :meth:`close` when the exports are done (or use it as a context manager).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool | None = None,
        interval: float = 0.1,
        log_every: float = LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.interval = interval
        self.log_every = log_every
        self.clock = clock
        self._last = 0.0
        self._start = clock()
        self._estimate: int | None = None
        self._running: ExportResult | None = None
        self._lock = threading.Lock()  # the status thread writes too
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the status thread of log mode."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def __call__(self, event: str, r: ExportResult) -> None:
        with self._lock:
            self._event(event, r)

    def _event(self, event: str, r: ExportResult) -> None:
        # Records are frozen: each event brings the newest, which log mode's status thread shows.
        self._running = r
        if event.partition(":")[0] == "start":  # "start:N": N rows expected (an estimate)
            total = event.partition(":")[2]
            self._start = self.clock()
            self._estimate = int(total) if total else None
            if not self.live:
                self._log(f"{r.segment}: started -> {r.destination}")
                self._start_ticker()
        elif event == "page":
            if self.live and self.clock() - self._last >= self.interval:
                self._last = self.clock()
                self.stream.write(f"\r\x1b[K{self.status(r)}")
                self.stream.flush()
        elif event.startswith("warning:"):
            if self.live:
                self.stream.write("\r\x1b[K")
            self._log(f"{r.segment}: warning: {event[8:]}")
        elif event.startswith("waiting:"):
            self._log(f"{r.segment}: {event[8:]}")
        elif event.startswith("retry:"):
            if not self.live:
                self._log(f"{r.segment}: retrying {event[6:]}")
        elif event == "end":
            self._running = None
            self._end(r)

    def status(self, r: ExportResult) -> str:
        """``vip: page 12, 6,000 of ~12,345 rows (last run), 1,234 rows/s, about 5s left``."""
        elapsed = max(self.clock() - self._start, 1e-6)
        rate = r.rows / elapsed
        rows = f"{r.rows:,} rows"
        left = ""
        if self._estimate is not None:
            rows = f"{r.rows:,} of ~{self._estimate:,} rows (last run)"
            if 0 < r.rows < self._estimate:
                left = f", about {duration((self._estimate - r.rows) / rate)} left"
        return f"{r.segment}: page {r.pages}, {rows}, {rate:,.0f} rows/s{left}"

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.log_every):
            with self._lock:
                if self._running is not None:
                    self._log(self.status(self._running))

    def _end(self, r: ExportResult) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
        detail = f"{counted(r.rows, 'row')}, {counted(r.pages, 'page')}, "
        detail += f"{counted(r.duplicates, 'duplicate')} dropped, "
        detail += f"{counted(r.retries, 'retry', 'retries')}, {r.seconds:.1f}s"
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

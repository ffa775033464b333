"""What a person sees during and after an export: progress, log lines, a summary table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from runner.export import SegmentResult


def format_table(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
        for r in rows
    )


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
            if r.status == "failed":
                self._log(f"{r.segment}: FAILED: {r.error}")
            else:
                self._log(f"{r.segment}: {r.status}: {detail}")

    def _log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} {text}\n")
        self.stream.flush()


def summary(results: Sequence[SegmentResult]) -> str:
    rows = [
        ["SEGMENT", "ROWS", "PAGES", "DUPLICATES", "RETRIES", "SECONDS", "DESTINATION", "STATUS"]
    ]
    for r in results:
        rows.append(
            [
                r.segment,
                f"{r.rows:,}",
                str(r.pages),
                str(r.duplicates),
                str(r.retries),
                f"{r.seconds:.2f}",
                r.destination or "-",
                r.status,
            ]
        )
    text = format_table(rows)
    for r in results:
        if r.dropped_unmatchable:
            text += (
                f"{r.segment}: {r.dropped_unmatchable:,} rows with no e-mail or phone the "
                "platform can match were left out (dropped_unmatchable)\n"
            )
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        text += f"error: {r.segment}: {r.error}\n"
    ok = sum(1 for r in results if r.status in ("success", "dry-run"))
    text += f"{ok} of {len(results)} segment(s) exported" + (
        f", {len(failed)} failed\n" if failed else "\n"
    )
    return text

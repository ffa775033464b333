"""A transport that notes every request it carries, shared by the traces in bench/
(`wire_trace`, `conc_trace`, `round_trips`, and `tests/integration/test_round_trips.py`):
when it went out and when its reply was read (seconds from :attr:`Traced.started`), its
status, the requests on the wire as it went out, its label, and what ``tag`` said then
(the auto concurrency's ticket of its slot, for `conc_trace`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.fetch.transport import Response, Transport


@dataclass(frozen=True)
class Request:
    began: float
    ended: float
    status: int | None  # None: no reply (the transport raised)
    on_wire: int  # requests on the wire as it went out, itself included
    label: str
    tag: Any = None


class Traced:
    """``inner``, each request noted in :attr:`log` (see the module)."""

    def __init__(self, inner: Transport, tag: Callable[[], Any] = lambda: None) -> None:
        self.inner = inner
        self.tag = tag
        self.started = time.monotonic()
        self.log: list[Request] = []
        self._on_wire = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        tag = self.tag()
        with self._lock:
            self._on_wire += 1
            on_wire = self._on_wire
        began, status = time.monotonic() - self.started, None
        try:
            with self.inner.post(label, body, deadline) as response:
                status = response.status
                yield response
        finally:
            with self._lock:
                self._on_wire -= 1
                ended = time.monotonic() - self.started
                self.log.append(Request(began, ended, status, on_wire, label, tag))

    def close(self) -> None:
        self.inner.close()

    def round_trips(self) -> int:
        """The longest chain of requests each sent after the reply before it came."""
        log = sorted(self.log, key=lambda r: r.began)
        best: list[int] = []
        for request in log:
            before = [best[i] for i, r in enumerate(log[: len(best)]) if r.ended <= request.began]
            best.append(1 + max(before, default=0))
        return max(best, default=0)

    def idle(self, longer: float = 0.05) -> list[tuple[float, float]]:
        """The stretches over ``longer`` seconds with no request on the wire."""
        events = sorted([(r.began, 1) for r in self.log] + [(r.ended, -1) for r in self.log])
        gaps, on_wire, last = [], 0, 0.0
        for at, change in events:
            if on_wire == 0 and at - last > longer:
                gaps.append((last, at))
            on_wire, last = on_wire + change, at
        return gaps

    def show(self) -> str:
        """A line a request, in the order they went out."""
        return "\n".join(
            f"{r.began:6.3f} {r.ended:6.3f} {r.status} {r.on_wire:2d} on the wire  {r.label}"
            for r in sorted(self.log, key=lambda r: r.began)
        )

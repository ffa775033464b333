"""Process-wide settings the command line makes around a command (never the library).

SIGTERM raises :class:`~runner.errors.Terminated` so cleanup runs; exports run
with fewer GC passes; standard output names itself in the ``OSError`` a full
disk or a closed pipe raises, so the CLI can say ``standard output: <reason>``.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from runner.errors import Terminated

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDOUT = "standard output"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C raises
    KeyboardInterrupt: every ``finally`` runs (temporaries removed, uploads aborted)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # called outside the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def fewer_gc_passes(threshold: int = 20_000) -> Iterator[None]:
    """Pages are trees of fresh dicts freed by reference counting; the cycle collector
    running every 700 allocations only rescans them (a third of the CPU time)."""
    previous = gc.get_threshold()
    gc.set_threshold(threshold, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class _StdoutFile(io.FileIO):
    """File descriptor 1, naming itself in the OSError a write raises."""

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            exc.filename = STDOUT
            raise


@contextlib.contextmanager
def named_stdout() -> Iterator[None]:
    """``sys.stdout`` whose write errors carry ``filename == STDOUT`` (when it is the real one)."""
    real = sys.__stdout__
    if real is None or sys.stdout is not real:  # captured: a test, an embedding application
        yield
        return
    real.flush()
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_StdoutFile(real.fileno(), "w", closefd=False)),
        encoding=real.encoding,
        errors=real.errors,
        line_buffering=real.line_buffering,
    )
    try:
        yield
    finally:
        sys.stdout = real


def release_stdout() -> OSError | None:
    """Flush stdout now, so a full disk or a closed pipe behind it is reported here; if that
    fails, point it at /dev/null so no later flush fails again (or prints at exit)."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exc
    return None

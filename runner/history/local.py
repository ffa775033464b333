"""The history in a folder: one append-only JSON Lines file per segment.

Layout, under ``<output_root>/.segments/history/``::

    <segment>/runs.jsonl                 one line per run, oldest first
    <segment>/snapshots/<run_id>.ids.gz  the ids a delta run published

Why a JSON Lines file and not SQLite: an entry is written once and never
changed, so an append is all a writer does; the file is readable with ``tail``
and ``jq`` and copies as CI artifacts without a driver; and SQLite's locking is
unreliable on the network file systems CI runners mount, while a torn line is
easy to detect and repair.

How an append stays whole: the writer takes ``flock`` on the file (two runs of a
segment wait for each other instead of interleaving), writes the line with its
newline in ONE ``write`` call, and ``fsync``s before letting go. A writer killed
halfway leaves a last line without its newline: readers skip such a tail, and
the next writer cuts it off before appending. A line always ends in a newline
when, and only when, it is complete, so nothing half-written is ever read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from runner.errors import HistoryError, SnapshotGone
from runner.history.layout import (
    is_snapshot_name,
    segment_folder,
    snapshot_ref,
    split_snapshot_ref,
)
from runner.history.record import SEGMENT_NAME, RunRecord, RunStatus
from runner.sinks.local.files import atomic_file, clean_stale_temporaries, fsync_dir, reason

RUNS_FILE = "runs.jsonl"
LOCK_WAIT = 60.0  # seconds a writer waits for another run's append (a few ms each)
_TAIL_CHUNK = 64 * 1024


class LocalHistory:
    """A :class:`~runner.history.store.HistoryStore` in the folder ``root``."""

    def __init__(self, root: Path, lock_wait: float = LOCK_WAIT) -> None:
        self.root = root
        self.lock_wait = lock_wait

    @property
    def where(self) -> str:
        return str(self.root)

    def _folder(self, segment: str) -> Path:
        return self.root / segment_folder(segment)

    def append(self, record: RunRecord) -> RunRecord:
        folder = self._folder(record.segment)
        path = folder / RUNS_FILE
        line = record.to_json() + b"\n"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise HistoryError(f"cannot write the run history {path}: {reason(exc)}") from exc
        try:
            self._lock(fd, path)
            _cut_torn_tail(fd)
            size = os.fstat(fd).st_size
            written = os.write(fd, line)
            if written != len(line):  # a full disk: take the piece back, fail
                os.ftruncate(fd, size)
                raise OSError(28, f"only {written} of {len(line)} bytes written")
            os.fsync(fd)
        except OSError as exc:
            raise HistoryError(f"cannot write the run history {path}: {reason(exc)}") from exc
        finally:
            os.close(fd)  # releases the lock
        if size == 0:
            fsync_dir(folder)
        return record

    def _lock(self, fd: int, path: Path) -> None:
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HistoryError(
                        f"the run history {path} stayed locked by another run for "
                        f"{self.lock_wait:g}s; try again when it has finished"
                    ) from None
                time.sleep(0.01)

    def newest(self, segment: str, status: RunStatus | None = None) -> Iterator[RunRecord]:
        path = self._folder(segment) / RUNS_FILE
        try:
            data = path.read_bytes()  # a reader needs no lock: see the module's docstring
        except FileNotFoundError:
            return iter(())
        except OSError as exc:
            raise HistoryError(f"cannot read the run history {path}: {reason(exc)}") from exc
        found = sorted(_parse_lines(data), key=lambda r: r.run_id, reverse=True)
        return iter([r for r in found if status is None or r.status is status])

    def segments(self) -> list[str]:
        try:
            return sorted(
                p.name
                for p in self.root.iterdir()
                if SEGMENT_NAME.match(p.name) and (p / RUNS_FILE).is_file()
            )
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise HistoryError(f"cannot list the run history {self.root}: {reason(exc)}") from exc

    def _snapshot_path(self, ref: str) -> Path:
        segment, name = split_snapshot_ref(ref)
        return self._folder(segment) / "snapshots" / name

    def put_snapshot(self, segment: str, run_id: str, source: Path) -> str:
        ref = snapshot_ref(segment, run_id)
        target = self._snapshot_path(ref)
        try:
            clean_stale_temporaries(target.parent)  # a run's killed while it stored its own
            # As an output is written: a flock-ed temporary (0600) a killed run's clean-up
            # can tell from a live one, renamed whole.
            with source.open("rb") as src, atomic_file(target) as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        except OSError as exc:
            raise HistoryError(f"cannot store the id snapshot {target}: {reason(exc)}") from exc
        return ref

    def open_snapshot(self, ref: str) -> IO[bytes]:
        path = self._snapshot_path(ref)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise SnapshotGone(f"the id snapshot {path} is gone") from exc
        except OSError as exc:
            raise HistoryError(f"cannot read the id snapshot {path}: {reason(exc)}") from exc

    def discard_snapshot(self, ref: str) -> None:
        with contextlib.suppress(OSError):
            self._snapshot_path(ref).unlink()

    def publish_lock(
        self, target: str, said: Callable[[str], None]
    ) -> AbstractContextManager[None]:
        """None: a local output is published under its own ``flock``."""
        return contextlib.nullcontext()

    def snapshots(self, segment: str) -> list[str]:
        folder = self._folder(segment) / "snapshots"
        try:
            names = [p.name for p in folder.iterdir()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise HistoryError(f"cannot list the id snapshots {folder}: {reason(exc)}") from exc
        return sorted(f"{segment}/{n}" for n in names if is_snapshot_name(n))


def _parse_lines(data: bytes) -> Iterator[RunRecord]:
    """The records of complete lines; a tail without its newline is a write in progress
    or a killed writer's, and a line that does not parse is skipped, never fatal."""
    lines = data.split(b"\n")
    for line in lines[:-1]:
        if line.strip():
            with contextlib.suppress(ValueError):
                yield RunRecord.from_json(line)


def _cut_torn_tail(fd: int) -> None:
    """Cut a last line that has no newline (a killed writer's); the caller holds the lock."""
    end = os.fstat(fd).st_size
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return
    pos = end
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        chunk = os.pread(fd, pos - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        pos = start
    os.ftruncate(fd, 0)

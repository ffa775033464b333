"""A local file as a companion of a group publish (:mod:`runner.sinks.group`).

The whole group is published holding one more ``flock``, on the first companion's lock
file, so two runs of one segment publish their groups one after the other (each run
then takes the file's own lock, always in that order). A replaced companion is renamed
aside (``.segments-tmp-...``) and stays ``flock``-ed by this run until it is dropped or
put back, so no other run's clean-up removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from runner.sinks.base import TEMP_PREFIX
from runner.sinks.local.files import Temporary
from runner.sinks.local.locks import target_lock
from runner.sinks.local.target import LocalTarget


@contextlib.contextmanager
def group_lock(dest: LocalTarget) -> Iterator[None]:
    try:
        with target_lock(dest):
            yield
    except OSError as exc:
        raise dest.error(exc) from exc


class LocalPlacement:
    """One companion file: renamed over its target, the replaced file kept aside."""

    def __init__(self, data: Temporary, dest: LocalTarget, close: Callable[[], None]) -> None:
        """``data``: the companion's temporary, renamed to ``dest``'s file; ``close``: its
        upload's abort, once the group is published (the next run may then lock it)."""
        self.data, self.dest, self.close = data, dest, close
        self.target: Path = dest.target
        self.aside: Path | None = None
        self._hold: int | None = None

    def place(self) -> None:
        data = self.data
        try:
            data.sync()
            self._hold = _held(self.target)
            if self._hold is not None:
                aside = self.target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(4)}-old")
                os.rename(self.target, aside)
                self.aside = aside
            data.rename_to(self.target)
        except OSError as exc:
            self.restore()
            raise self.dest.error(exc) from exc

    def restore(self) -> None:
        try:
            if self.aside is not None:
                os.replace(self.aside, self.target)
            elif self.data.renamed:
                self.target.unlink(missing_ok=True)
        finally:
            self._release()

    def drop(self) -> None:
        try:
            if self.aside is not None:
                self.aside.unlink(missing_ok=True)
        finally:
            self._release()
            self.close()

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None


def _held(path: Path) -> int | None:
    """An fd ``flock``-ed on the file at ``path`` (None if there is none): a temporary
    nobody has locked is another run's leftover, and would be removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd

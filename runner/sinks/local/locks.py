"""Where a local target's lock lives, and holding it.

One publisher per target at a time: publishing ``out/t.csv`` holds an ``flock`` on the
target's lock file from its first rename to its last. The lock file is the tool's own
state, so it lives under the output root beside the history
(``<root>/.segments/locks/<hash>-t.csv``), not in the folder a pickup job or a synced
folder hands on. It is named by a hash of the target's path under the root (``a/t.csv``
and ``b/t.csv`` have their own) and, for people, the target's name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class Lockable(Protocol):
    """A local destination: where its file goes and where its lock lives."""

    @property
    def target(self) -> Path: ...

    @property
    def lock(self) -> Path: ...


LOCKS_DIR = ".segments/locks"  # under the output root, beside the history
LEGACY_LOCK_PREFIX = ".segments-lock-"  # where 0.1 kept a target's lock: beside it
_NAME_KEPT = 100  # of the target's name (NAME_MAX is 255)


def lock_path(root: Path, target: Path) -> Path:
    """The lock file of ``target`` (under ``root``): named by a hash of the path under the
    root, so ``a/vip.csv`` and ``b/vip.csv`` have their own, plus the name for people."""
    relative = os.fsencode(target.relative_to(root))
    digest = hashlib.sha256(relative).hexdigest()[:16]
    return root / LOCKS_DIR / f"{digest}-{target.name[:_NAME_KEPT]}"


# The locks this process holds, by thread: a run holds its output's lock from reading
# the previous result to clearing what it superseded, and publishing inside takes it
# again (flock on a second descriptor of the same file would wait for itself).
_HELD: dict[tuple[Path, int], int] = {}


@contextlib.contextmanager
def target_lock(dest: Lockable) -> Iterator[None]:
    """Held from the first rename of a publish to the last, and by an export from reading
    its output's previous result to clearing it: one publisher per target. Taken again
    by the thread that holds it, it is held on (reentrant)."""
    path = dest.lock
    key = (path, threading.get_ident())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # An earlier version's lock beside the target would be handed on with the files.
        with contextlib.suppress(OSError):
            dest.target.with_name(LEGACY_LOCK_PREFIX + dest.target.name[:_NAME_KEPT]).unlink()
        _HELD[key] = 1
        yield
    finally:
        _HELD.pop(key, None)
        os.close(fd)

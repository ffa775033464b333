"""Files of a local destination: exclusive temporaries beside their target, staging
folders, and their clean-up; also used by the run history and the catalog.

Temporaries are ``.segments-tmp-<random>-<name>``, created with ``O_EXCL`` and
``flock``-ed by their writer for as long as they exist; a temporary nobody holds a
lock on belongs to a run that died, and the next run in that folder removes it
(whatever its PID or PID namespace).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from runner.errors import DestinationError
from runner.sinks.base import TEMP_PREFIX
from runner.sinks.local.private import PRIVATE_MODE

_NAME_KEPT = 100  # of the target's name, in temporary names (NAME_MAX is 255)


def reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _same_file(fd: int, path: str | Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except OSError:
        return False


class Temporary:
    """A new file beside its target: created exclusively, ``flock``-ed while it lives,
    with ``mode`` (0600 unless ``output.mode`` says otherwise; exactly, whatever the umask)."""

    def __init__(self, folder: Path, name: str, mode: int = PRIVATE_MODE) -> None:
        while True:
            fd, path = tempfile.mkstemp(
                prefix=TEMP_PREFIX, suffix="-" + name[:_NAME_KEPT], dir=folder
            )
            fcntl.flock(fd, fcntl.LOCK_EX)  # a cleaner holds it for an instant at most
            if _same_file(fd, path):
                break
            os.close(fd)  # a cleaner removed it between creation and lock: make another
        if mode != PRIVATE_MODE:  # mkstemp's is 0600
            os.fchmod(fd, mode)
        self.path = Path(path)
        self.file: BinaryIO = os.fdopen(fd, "wb")

        self.renamed = False

    def sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def rename_to(self, target: Path) -> None:
        """Publish under ``target``; the lock is kept until :meth:`discard` closes the file."""
        os.replace(self.path, target)
        self.renamed = True

    def discard(self) -> None:
        """Close (keeping quiet about a failing flush) and remove it unless it was renamed."""
        with contextlib.suppress(OSError):
            self.file.close()
        if not self.renamed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def clean_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporaries whose writer is gone: nobody holds their ``flock``."""
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, entry.path):
                if entry.is_dir(follow_symlinks=False):  # a split run's staged parts
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # locked by a live writer, or not ours to remove
        finally:
            os.close(fd)
    return removed


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (quietly: not every file system can)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Staging:
    """A new folder beside a target (``.segments-tmp-<random>-<name>``), ``flock``-ed
    while it lives: a split run's parts wait here until they are published together.
    Like a temporary file, one nobody holds a lock on is removed by the next run."""

    def __init__(self, folder: Path, name: str) -> None:
        while True:
            path = tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix="-" + name[:_NAME_KEPT], dir=folder)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                break
            os.close(fd)  # a cleaner removed it between creation and lock: make another
        self.path = Path(path)
        self._fd: int | None = fd

    def discard(self) -> None:
        """Remove the folder and whatever it still holds, then let go of its lock."""
        if self._fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)
        self._fd = None


@contextlib.contextmanager
def atomic_file(path: Path, mode: int = PRIVATE_MODE) -> Iterator[BinaryIO]:
    """A new file to write, becoming ``path`` whole when the block ends (temporary,
    fsync, rename), or nothing if it raises; OSError when it cannot be done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Temporary(path.parent, path.name, mode)
    try:
        yield temp.file
        temp.sync()
        temp.rename_to(path)
    finally:
        temp.discard()
    fsync_dir(path.parent)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (:func:`atomic_file`); DestinationError."""
    try:
        with atomic_file(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise DestinationError(f"cannot write {path}: {reason(exc)}") from exc


def file_problem(path: Path) -> str | None:
    """Why ``path`` could not be written as a new file (checked before a run), or None."""
    if path.is_dir():
        return f"{path} is a folder: give a file name"
    if path.exists() and not path.is_file():
        return f"{path} is not a regular file"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"cannot write {path}: {folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = os.statvfs(folder).f_flag & os.ST_RDONLY
        why = os.strerror(errno.EROFS if read_only else errno.EACCES)
        return f"cannot write {path}: {why} ({folder})"
    return None

"""Local files: written to an exclusive temporary beside the target, published under a lock.

Publishing one target (``out/t.csv``) takes an ``flock`` on its lock file, kept with the
tool's own state under the output root (``<root>/.segments/locks/<hash>-t.csv``, never
among the files a pickup job or a synced folder hands on) and, holding it: removes the
old manifest (set aside, put back if the data cannot be replaced), renames the data
over ``t.csv``, renames the manifest (written and fsynced before the lock) over
``t.csv.manifest.json``. So at every instant a manifest that exists describes the file
beside it, and two runs of one segment publish one after the other, never a mix.

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
import stat
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from runner.errors import DestinationError, ManifestError, PathEscapeError
from runner.locations import STATE_DIR
from runner.sinks.locks import lock_path, target_lock
from runner.sinks.private import PRIVATE_MODE
from runner.sinks.roots import LocalRoot, OutputRoot, without_scheme

if TYPE_CHECKING:
    from runner.sinks.base import Digest
    from runner.spec.project import Project
    from runner.spec.segment import Segment

TEMP_PREFIX = ".segments-tmp-"
MANIFEST_SUFFIX = ".manifest.json"
# Callbacks run once the data is in place and before its manifest is: empty in use. Tests
# append one (tests/hooked.py, in the child process) to kill a run exactly there.
BEFORE_MANIFEST: list[Callable[[], None]] = []
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


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def before_manifest() -> None:
    """Run the :data:`BEFORE_MANIFEST` callbacks (none outside tests)."""
    for hook in BEFORE_MANIFEST:
        hook()


class LocalUpload:
    def __init__(self, dest: LocalDestination) -> None:
        self.dest = dest
        clean_stale_temporaries(dest.target.parent)
        self.data = Temporary(dest.target.parent, dest.target.name, dest.mode)
        self._write = self.data.file.write
        self._manifest: Temporary | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._write(data)
        except OSError as exc:
            raise self.dest.error(exc) from exc

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        dest = self.dest
        try:
            self.data.sync()
        except OSError as exc:
            raise dest.error(exc) from exc
        try:
            self._manifest = Temporary(dest.target.parent, dest.manifest.name, dest.mode)
            self._manifest.file.write(manifest)
            self._manifest.sync()
        except OSError as exc:
            raise dest.error(exc, dest.manifest) from exc
        try:
            with target_lock(dest):
                self._swap(self._manifest, metadata)
                clean_stale_temporaries(dest.target.parent)  # of a run killed while we waited
        except OSError as exc:  # the lock file itself
            raise dest.error(exc, dest.lock) from exc
        self.data.discard()
        self._manifest.discard()

    def _swap(self, manifest: Temporary, metadata: Mapping[str, str]) -> None:
        dest = self.dest
        aside = dest.set_old_manifest_aside()
        try:
            self.data.rename_to(dest.target)
        except OSError as exc:
            dest.put_back(aside)
            raise dest.error(exc) from exc
        _fsync_dir(dest.target.parent)
        before_manifest()
        try:
            manifest.rename_to(dest.manifest)
        except OSError as exc:
            removed = "the previous manifest was removed before the file was replaced, so "
            raise ManifestError(
                f"published {dest.display} (sha256 {metadata.get('sha256', '?')}, "
                f"{metadata.get('rows', '?')} rows) but could not write its manifest "
                f"{dest.manifest_display}: {reason(exc)}; "
                f"{removed if aside else ''}no manifest describes it"
            ) from exc
        finally:
            if aside is not None:
                with contextlib.suppress(OSError):
                    aside.unlink()
        _fsync_dir(dest.target.parent)

    def abort(self) -> None:
        self.data.discard()
        if self._manifest is not None:
            self._manifest.discard()


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when under it, else absolute."""
    try:
        shown = os.path.relpath(path)
    except ValueError:  # pragma: no cover
        return str(path)
    return str(path) if shown.startswith("..") else shown


@dataclass(frozen=True)
class LocalDestination:
    scheme: ClassVar[str] = "file"
    root: Path
    target: Path
    display: str
    mode: int = PRIVATE_MODE  # of the data and manifest files (output.mode)

    @classmethod
    def for_path(
        cls, path: str, root: OutputRoot | None, seg: Segment, project: Project
    ) -> LocalDestination:
        """The project's folder, or ``--out DIR`` (an s3:// path lands at DIR/bucket/key)."""
        if isinstance(root, LocalRoot):
            return cls.under(root.path, without_scheme(path), seg.output.mode)
        return cls.under(project.local_root, path, seg.output.mode)

    @classmethod
    def under(cls, root: Path, relative: str, mode: int = PRIVATE_MODE) -> LocalDestination:
        """``root/relative``, refusing anything that resolves outside ``root``."""
        base = root.resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base) or target == base:
            raise PathEscapeError(
                f"output path {relative!r} resolves to {target}, outside the output root {base}"
            )
        if target.is_relative_to(base / STATE_DIR):  # a symlink made after validate
            raise PathEscapeError(
                f"output path {relative!r} resolves to {target}, inside {base / STATE_DIR}, "
                "the runner's own state (run history, id snapshots): never an output"
            )
        return cls(base, target, _shown(target), mode)

    @property
    def manifest(self) -> Path:
        return self.target.with_name(self.target.name + MANIFEST_SUFFIX)

    @property
    def manifest_display(self) -> str:
        return self.display + MANIFEST_SUFFIX

    @property
    def lock(self) -> Path:
        """The file whose ``flock`` one publisher of this target holds (:func:`target_lock`)."""
        return lock_path(self.root, self.target)

    def error(self, exc: OSError, path: Path | None = None) -> DestinationError:
        """One line: which path could not be written and the OS's reason."""
        shown = self.display if path in (None, self.target) else self._show(path)
        return DestinationError(f"cannot write {shown}: {reason(exc)}")

    def _show(self, path: Path) -> str:
        if path == self.manifest:
            return self.manifest_display
        if path == self.lock:
            return _shown(path)
        return os.path.join(os.path.dirname(self.display), path.name)

    def published_into(self, digest: Digest) -> bool:
        """Feed the file published here to ``digest``; False when there is none."""
        try:
            with self.target.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self.error(exc) from exc
        return True

    def open(self, content_type: str = "") -> LocalUpload:
        """The upload (a local file keeps no content type)."""
        self.prepare()
        try:
            return LocalUpload(self)
        except OSError as exc:
            raise self.error(exc) from exc

    def prepare(self) -> None:
        """Refuse a folder in the file's or manifest's place; make the file's folder."""
        for path in (self.target, self.manifest):
            if path.is_dir():
                raise self.error(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), path)
        folder = self.target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            blocking = next((p for p in (folder, *folder.parents) if p.is_file()), None)
            if blocking is None:
                raise self.error(exc) from exc
            why = NotADirectoryError(errno.ENOTDIR, f"{_shown(blocking)} is a file, not a folder")
            raise self.error(why) from exc

    def set_old_manifest_aside(self) -> Path | None:
        """Move the old manifest out of the way (under the target lock); None if none."""
        try:
            mode = os.lstat(self.manifest).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(mode):
            raise self.error(
                IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), self.manifest
            )
        aside = self.target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:8]}-old{MANIFEST_SUFFIX}")
        try:
            os.rename(self.manifest, aside)
        except OSError as exc:
            raise self.error(exc, self.manifest) from exc
        return aside

    def put_back(self, aside: Path | None) -> None:
        if aside is not None:
            with contextlib.suppress(OSError):
                os.rename(aside, self.manifest)


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


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (quietly: not every file system can)."""
    _fsync_dir(folder)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (temporary, fsync, rename); DestinationError."""
    temp: Temporary | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = Temporary(path.parent, path.name)
        temp.file.write(data)
        temp.sync()
        temp.rename_to(path)
    except OSError as exc:
        raise DestinationError(f"cannot write {path}: {reason(exc)}") from exc
    finally:
        if temp is not None:
            temp.discard()
    _fsync_dir(path.parent)


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

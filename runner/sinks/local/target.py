"""Where a local output goes: its file under the output root, its manifest beside it,
its lock under ``.segments/locks/`` (:class:`~runner.sinks.local.destination.LocalDestination`
adds how it is chosen and opened)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Self

from runner.errors import DestinationError, PathEscapeError
from runner.locations import STATE_DIR
from runner.sinks.base import MANIFEST_SUFFIX, TEMP_PREFIX, StateRoot
from runner.sinks.local.files import reason
from runner.sinks.local.locks import lock_path
from runner.sinks.local.private import PRIVATE_MODE

if TYPE_CHECKING:
    from runner.sinks.base import Digest


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when under it, else absolute."""
    try:
        shown = os.path.relpath(path)
    except ValueError:  # pragma: no cover
        return str(path)
    return str(path) if shown.startswith("..") else shown


@dataclass(frozen=True)
class LocalTarget:
    """Where a local output goes (its file, manifest, lock and mode): what its upload,
    a split set and the history are made from."""

    root: Path
    target: Path
    display: str
    mode: int = PRIVATE_MODE  # of the data and manifest files (output.mode)

    @classmethod
    def under(cls, root: Path, relative: str, mode: int = PRIVATE_MODE) -> Self:
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

    def shown_manifest(self, parts: int) -> str:
        return self.manifest_display

    def sibling(self, rename: Callable[[str], str]) -> Self:
        name = rename(self.target.name)
        shown = os.path.join(os.path.dirname(self.display), name)
        return replace(self, target=self.target.with_name(name), display=shown)

    def state_root(self) -> StateRoot:
        """The output root: the project's folder, or ``--out DIR``."""
        return StateRoot(str(self.root))

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

    def read_manifest(self) -> bytes | None:
        try:
            return self.manifest.read_bytes()
        except OSError:
            return None

    def remove_published(self, size: int, sha256: str) -> bool:
        """The size first (no read when it differs), then the sha256 of every byte: a
        regular file only (a symlink or a folder in its place is not the file listed)."""
        try:
            found = os.lstat(self.target)
            if not stat.S_ISREG(found.st_mode) or found.st_size != size:
                return False
            digest = hashlib.sha256()
            if not self.published_into(digest) or digest.hexdigest() != sha256:
                return False
            self.target.unlink()
        except (OSError, DestinationError):
            return False
        return True

    def remove_manifest(self, data: bytes) -> bool:
        try:
            if self.manifest.read_bytes() != data:
                return False
            self.manifest.unlink()
        except OSError:
            return False
        return True

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

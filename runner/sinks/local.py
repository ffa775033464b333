"""Local files: write a temporary file beside the target, fsync, rename over it."""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from runner.errors import DestinationError, PathEscapeError

TEMP_PREFIX = ".segments-tmp-"
STALE_AFTER = 3600.0
_TEMP = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporaries left by killed runs: their process is gone, or they are old."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        match = _TEMP.match(entry.name)
        if not match:
            continue
        with contextlib.suppress(OSError):
            dead = not _pid_alive(int(match.group(1)))
            if dead or now - entry.stat().st_mtime > STALE_AFTER:
                entry.unlink()
                removed.append(entry)
    return removed


class LocalUpload:
    def __init__(self, target: Path) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(target.parent)
        self.temp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{target.name}"
        self._file = open(self.temp, "wb")  # noqa: SIM115 - closed in commit/abort
        self.done = False

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def set_metadata(self, metadata: dict[str, str]) -> None:
        pass  # a local file has its manifest beside it

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp, self.target)
        _fsync_dir(self.target.parent)
        self.done = True

    def abort(self) -> None:
        if self.done:
            return
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()
        self.done = True


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class LocalDestination:
    root: Path
    target: Path
    display: str

    @classmethod
    def under(cls, root: Path, relative: str) -> LocalDestination:
        """``root/relative``, refusing anything that resolves outside ``root``."""
        base = root.resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise PathEscapeError(
                f"output path {relative!r} resolves to {target}, outside the output root {base}"
            )
        try:
            shown = os.path.relpath(target)
        except ValueError:  # pragma: no cover
            shown = str(target)
        return cls(base, target, str(target) if shown.startswith("..") else shown)

    def open(self) -> LocalUpload:
        try:
            return LocalUpload(self.target)
        except OSError as exc:
            raise DestinationError(f"cannot write {self.display}: {exc.strerror}") from exc

    def manifest_display(self) -> str:
        return self.display + ".manifest.json"

    def write_manifest(self, data: bytes) -> None:
        upload = LocalUpload(self.target.with_name(self.target.name + ".manifest.json"))
        try:
            upload.write(data)
            upload.commit()
        finally:
            upload.abort()

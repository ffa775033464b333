"""Split outputs: numbered parts published as one set, all or none, with one manifest.

``output.split`` turns ``exports/vip.csv`` into ``exports/vip-0001.csv``,
``exports/vip-0002.csv``, ... and one manifest, ``exports/vip.csv.manifest.json``,
listing every part. :class:`PartsDestination` stands for the set (its name, its
manifest, its lock); its upload hands out one byte sink per part
(:class:`~runner.formats.split.PartSink`) and publishes them together.

- **Local**: the parts are written, one after the other, into a staging folder beside
  the target (``.segments-tmp-<random>-<name>``, ``flock``-ed while the run lives, so
  a run killed at any point before publishing leaves the previous set untouched and
  its folder is removed by the next run), each fsynced when it is complete. Publishing
  holds the set's lock (``.segments-lock-<name>``): the old manifest is moved aside,
  each part replaces its namesake (the replaced file kept in the staging folder), then
  the new manifest goes in place. If anything fails before the manifest is in place,
  every replaced part and the old manifest are put back: nothing changed. Once it is,
  the old set's extra parts (numbers past the new count) are removed.
- **S3**: each part is a multipart upload, completed only when the set is published
  (a part smaller than ``part_size_mb`` is sent as its upload's only part when it is
  complete, so memory holds one part buffer). Publishing: the old manifest object is
  read and deleted, each part's previous object copied aside (server side) before
  the part is completed, then the new manifest; on a failure before the manifest,
  the copies are put back (or the new parts deleted) and the old manifest rewritten.
  Then the old set's extra parts are deleted. S3 has no lock (see README "S3").

A run killed during the publishing itself (a handful of renames, or requests on S3)
can leave new parts beside old ones with no manifest: a reader knows a set by its
manifest, whose parts' ``sha256`` it can check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import DestinationError
from runner.sinks.base import Destination, Upload
from runner.sinks.local import (
    LocalDestination,
    Staging,
    clean_stale_temporaries,
    fsync_dir,
    reason,
    stop_for_tests,
    target_lock,
)
from runner.spec.targets import part_number, part_path


class PartsDestination:
    """A split output: the set named after ``base`` (its display, manifest and lock);
    anything else (the history's ``root``, ``bucket``, ``client``) is ``base``'s."""

    def __init__(self, base: Destination) -> None:
        self.base = base

    def __getattr__(self, name: str) -> Any:
        if name == "base":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def display(self) -> str:
        return self.base.display

    @property
    def manifest_display(self) -> str:
        return self.base.manifest_display

    def part(self, number: int) -> Destination:
        """Where part ``number`` goes: ``-NNNN`` before the extension, beside the set."""
        base = self.base
        if isinstance(base, LocalDestination):
            name = part_path(base.target.name, number)
            shown = posixpath.join(posixpath.dirname(base.display), name)
            return LocalDestination(base.root, base.target.with_name(name), shown)
        from runner.locations import S3Location

        location = S3Location.parse(part_path(base.location.url, number))  # type: ignore[attr-defined]
        return dataclasses.replace(base, location=location)  # type: ignore[type-var]

    def open(self, content_type: str) -> Upload:
        if isinstance(self.base, LocalDestination):
            return LocalParts(self)
        from runner.sinks.parts_s3 import S3Parts

        return S3Parts(self.base, self.part, content_type)


class _PartFile:
    """One staged part: a new file in the staging folder, written as it streams."""

    def __init__(self, path: Path, dest: Destination) -> None:
        self.path, self.dest = path, dest
        self.file: BinaryIO = path.open("xb")

    def write(self, data: bytes) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            raise DestinationError(f"cannot write {self.dest.display}: {reason(exc)}") from exc

    def close(self) -> None:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            raise DestinationError(f"cannot write {self.dest.display}: {reason(exc)}") from exc


class LocalParts:
    """The upload of a local split output (see the module docstring)."""

    def __init__(self, dest: PartsDestination) -> None:
        base = dest.base
        assert isinstance(base, LocalDestination)
        self.dest, self.base = dest, base
        base.prepare()
        clean_stale_temporaries(base.target.parent)  # a killed run's staging folder
        try:
            self.staging = Staging(base.target.parent, base.target.name)
        except OSError as exc:
            raise base.error(exc) from exc
        self.staged: list[tuple[_PartFile, LocalDestination]] = []

    def write(self, data: bytes) -> int:
        raise TypeError("a split output is written part by part (open_part)")

    def open_part(self, number: int) -> _PartFile:
        part = self.dest.part(number)
        assert isinstance(part, LocalDestination)
        try:
            staged = _PartFile(self.staging.path / part.target.name, part)
        except OSError as exc:
            raise part.error(exc) from exc
        self.staged.append((staged, part))
        return staged

    def end_part(self, part: Any) -> str:
        staged, dest = self.staged[-1]
        staged.close()
        return dest.display

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        base = self.base
        staged_manifest = self.staging.path / "manifest.json"
        try:
            staged_manifest.write_bytes(manifest)
            with staged_manifest.open("rb+") as fh:
                os.fsync(fh.fileno())
        except OSError as exc:
            raise base.error(exc, base.manifest) from exc
        try:
            with target_lock(base.target):
                self._swap(staged_manifest)
                self._remove_extras()
        except OSError as exc:  # the lock file itself
            raise base.error(exc) from exc
        finally:
            self.staging.discard()

    def _swap(self, staged_manifest: Path) -> None:
        """Every part in place, then the manifest; on any failure, everything put back."""
        base = self.base
        old_manifest = base.set_old_manifest_aside()
        placed: list[tuple[Path, Path | None]] = []
        doing = base.target
        try:
            for number, (staged, part) in enumerate(self.staged, 1):
                doing, aside = part.target, None
                if os.path.lexists(part.target):
                    aside = self.staging.path / f"replaced-{number}"
                    os.rename(part.target, aside)
                placed.append((part.target, aside))
                os.rename(staged.path, part.target)
            fsync_dir(base.target.parent)
            stop_for_tests()
            doing = base.manifest
            os.rename(staged_manifest, base.manifest)
        except OSError as exc:
            for target, aside in reversed(placed):
                with contextlib.suppress(OSError):
                    if aside is not None:
                        os.replace(aside, target)
                    else:
                        target.unlink(missing_ok=True)
            base.put_back(old_manifest)
            raise DestinationError(
                f"{base.error(exc, doing)}; the previous set and its manifest are kept"
            ) from exc
        if old_manifest is not None:
            with contextlib.suppress(OSError):
                old_manifest.unlink()
        fsync_dir(base.target.parent)

    def _remove_extras(self) -> None:
        """The previous set's parts past this set's count (only once this set is in place)."""
        count, folder = len(self.staged), self.base.target.parent
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
        for name in names:
            number = part_number(name, self.base.target.name)
            if number is not None and number > count:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        fsync_dir(folder)

    def abort(self) -> None:
        for staged, _ in self.staged:
            with contextlib.suppress(OSError):
                staged.file.close()
        self.staging.discard()

"""Split outputs: numbered parts published as one set, all or none, with one manifest.

``output.split`` turns ``exports/vip.csv`` into ``exports/vip-0001.csv``,
``exports/vip-0002.csv``, ... and one manifest, ``exports/vip.csv.parts.manifest.json``,
listing every part: the plain file's manifest (``vip.csv.manifest.json``) only ever
describes ``vip.csv``. :class:`PartsDestination` stands for the set (its name, its
manifest, its lock); its upload hands out one byte sink per part
(:class:`~runner.formats.split.PartSink`) and publishes them together. With a preset's
default limits (:attr:`~runner.spec.split.SplitSpec.plain_if_one`) an export that fits
in one part is published as the plain file, under the plain name, with the plain
file's manifest.

- **Local**: the parts are written, one after the other, into a staging folder beside
  the target (``.segments-tmp-<random>-<name>``, ``flock``-ed while the run lives, so
  a run killed at any point before publishing leaves the previous set untouched and
  its folder is removed by the next run), each fsynced when it is complete. Publishing
  holds the target's lock (under ``.segments/locks/``, the same for both shapes): the
  old manifest is moved aside, each part replaces its namesake (the replaced file kept
  in the staging folder), then the new manifest goes in place. If anything fails
  before the manifest is in place, every replaced part and the old manifest are put
  back: nothing changed. A one-part plain export is the same with its staged part
  renamed to the plain name (no copy, nothing in memory).
- **S3**: each part is a multipart upload, completed only when the set is published
  (a part smaller than ``part_size_mb`` is sent as its upload's only part when it is
  complete, so memory holds one part buffer). Publishing: the old manifest object is
  read and deleted, each part's previous object copied aside (server side) before
  the part is completed, then the new manifest; on a failure before the manifest,
  the copies are put back (or the new parts deleted) and the old manifest rewritten.
  S3 has no lock (see README "S3"). With a preset's default limits the first part is
  uploaded under a temporary key (``.segments-tmp-<random>-vip-0001.csv``) and copied,
  server side, to its part's key or, alone, to the plain key by the single-file
  publish (:class:`~runner.sinks.s3.S3Upload`); a part of a platform's limit is at
  most 5 GB, what one copy takes.
- **The other shape**: once the new result and its manifest are in place, what the
  other shape left under this name is removed, manifest first: the plain file and its
  manifest when a set is published, the parts and the set's manifest when one plain
  file is (and a set's parts past its count). A plain output that does not split at
  all (``split`` turned off) removes, after it is published, the parts the set's
  manifest lists that are still those parts, then that manifest
  (:func:`remove_old_set`).

A run killed during the publishing itself (a handful of renames, or requests on S3)
can leave new parts beside old ones with no manifest: a reader knows a set by its
manifest, whose parts' ``sha256`` it can check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from runner.errors import DestinationError
from runner.sinks.base import Destination, Digest, Upload
from runner.sinks.local import (
    LocalDestination,
    Staging,
    before_manifest,
    clean_stale_temporaries,
    fsync_dir,
    reason,
)
from runner.sinks.locks import target_lock
from runner.sinks.private import create_private, write_private
from runner.spec.split import SplitSpec
from runner.spec.targets import part_number, part_path

SET_SUFFIX = ".parts"  # vip.csv.parts.manifest.json: the manifest of the set of vip.csv


class PartsDestination:
    """A split output: the set named after ``base`` (its display, lock and the plain
    name of a one-part export); anything else (the history's ``root``, ``bucket``,
    ``client``) is ``base``'s. The set's manifest is :attr:`whole`'s."""

    def __init__(self, base: Destination, split: SplitSpec) -> None:
        self.base, self.split = base, split

    def __getattr__(self, name: str) -> Any:
        if name in ("base", "split"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def display(self) -> str:
        return self.base.display

    @property
    def manifest_display(self) -> str:
        """The set's manifest (``vip.csv.parts.manifest.json``)."""
        return self.whole.manifest_display

    def shown_manifest(self, parts: int) -> str:
        """The manifest of an export published as ``parts`` parts (0: the plain file)."""
        return self.manifest_display if parts else self.base.manifest_display

    @property
    def whole(self) -> Destination:
        """``<path>.parts``: never written, it names the set's manifest, so the plain
        file's manifest (``<path>.manifest.json``) only ever describes the plain file."""
        base = self.base
        if isinstance(base, LocalDestination):
            target = base.target.with_name(base.target.name + SET_SUFFIX)
            return dataclasses.replace(base, target=target, display=base.display + SET_SUFFIX)
        from runner.locations import S3Location

        location = S3Location.parse(base.location.url + SET_SUFFIX)  # type: ignore[attr-defined]
        return dataclasses.replace(base, location=location)  # type: ignore[type-var]

    def part(self, number: int) -> Destination:
        """Where part ``number`` goes: ``-NNNN`` before the extension, beside the set."""
        base = self.base
        if isinstance(base, LocalDestination):
            name = part_path(base.target.name, number)
            shown = posixpath.join(posixpath.dirname(base.display), name)
            return dataclasses.replace(base, target=base.target.with_name(name), display=shown)
        from runner.locations import S3Location

        location = S3Location.parse(part_path(base.location.url, number))  # type: ignore[attr-defined]
        return dataclasses.replace(base, location=location)  # type: ignore[type-var]

    def published_into(self, digest: Digest) -> bool:
        """The plain file (a one-part export), else the parts from 1 up, joined."""
        if self.base.published_into(digest):
            return True
        number = 1
        while self.part(number).published_into(digest):
            number += 1
        return number > 1

    def open(self, content_type: str) -> Upload:
        if isinstance(self.base, LocalDestination):
            return LocalParts(self)
        from runner.sinks.parts_s3 import S3Parts

        return S3Parts(self.base, self.whole, self.part, self.split, content_type)


class _PartFile:
    """One staged part: a new file in the staging folder, written as it streams."""

    def __init__(self, path: Path, dest: LocalDestination) -> None:
        self.path, self.dest = path, dest
        self.file: BinaryIO = create_private(path, dest.mode)  # as a single-file export

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
        plain = self.dest.split.plain(len(self.staged))
        # One part of a preset's default split is the plain file, under the plain name.
        owner = base if plain else self.dest.whole
        assert isinstance(owner, LocalDestination)
        moves = (
            [(self.staged[0][0].path, base.target)]
            if plain
            else [(staged.path, part.target) for staged, part in self.staged]
        )
        staged_manifest = self.staging.path / "manifest.json"
        try:
            write_private(staged_manifest, manifest, owner.mode)
        except OSError as exc:
            raise owner.error(exc, owner.manifest) from exc
        try:
            with target_lock(base):
                self._swap(moves, owner, staged_manifest)
                self._remove_other_shape(plain)
        except OSError as exc:  # the lock file itself
            raise base.error(exc) from exc
        finally:
            self.staging.discard()

    def _swap(
        self, moves: list[tuple[Path, Path]], owner: LocalDestination, staged_manifest: Path
    ) -> None:
        """Every file in place, then the manifest; on any failure, everything put back."""
        old_manifest = owner.set_old_manifest_aside()
        placed: list[tuple[Path, Path | None]] = []
        doing = self.base.target
        try:
            for number, (staged, target) in enumerate(moves, 1):
                doing, aside = target, None
                if os.path.lexists(target):
                    aside = self.staging.path / f"replaced-{number}"
                    os.rename(target, aside)
                placed.append((target, aside))
                os.rename(staged, target)
            fsync_dir(owner.target.parent)
            before_manifest()
            doing = owner.manifest
            os.rename(staged_manifest, owner.manifest)
        except OSError as exc:
            for target, aside in reversed(placed):
                with contextlib.suppress(OSError):
                    if aside is not None:
                        os.replace(aside, target)
                    else:
                        target.unlink(missing_ok=True)
            owner.put_back(old_manifest)
            raise DestinationError(
                f"{owner.error(exc, doing)}; the previous files and manifest are kept"
            ) from exc
        if old_manifest is not None:
            with contextlib.suppress(OSError):
                old_manifest.unlink()
        fsync_dir(owner.target.parent)

    def _remove_other_shape(self, plain: bool) -> None:
        """Once the new result and its manifest are in place: the other shape's files
        (manifest first, so none describes what is left), and a set's extra parts."""
        base, whole = self.base, self.dest.whole
        assert isinstance(whole, LocalDestination)
        gone = [whole.manifest] if plain else [base.manifest, base.target]
        for path in gone:
            with contextlib.suppress(OSError):
                path.unlink()
        count, folder = (0 if plain else len(self.staged)), base.target.parent
        with os.scandir(folder) as entries:
            names = [e.name for e in entries]
        for name in names:
            number = part_number(name, base.target.name)
            if number is not None and number > count:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        fsync_dir(folder)

    def abort(self) -> None:
        for staged, _ in self.staged:
            with contextlib.suppress(OSError):
                staged.file.close()
        self.staging.discard()


def remove_old_set(dest: Destination) -> None:
    """After one file was published by a destination that does not split (``split``
    turned off, ``split: false``): the set published before under its name, if its
    manifest is there: each part it lists that is still that part (same size), then
    the manifest. A split output's upload does this itself."""
    if isinstance(dest, PartsDestination):
        return
    whole = PartsDestination(dest, SplitSpec()).whole
    if not isinstance(dest, LocalDestination):
        from runner.sinks.parts_s3 import remove_old_s3_set

        remove_old_s3_set(dest, whole)
        return
    assert isinstance(whole, LocalDestination)
    try:
        listed = json.loads(whole.manifest.read_bytes())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no set here (or not one this runner wrote)
    with contextlib.suppress(OSError), target_lock(dest):
        for entry in listed:
            part = dest.target.with_name(part_path(dest.target.name, int(entry["number"])))
            if part.stat().st_size == entry["bytes"]:
                part.unlink()
        whole.manifest.unlink()
        fsync_dir(dest.target.parent)

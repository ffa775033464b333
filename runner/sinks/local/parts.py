"""A split output on local disk: its parts staged in a folder, published as one set.

The protocol is in :mod:`runner.sinks.parts`: the parts are written, one after the
other, into a staging folder beside the target (``.segments-tmp-<random>-<name>``,
``flock``-ed while the run lives), each fsynced when it is complete; publishing holds
the target's lock, moves the old manifest aside, replaces each part (the replaced file
kept in the staging folder), then puts the new manifest in place, or puts everything
back.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from runner.errors import DestinationError
from runner.sinks.base import PartsUpload, before_manifest, set_name
from runner.sinks.local.files import Staging, clean_stale_temporaries, fsync_dir, reason
from runner.sinks.local.locks import target_lock
from runner.sinks.local.private import create_private, write_private
from runner.sinks.local.target import LocalTarget
from runner.spec.targets import part_number, part_path

if TYPE_CHECKING:
    from runner.spec.split import SplitSpec


class _PartFile:
    """One staged part: a new file in the staging folder, written as it streams."""

    def __init__(self, path: Path, dest: LocalTarget) -> None:
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


class LocalParts(PartsUpload):
    """The upload of a local split output named after ``base`` (see the module docstring)."""

    def __init__(self, base: LocalTarget, split: SplitSpec) -> None:
        self.base, self.split = base, split
        self.whole = base.sibling(set_name)  # names the set's manifest
        base.prepare()
        clean_stale_temporaries(base.target.parent)  # a killed run's staging folder
        try:
            self.staging = Staging(base.target.parent, base.target.name)
        except OSError as exc:
            raise base.error(exc) from exc
        self.staged: list[tuple[_PartFile, LocalTarget]] = []

    def open_part(self, number: int) -> _PartFile:
        part = self.base.sibling(lambda name: part_path(name, number))
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
        plain = self.split.plain(len(self.staged))
        # One part of a preset's default split is the plain file, under the plain name.
        owner = base if plain else self.whole
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
        self, moves: list[tuple[Path, Path]], owner: LocalTarget, staged_manifest: Path
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
        base = self.base
        gone = [self.whole.manifest] if plain else [base.manifest, base.target]
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


def remove_old_local_set(dest: LocalTarget, whole: LocalTarget) -> None:
    """:meth:`~runner.sinks.base.Destination.remove_old_set` on disk: each part the set's
    manifest (``whole``'s) lists that is still that part (same size), then the manifest."""
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

"""A split output on local disk: its parts staged in a folder, published as one set.

The protocol is in :mod:`runner.sinks.parts`: the parts are written, one after the
other, into a staging folder beside the target (``.segments-tmp-<random>-<name>``,
``flock``-ed while the run lives), each fsynced when it is complete; publishing holds
the target's lock, moves the old manifest aside, replaces each part (the replaced file
kept in the staging folder), then puts the new manifest in place, or puts everything
back. As a companion (a holdout's set: :meth:`LocalParts.placement`) the parts are
placed the same way, without a manifest, and put back if the output is not published.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from runner.errors import DestinationError
from runner.sinks.base import PartsUpload, Placement, before_manifest, set_name
from runner.sinks.local.files import Staging, clean_stale_temporaries, fsync_dir, reason
from runner.sinks.local.group import group_lock
from runner.sinks.local.locks import target_lock
from runner.sinks.local.private import create_private, write_private
from runner.sinks.local.target import LocalTarget
from runner.spec.targets import part_path

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

    def moves(self, plain: bool) -> list[tuple[Path, Path]]:
        """(staged file, target) of each part; one part of a preset's default split is
        the plain file, under the plain name."""
        if plain:
            return [(self.staged[0][0].path, self.base.target)]
        return [(staged.path, part.target) for staged, part in self.staged]

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        base = self.base
        plain = self.split.plain(len(self.staged))
        owner = base if plain else self.whole
        staged_manifest = self.staging.path / "manifest.json"
        try:
            write_private(staged_manifest, manifest, owner.mode)
        except OSError as exc:
            raise owner.error(exc, owner.manifest) from exc
        try:
            with target_lock(base):
                self._swap(self.moves(plain), owner, staged_manifest)
        except OSError as exc:  # the lock file itself
            raise base.error(exc) from exc
        finally:
            self.staging.discard()

    def _swap(
        self, moves: list[tuple[Path, Path]], owner: LocalTarget, staged_manifest: Path
    ) -> None:
        """Every file in place, then the manifest; on any failure, everything put back."""
        old_manifest = owner.set_old_manifest_aside()
        try:
            placed = self.place(moves, owner, "the previous files and manifest are kept")
        except DestinationError:
            owner.put_back(old_manifest)
            raise
        try:
            before_manifest()
            os.rename(staged_manifest, owner.manifest)
        except OSError as exc:
            put_back(placed)
            owner.put_back(old_manifest)
            raise DestinationError(
                f"{owner.error(exc, owner.manifest)}; the previous files and manifest are kept"
            ) from exc
        if old_manifest is not None:
            with contextlib.suppress(OSError):
                old_manifest.unlink()
        fsync_dir(owner.target.parent)

    def place(
        self, moves: list[tuple[Path, Path]], owner: LocalTarget, kept: str
    ) -> list[tuple[Path, Path | None]]:
        """Each staged file renamed over its target, the replaced one kept in the staging
        folder: (target, where the replaced file is). On a failure every file is put back
        and DestinationError says ``kept``."""
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
        except OSError as exc:
            put_back(placed)
            raise DestinationError(f"{owner.error(exc, doing)}; {kept}") from exc
        fsync_dir(owner.target.parent)
        return placed

    def placement(self) -> Placement:
        """The set as a companion (a holdout's set beside the output): its parts put in
        place before the output, put back if the output is not published."""
        return _SetPlacement(self)

    def group_lock(self) -> AbstractContextManager[None]:
        return group_lock(self.base)

    def abort(self) -> None:
        for staged, _ in self.staged:
            with contextlib.suppress(OSError):
                staged.file.close()
        self.staging.discard()


def put_back(placed: list[tuple[Path, Path | None]]) -> None:
    """Undo :meth:`LocalParts.place`: each replaced file back, each new one removed."""
    for target, aside in reversed(placed):
        with contextlib.suppress(OSError):
            if aside is not None:
                os.replace(aside, target)
            else:
                target.unlink(missing_ok=True)


class _SetPlacement:
    """A set of parts published as a companion (:mod:`runner.sinks.group`), without a
    manifest of its own: the output's manifest lists its parts (a holdout's)."""

    def __init__(self, upload: LocalParts) -> None:
        self.upload = upload
        self.plain = upload.split.plain(len(upload.staged))
        self.placed: list[tuple[Path, Path | None]] = []

    def place(self) -> None:
        upload = self.upload
        self.placed = upload.place(upload.moves(self.plain), upload.base, "nothing was published")

    def restore(self) -> None:
        put_back(self.placed)
        self.placed = []

    def drop(self) -> None:
        """Published: the replaced files go (with the staging folder)."""
        self.upload.staging.discard()

"""Local files: written to an exclusive temporary beside the target, published under a lock.

Publishing one target (``out/t.csv``) takes an ``flock`` on its lock file, kept with the
tool's own state under the output root (``<root>/.segments/locks/<hash>-t.csv``, never
among the files a pickup job or a synced folder hands on) and, holding it: removes the
old manifest (set aside, put back if the data cannot be replaced), renames the data
over ``t.csv``, renames the manifest (written and fsynced before the lock) over
``t.csv.manifest.json``. So at every instant a manifest that exists describes the file
beside it, and two runs of one segment publish one after the other, never a mix.

Temporaries and their clean-up are :mod:`runner.sinks.local.files`; a split output's
parts :mod:`runner.sinks.local.parts`; a companion of a group publish
:mod:`runner.sinks.local.group`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from runner.errors import ManifestError
from runner.sinks.base import PartWriter, Placement, Upload, before_manifest
from runner.sinks.local.files import Temporary, clean_stale_temporaries, fsync_dir, reason
from runner.sinks.local.group import LocalPlacement, group_lock
from runner.sinks.local.locks import target_lock
from runner.sinks.local.parts import LocalParts
from runner.sinks.local.target import LocalTarget

if TYPE_CHECKING:
    from runner.spec.project import Project
    from runner.spec.segment import Segment
    from runner.spec.split import SplitSpec


class LocalUpload:
    def __init__(self, dest: LocalTarget) -> None:
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
        fsync_dir(dest.target.parent)
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
        fsync_dir(dest.target.parent)

    def abort(self) -> None:
        self.data.discard()
        if self._manifest is not None:
            self._manifest.discard()

    def placement(self) -> Placement:
        return LocalPlacement(self.data, self.dest, self.abort)

    def part_writer(self) -> PartWriter | None:
        return None  # one file: no parts

    def group_lock(self) -> AbstractContextManager[None]:
        return group_lock(self.dest)


@dataclass(frozen=True)
class LocalDestination(LocalTarget):
    """A file under the output root: the :class:`~runner.sinks.base.Destination` of a
    local path (or of any path under ``--out DIR``)."""

    scheme: ClassVar[str] = "file"

    @classmethod
    def for_path(cls, path: str, seg: Segment, project: Project) -> LocalDestination:
        """``path`` under the project's folder (``--out DIR``:
        :meth:`runner.sinks.roots.LocalRoot.destination`)."""
        return cls.under(project.local_root, path, seg.output.mode)

    def open(self, content_type: str = "") -> LocalUpload:
        """The upload (a local file keeps no content type)."""
        self.prepare()
        try:
            return LocalUpload(self)
        except OSError as exc:
            raise self.error(exc) from exc

    def open_set(self, split: SplitSpec, content_type: str) -> Upload:
        return LocalParts(self, split)

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

- **Local** (:mod:`runner.sinks.local.parts`): the parts are written, one after the
  other, into a staging folder beside the target (``.segments-tmp-<random>-<name>``,
  ``flock``-ed while the run lives, so a run killed at any point before publishing
  leaves the previous set untouched and its folder is removed by the next run), each
  fsynced when it is complete. Publishing holds the target's lock (under
  ``.segments/locks/``, the same for both shapes): the old manifest is moved aside, each
  part replaces its namesake (the replaced file kept in the staging folder), then the
  new manifest goes in place. If anything fails before the manifest is in place, every
  replaced part and the old manifest are put back: nothing changed. A one-part plain
  export is the same with its staged part renamed to the plain name (no copy, nothing in
  memory).
- **S3** (:mod:`runner.sinks.s3.parts`): each part is a multipart upload, completed only
  when the set is published (a part smaller than ``part_size_mb`` is sent as its
  upload's only part when it is complete, so memory holds one part buffer). Publishing:
  the old manifest object is read and deleted, each part's previous object copied aside
  (server side) before the part is completed, then the new manifest; on a failure before
  the manifest, the copies are put back (or the new parts deleted) and the old manifest
  rewritten. S3 has no lock (see README "S3"). With a preset's default limits the first
  part is uploaded under a temporary key (``.segments-tmp-<random>-vip-0001.csv``) and
  copied, server side, to its part's key or, alone, to the plain key by the single-file
  publish (:class:`~runner.sinks.s3.S3Upload`); a part of a platform's limit is at most
  5 GB, what one copy takes.
- **What the result before left**: once the new result and its manifest are in place,
  the run removes the files the previous result's manifest listed that the new one does
  not (the other shape, a set's parts past the new count, a holdout no longer held
  back...): :mod:`runner.run.supersede`, through each destination's
  :meth:`~runner.sinks.base.Destination.remove_published`, which removes only a file
  that is still what that manifest listed.

- **As a companion** (a holdout's set, published with the output: runner.run.route):
  its upload's ``placement()`` puts its parts in place as above but writes no manifest
  of its own (the output's lists them), keeps each replaced file or object until the
  output is published, and puts them back if it is not.

A run killed during the publishing itself (a handful of renames, or requests on S3)
can leave new parts beside old ones with no manifest: a reader knows a set by its
manifest, whose parts' ``sha256`` it can check.
"""

from __future__ import annotations

from collections.abc import Callable

from runner.sinks.base import Destination, Digest, StateRoot, Upload, set_name
from runner.spec.split import SplitSpec
from runner.spec.targets import part_path

__all__ = ["PartsDestination"]


class PartsDestination:
    """A split output: the set named after ``base`` (its display, lock, history and the
    plain name of a one-part export). The set's manifest is :attr:`whole`'s."""

    def __init__(self, base: Destination, split: SplitSpec) -> None:
        self.base, self.split = base, split

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
        return self.base.sibling(set_name)

    def part(self, number: int) -> Destination:
        """Where part ``number`` goes: ``-NNNN`` before the extension, beside the set."""
        return self.base.sibling(lambda name: part_path(name, number))

    def sibling(self, rename: Callable[[str], str]) -> PartsDestination:
        return PartsDestination(self.base.sibling(rename), self.split)

    def published_into(self, digest: Digest) -> bool:
        """The plain file (a one-part export), else the parts from 1 up, joined."""
        if self.base.published_into(digest):
            return True
        number = 1
        while self.part(number).published_into(digest):
            number += 1
        return number > 1

    def open(self, content_type: str) -> Upload:
        return self.base.open_set(self.split, content_type)

    def open_set(self, split: SplitSpec, content_type: str) -> Upload:
        return self.base.open_set(split, content_type)

    def read_manifest(self) -> bytes | None:
        """The plain file's manifest (the set's is :attr:`whole`'s)."""
        return self.base.read_manifest()

    def remove_published(self, size: int, sha256: str) -> bool:
        return self.base.remove_published(size, sha256)

    def remove_manifest(self, data: bytes) -> bool:
        return self.base.remove_manifest(data)

    def state_root(self) -> StateRoot:
        return self.base.state_root()

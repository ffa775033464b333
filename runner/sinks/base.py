"""What a destination is: the small interfaces every destination implements.

:class:`Destination` says everything the run asks of a place a file is published to
(local disk: :mod:`runner.sinks.local`; S3: :mod:`runner.sinks.s3`; a split output's
set of parts: :mod:`runner.sinks.parts`), and :class:`Upload` everything it asks of
the bytes on their way there, including their part in a group published together
(:mod:`runner.sinks.group`). Callers never ask which kind they hold.

The destination modules and :mod:`runner.sinks` (the registry) import this, so the
imports run one way.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from runner.spec.project import Project
    from runner.spec.segment import Segment
    from runner.spec.split import SplitSpec

TEMP_PREFIX = ".segments-tmp-"  # a temporary file, folder or object, beside its target
MANIFEST_SUFFIX = ".manifest.json"
SET_SUFFIX = ".parts"  # vip.csv.parts.manifest.json: the manifest of the set of vip.csv

# Callbacks run once the data is in place and before its manifest is: empty in use. Tests
# append one (tests/hooked.py, in the child process) to kill a run exactly there.
BEFORE_MANIFEST: list[Callable[[], None]] = []


def before_manifest() -> None:
    """Run the :data:`BEFORE_MANIFEST` callbacks (none outside tests)."""
    for hook in BEFORE_MANIFEST:
        hook()


def set_name(name: str) -> str:
    """The name the manifest of the set of parts of ``name`` is made from.

    >>> set_name("vip.csv")
    'vip.csv.parts'
    """
    return name + SET_SUFFIX


class Placement(Protocol):
    """One companion of a group publish (:mod:`runner.sinks.group`)."""

    def place(self) -> None:
        """Put the new bytes under their name, keeping what they replace."""

    def restore(self) -> None:
        """Put back what :meth:`place` replaced (or remove the new bytes if nothing was)."""

    def drop(self) -> None:
        """The group is published: let go of what was kept."""


class PartWriter(Protocol):
    """A split output's upload as the encoder sees it (``runner.formats.split.PartSink``
    says the same from the formats' side): a part opened, a part ended."""

    def open_part(self, number: int) -> Any: ...

    def end_part(self, part: Any) -> str: ...


class Upload(Protocol):
    def write(self, data: bytes) -> int: ...

    def part_writer(self) -> PartWriter | None:
        """How its parts are written when it is a split output's upload, else None (the
        encoder then writes every part into this one upload: ``--dry-run``)."""

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        """Make the data visible under its name and write ``manifest`` beside it.

        Raises :class:`~runner.errors.DestinationError` when nothing was published, and
        :class:`~runner.errors.ManifestError` when the data was published but its manifest
        was not (its message says what is left at the destination).
        """

    def abort(self) -> None: ...

    def placement(self) -> Placement:
        """This upload as a companion published with another file (never published itself)."""

    def group_lock(self) -> AbstractContextManager[None]:
        """Held while a group whose first companion is this upload is published."""


class _Nothing:
    def place(self) -> None:
        pass

    def restore(self) -> None:
        pass

    def drop(self) -> None:
        pass


class DiscardUpload:
    """``--dry-run``: takes every byte, publishes nothing."""

    def write(self, data: bytes) -> int:
        return len(data)

    def part_writer(self) -> PartWriter | None:
        return None

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        pass

    def abort(self) -> None:
        pass

    def placement(self) -> Placement:
        return _Nothing()

    def group_lock(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


class PartsUpload:
    """What the upload of a split output says to the calls it does not take: it is
    written part by part (``open_part``/``end_part``), and published by itself or as a
    companion (a holdout's set beside the output: each kind's ``placement``)."""

    def write(self, data: bytes) -> int:
        raise TypeError("a split output is written part by part (open_part)")

    def part_writer(self) -> PartWriter | None:
        return self

    def open_part(self, number: int) -> Any:  # each kind's parts (local/parts.py, s3/parts.py)
        raise NotImplementedError

    def end_part(self, part: Any) -> str:
        raise NotImplementedError

    def placement(self) -> Placement:  # each kind's set as a companion
        raise NotImplementedError

    def group_lock(self) -> AbstractContextManager[None]:
        raise NotImplementedError


@dataclass(frozen=True)
class StateRoot:
    """Where the runner keeps its own state (the run history) for a destination: a
    folder, or an ``s3://bucket/prefix`` read and written through ``client``."""

    where: str
    client: object | None = None


class Destination(Protocol):
    @property
    def display(self) -> str: ...

    @property
    def manifest_display(self) -> str: ...

    def shown_manifest(self, parts: int) -> str:
        """The manifest of an export published as ``parts`` parts (0: one file)."""

    def open(self, content_type: str) -> Upload:
        """Start the upload of bytes of ``content_type`` (what the format says they are)."""

    def open_set(self, split: SplitSpec, content_type: str) -> Upload:
        """Start the upload of a split output named after this destination: numbered
        parts (``open_part``/``end_part``) published as one set (:mod:`runner.sinks.parts`)."""

    def sibling(self, rename: Callable[[str], str]) -> Self:
        """The destination beside this one whose name is ``rename`` of this one's."""

    def published_into(self, digest: Digest) -> bool:
        """Feed what is published here now (a split output's parts joined) to ``digest``;
        False when nothing is. DestinationError when it cannot be read."""

    def read_manifest(self) -> bytes | None:
        """The bytes of the manifest beside this name (``<name>.manifest.json``); None
        when there is none or it cannot be read."""

    def remove_published(self, size: int, sha256: str) -> bool:
        """Remove the file here if it is still the one a manifest listed: ``size`` bytes
        whose sha256 is ``sha256`` (on S3 its ``sha256`` metadata). True when removed; a
        file rewritten since, or one this runner did not write, stays."""

    def remove_manifest(self, data: bytes) -> bool:
        """Remove the manifest beside this name if its bytes are still ``data``."""

    def state_root(self) -> StateRoot:
        """Where the history of this destination lives (under ``--out`` if it was given)."""


class Digest(Protocol):
    """A hash being computed (``hashlib.sha256()``)."""

    def update(self, data: bytes, /) -> None: ...


def published_sha256(dest: Destination) -> str | None:
    """The sha256 of what ``dest`` holds now, None when it holds nothing."""
    digest = hashlib.sha256()
    return digest.hexdigest() if dest.published_into(digest) else None


class DestinationType(Protocol):
    """A kind of destination: what :data:`DESTINATIONS` holds under its URL scheme."""

    scheme: str

    def for_path(self, path: str, seg: Segment, project: Project) -> Destination:
        """Where ``path`` (the segment's output path) goes when no ``--out`` re-roots it
        (:meth:`runner.sinks.roots.LocalRoot.destination`, ``S3Root.destination``)."""

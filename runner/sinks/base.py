"""What a destination is: the small interfaces every destination implements.

The destination modules (:mod:`~runner.sinks.local`, ``s3``, ``parts``) and
:mod:`runner.sinks` (the registry) import this, so the imports run one way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runner.sinks.roots import OutputRoot
    from runner.spec.project import Project
    from runner.spec.segment import Segment


class Upload(Protocol):
    def write(self, data: bytes) -> int: ...

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        """Make the data visible under its name and write ``manifest`` beside it.

        Raises :class:`~runner.errors.DestinationError` when nothing was published, and
        :class:`~runner.errors.ManifestError` when the data was published but its manifest
        was not (its message says what is left at the destination).
        """

    def abort(self) -> None: ...


class DiscardUpload:
    """``--dry-run``: takes every byte, publishes nothing."""

    def write(self, data: bytes) -> int:
        return len(data)

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        pass

    def abort(self) -> None:
        pass


class Destination(Protocol):
    @property
    def display(self) -> str: ...

    @property
    def manifest_display(self) -> str: ...

    def open(self, content_type: str) -> Upload:
        """Start the upload of bytes of ``content_type`` (what the format says they are)."""

    def published_into(self, digest: Digest) -> bool:
        """Feed what is published here now (a split output's parts joined) to ``digest``;
        False when nothing is. DestinationError when it cannot be read."""


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

    def for_path(
        self, path: str, root: OutputRoot | None, seg: Segment, project: Project
    ) -> Destination:
        """Where ``path`` (the segment's output path) goes, under ``root`` if given."""

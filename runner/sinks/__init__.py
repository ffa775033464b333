"""Destinations: where a finished file is published, atomically.

One small interface and a registry (local disk, S3). A destination hands out
an :class:`Upload`, a binary stream that becomes visible under its final name
only on :meth:`Upload.commit`; :meth:`Upload.abort` leaves the previous
file or object untouched and nothing half-written behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from runner.errors import PathEscapeError

if TYPE_CHECKING:
    from runner.config import Project
    from runner.spec import Segment


class Upload(Protocol):
    def write(self, data: bytes) -> int: ...

    def set_metadata(self, metadata: dict[str, str]) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class DiscardUpload:
    """``--dry-run``: takes every byte, publishes nothing."""

    def write(self, data: bytes) -> int:
        return len(data)

    def set_metadata(self, metadata: dict[str, str]) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Destination(Protocol):
    @property
    def display(self) -> str: ...

    def open(self) -> Upload: ...

    def write_manifest(self, data: bytes) -> None: ...

    def manifest_display(self) -> str: ...


def destination_for(seg: Segment, project: Project, out: str | None = None) -> Destination:
    """The destination of ``seg``, re-rooted under ``out`` (a folder or s3:// prefix) if given."""
    from pathlib import Path

    from runner.sinks.local import LocalDestination

    path = seg.output.path
    if out and out.startswith("s3://"):
        prefix = out.rstrip("/")
        key = path[5:] if path.startswith("s3://") else path
        return _s3(f"{prefix}/{key}", seg, project)
    if path.startswith("s3://"):
        if out is None:
            return _s3(path, seg, project)
        # A try run: the object goes to a local folder named after the bucket.
        return LocalDestination.under(Path(out), path[5:])
    root = Path(out) if out else project.local_root
    return LocalDestination.under(root, path)


def _s3(url: str, seg: Segment, project: Project) -> Destination:
    from runner.sinks.s3 import S3Destination

    return S3Destination.from_url(url, seg, project)


__all__ = ["Destination", "DiscardUpload", "PathEscapeError", "Upload", "destination_for"]

"""Destinations: where a finished file is published, atomically, with its manifest.

One small interface and a registry (local disk, S3). A destination hands out
an :class:`Upload`, a binary stream that becomes visible under its final name
only on :meth:`Upload.publish`, which also writes the manifest beside it;
:meth:`Upload.abort` leaves the previous file or object untouched and nothing
half-written behind.

``--out`` is parsed once into an :class:`OutputRoot` (a local folder or an
``s3://`` prefix) and every segment's path is re-rooted under it:

>>> root = parse_output_root("s3://try-bucket/run-1")
>>> rerooted_s3(root, "s3://seg-bucket/exports/t.csv").url
's3://try-bucket/run-1/seg-bucket/exports/t.csv'
>>> rerooted_s3(root, "exports/t.csv").url
's3://try-bucket/run-1/exports/t.csv'
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from runner.errors import DestinationError, PathEscapeError, UsageError
from runner.locations import S3_SCHEME, S3Location

if TYPE_CHECKING:
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

    def open(self) -> Upload: ...


@dataclass(frozen=True)
class LocalRoot:
    """``--out DIR``: every output goes under this folder (an s3:// output under DIR/bucket/)."""

    path: Path

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class S3Root:
    """``--out s3://bucket[/prefix]``: every output goes under this prefix."""

    location: S3Location

    def __str__(self) -> str:
        return self.location.url


OutputRoot = LocalRoot | S3Root

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def parse_output_root(text: str) -> OutputRoot:
    """``--out`` as a typed value; ValueError names what is wrong with it.

    >>> parse_output_root("s3://")
    Traceback (most recent call last):
    ...
    ValueError: 's3://' names no bucket: write s3://BUCKET/...
    """
    if not text.strip():
        raise ValueError("is empty: give a folder or an s3://BUCKET[/PREFIX]")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"{text!r} contains a control character")
    if text.startswith(S3_SCHEME):
        return S3Root(S3Location.parse(text, prefix=True))
    if _SCHEME.match(text):
        raise ValueError(f"{text!r}: only local folders and s3:// locations are supported")
    if ".." in Path(text).parts:
        raise ValueError(f"{text!r} contains '..': give the folder without it")
    return LocalRoot(Path(text))


def as_output_root(out: OutputRoot | str | None) -> OutputRoot | None:
    """Python callers may pass ``--out`` as text: it is parsed the same way (UsageError)."""
    if out is None or isinstance(out, LocalRoot | S3Root):
        return out
    try:
        return parse_output_root(out)
    except ValueError as exc:
        raise UsageError(f"--out {exc}") from exc


def rerooted_s3(root: S3Root, path: str) -> S3Location:
    """``path`` under ``root``: an s3:// path keeps its bucket as the first folder."""
    relative = path[len(S3_SCHEME) :] if path.startswith(S3_SCHEME) else _relative(path)
    try:
        return root.location.join(relative)
    except ValueError as exc:
        raise DestinationError(f"{path} under --out {root}: {exc}") from exc


def _relative(path: str) -> str:
    clean = posixpath.normpath(path)
    if clean.startswith(("/", "../")) or clean in ("..", "."):
        raise PathEscapeError(f"output path {path!r} cannot be re-rooted: it leaves its folder")
    return clean


def destination_for(
    seg: Segment, project: Project, out: OutputRoot | str | None = None
) -> Destination:
    """The destination of ``seg``, re-rooted under ``out`` (a folder or s3:// prefix) if given.

    ``--out DIR`` puts ``s3://bucket/key`` at ``DIR/bucket/key`` (a try run) and a local
    path at ``DIR/path``; ``--out s3://b/p`` puts them at ``s3://b/p/bucket/key`` and
    ``s3://b/p/path``.
    """
    from runner.sinks.local import LocalDestination

    root = as_output_root(out)
    path = seg.output.path
    if isinstance(root, S3Root):
        return _s3(rerooted_s3(root, path), seg, project)
    if path.startswith(S3_SCHEME):
        if root is None:
            try:
                location = S3Location.parse(path)
            except ValueError as exc:
                raise DestinationError(f"output path {path}: {exc}") from exc
            return _s3(location, seg, project)
        return LocalDestination.under(root.path, path[len(S3_SCHEME) :])
    return LocalDestination.under(root.path if root else project.local_root, path)


def _s3(location: S3Location, seg: Segment, project: Project) -> Destination:
    from runner.sinks.s3 import S3Destination

    return S3Destination.at(location, seg, project)


__all__ = [
    "Destination",
    "DiscardUpload",
    "LocalRoot",
    "OutputRoot",
    "PathEscapeError",
    "S3Root",
    "Upload",
    "as_output_root",
    "destination_for",
    "parse_output_root",
]

"""Destinations: where a finished file is published, atomically, with its manifest.

One small interface and a registry by URL scheme (:data:`DESTINATIONS`: ``file``
for local disk, ``s3``). A destination hands out an :class:`Upload`, a binary
stream that becomes visible under its final name only on :meth:`Upload.publish`,
which also writes the manifest beside it; :meth:`Upload.abort` leaves the previous
file or object untouched and nothing half-written behind. Adding a destination is
adding one subpackage whose class implements :class:`~runner.sinks.base.Destination`
(each kind is one: :mod:`runner.sinks.local`, :mod:`runner.sinks.s3`), with a
``scheme`` and :meth:`DestinationType.for_path`; no caller asks which kind it holds.

``--out`` (:mod:`runner.sinks.roots`) re-roots every segment's path: its scheme,
not the path's, picks the destination. ``output.split`` makes the destination a set
of numbered parts published together (:mod:`runner.sinks.parts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from runner.errors import DestinationError, PathEscapeError
from runner.sinks.base import (
    Destination,
    DestinationType,
    DiscardUpload,
    StateRoot,
    Upload,
    published_sha256,
)
from runner.sinks.roots import (
    LocalRoot,
    OutputRoot,
    S3Root,
    as_output_root,
    parse_output_root,
    rerooted_s3,
    scheme_of,
)

if TYPE_CHECKING:
    from runner.spec.project import Project
    from runner.spec.segment import Segment


def _local() -> DestinationType:
    from runner.sinks.local import LocalDestination

    return LocalDestination


def _s3() -> DestinationType:
    from runner.sinks.s3 import S3Destination  # boto3 loads only when S3 is used

    return S3Destination


# Scheme -> the destination class, imported when first used.
DESTINATIONS: dict[str, Callable[[], DestinationType]] = {"file": _local, "s3": _s3}


def manifest_display(dest: Destination, parts: int) -> str:
    """Where the manifest of an export published as ``parts`` parts (0: one file) is."""
    return dest.shown_manifest(parts)


def destination_for(
    seg: Segment, project: Project, out: OutputRoot | str | None = None
) -> Destination:
    """The destination of ``seg``, re-rooted under ``out`` (a folder or s3:// prefix) if given.

    ``--out DIR`` puts ``s3://bucket/key`` at ``DIR/bucket/key`` (a try run) and a local
    path at ``DIR/path``; ``--out s3://b/p`` puts them at ``s3://b/p/bucket/key`` and
    ``s3://b/p/path``.
    """
    root = as_output_root(out)
    path = seg.output.path
    if root is not None:
        dest = root.destination(path, seg, project)
    else:
        scheme = scheme_of(path)
        if scheme not in DESTINATIONS:
            raise DestinationError(f"output path {path}: no destination for {scheme}://")
        dest = DESTINATIONS[scheme]().for_path(path, seg, project)
    if seg.output.split is None:
        return dest
    from runner.sinks.parts import PartsDestination  # numbered parts, published as a set

    return PartsDestination(dest, seg.output.split)


__all__ = [
    "DESTINATIONS",
    "Destination",
    "DestinationType",
    "DiscardUpload",
    "LocalRoot",
    "OutputRoot",
    "PathEscapeError",
    "S3Root",
    "StateRoot",
    "Upload",
    "as_output_root",
    "destination_for",
    "manifest_display",
    "parse_output_root",
    "published_sha256",
    "rerooted_s3",
]

"""``--out``: one folder or ``s3://`` prefix that every output of a run goes under.

``--out`` is parsed once into an :class:`OutputRoot` and every segment's path is
re-rooted under it; a path of another scheme keeps its location as folders:

>>> root = parse_output_root("s3://try-bucket/run-1")
>>> rerooted_s3(root, "s3://seg-bucket/exports/t.csv").url
's3://try-bucket/run-1/seg-bucket/exports/t.csv'
>>> rerooted_s3(root, "exports/t.csv").url
's3://try-bucket/run-1/exports/t.csv'
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from runner.errors import DestinationError, PathEscapeError, UsageError
from runner.locations import S3_SCHEME, STATE_DIR, S3Location

if TYPE_CHECKING:
    from runner.sinks.base import Destination
    from runner.spec.project import Project
    from runner.spec.segment import Segment

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme_of(path: str) -> str:
    """The URL scheme of an output path, ``file`` for a local path.

    >>> scheme_of("s3://b/k.csv"), scheme_of("exports/k.csv")
    ('s3', 'file')
    """
    match = _SCHEME.match(path)
    return match.group(1).lower() if match else "file"


def without_scheme(path: str) -> str:
    """``s3://bucket/key`` as ``bucket/key``: where it goes under a folder of another scheme."""
    match = _SCHEME.match(path)
    return path[match.end() :] if match else path


@dataclass(frozen=True)
class LocalRoot:
    """``--out DIR``: every output goes under this folder (an s3:// output under DIR/bucket/)."""

    scheme: ClassVar[str] = "file"
    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def destination(self, path: str, seg: Segment, project: Project) -> Destination:
        """``path`` under this folder (``s3://bucket/key`` at ``DIR/bucket/key``)."""
        from runner.sinks.local import LocalDestination

        return LocalDestination.under(self.path, without_scheme(path), seg.output.mode)


@dataclass(frozen=True)
class S3Root:
    """``--out s3://bucket[/prefix]``: every output goes under this prefix."""

    scheme: ClassVar[str] = "s3"
    location: S3Location

    def __str__(self) -> str:
        return self.location.url

    def destination(self, path: str, seg: Segment, project: Project) -> Destination:
        """``path`` under this prefix (an s3:// path keeps its bucket as a folder); the
        history lives under the prefix too."""
        from runner.sinks.s3 import S3Destination  # boto3 loads only when S3 is used

        return S3Destination.at(rerooted_s3(self, path), seg, project, state=self.location.url)


OutputRoot = LocalRoot | S3Root


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
        location = S3Location.parse(text, prefix=True)
        if STATE_DIR in location.key.split("/"):
            raise ValueError(f"{text!r} is inside a {STATE_DIR} folder, the runner's own state")
        return S3Root(location)
    if _SCHEME.match(text):
        raise ValueError(f"{text!r}: only local folders and s3:// locations are supported")
    if ".." in Path(text).parts:
        raise ValueError(f"{text!r} contains '..': give the folder without it")
    if STATE_DIR in Path(text).parts:
        raise ValueError(f"{text!r} is inside a {STATE_DIR} folder, the runner's own state")
    return LocalRoot(Path(text))


def as_output_root(out: OutputRoot | str | None) -> OutputRoot | None:
    """Python callers may pass ``--out`` as text: it is parsed the same way (UsageError)."""
    if not isinstance(out, str):
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

"""An S3 destination: one object (and its manifest object) per output, under a bucket.

:class:`S3Destination` is an :class:`~runner.sinks.s3.target.S3Target` (where it goes
and its uploads) chosen from a segment's path; a split output's parts are
:mod:`runner.sinks.s3.parts`, a companion of a group publish :mod:`runner.sinks.s3.group`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.config import Config

from runner.errors import DestinationError
from runner.locations import S3Location
from runner.sinks.base import Upload
from runner.sinks.s3.parts import S3Parts
from runner.sinks.s3.session import new_session
from runner.sinks.s3.target import S3Target

if TYPE_CHECKING:
    from runner.spec.project import Project
    from runner.spec.segment import Segment
    from runner.spec.split import SplitSpec


def make_client(project: Project | None = None) -> Any:
    endpoint = (project.s3_endpoint_url if project else None) or os.environ.get("AWS_ENDPOINT_URL")
    region = (
        (project.s3_region if project else None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60
    )
    # A new session reads the credentials now (the default one keeps the first it found).
    return new_session().client(
        "s3", endpoint_url=endpoint, region_name=region or "us-east-1", config=config
    )


@dataclass
class S3Destination(S3Target):
    """An object in a bucket: the :class:`~runner.sinks.base.Destination` of an
    ``s3://`` path (or of any path under ``--out s3://...``)."""

    scheme: ClassVar[str] = "s3"

    @classmethod
    def for_path(cls, path: str, seg: Segment, project: Project) -> S3Destination:
        """``s3://bucket/key`` (``--out s3://...``: :class:`~runner.sinks.roots.S3Root`)."""
        try:
            location = S3Location.parse(path)
        except ValueError as exc:
            raise DestinationError(f"output path {path}: {exc}") from exc
        return cls.at(location, seg, project)

    @classmethod
    def at(
        cls, location: S3Location, seg: Segment, project: Project, state: str = ""
    ) -> S3Destination:
        metadata = {
            "segment": seg.name,
            **{k: str(v) for k, v in seg.output.s3.get("metadata", {}).items()},
        }
        return cls(
            location=location,
            client=make_client(project),
            options=seg.output.s3,
            metadata=metadata,
            state=state or f"s3://{location.bucket}",
        )

    def open_set(self, split: SplitSpec, content_type: str) -> Upload:
        return S3Parts(self, split, content_type)

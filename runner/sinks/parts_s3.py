"""A split output on S3: its parts as multipart uploads, published as one set.

The protocol is in :mod:`runner.sinks.parts`; this module holds its S3 half, so
boto3 loads only when S3 is used.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError
from runner.sinks.base import Destination
from runner.sinks.group import S3Placement
from runner.sinks.local import stop_for_tests
from runner.sinks.s3 import S3Destination, S3Upload, s3_reason
from runner.spec.targets import part_number


class S3Parts:
    """The upload of a split output on S3 (see :mod:`runner.sinks.parts`)."""

    def __init__(
        self, base: Destination, part: Callable[[int], Destination], content_type: str
    ) -> None:
        assert isinstance(base, S3Destination)
        self.base, self.part, self.content_type = base, part, content_type
        # The set's own name: never written, it carries the manifest calls.
        self.main: S3Upload = base.open(content_type)
        self.uploads: list[S3Upload] = []
        # Per part: its upload began before its rows and sha256 were known (a copy in place
        # sets them), and the metadata it ends with.
        self.late: list[bool] = []
        self.meta: list[dict[str, str]] = []
        self._abort_stale_parts()

    def _head_and_name(self) -> tuple[str, str]:
        head, _, name = self.base.key.rpartition("/")
        return (f"{head}/" if head else ""), name

    def _abort_stale_parts(self) -> None:
        """Uploads a killed split run left open on any part of this set."""
        head, name = self._head_and_name()
        client, bucket = self.base.client, self.base.bucket
        try:
            reply = client.list_multipart_uploads(Bucket=bucket, Prefix=head)
        except (ClientError, BotoCoreError):
            return
        for upload in reply.get("Uploads", []):
            key = upload.get("Key", "")
            if key.startswith(head) and part_number(key[len(head) :], name) is not None:
                with contextlib.suppress(ClientError, BotoCoreError):
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload["UploadId"]
                    )

    def write(self, data: bytes) -> int:
        raise TypeError("a split output is written part by part (open_part)")

    def open_part(self, number: int) -> S3Upload:
        part = self.part(number)
        assert isinstance(part, S3Destination)
        upload = part.open(self.content_type)
        self.uploads.append(upload)
        return upload

    def end_part(self, part: Any) -> str:
        """Send the part's last bytes now, with its rows and sha256 when it is one part."""
        upload = self.uploads[-1]
        figures = {"rows": str(part.rows), "sha256": part.sha256}
        late = upload.parts.upload_id is not None
        if not late:
            upload.parts.metadata.update(figures)
        upload.parts.spill()
        self.late.append(late)
        self.meta.append({**upload.parts.metadata, **figures})
        return upload.url

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        old = self.main._remove_old_manifest()
        placed: list[S3Placement] = []
        try:
            for upload, late, meta in zip(self.uploads, self.late, self.meta, strict=True):
                placement = S3Placement(upload)
                placement.place()
                placed.append(placement)
                problem = upload.parts.stamp(meta) if late else None
                if problem:
                    raise DestinationError(f"cannot set the metadata of {upload.url}: {problem}")
            stop_for_tests()
            self._put_manifest(manifest)
        except BaseException:
            for placement in reversed(placed):
                with contextlib.suppress(DestinationError):
                    placement.restore()
            self.main._put_back(old)
            raise
        self.main.done = True
        for placement in placed:
            with contextlib.suppress(DestinationError):
                placement.drop()
        self._remove_extras()

    def _put_manifest(self, manifest: bytes) -> None:
        try:
            self.main._put_manifest(manifest)
        except (ClientError, BotoCoreError) as exc:
            where = self.base.manifest_display
            raise DestinationError(
                f"cannot write {where}: {s3_reason(exc, where)}; the previous set is kept"
            ) from exc

    def _remove_extras(self) -> None:
        """The previous set's parts past this set's count (only once this set is in place)."""
        head, name = self._head_and_name()
        client, bucket = self.base.client, self.base.bucket
        stem = posixpath.splitext(name[:-3] if name.endswith(".gz") else name)[0]
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{head}{stem}-"
        )
        with contextlib.suppress(ClientError, BotoCoreError):
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"]
                    number = part_number(key[len(head) :], name)
                    if number is not None and number > len(self.uploads):
                        client.delete_object(Bucket=bucket, Key=key)

    def abort(self) -> None:
        for upload in self.uploads:
            upload.abort()
        self.main.abort()

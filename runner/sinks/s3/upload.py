"""S3 objects: streamed as multipart parts, completed only when the export is good.

Rows are encoded and sent as parts as they fill (``part_size_mb``, 8 MiB by
default), so memory holds one part whatever the export's size; an export
smaller than one part is sent with a single ``put_object``. The multipart
upload is completed only on :meth:`S3Upload.publish` (after the last row and the
row-count guards) and aborted on any failure or interrupt. A run killed with ``kill -9``
cannot abort; the next run for the same key aborts uploads left open on it.

Publishing: the old manifest object is deleted (its bytes kept, to put back if the
data cannot be written), the data object is written, then the new manifest. So a
manifest object that exists describes the object beside it, unless two runs publish
one key at once (S3 has no lock): readers compare the manifest's ``sha256`` with the
object's ``sha256`` metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError, ManifestError
from runner.sinks.base import MANIFEST_SUFFIX, PartWriter, Placement, before_manifest
from runner.sinks.s3.errors import error_code, s3_error, s3_reason
from runner.sinks.s3.group import S3Placement
from runner.sinks.s3.multipart import Parts
from runner.sinks.s3.read import read_object


@dataclass
class S3Upload:
    """:class:`~runner.sinks.Upload` of one object and its manifest object."""

    parts: Parts
    manifest_extra: dict[str, Any]
    done: bool = False

    @property
    def url(self) -> str:
        return self.parts.url

    @property
    def manifest_key(self) -> str:
        return self.parts.key + MANIFEST_SUFFIX

    def write(self, data: bytes) -> int:
        return self.parts.write(data)

    def publish(self, manifest: bytes, metadata: Mapping[str, str]) -> None:
        """Old manifest out, data in, new manifest in (see the module docstring)."""
        meta = {**self.parts.metadata, **metadata}
        old = self._remove_old_manifest()
        try:
            self.parts.commit(meta)
        except DestinationError:
            self._put_back(old)
            raise
        self.done = True
        published = (
            f"published {self.url} (sha256 {metadata.get('sha256', '?')}, "
            f"{metadata.get('rows', '?')} rows)"
        )
        stamp_problem = self.parts.stamp(meta)
        before_manifest()
        try:
            self._put_manifest(manifest)
        except (ClientError, BotoCoreError) as exc:
            raise ManifestError(
                f"{published} but could not write its manifest {self.url}{MANIFEST_SUFFIX}: "
                f"{s3_reason(exc, self.url)}; any previous manifest was removed before the "
                "object was replaced, so no manifest describes it"
            ) from exc
        if stamp_problem:
            raise ManifestError(
                f"{published} and its manifest, but could not set the object's rows/sha256 "
                f"metadata: {stamp_problem}"
            )

    def _remove_old_manifest(self) -> bytes | None:
        """Delete the old manifest before the data changes; its bytes, to put back."""
        where = f"{self.url}{MANIFEST_SUFFIX}"
        client, bucket = self.parts.client, self.parts.bucket
        old: bytes | None = None
        try:
            old = read_object(client, bucket, self.manifest_key)
            if old is None:
                return None
        except ClientError as exc:
            if error_code(exc) not in ("AccessDenied", "403"):  # then it may still be deleted
                raise s3_error(exc, where) from exc
        except BotoCoreError as exc:
            raise s3_error(exc, where) from exc
        try:
            client.delete_object(Bucket=bucket, Key=self.manifest_key)
        except (ClientError, BotoCoreError) as exc:
            raise DestinationError(
                f"cannot remove the old manifest {where}: {s3_reason(exc, where)}; "
                "nothing was published"
            ) from exc
        return old

    def _put_back(self, old: bytes | None) -> None:
        if old is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._put_manifest(old)

    def _put_manifest(self, data: bytes) -> None:
        self.parts.client.put_object(
            Bucket=self.parts.bucket, Key=self.manifest_key, Body=data, **self.manifest_extra
        )

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.parts.abort()

    def placement(self) -> Placement:
        return S3Placement(self.parts, self.published)

    def published(self) -> None:
        """The object is in place (as a companion): nothing is left to abort."""
        self.done = True

    def part_writer(self) -> PartWriter | None:
        return None  # one file: no parts

    def group_lock(self) -> AbstractContextManager[None]:
        """S3 has no lock (see :mod:`runner.sinks.group`)."""
        return contextlib.nullcontext()

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
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError, ManifestError
from runner.locations import S3Location
from runner.sinks.local import MANIFEST_SUFFIX, before_manifest
from runner.sinks.roots import OutputRoot, S3Root, rerooted_s3
from runner.sinks.s3_errors import s3_error as s3_error
from runner.sinks.s3_errors import s3_reason as s3_reason
from runner.sinks.s3_read import object_into

if TYPE_CHECKING:
    from runner.sinks.base import Digest
    from runner.spec.project import Project
    from runner.spec.segment import Segment

MIB = 1024 * 1024
MAX_COPY = 5 * 1024 * MIB


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
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region or "us-east-1", config=config
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class Parts:
    """The object's bytes: one ``put_object`` if they fit in a part, else a multipart
    upload whose parts are sent as they fill; completed only by :meth:`commit`."""

    client: Any
    bucket: str
    key: str
    url: str
    part_size: int
    extra: dict[str, Any]
    metadata: dict[str, str]
    buffer: bytearray = field(default_factory=bytearray)
    upload_id: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    # A split run's first part, while it may yet be the plain file: the multipart upload
    # goes to this temporary key and :meth:`commit` copies it to ``key`` (server side).
    staging: str | None = None

    @property
    def upload_key(self) -> str:
        return self.staging or self.key

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= self.part_size:
            self._send(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]
        return len(data)

    def _send(self, chunk: bytes) -> None:
        try:
            if self.upload_id is None:
                created = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.upload_key, Metadata=self.metadata, **self.extra
                )
                self.upload_id = created["UploadId"]
            number = len(self.sent) + 1
            reply = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.upload_key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=chunk,
            )
            self.sent.append({"PartNumber": number, "ETag": reply["ETag"]})
        except (ClientError, BotoCoreError) as exc:
            raise s3_error(exc, self.url) from exc

    def spill(self) -> None:
        """Send what is buffered now, as the last part (a split run keeps no part in memory
        while the next is written); an empty object stays one ``put_object``."""
        if self.buffer:
            self._send(bytes(self.buffer))
            self.buffer.clear()

    def commit(self, meta: dict[str, str]) -> None:
        """Make the object visible under its key, with ``meta`` if it was one put."""
        try:
            if self.upload_id is None:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=bytes(self.buffer),
                    Metadata=meta,
                    **self.extra,
                )
            else:
                if self.buffer:
                    self._send(bytes(self.buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.upload_key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.sent},
                )
                self.upload_id = None
                if self.staging is not None:
                    self._move(meta)
        except (ClientError, BotoCoreError) as exc:
            raise s3_error(exc, self.url) from exc
        finally:
            self.buffer.clear()

    def _move(self, meta: dict[str, str]) -> None:
        """The staged object to ``key`` with ``meta`` (one copy: a part of a preset's
        default split is at most its platform's limit, 5 GB), then the staged one gone."""
        assert self.staging is not None
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self.key,
                CopySource={"Bucket": self.bucket, "Key": self.staging},
                Metadata=meta,
                MetadataDirective="REPLACE",
                **self.extra,
            )
        finally:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=self.staging)

    def stamp(self, meta: dict[str, str]) -> str | None:
        """Rows and sha256 are known only at the end; a multipart object gets them by an
        in-place copy (server side). Returns what went wrong, if anything."""
        size = len(self.sent) * self.part_size
        if not self.sent or size > MAX_COPY or meta == self.metadata or self.staging:
            return None
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self.key,
                CopySource={"Bucket": self.bucket, "Key": self.key},
                Metadata=meta,
                MetadataDirective="REPLACE",
                **self.extra,
            )
        except (ClientError, BotoCoreError) as exc:
            return s3_reason(exc, self.url)
        return None

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            # If this fails, the next run for this key aborts the upload.
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.upload_key, UploadId=self.upload_id
                )
            self.upload_id = None


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
            old = client.get_object(Bucket=bucket, Key=self.manifest_key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            if _code(exc) not in ("AccessDenied", "403"):
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


def abort_stale_uploads(client: Any, bucket: str, key: str) -> int:
    """Abort multipart uploads left open on exactly ``key`` by killed runs."""
    aborted = 0
    try:
        reply = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
    except ClientError:
        return 0
    for upload in reply.get("Uploads", []):
        if upload.get("Key") == key:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                aborted += 1
            except ClientError:
                continue
    return aborted


@dataclass
class S3Destination:
    scheme: ClassVar[str] = "s3"
    location: S3Location
    client: Any
    options: Mapping[str, Any]
    metadata: dict[str, str]

    @property
    def bucket(self) -> str:
        return self.location.bucket

    @property
    def key(self) -> str:
        return self.location.key

    @property
    def display(self) -> str:
        return self.location.url

    @property
    def manifest_display(self) -> str:
        return self.display + MANIFEST_SUFFIX

    @classmethod
    def for_path(
        cls, path: str, root: OutputRoot | None, seg: Segment, project: Project
    ) -> S3Destination:
        """``s3://bucket/key``, or any path under ``--out s3://...`` (its bucket a folder)."""
        if isinstance(root, S3Root):
            return cls.at(rerooted_s3(root, path), seg, project)
        try:
            location = S3Location.parse(path)
        except ValueError as exc:
            raise DestinationError(f"output path {path}: {exc}") from exc
        return cls.at(location, seg, project)

    @classmethod
    def at(cls, location: S3Location, seg: Segment, project: Project) -> S3Destination:
        metadata = {
            "segment": seg.name,
            **{k: str(v) for k, v in seg.output.s3.get("metadata", {}).items()},
        }
        return cls(
            location=location,
            client=make_client(project),
            options=seg.output.s3,
            metadata=metadata,
        )

    def _extra(self, content_type: str) -> dict[str, Any]:
        opts = self.options
        extra: dict[str, Any] = {"ContentType": opts.get("content_type", content_type)}
        if opts.get("sse"):
            extra["ServerSideEncryption"] = opts["sse"]
        if opts.get("kms_key_id"):
            extra["SSEKMSKeyId"] = opts["kms_key_id"]
        if opts.get("acl"):
            extra["ACL"] = opts["acl"]
        if opts.get("storage_class"):
            extra["StorageClass"] = opts["storage_class"]
        return extra

    def open(self, content_type: str) -> S3Upload:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != 403:
                raise s3_error(exc, self.display) from exc
            self._check_credentials()
        except BotoCoreError as exc:
            raise s3_error(exc, self.display) from exc
        abort_stale_uploads(self.client, self.bucket, self.key)
        parts = Parts(
            client=self.client,
            bucket=self.bucket,
            key=self.key,
            url=self.display,
            part_size=int(self.options.get("part_size_mb", 8)) * MIB,
            extra=self._extra(content_type),
            metadata=dict(self.metadata),
        )
        return S3Upload(parts, manifest_extra=self._extra("application/json"))

    def published_into(self, digest: Digest) -> bool:
        return object_into(self.client, self.location, digest)

    def _check_credentials(self) -> None:
        # HEAD gives no error code; a listing does. AccessDenied may still allow writing.
        try:
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1, Prefix=self.key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("AccessDenied", "403", "AllAccessDisabled"):
                raise s3_error(exc, self.display) from exc
        except BotoCoreError as exc:
            raise s3_error(exc, self.display) from exc

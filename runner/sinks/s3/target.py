"""Where an S3 output goes: the object, the client and the options every upload of it
uses (:class:`~runner.sinks.s3.destination.S3Destination` adds how it is chosen)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError
from runner.locations import S3Location
from runner.sinks.base import MANIFEST_SUFFIX, StateRoot
from runner.sinks.s3.errors import error_code, s3_error
from runner.sinks.s3.multipart import MIB, Parts
from runner.sinks.s3.read import object_into, read_object
from runner.sinks.s3.upload import S3Upload

if TYPE_CHECKING:
    from runner.sinks.base import Digest


UPLOADS_PAGE = 1000  # uploads a listing reply holds at most (S3's own limit)


def open_uploads(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every multipart upload open under ``prefix``, reply after reply (S3 lists 1,000 at
    most a reply: a folder other writers share can hold more). Raises what the client
    raises (ClientError, BotoCoreError)."""
    pages = client.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": UPLOADS_PAGE}
    )
    for page in pages:
        yield from page.get("Uploads", [])


def abort_stale_uploads(client: Any, bucket: str, key: str) -> int:
    """Abort multipart uploads left open on exactly ``key`` by killed runs."""
    aborted = 0
    try:
        uploads = [u for u in open_uploads(client, bucket, key) if u.get("Key") == key]
    except (ClientError, BotoCoreError):  # nothing aborted: the upload says what is wrong
        return 0
    for upload in uploads:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            aborted += 1
        except ClientError:
            continue
    return aborted


@dataclass
class S3Target:
    """Where an S3 output goes (its object, client and upload options): what its
    upload, a split set and the history are made from."""

    location: S3Location
    client: Any
    options: Mapping[str, Any]
    metadata: dict[str, str]
    state: str = ""  # where the history lives: the --out prefix, else the bucket's top

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

    def shown_manifest(self, parts: int) -> str:
        return self.manifest_display

    def sibling(self, rename: Callable[[str], str]) -> Self:
        head, _, name = self.location.url.rpartition("/")
        return replace(self, location=S3Location.parse(f"{head}/{rename(name)}"))

    def state_root(self) -> StateRoot:
        """The ``--out`` prefix it was made under, else the top of its bucket (:meth:`at`)."""
        return StateRoot(self.state or f"s3://{self.bucket}", self.client)

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

    def open(self, content_type: str, swept: bool = False) -> S3Upload:
        """An upload of this object. First the bucket is checked and uploads a killed run
        left open on the key are aborted, unless ``swept``: a split set did both for all
        its parts at once (two requests a part fewer)."""
        if not swept:
            self._check_bucket()
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

    def _check_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != 403:
                raise s3_error(exc, self.display) from exc
            self._check_credentials()
        except BotoCoreError as exc:
            raise s3_error(exc, self.display) from exc

    def published_into(self, digest: Digest) -> bool:
        return object_into(self.client, self.location, digest)

    def read_manifest(self) -> bytes | None:
        try:
            return read_object(self.client, self.bucket, self.key + MANIFEST_SUFFIX)
        except (ClientError, BotoCoreError):
            return None

    def remove_published(self, size: int, sha256: str) -> bool:
        """Its size, then its ``sha256`` metadata (every object this runner writes has one
        but a companion's: that one is read and hashed)."""
        client, bucket, key = self.client, self.bucket, self.key
        try:
            head = client.head_object(Bucket=bucket, Key=key)
            if head.get("ContentLength") != size:
                return False
            meta = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
            found = meta.get("sha256")
            if found is None:
                digest = hashlib.sha256()
                object_into(client, self.location, digest)
                found = digest.hexdigest()
            if found != sha256:
                return False
            client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError, DestinationError):
            return False
        return True

    def remove_manifest(self, data: bytes) -> bool:
        key = self.key + MANIFEST_SUFFIX
        try:
            if read_object(self.client, self.bucket, key) != data:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError):
            return False
        return True

    def _check_credentials(self) -> None:
        # HEAD gives no error code; a listing does. AccessDenied may still allow writing.
        try:
            self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1, Prefix=self.key)
        except ClientError as exc:
            if error_code(exc) not in ("AccessDenied", "403", "AllAccessDisabled"):
                raise s3_error(exc, self.display) from exc
        except BotoCoreError as exc:
            raise s3_error(exc, self.display) from exc

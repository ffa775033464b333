"""The bytes of one S3 object on their way: one ``put_object`` if they fit in a part,
else a multipart upload whose parts are sent as they fill (memory holds one part),
completed only by :meth:`Parts.commit`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.sinks.s3.errors import s3_error, s3_reason

MIB = 1024 * 1024
MAX_COPY = 5 * 1024 * MIB


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

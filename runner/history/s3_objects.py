"""The objects under a history's S3 prefix: their keys, reads and listings, with
S3's failures turned into one-line :class:`~runner.errors.HistoryError` values.

What the objects mean (runs, snapshots) is :mod:`runner.history.s3`; how an entry is
written without ever replacing another is :mod:`runner.history.s3_claim`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from runner.errors import HistoryError
from runner.history.layout import segment_folder
from runner.locations import S3Location
from runner.sinks.s3.errors import s3_error
from runner.sinks.s3.read import read_object


class S3Objects:
    """The objects under ``prefix``, through ``client`` (a boto3 S3 client).

    Reads and writes raise botocore's errors; :meth:`fail` turns one into the
    HistoryError to raise, naming the key and what was being done.
    """

    def __init__(self, prefix: S3Location, client: Any) -> None:
        self.prefix = prefix
        self.client = client

    @property
    def bucket(self) -> str:
        return self.prefix.bucket

    @property
    def where(self) -> str:
        return self.prefix.url + "/"

    def key(self, relative: str) -> str:
        """The key of ``relative`` (a path under the prefix)."""
        return self.prefix.join(relative).key

    def segment_key(self, segment: str, *parts: str) -> str:
        """The key of ``parts`` in the folder of ``segment`` (ValueError for a bad name)."""
        return self.key("/".join((segment_folder(segment), *parts)))

    def fail(self, exc: Exception, key: str, doing: str) -> HistoryError:
        """The error to raise when ``doing`` (read, write, list) ``key`` failed with ``exc``."""
        url = f"s3://{self.bucket}/{key}"
        return HistoryError(f"cannot {doing} the run history: {s3_error(exc, url)}")

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is none."""
        return read_object(self.client, self.bucket, key)

    def stream(self, key: str) -> IO[bytes]:
        """The object's body, to read as a stream."""
        body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body

    def put(self, key: str, body: bytes | IO[bytes], **extra: str) -> None:
        """PUT ``body`` at ``key``; ``extra``: S3's own arguments (``ContentType``, ...)."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str, delimiter: str = "") -> Iterator[dict[str, Any]]:
        """Each object under ``prefix`` and, with ``delimiter``, each common prefix."""
        extra = {"Delimiter": delimiter} if delimiter else {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, **extra
        )
        for page in pages:
            yield from page.get("Contents", [])
            yield from page.get("CommonPrefixes", [])

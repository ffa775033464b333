"""The history under an S3 prefix: one object per run, never rewritten.

Layout, under ``s3://bucket/<prefix>/.segments/history/``::

    <segment>/runs/<run_id>.<status>.json   one object per run
    <segment>/snapshots/<run_id>.ids.gz     the ids a delta run published

Why one object per run: S3 has no append and no lock. A shared index object
would need read-modify-write, and two runs ending together would lose one entry
unless every server honoured ``If-Match``. Objects with distinct keys cannot
overwrite each other, so concurrent writers never lose an entry, on any
S3-compatible server; readers list the prefix (the key sorts by the moment the
run ended, and names its status, so "the last successful run" needs no GET of
the others) and read the few objects they need.

Conditional writes: each entry is PUT with ``If-None-Match: *``, so even a key
collision could not replace an entry. Whether the server honours that header is
detected, not assumed, once per store: a probe object is PUT twice with it.

- second PUT answered 412: **supported**; a 412 on an entry means the key is
  taken: if the object there is ours (a retried PUT whose first reply was lost)
  the entry is written, otherwise the entry gets a new run id and is written again.
- second PUT accepted: the server **ignores** the header (``rclone serve s3``, older
  MinIO). Fallback: GET the key first (taken: new run id), plain PUT, GET it back
  and compare (another body: new run id, written again). What is left is two runs
  that end in the same millisecond, draw the same 48 random bits (one chance in
  2⁴⁸) and PUT between each other's GETs: then the later entry wins.
- first PUT rejected (400/501 ``NotImplemented``): the server **rejects** the header;
  same fallback as above, without the header.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import HistoryError
from runner.history.record import SEGMENT_NAME, RunRecord, RunStatus, new_run_id
from runner.history.store import SNAPSHOT_SUFFIX
from runner.locations import S3Location

_REJECTED_CODES = {"NotImplemented", "InvalidArgument", "InvalidRequest", "501", "400"}


class Conditional(StrEnum):
    """What the server does with ``If-None-Match: *`` on a PUT."""

    SUPPORTED = "supported"
    IGNORED = "ignored"
    REJECTED = "rejected"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3History:
    """A :class:`~runner.history.store.HistoryStore` under the S3 prefix ``prefix``."""

    def __init__(self, prefix: S3Location, client: Any | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.prefix = prefix
        self.client = client
        self._conditional: Conditional | None = None

    @property
    def where(self) -> str:
        return self.prefix.url + "/"

    def _key(self, segment: str, *parts: str) -> str:
        if not SEGMENT_NAME.match(segment):
            raise ValueError(f"segment name {segment!r} is not lowercase-kebab-case")
        return self.prefix.join("/".join((segment, *parts))).key

    def _fail(self, exc: Exception, key: str, doing: str) -> HistoryError:
        from runner.sinks.s3 import s3_error

        url = f"s3://{self.prefix.bucket}/{key}"
        return HistoryError(f"cannot {doing} the run history: {s3_error(exc, url)}")

    @property
    def conditional(self) -> Conditional:
        """What the server does with conditional writes (probed once, on first use)."""
        if self._conditional is None:
            self._conditional = self._probe()
        return self._conditional

    def _probe(self) -> Conditional:
        key = self.prefix.join(f".probe/{secrets.token_hex(8)}").key
        try:
            for attempt in (1, 2):
                try:
                    self.client.put_object(
                        Bucket=self.prefix.bucket, Key=key, Body=b"", IfNoneMatch="*"
                    )
                except ClientError as exc:
                    if _code(exc) == "PreconditionFailed":
                        return Conditional.SUPPORTED
                    if attempt == 1 and _code(exc) in _REJECTED_CODES:
                        return Conditional.REJECTED
                    raise
            return Conditional.IGNORED
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, key, "write") from exc
        finally:
            with contextlib.suppress(BotoCoreError, ClientError):  # a leftover probe is harmless
                self.client.delete_object(Bucket=self.prefix.bucket, Key=key)

    def append(self, record: RunRecord) -> RunRecord:
        """Write ``record``; returns it as stored (with a new run id after a collision)."""
        for _ in range(3):
            key = self._key(record.segment, "runs", f"{record.run_id}.{record.status}.json")
            body = record.to_json() + b"\n"
            try:
                if self._put_entry(key, body):
                    return record
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, key, "write") from exc
            record = dataclasses.replace(record, run_id=new_run_id(record.ended))
        raise HistoryError(f"cannot write the run history under {self.where}: no free key")

    def _put_entry(self, key: str, body: bytes) -> bool:
        """Whether ``body`` is now the object at ``key`` (False: the key was another's)."""
        mode = self.conditional
        if mode is not Conditional.SUPPORTED:
            present = self._read(key)  # without If-None-Match: look before writing
            if present is not None:
                return present == body
        extra = {"IfNoneMatch": "*"} if mode is Conditional.SUPPORTED else {}
        try:
            self.client.put_object(
                Bucket=self.prefix.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **extra,
            )
        except ClientError as exc:
            if _code(exc) != "PreconditionFailed":
                raise
            return self._read(key) == body  # our own PUT, retried after a lost reply?
        # Without a conditional PUT, reading it back tells whether another run's PUT of
        # the same key came last (then this entry gets a new key).
        return mode is Conditional.SUPPORTED or self._read(key) == body

    def _read(self, key: str) -> bytes | None:
        try:
            reply = self.client.get_object(Bucket=self.prefix.bucket, Key=key)
            data: bytes = reply["Body"].read()
            return data
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise

    def _list(self, prefix: str, delimiter: str = "") -> Iterator[dict[str, Any]]:
        extra = {"Delimiter": delimiter} if delimiter else {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.prefix.bucket, Prefix=prefix, **extra
        )
        for page in pages:
            yield from page.get("Contents", [])
            yield from page.get("CommonPrefixes", [])

    def newest(self, segment: str, status: RunStatus | None = None) -> Iterator[RunRecord]:
        """The runs of ``segment``, newest first, read one object at a time."""
        folder = self._key(segment, "runs") + "/"
        try:
            keys = sorted(
                (item["Key"] for item in self._list(folder)), key=lambda k: k[len(folder) :]
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, folder, "list") from exc
        wanted = f".{status}.json" if status is not None else ".json"
        for key in reversed(keys):
            if not key.endswith(wanted):
                continue
            try:
                data = self._read(key)
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, key, "read") from exc
            if data is None:
                continue  # removed since it was listed
            try:
                yield RunRecord.from_json(data)
            except ValueError:
                continue  # not an entry this runner can read: skipped, never fatal

    def segments(self) -> list[str]:
        base = self.prefix.key + "/"
        try:
            found = [p["Prefix"][len(base) :].rstrip("/") for p in self._list(base, "/")]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, base, "list") from exc
        return sorted(name for name in found if SEGMENT_NAME.match(name))

    def _snapshot_key(self, ref: str) -> str:
        segment, _, name = ref.partition("/")
        if not name.endswith(SNAPSHOT_SUFFIX) or "/" in name or name.startswith("."):
            raise HistoryError(f"{ref!r} is not a snapshot reference of this history")
        return self._key(segment, "snapshots", name)

    def put_snapshot(self, segment: str, run_id: str, source: Path) -> str:
        ref = f"{segment}/{run_id}{SNAPSHOT_SUFFIX}"
        key = self._snapshot_key(ref)
        try:
            with source.open("rb") as body:
                self.client.put_object(
                    Bucket=self.prefix.bucket, Key=key, Body=body, ContentType="application/gzip"
                )
        except OSError as exc:
            raise HistoryError(f"cannot read the id snapshot {source}: {exc.strerror}") from exc
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, key, "write") from exc
        return ref

    def open_snapshot(self, ref: str) -> IO[bytes]:
        key = self._snapshot_key(ref)
        local = tempfile.TemporaryFile()  # noqa: SIM115 (returned to the caller, who closes it)
        try:
            reply = self.client.get_object(Bucket=self.prefix.bucket, Key=key)
            shutil.copyfileobj(reply["Body"], local, 1024 * 1024)
        except (BotoCoreError, ClientError) as exc:
            local.close()
            raise self._fail(exc, key, "read") from exc
        local.seek(0)
        return local

    def discard_snapshot(self, ref: str) -> None:
        with contextlib.suppress(BotoCoreError, ClientError, HistoryError):  # only wasted space
            self.client.delete_object(Bucket=self.prefix.bucket, Key=self._snapshot_key(ref))

    def snapshots(self, segment: str) -> list[str]:
        folder = self._key(segment, "snapshots") + "/"
        try:
            names = [item["Key"][len(folder) :] for item in self._list(folder)]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, folder, "list") from exc
        return sorted(
            f"{segment}/{n}"
            for n in names
            if n.endswith(SNAPSHOT_SUFFIX) and "/" not in n and not n.startswith(".")
        )

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

The parts: :class:`~runner.history.s3_objects.S3Objects` names, reads and lists
the objects; :class:`~runner.history.s3_claim.KeyClaim` writes an entry without
ever replacing another (conditional writes, detected per server); the
:class:`S3History` here says what the objects mean: runs and snapshots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import HistoryError, SnapshotGone
from runner.history.layout import (
    is_snapshot_name,
    snapshot_ref,
    split_snapshot_ref,
)
from runner.history.record import SEGMENT_NAME, RunRecord, RunStatus, new_run_id
from runner.history.s3_claim import Conditional, KeyClaim
from runner.history.s3_lock import publish_lock
from runner.history.s3_objects import S3Objects
from runner.locations import S3Location

__all__ = ["Conditional", "S3History"]


class S3History:
    """A :class:`~runner.history.store.HistoryStore` under the S3 prefix ``prefix``."""

    def __init__(self, prefix: S3Location, client: Any | None = None) -> None:
        if client is None:
            from runner.sinks.s3.session import new_session

            client = new_session().client("s3")  # credentials read now
        self.objects = S3Objects(prefix, client)
        self.claim = KeyClaim(self.objects)

    @property
    def where(self) -> str:
        return self.objects.where

    @property
    def conditional(self) -> Conditional:
        """What the server does with conditional writes (probed once, on first use)."""
        return self.claim.conditional

    def append(self, record: RunRecord) -> RunRecord:
        """Write ``record``; returns it as stored (with a new run id after a collision)."""
        for _ in range(3):
            name = f"{record.run_id}.{record.status}.json"
            key = self.objects.segment_key(record.segment, "runs", name)
            try:
                if self.claim.put(key, record.to_json() + b"\n"):
                    return record
            except (BotoCoreError, ClientError) as exc:
                raise self.objects.fail(exc, key, "write") from exc
            record = dataclasses.replace(record, run_id=new_run_id(record.ended))
        raise HistoryError(f"cannot write the run history under {self.where}: no free key")

    def newest(self, segment: str, status: RunStatus | None = None) -> Iterator[RunRecord]:
        """The runs of ``segment``, newest first, read one object at a time."""
        folder = self.objects.segment_key(segment, "runs") + "/"
        wanted = f".{status}.json" if status is not None else ".json"
        for key in reversed(self._names(folder)):
            if not key.endswith(wanted):
                continue
            try:
                data = self.objects.read(folder + key)
            except (BotoCoreError, ClientError) as exc:
                raise self.objects.fail(exc, folder + key, "read") from exc
            if data is None:
                continue  # removed since it was listed
            try:
                yield RunRecord.from_json(data)
            except ValueError:
                continue  # not an entry this runner can read: skipped, never fatal

    def segments(self) -> list[str]:
        base = self.objects.prefix.key + "/"
        try:
            found = [p["Prefix"][len(base) :].rstrip("/") for p in self.objects.list(base, "/")]
        except (BotoCoreError, ClientError) as exc:
            raise self.objects.fail(exc, base, "list") from exc
        return sorted(name for name in found if SEGMENT_NAME.match(name))

    def _names(self, folder: str) -> list[str]:
        """The names of the objects in ``folder`` (a key ending in ``/``), sorted."""
        try:
            return sorted(item["Key"][len(folder) :] for item in self.objects.list(folder))
        except (BotoCoreError, ClientError) as exc:
            raise self.objects.fail(exc, folder, "list") from exc

    def _snapshot_key(self, ref: str) -> str:
        segment, name = split_snapshot_ref(ref)
        return self.objects.segment_key(segment, "snapshots", name)

    @contextlib.contextmanager
    def publish_lock(self, target: str, said: Callable[[str], None]) -> Iterator[None]:
        """A lock object under the history (:mod:`runner.history.s3_lock`)."""
        with contextlib.ExitStack() as held:
            try:  # (taking it: its errors name the store; the publish's are its own)
                held.enter_context(publish_lock(self.claim, target, said))
            except (BotoCoreError, ClientError) as exc:
                where = self.objects.key("locks/")
                raise self.objects.fail(exc, where, "lock an output in") from exc
            yield

    def put_snapshot(self, segment: str, run_id: str, source: Path) -> str:
        ref = snapshot_ref(segment, run_id)
        key = self._snapshot_key(ref)
        try:
            with source.open("rb") as body:
                self.objects.put(key, body, ContentType="application/gzip")
        except OSError as exc:
            raise HistoryError(f"cannot read the id snapshot {source}: {exc.strerror}") from exc
        except (BotoCoreError, ClientError) as exc:
            raise self.objects.fail(exc, key, "write") from exc
        return ref

    def open_snapshot(self, ref: str) -> IO[bytes]:
        key = self._snapshot_key(ref)
        local = tempfile.TemporaryFile()  # noqa: SIM115 (returned to the caller, who closes it)
        try:
            shutil.copyfileobj(self.objects.stream(key), local, 1024 * 1024)
        except (BotoCoreError, ClientError) as exc:
            local.close()
            if isinstance(exc, ClientError) and _not_found(exc):
                url = f"s3://{self.objects.bucket}/{key}"
                raise SnapshotGone(f"the id snapshot {url} is gone") from exc
            raise self.objects.fail(exc, key, "read") from exc
        local.seek(0)
        return local

    def discard_snapshot(self, ref: str) -> None:
        with contextlib.suppress(BotoCoreError, ClientError, HistoryError):  # only wasted space
            self.objects.delete(self._snapshot_key(ref))

    def snapshots(self, segment: str) -> list[str]:
        folder = self.objects.segment_key(segment, "snapshots") + "/"
        return [f"{segment}/{n}" for n in self._names(folder) if is_snapshot_name(n)]


def _not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404")

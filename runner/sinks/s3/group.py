"""An S3 object as a companion of a group publish (:mod:`runner.sinks.group`).

Each replaced companion is first copied, server side, to ``.segments-tmp-<random>-<name>``
beside it; the copy is copied back, or deleted. S3 has no lock: two runs publishing at
once may leave companions of one run beside the file of the other. The manifest names
the companions' sha256: a reader trusts them when they match.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from runner.errors import DestinationError
from runner.sinks.base import TEMP_PREFIX
from runner.sinks.s3.copy import server_copy
from runner.sinks.s3.errors import missing, s3_reason
from runner.sinks.s3.multipart import Parts


class S3Placement:
    """One companion object: its previous object copied aside, then the new one written."""

    def __init__(self, parts: Parts, published: Callable[[], None]) -> None:
        """``published`` is called once the new object is in place."""
        self.parts, self.published = parts, published
        self.backup: str | None = None
        self.written = False

    def _do(self, doing: str, request: Callable[[], object]) -> None:
        try:
            request()
        except (BotoCoreError, ClientError) as exc:
            url = self.parts.url
            raise DestinationError(f"cannot {doing} {url}: {s3_reason(exc, url)}") from exc

    def _copy(self, doing: str, source: str, key: str) -> None:
        """A server-side copy of any size (CopyObject stops at 5 GiB: runner.sinks.s3.copy)."""
        parts = self.parts
        self._do(doing, lambda: server_copy(parts.client, parts.bucket, source, key))

    def _delete(self, doing: str, key: str) -> None:
        parts = self.parts
        self._do(doing, lambda: parts.client.delete_object(Bucket=parts.bucket, Key=key))

    def place(self) -> None:
        head, _, name = self.parts.key.rpartition("/")
        backup = f"{head}/" if head else ""
        backup += f"{TEMP_PREFIX}{secrets.token_hex(4)}-{name}"
        try:
            self._copy("set aside", self.parts.key, backup)
            self.backup = backup
        except DestinationError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and missing(cause)):
                raise
        self.parts.commit(dict(self.parts.metadata))
        self.published()
        self.written = True

    def restore(self) -> None:
        if self.backup is not None:
            self._copy("put back", self.backup, self.parts.key)
            self.drop()
        elif self.written:
            self._delete("remove", self.parts.key)

    def drop(self) -> None:
        if self.backup is not None:
            self._delete("remove the copy of", self.backup)
            self.backup = None

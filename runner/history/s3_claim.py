"""Writing a history entry to S3 without ever replacing another writer's.

Each entry is PUT with ``If-None-Match: *``, so even a key collision could not
replace an entry. Whether the server honours that header is detected, not
assumed, once per store: a probe object is PUT twice with it.

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
import secrets
from enum import StrEnum

from botocore.exceptions import BotoCoreError, ClientError

from runner.history.s3_objects import S3Objects
from runner.sinks.s3.errors import error_code

_REJECTED_CODES = {"NotImplemented", "InvalidArgument", "InvalidRequest", "501", "400"}


class Conditional(StrEnum):
    """What the server does with ``If-None-Match: *`` on a PUT."""

    SUPPORTED = "supported"
    IGNORED = "ignored"
    REJECTED = "rejected"


class KeyClaim:
    """Puts an entry at a key only if no other writer holds it: conditionally where the
    server supports it, by looking before and after the PUT where it does not."""

    def __init__(self, objects: S3Objects) -> None:
        self.objects = objects
        self._conditional: Conditional | None = None

    @property
    def conditional(self) -> Conditional:
        """What the server does with conditional writes (probed once, on first use)."""
        if self._conditional is None:
            self._conditional = self._probe()
        return self._conditional

    def _probe(self) -> Conditional:
        key = self.objects.key(f".probe/{secrets.token_hex(8)}")
        try:
            for attempt in (1, 2):
                try:
                    self.objects.put(key, b"", IfNoneMatch="*")
                except ClientError as exc:
                    if error_code(exc) == "PreconditionFailed":
                        return Conditional.SUPPORTED
                    if attempt == 1 and error_code(exc) in _REJECTED_CODES:
                        return Conditional.REJECTED
                    raise
            return Conditional.IGNORED
        except (BotoCoreError, ClientError) as exc:
            raise self.objects.fail(exc, key, "write") from exc
        finally:
            with contextlib.suppress(BotoCoreError, ClientError):  # a leftover probe is harmless
                self.objects.delete(key)

    def put(self, key: str, body: bytes) -> bool:
        """Whether ``body`` is now the object at ``key`` (False: the key was another's).
        Raises botocore's errors."""
        mode = self.conditional
        if mode is not Conditional.SUPPORTED:
            present = self.objects.read(key)  # without If-None-Match: look before writing
            if present is not None:
                return present == body
        extra = {"IfNoneMatch": "*"} if mode is Conditional.SUPPORTED else {}
        try:
            self.objects.put(key, body, ContentType="application/json", **extra)
        except ClientError as exc:
            if error_code(exc) != "PreconditionFailed":
                raise
            return self.objects.read(key) == body  # our own PUT, retried after a lost reply?
        # Without a conditional PUT, reading it back tells whether another run's PUT of
        # the same key came last (then this entry gets a new key).
        return mode is Conditional.SUPPORTED or self.objects.read(key) == body

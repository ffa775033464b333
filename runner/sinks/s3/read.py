"""Reading back what an S3 destination holds: an old manifest to put back, what a run
would replace (to compare), the run history's objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runner.locations import S3Location
from runner.sinks.s3.errors import missing, s3_error

if TYPE_CHECKING:
    from runner.sinks.base import Digest


def object_into(client: Any, location: S3Location, digest: Digest) -> bool:
    """Feed the object at ``location`` to ``digest``; False when there is none."""
    try:
        body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
    except ClientError as exc:
        if missing(exc):
            return False
        raise s3_error(exc, location.url) from exc
    except BotoCoreError as exc:
        raise s3_error(exc, location.url) from exc
    return True


def read_object(client: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None if there is none (botocore's errors otherwise)."""
    try:
        data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if missing(exc):
            return None
        raise
    return data

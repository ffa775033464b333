"""A server-side copy of one object to another key of its bucket, of any size.

CopyObject refuses a source larger than 5 GiB, so a set whose part is that large
could never be published again (each existing part is copied aside first). Objects
up to ``threshold`` take one CopyObject (metadata and content type copied with
them); larger ones boto3's managed ``client.copy``, which copies them in ranges
(UploadPartCopy) and carries the metadata and content type over.
"""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024
MAX_COPY = 5 * 1024 * MIB  # the largest source CopyObject accepts
_MIN_RANGE = 5 * MIB  # S3's smallest part


def server_copy(client: Any, bucket: str, source: str, key: str, threshold: int = MAX_COPY) -> None:
    """``bucket/source`` copied to ``bucket/key`` on the server (botocore's ClientError
    with code 404 when ``source`` does not exist).

    ``threshold`` is the largest object copied by one CopyObject (tests lower it).
    """
    from boto3.s3.transfer import TransferConfig

    size = client.head_object(Bucket=bucket, Key=source)["ContentLength"]
    copy_source = {"Bucket": bucket, "Key": source}
    if size <= threshold:
        client.copy_object(Bucket=bucket, Key=key, CopySource=copy_source)
        return
    # boto3 widens the ranges itself when 10,000 would not cover the object.
    ranges = max(_MIN_RANGE, min(threshold, 1024 * MIB))
    config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=ranges)
    client.copy(copy_source, bucket, key, Config=config)

"""Where things live: ``s3://`` locations parsed once, and URLs made safe to show.

>>> S3Location.parse("s3://seg-bucket/exports/t.csv")
S3Location(bucket='seg-bucket', key='exports/t.csv')
>>> public_url("https://user:secret@api.example.com/inbox/users")
'https://api.example.com/inbox/users'
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

S3_SCHEME = "s3://"
# The runner's own state (run history, id snapshots) lives in this folder under every
# output root and --out folder or prefix: never an output (runner.spec.targets).
STATE_DIR = ".segments"
MAX_KEY_BYTES = 1024

_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(bucket: str) -> str | None:
    """Which of S3's bucket naming rules ``bucket`` breaks, or None.

    Rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    """
    if not 3 <= len(bucket) <= 63:
        return f"bucket name {bucket!r} must be 3 to 63 characters long"
    if not _BUCKET_CHARS.match(bucket):
        return f"bucket name {bucket!r} may hold only lower-case letters, digits, '.' and '-'"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return f"bucket name {bucket!r} must begin and end with a letter or digit"
    for pair in ("..", ".-", "-."):
        if pair in bucket:
            return f"bucket name {bucket!r} must not contain {pair!r}"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return f"bucket name {bucket!r} must not be an IP address"
    for prefix in _RESERVED_PREFIXES:
        if bucket.startswith(prefix):
            return f"bucket name {bucket!r} must not start with the reserved prefix {prefix!r}"
    for suffix in _RESERVED_SUFFIXES:
        if bucket.endswith(suffix):
            return f"bucket name {bucket!r} must not end with the reserved suffix {suffix!r}"
    return None


def key_problem(key: str, *, prefix: bool = False) -> str | None:
    """What is wrong with an object key (or, with ``prefix``, a key prefix), or None."""
    what = "key prefix" if prefix else "object key"
    if not key and not prefix:
        return "an s3:// location needs an object key after the bucket"
    if not prefix and key.endswith("/"):
        return f"object key {key!r} must not end with '/'"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{what} {key!r} is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"{what} is {size} bytes long; S3 allows at most {MAX_KEY_BYTES}"
    parts = key.rstrip("/").split("/") if key else []
    if any(part in (".", "..") for part in parts):
        return f"{what} {key!r} must not contain '.' or '..' segments"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return f"{what} {key!r} must not contain control characters"
    if prefix and "//" in key:
        return f"{what} {key!r} must not contain empty segments ('//')"
    return None


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key (or key prefix), checked against S3's naming rules."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str, *, prefix: bool = False) -> S3Location:
        """``s3://bucket/key``; with ``prefix``, ``s3://bucket`` and ``s3://bucket/dir/`` too.

        Raises ValueError with the rule that was broken.
        """
        if not text.startswith(S3_SCHEME):
            raise ValueError(f"{text!r} is not an s3:// location")
        bucket, _, key = text[len(S3_SCHEME) :].partition("/")
        if not bucket:
            raise ValueError(f"{text!r} names no bucket: write s3://BUCKET/...")
        problem = bucket_problem(bucket) or key_problem(key, prefix=prefix)
        if problem:
            raise ValueError(problem)
        return cls(bucket, key.rstrip("/") if prefix else key)

    def join(self, relative: str) -> S3Location:
        """This prefix with ``relative`` appended (``relative`` is checked as a key)."""
        key = f"{self.key}/{relative}" if self.key else relative
        problem = key_problem(key)
        if problem:
            raise ValueError(problem)
        return S3Location(self.bucket, key)

    @property
    def url(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}" if self.key else f"{S3_SCHEME}{self.bucket}"

    def __str__(self) -> str:
        return self.url


def public_url(url: str) -> str:
    """``url`` without user name or password, safe to print, log or record."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))

"""S3: objects streamed as multipart uploads, completed only when the export is good.

- :mod:`~runner.sinks.s3.destination`: :class:`S3Destination` and the boto3 client.
- :mod:`~runner.sinks.s3.target`: where an output goes (object, client, options).
- :mod:`~runner.sinks.s3.multipart`, :mod:`~runner.sinks.s3.upload`: the bytes as parts,
  and the publish with the manifest.
- :mod:`~runner.sinks.s3.parts`: a split output's parts, published as one set.
- :mod:`~runner.sinks.s3.group`: an object published as another's companion.
- :mod:`~runner.sinks.s3.copy`, :mod:`~runner.sinks.s3.read`,
  :mod:`~runner.sinks.s3.errors`: server-side copies of any size, reading back what is
  published, and S3's failures in words (also the run history's).

Importing this package loads boto3: :mod:`runner.sinks` imports it only when S3 is used.
"""

from __future__ import annotations

from runner.sinks.s3.destination import S3Destination, make_client
from runner.sinks.s3.errors import error_code, missing, s3_error, s3_reason
from runner.sinks.s3.multipart import Parts
from runner.sinks.s3.target import S3Target, abort_stale_uploads
from runner.sinks.s3.upload import S3Upload

__all__ = [
    "Parts",
    "S3Destination",
    "S3Target",
    "S3Upload",
    "abort_stale_uploads",
    "error_code",
    "make_client",
    "missing",
    "s3_error",
    "s3_reason",
]

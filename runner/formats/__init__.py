"""Output formats: one small class each, in a registry by name.

A format turns pages of records into bytes on a binary stream. Each format
class owns its name, file extensions, content type, whether gzip may wrap it
(XLSX and Parquet are compressed containers already) and its safety rules (all
of CSV's formula safety is in :mod:`runner.formats.csv`). Work is done a page
at a time, so per-record overhead stays small and memory stays bounded:

>>> FORMATS["xlsx"].extension, FORMATS["csv"].content_type
('.xlsx', 'text/csv; charset=utf-8')

Adding a format is adding one class to :data:`FORMATS`; the interface it implements
(:class:`Format`, :class:`FormatClass`, :class:`ByteSink`) is :mod:`runner.formats.base`.

The chain for one export is ``format -> [gzip] -> HashingWriter -> upload``,
built by :class:`Encoder`; the upload publishes atomically on commit.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.formats.base import ByteSink, Format, FormatClass
from runner.formats.csv import CsvFormat
from runner.formats.jsonl import JsonlFormat
from runner.formats.parquet import ParquetFormat
from runner.formats.xlsx import XlsxFormat

if TYPE_CHECKING:
    from runner.spec.segment import OutputSpec


class HashingWriter:
    """Counts and hashes the bytes that reach the destination, then passes them on.

    It is also the file object pyarrow writes Parquet to: pyarrow needs ``write``
    and ``closed`` only, and never seeks.
    """

    closed = False

    def __init__(self, target: ByteSink) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        pass


FORMATS: dict[str, FormatClass] = {
    cls.name: cls for cls in (CsvFormat, JsonlFormat, XlsxFormat, ParquetFormat)
}


def content_type(spec: OutputSpec) -> str:
    """What an export's bytes are, for destinations that record it (S3's Content-Type):
    the format's, or gzip's when gzip wraps it."""
    return "application/gzip" if spec.compression == "gzip" else FORMATS[spec.format].content_type


class Encoder:
    """format -> [gzip] -> hashing -> upload, as one object with ``write_page``/``finish``."""

    def __init__(self, spec: OutputSpec, upload: ByteSink) -> None:
        self.hashing = HashingWriter(upload)
        self._gzip: gzip.GzipFile | None = None
        sink: ByteSink = self.hashing
        if spec.compression == "gzip":
            # mtime=0 and no file name: the same rows always give the same bytes.
            self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.hashing, mtime=0)
            sink = self._gzip
        self.format: Format = FORMATS[spec.format](sink, spec)
        self.rows = 0

    def write_page(self, records: Sequence[Any]) -> None:
        self.rows += self.format.write_page(records)

    def finish(self) -> None:
        self.format.close()
        if self._gzip is not None:
            self._gzip.close()

    @property
    def dropped_unmatchable(self) -> int:
        """Rows a preset left out because they had nothing the platform can match."""
        return self.format.dropped_unmatchable

    @property
    def invalid_phones(self) -> int:
        """Phone numbers left empty because libphonenumber says they are not valid."""
        return self.format.invalid_phones

    @property
    def sha256(self) -> str:
        return self.hashing.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self.hashing.size


__all__ = [
    "FORMATS",
    "ByteSink",
    "CsvFormat",
    "Encoder",
    "Format",
    "FormatClass",
    "HashingWriter",
    "JsonlFormat",
    "ParquetFormat",
    "XlsxFormat",
    "content_type",
]

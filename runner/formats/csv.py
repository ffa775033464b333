"""Output formats: one small class each, in a registry by name.

A format turns pages of records into bytes on a binary stream. Work is done a
page at a time (one ``csv.writer`` call per page, one ``write`` per page), so
per-record overhead stays small and memory stays at one page.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from runner.rows import _DANGER, RowBuilder, guard_formula, to_text
from runner.sinks import Upload
from runner.spec import OutputSpec


class ByteSink(Protocol):
    def write(self, data: bytes) -> int: ...


class HashingWriter:
    """Counts and hashes the bytes that reach the destination, then passes them on."""

    def __init__(self, target: Upload) -> None:
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


class Format(Protocol):
    header: list[str]

    def write_page(self, records: Sequence[Any]) -> int: ...

    def close(self) -> None: ...


class CsvFormat:
    """RFC 4180 CSV in UTF-8 (optionally with a BOM), formulas neutralised by default."""

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        self.out = out
        self.opts = spec.csv
        self.builder = RowBuilder(spec.columns)
        self.header = self.builder.header
        self._buffer = io.StringIO()
        self._writer = csv.writer(
            self._buffer,
            delimiter=self.opts.delimiter,
            lineterminator="\r\n",
            quoting=csv.QUOTE_MINIMAL,
        )
        if self.opts.bom:
            out.write(b"\xef\xbb\xbf")
        if self.opts.header:
            self._writer.writerow([self._cell(h) for h in self.header])
            self._flush()

    def _cell(self, text: str) -> str:
        return guard_formula(text) if self.opts.formula_guard else text

    def _flush(self) -> None:
        data = self._buffer.getvalue()
        if data:
            self.out.write(data.encode("utf-8", "surrogatepass"))
            self._buffer.seek(0)
            self._buffer.truncate()

    def write_page(self, records: Sequence[Any]) -> int:
        # Column by column: comprehensions instead of a call per cell.
        sep, danger, guard = self.opts.list_separator, _DANGER, self.opts.formula_guard
        cols = []
        columns = self.builder.columns(list(records))
        for col, safe in zip(columns, self.builder.formula_safe, strict=True):
            col = [v if type(v) is str else to_text(v, sep) for v in col]
            if guard and not safe:
                col = [guard_formula(v) if v[:1] in danger else v for v in col]
            cols.append(col)
        self._writer.writerows(zip(*cols, strict=True))
        self._flush()
        return len(records)

    def close(self) -> None:
        self._flush()


class JsonlFormat:
    """One JSON object per line, UTF-8: the raw records, or the selected columns."""

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        self.out = out
        self.builder = RowBuilder(spec.columns) if spec.columns else None
        self.header = self.builder.header if self.builder else []

    def write_page(self, records: Sequence[Any]) -> int:
        dumps = orjson.dumps
        if self.builder:
            header = self.builder.header
            rows = zip(*self.builder.columns(list(records)), strict=True)
            chunk = b"".join(dumps(dict(zip(header, row, strict=True))) + b"\n" for row in rows)
        else:
            chunk = b"".join(dumps(r) + b"\n" for r in records)
        self.out.write(chunk)
        return len(records)

    def close(self) -> None:
        pass


FORMATS: dict[str, Callable[[ByteSink, OutputSpec], Format]] = {
    "csv": CsvFormat,
    "jsonl": JsonlFormat,
}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


class Encoder:
    """format -> [gzip] -> hashing -> upload, as one object with ``write_page``/``finish``."""

    def __init__(self, spec: OutputSpec, upload: Upload) -> None:
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
    def sha256(self) -> str:
        return self.hashing.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self.hashing.size

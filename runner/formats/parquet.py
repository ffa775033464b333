"""Parquet: typed columns that DuckDB, pandas and polars read with no options.

The schema is known before the first page (``Rows.kinds``): strings, booleans,
64-bit integers, doubles, timestamps in UTC with millisecond precision for the
API's ISO-8601 dates, ``list<string>`` for lists and JSON text for objects left
nested. Without ``output.columns`` the columns are the CSV default's (every
known field flattened, plus ``_extra``). A value that does not fit its column's
type (the API sent text where it documents a boolean) becomes null rather than
failing the export.

Pages are converted to Arrow as they arrive and written as one row group each
time ``parquet.row_group_rows`` rows have gathered, so memory is one row group.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from runner.formats.base import RowCounts
from runner.rows.build import Rows
from runner.rows.presets import rows_for

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from runner.formats.base import ByteSink
    from runner.spec.segment import OutputSpec


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode("utf-8")


def _text(value: Any) -> str | None:
    return value if value is None or type(value) is str else _json(value)


def _text_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if type(value) is list else [value]
    return [v if type(v) is str else orjson.dumps(v).decode("utf-8") for v in items]


def _when(value: Any) -> dt.datetime | None:
    if type(value) is not str or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _exact(kind: type) -> Callable[[Any], Any]:
    def keep(value: Any) -> Any:
        if kind is float and type(value) is int:
            return float(value)
        if kind is int and type(value) is int and not -(2**63) <= value < 2**63:
            return None  # past int64
        return value if type(value) is kind else None

    return keep


def _forget(writer: pq.ParquetWriter) -> None:
    """An unfinished writer left as it is: the export failed, its file is discarded."""
    writer.is_open = False


class ParquetFormat(RowCounts):
    """Typed columns, a row group per ``row_group_rows`` rows, snappy by default."""

    name = "parquet"
    extension = ".parquet"
    extensions = (".parquet",)
    content_type = "application/vnd.apache.parquet"
    compressible = False  # compressed inside, page by page

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        import pyarrow as pa  # here, not at import: the CLI starts faster without it
        import pyarrow.parquet as pq

        self._pa = pa
        self.rows: Rows = rows_for(spec)
        self.header = self.rows.header
        types = {
            "string": pa.string(),
            "any": pa.string(),
            "json": pa.string(),
            "bool": pa.bool_(),
            "int": pa.int64(),
            "float": pa.float64(),
            "timestamp": pa.timestamp("ms", tz="UTC"),
            "list": pa.list_(pa.string()),
        }
        self.types = [types[kind] for kind in self.rows.kinds]
        self.schema = pa.schema(list(zip(self.header, self.types, strict=True)))
        self._slow: list[Callable[[Any], Any]] = [
            {
                "string": _text,
                "any": _text,
                "json": _json,
                "bool": _exact(bool),
                "int": _exact(int),
                "float": _exact(float),
                "timestamp": _when,
                "list": _text_list,
            }[kind]
            for kind in self.rows.kinds
        ]
        self.group_rows = spec.parquet.row_group_rows
        compression = spec.parquet.compression
        self.writer: pq.ParquetWriter = pq.ParquetWriter(
            out,  # a file object: pyarrow calls write() and reads closed, nothing else
            self.schema,
            compression=None if compression == "none" else compression,
        )
        # A failed export never closes the format: its writer must not finish the file
        # when collected (pyarrow's __del__ would write the footer to the closed upload
        # and print "Exception ignored ... write to closed file").
        weakref.finalize(self, _forget, self.writer)
        self._batches: list[pa.RecordBatch] = []
        self._buffered = 0

    @property
    def pending_bytes(self) -> int:
        """The Arrow bytes of the rows buffered for the next row group (split parts add
        them to the bytes already written)."""
        return sum(batch.nbytes for batch in self._batches)

    def _array(self, col: list[Any], index: int) -> pa.Array:
        pa, kind = self._pa, self.rows.kinds[index]
        target = self.types[index]
        try:
            if kind == "timestamp":
                # Arrow parses ISO-8601 with a zone in C; '' (never happened) is null.
                texts = pa.array([v or None for v in col], pa.string())
                return texts.cast(target)
            if kind == "json":
                raise TypeError  # always dumped
            if kind in ("int", "bool", "float"):
                # Inferred, not converted: pyarrow would cut 2.5 to 2 in an int64 column.
                inferred = pa.array(col)
                if inferred.type == target or inferred.type == pa.null():
                    return inferred.cast(target)
                if kind == "float" and inferred.type == pa.int64():
                    return inferred.cast(target)
                raise TypeError
            return pa.array(col, target)
        except (TypeError, ValueError, pa.ArrowException):
            # Something in this page does not fit: convert value by value.
            return pa.array([self._slow[index](v) for v in col], target)

    def write_page(self, records: Sequence[Any]) -> int:
        cols = self.rows.columns(list(records))
        count = len(cols[0]) if cols else 0
        if not count:
            return 0
        arrays = [self._array(col, i) for i, col in enumerate(cols)]
        self._batches.append(self._pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._buffered += count
        if self._buffered >= self.group_rows:
            self._flush()
        return count

    def _flush(self) -> None:
        if self._buffered:
            table = self._pa.Table.from_batches(self._batches, schema=self.schema)
            self.writer.write_table(table, row_group_size=self._buffered)
            self._batches, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()

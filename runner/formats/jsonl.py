"""JSONL: one JSON object per line, UTF-8: the raw records, or the selected columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from runner.rows.build import RowBuilder

if TYPE_CHECKING:
    from runner.formats.base import ByteSink
    from runner.spec.segment import OutputSpec


class JsonlFormat:
    """One JSON object per line, UTF-8: the raw records, or the selected columns."""

    name = "jsonl"
    extension = ".jsonl"
    extensions = (".jsonl", ".ndjson")
    content_type = "application/x-ndjson; charset=utf-8"
    compressible = True
    dropped_unmatchable = 0

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        self.out = out
        self.builder = RowBuilder(spec.columns, spec.phone_region) if spec.columns else None
        self.header = self.builder.header if self.builder else []

    @property
    def invalid_phones(self) -> int:
        return self.builder.invalid_phones if self.builder else 0

    def write_page(self, records: Sequence[Any]) -> int:
        # orjson writes each line's newline itself, and a list comprehension joins them:
        # no Python step per record (a generator is resumed once a record).
        dumps, line = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        if self.builder:
            header = self.builder.header
            rows = zip(*self.builder.columns(list(records)), strict=True)
            chunk = b"".join(
                [dumps(dict(zip(header, row, strict=True)), option=line) for row in rows]
            )
        else:
            chunk = b"".join([dumps(r, option=line) for r in records])
        self.out.write(chunk)
        return len(records)

    def close(self) -> None:
        pass

"""CSV: RFC 4180 in UTF-8 (optionally with a BOM), formulas neutralised by default.

All of CSV's formula safety lives here: a CSV cannot say "this is text", so a
cell a spreadsheet would run as a formula gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runner.rows.build import Rows, to_text
from runner.rows.presets import rows_for

if TYPE_CHECKING:
    from runner.formats.base import ByteSink
    from runner.spec.segment import OutputSpec

DANGER = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PHONE = re.compile(r"\+\d[\d ]{4,}")


def guard_formula(text: str) -> str:
    """Neutralise a cell Excel would run as a formula; keep numbers and phone numbers.

    >>> guard_formula("=1+1"), guard_formula("+447911123456"), guard_formula("-12.5")
    ("'=1+1", '+447911123456', '-12.5')
    """
    if text and text[0] in DANGER and not (_NUMBER.fullmatch(text) or _PHONE.fullmatch(text)):
        return "'" + text
    return text


class CsvFormat:
    """RFC 4180 CSV in UTF-8 (optionally with a BOM), formulas neutralised by default.

    With ``output.preset`` the rows come from the platform's preset (its headers,
    normalisation and hashing) and the file is plain UTF-8 with no BOM, as every
    supported platform documents.
    """

    name = "csv"
    extension = ".csv"
    extensions = (".csv", ".tsv")
    content_type = "text/csv; charset=utf-8"
    compressible = True

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        self.out = out
        # A platform's importer wants its own dialect, whatever the project defaults say.
        self.opts = (
            replace(spec.csv, delimiter=",", header=True, bom=False) if spec.preset else spec.csv
        )
        self.builder: Rows = rows_for(spec)
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

    @property
    def dropped_unmatchable(self) -> int:
        return self.builder.dropped

    @property
    def invalid_phones(self) -> int:
        return self.builder.invalid_phones

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
        sep, danger, guard = self.opts.list_separator, DANGER, self.opts.formula_guard
        cols = []
        columns = self.builder.columns(list(records))
        for col, safe in zip(columns, self.builder.formula_safe, strict=True):
            col = [v if type(v) is str else to_text(v, sep) for v in col]
            if guard and not safe:
                col = [guard_formula(v) if v[:1] in danger else v for v in col]
            cols.append(col)
        self._writer.writerows(zip(*cols, strict=True))
        self._flush()
        return len(cols[0]) if cols else 0

    def close(self) -> None:
        self._flush()

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
# A cell after the first that starts like a formula, in a column joined by NUL (a NUL
# inside a cell only makes the exact per-cell check run).
_FORMULA_AFTER_NUL = re.compile("\0[" + re.escape("".join(sorted(DANGER))) + "]").search


def guard_formula(text: str) -> str:
    """Neutralise a cell Excel would run as a formula; keep numbers and phone numbers.

    >>> guard_formula("=1+1"), guard_formula("+447911123456"), guard_formula("-12.5")
    ("'=1+1", '+447911123456', '-12.5')
    """
    if text and text[0] in DANGER and not (_NUMBER.fullmatch(text) or _PHONE.fullmatch(text)):
        return "'" + text
    return text


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class MinimalQuoting:
    r"""Text columns -> CSV lines, byte for byte as ``csv.writer`` writes them with
    ``QUOTE_MINIMAL`` and ``"\r\n"`` line ends: a cell holding the delimiter, a double
    quote or a line break is quoted, its quotes doubled. Each column is searched once,
    as one text, and rows are joined in C: plain text costs no Python step per cell
    (``writerows`` takes about half as long again). Two columns at least:
    ``csv.writer`` writes a lone empty cell as ``""``.

    >>> MinimalQuoting(",")([["a", 'x"y'], ["1,5", ""]])
    'a,"1,5"\r\n"x""y",\r\n'
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self._special = re.compile("[" + re.escape(delimiter) + '"\r\n]').search

    def __call__(self, cols: list[list[str]], texts: list[str] | None = None) -> str:
        """``texts``: each column's cells joined (by any separator that is not special)."""
        special = self._special
        joined = texts or ["".join(col) for col in cols]
        quoted = [
            [_quote(v) if special(v) else v for v in col] if special(text) else col
            for col, text in zip(cols, joined, strict=True)
        ]
        return "\r\n".join(map(self.delimiter.join, zip(*quoted, strict=True))) + "\r\n"


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
        # A space delimiter is left to csv.writer: newer Pythons quote cells by their
        # spaces there, and the writer is the reference for the bytes.
        delimiter = self.opts.delimiter
        self._lines = MinimalQuoting(delimiter) if delimiter != " " else None
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
        # Column by column, each joined into one text that C searches (for cells that
        # are not text, for formula starts, for characters to quote): a page of plain
        # text costs no Python step per cell.
        sep, guard = self.opts.list_separator, self.opts.formula_guard
        cols, texts = [], []
        columns = self.builder.columns(list(records))
        for col, safe in zip(columns, self.builder.formula_safe, strict=True):
            try:
                text = "\0".join(col)
            except TypeError:  # a cell that is not text yet
                col = [v if type(v) is str else to_text(v, sep) for v in col]
                text = "\0".join(col)
            if guard and not safe and (_FORMULA_AFTER_NUL(text) or text[:1] in DANGER):
                col = [guard_formula(v) if v[:1] in DANGER else v for v in col]
            cols.append(col)
            texts.append(text)  # the guard's quote is no character to quote
        if not cols or not cols[0]:
            return 0
        if self._lines is None or len(cols) < 2:
            self._writer.writerows(zip(*cols, strict=True))
            self._flush()
        else:
            self.out.write(self._lines(cols, texts).encode("utf-8", "surrogatepass"))
        return len(cols[0])

    def close(self) -> None:
        self._flush()

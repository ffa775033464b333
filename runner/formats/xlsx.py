"""XLSX: a spreadsheet whose cells say what they are, so nothing is re-read.

A CSV cannot say "this is text": spreadsheets turn ``+17159089395`` into a number
and drop the leading zero of ``09158665828``. Here every string is a text cell
(Excel's Text format ``@``, and a quote prefix when it starts like a formula, so
it stays text even when someone edits it), numbers and booleans are typed, and
ISO-8601 timestamps in known date columns are real date-times in UTC. Nothing is
ever written as a formula.

Written with xlsxwriter in ``constant_memory`` mode: each row goes to a scratch
file as soon as the next one starts, so memory does not grow with the export
(openpyxl's write-only mode also streams, but keeps every distinct string in a
shared-strings table until the end). The zip is assembled at ``close`` in a
private temporary folder and then streamed to the sink in 1 MiB chunks, so the
bytes reach the same hashing and atomic-publish chain as CSV. The folder goes at
the end, on failure, and (named after the PID) after a ``kill -9`` with the next
XLSX export.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import DestinationError
from runner.formats.base import RowCounts
from runner.formats.csv import DANGER
from runner.rows.build import Rows, to_text
from runner.rows.presets import rows_for

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

    from runner.formats.base import ByteSink
    from runner.spec.segment import OutputSpec

SCRATCH_PREFIX = "segments-xlsx-"  # then the writer's PID: a killed run's folder is found
MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header
CHUNK = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_EXACT = 2**53  # larger integers are not exact in a spreadsheet number: text
_WIDTH_SAMPLE = 500  # rows of the first page measured for column widths


def _utc(text: str) -> dt.datetime | str:
    """An ISO-8601 time as a naive UTC datetime (Excel has no zones); the text if not one."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _xml_safe(text: str) -> str:
    """XML cannot hold a lone surrogate: it becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


class XlsxFormat(RowCounts):
    """One sheet (more past 1,048,575 rows) with a bold, frozen, filtered header row."""

    name = "xlsx"
    extension = ".xlsx"
    extensions = (".xlsx",)
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    compressible = False  # a zip already
    max_rows = MAX_DATA_ROWS

    def __init__(self, out: ByteSink, spec: OutputSpec) -> None:
        import xlsxwriter  # here, not at import: the CLI starts faster without it

        self.out = out
        self.opts = spec.xlsx
        self.rows: Rows = rows_for(spec)
        self.header = self.rows.header
        self.truncated = 0  # cells cut to Excel's 32,767 characters
        self._dates = [kind == "timestamp" for kind in self.rows.kinds]
        _sweep_scratch()
        self._tmp = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        self._path = Path(self._tmp) / "export.xlsx"
        self.book = xlsxwriter.Workbook(
            str(self._path),
            {
                "constant_memory": True,
                "tmpdir": self._tmp,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.book.use_zip64()  # only used by a sheet past 4 GB of XML, which Excel reads
        # A failed or interrupted export never reaches close(): the scratch folder goes
        # when this object does (or at exit), without a warning.
        self._discard = weakref.finalize(self, _discard, self.book, self._tmp)
        self.bold = self.book.add_format({"bold": True, "num_format": "@"})
        self.text = self.book.add_format({"num_format": "@"})
        self.guarded = self.book.add_format({"num_format": "@", "quote_prefix": True})
        self.when = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.sheets: list[Worksheet] = []
        self.widths: list[float] | None = None
        self.sheet = self._new_sheet()
        self.row = 1

    @property
    def pending_bytes(self) -> int:
        """The sheet XML in the scratch folder so far (split parts measure it; the zip
        written at the end is smaller)."""
        for sheet in self.sheets:  # what its buffer holds counts too
            if sheet.row_data_fh is not None and not sheet.row_data_fh.closed:
                sheet.row_data_fh.flush()
        with os.scandir(self._tmp) as entries:
            return sum(e.stat().st_size for e in entries if e.is_file())

    def _new_sheet(self) -> Worksheet:
        number = len(self.sheets) + 1
        suffix = f" ({number})" if number > 1 else ""
        name = _xml_safe(self.opts.sheet_name)[: 31 - len(suffix)] + suffix
        sheet = self.book.add_worksheet(name)
        sheet.freeze_panes(1, 0)
        sheet.ignore_errors({"number_stored_as_text": "A1:XFD1048576"})
        for col, title in enumerate(self.header):
            sheet.write_string(0, col, _xml_safe(title), self.bold)
        if self.widths:
            for col, width in enumerate(self.widths):
                sheet.set_column(col, col, width)
        self.sheets.append(sheet)
        return sheet

    def _cells(self, records: Sequence[Any]) -> list[list[Any]]:
        cols = self.rows.columns(list(records))
        sep = self.opts.list_separator
        out = []
        for col, is_date in zip(cols, self._dates, strict=True):
            if is_date:
                col = [_utc(v) if type(v) is str and v else v for v in col]
            col = [to_text(v, sep) if type(v) is list or type(v) is dict else v for v in col]
            strings = [v for v in col if type(v) is str]
            if strings and _SURROGATE.search("".join(strings)):
                col = [_xml_safe(v) if type(v) is str else v for v in col]
            out.append(col)
        return out

    def _measure(self, cols: list[list[Any]]) -> None:
        """Column widths from the header and the first rows: enough to read, at most 60."""
        widths = []
        for title, col, is_date in zip(self.header, cols, self._dates, strict=True):
            sample = [len(v) if type(v) is str else len(str(v)) for v in col[:_WIDTH_SAMPLE]]
            longest = max([len(title) + 3, *sample, 19 if is_date else 0])
            widths.append(float(min(max(longest + 1, 8), 60)))
        self.widths = widths
        for index, width in enumerate(widths):
            self.sheet.set_column(index, index, width)

    def write_page(self, records: Sequence[Any]) -> int:
        with _scratch_errors(self._tmp):
            cols = self._cells(records)
            if self.widths is None:
                self._measure(cols)
            written = 0
            for values in zip(*cols, strict=True):
                if self.row > self.max_rows:
                    self._end_sheet()
                    self.sheet = self._new_sheet()
                    self.row = 1
                self._write_row(self.sheet, self.row, values)
                self.row += 1
                written += 1
            return written

    def _write_row(self, sheet: Worksheet, r: int, values: Sequence[Any]) -> None:
        text, guarded, danger = self.text, self.guarded, DANGER
        for c, v in enumerate(values):
            kind = type(v)
            if kind is str:
                if v and sheet.write_string(r, c, v, guarded if v[0] in danger else text) == -2:
                    self.truncated += 1
            elif v is None:
                continue
            elif kind is bool:
                sheet.write_boolean(r, c, v)
            elif (kind is int and -_MAX_EXACT < v < _MAX_EXACT) or (
                kind is float and math.isfinite(v)
            ):
                sheet.write_number(r, c, v)
            elif kind is dt.datetime:
                sheet.write_datetime(r, c, v, self.when)
            else:
                sheet.write_string(r, c, str(v), text)

    def _end_sheet(self) -> None:
        self.sheet.autofilter(0, 0, self.row - 1, max(len(self.header) - 1, 0))

    def close(self) -> None:
        try:
            with _scratch_errors(self._tmp):
                self._end_sheet()
                self.book.close()
                data = self._path.open("rb")
            with data:
                while chunk := data.read(CHUNK):
                    self.out.write(chunk)
        finally:
            self._discard()


def _sweep_scratch() -> None:
    """Remove the scratch folders of runs that were killed (kill -9 runs no clean-up)."""
    for folder in Path(tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*-*"):
        pid = folder.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _discard(book: Workbook, folder: str) -> None:
    for sheet in book.worksheets():
        sheet._opt_close()  # the row scratch file of constant_memory mode, as book.close() does
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _scratch_errors(folder: str) -> Iterator[None]:
    """A full or unwritable temporary folder is a destination problem, said in one line."""
    from xlsxwriter.exceptions import XlsxFileError

    try:
        yield
    except (OSError, XlsxFileError) as exc:
        raise DestinationError(
            f"cannot write the XLSX scratch file in {folder}: {exc} (TMPDIR chooses the folder)"
        ) from exc

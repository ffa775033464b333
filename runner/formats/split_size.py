"""XLSX and Parquet parts within ``max_bytes``: a part's final size, estimated as it grows.

Their bytes come late (the zip at the end; a row group at a time, then the footer),
so a part is cut on an estimate from the bytes written so far (``raw``: the sheet XML
before it is zipped; the row groups written plus the Arrow bytes buffered)::

    estimate = empty + (raw - raw at the part's start) x ratio

``empty`` is the size of a part with no rows (the format's fixed overhead: a
workbook's styles and theme, Parquet's schema and footer), measured once. ``ratio``
is 1 for the first part: the raw bytes bound what zip or Parquet makes of them. From
then on it is the last part's final-to-raw ratio plus a 10% margin.
Slices shrink near the limit (half of what the estimate says still fits), and a part
ends when fewer than two rows of its average size fit. So a part passes ``max_bytes``
only when one row is larger than it (or than it less ``empty``), or when its rows
compress much worse than the parts before them: such parts are named in a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from runner.problems import counted

if TYPE_CHECKING:
    from runner.spec.segment import OutputSpec

MARGIN = 1.10  # over the last part's final/raw ratio
PROBE = 4  # rows written to learn the raw bytes per row when nothing is known yet


class Figures(Protocol):
    """A finished part (:class:`runner.formats.split.PartFigures`)."""

    @property
    def number(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def bytes(self) -> int: ...


class _Counter:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def empty_size(spec: OutputSpec) -> int:
    """The bytes of a part of this format with no rows (its header only)."""
    from runner.formats import Encoder

    counter = _Counter()
    Encoder(spec, counter).finish()
    return counter.size


class PackedSize:
    """The estimate above for one export's parts (XLSX, Parquet with ``max_bytes``)."""

    def __init__(self, spec: OutputSpec, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.empty = empty_size(spec)
        self.ratio = 1.0
        self.per_row = 0.0  # raw bytes per row of the last finished part
        self.raw0 = 0

    def start(self, raw: int) -> None:
        """A new part whose raw bytes (header, magic) are ``raw`` before any row."""
        self.raw0 = raw

    def rows_to_write(self, raw: int, rows: int, want: int) -> int:
        """How many of ``want`` rows to write next into a part of ``rows`` rows and
        ``raw`` raw bytes; 0: the part is full."""
        room = self.max_bytes - self.empty - (raw - self.raw0) * self.ratio
        if room <= 0:
            return 0 if rows else 1  # a first row that does not fit goes in a part alone
        per_row = (raw - self.raw0) / rows if rows else self.per_row
        if not per_row:
            return min(want, PROBE)
        fit = int(room // (per_row * self.ratio))
        if fit < 2:
            return 0 if rows else 1  # a first row that does not fit goes in a part alone
        return min(want, fit // 2)

    def finished(self, raw: int, rows: int, size: int) -> None:
        """A part of ``rows`` rows ended at ``raw`` raw bytes and came out ``size`` bytes."""
        grown = raw - self.raw0
        if rows and grown > 0:
            self.per_row = grown / rows
            self.ratio = max((size - self.empty) / grown, 0.0) * MARGIN or 1.0


def oversized(parts: Sequence[Figures], max_bytes: int | None, empty: int) -> str | None:
    """The warning naming the parts larger than ``max_bytes``, or None."""
    if max_bytes is None:
        return None
    over = [p for p in parts if p.bytes > max_bytes]
    if not over:
        return None
    shown = ", ".join(
        f"part {p.number} ({counted(p.bytes, 'byte')}, {counted(p.rows, 'row')})" for p in over[:5]
    )
    more = f" and {len(over) - 5:,} more" if len(over) > 5 else ""
    why = (
        f"a part with no rows is already {empty:,} bytes in this format"
        if empty >= max_bytes
        else "a single row larger than the limit, or rows much larger than the earlier ones"
    )
    return (
        f"{counted(len(over), 'part')} larger than output.split.max_bytes ({max_bytes:,}): "
        f"{shown}{more}; {why}"
    )

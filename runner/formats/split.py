"""Split parts: one export written as numbered files, each a complete file in its format.

``output.split`` limits each part to ``max_rows`` rows and ``max_bytes`` bytes.
:func:`encoder_for` gives the export's encoder: a plain :class:`~runner.formats.Encoder`,
or a :class:`SplitEncoder` that asks its :class:`PartSink` (the destination's set of
parts) for a new byte sink whenever a part is full. Parts stream: nothing holds a part.

- **CSV and JSONL** are written by one format object into a page buffer; the page is
  cut into rows (JSONL at each newline, CSV at each ``\\r\\n`` outside quotes) and the
  rows are dealt into parts, each starting with the format's preamble (BOM and
  header). So the parts joined, less each part's preamble, are the unsplit file byte
  for byte. ``max_bytes`` is exact: a part's bytes (preamble included) never pass it,
  except a part holding a single row that is larger by itself. With gzip the rows are
  measured before compression, against a budget that zlib's worst case
  (``deflateBound``) plus gzip's header and trailer keeps under ``max_bytes``.
- **XLSX and Parquet** get a fresh format object per part. Their bytes are written
  late (the zip at the end, a row group at a time), so the cut is decided on an
  estimate of the part's final size from the bytes written so far
  (:class:`~runner.formats.split_size.PackedSize`), checked before every page slice.
"""

from __future__ import annotations

import gzip
import sys
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Protocol

from runner.errors import DestinationError
from runner.formats import FORMATS, Encoder, HashingWriter
from runner.formats.base import ByteSink, Format
from runner.formats.split_size import PackedSize, oversized
from runner.spec.split import effective_split, split_spec
from runner.spec.targets import MAX_PARTS

if TYPE_CHECKING:
    from runner.spec.segment import OutputSpec

LINE_FORMATS = {"csv": b"\r\n", "jsonl": b"\n"}  # format -> what ends each row
_GZIP_FRAME = 18 + 7 + 64  # gzip header and trailer, deflate's end block, a margin


@dataclass(frozen=True)
class PartFigures:
    """One finished part: what the manifest lists."""

    number: int
    rows: int
    bytes: int
    sha256: str
    destination: str = ""


class PartSink(Protocol):
    """Where the parts go (a split destination's upload)."""

    def open_part(self, number: int) -> ByteSink:
        """A byte sink for part ``number`` (from 1)."""

    def end_part(self, part: PartFigures) -> str:
        """Part ``part.number`` is complete; returns where it will be published."""


class _OneSink:
    """Every part into one sink (``--dry-run`` and ``diff --count`` discard them)."""

    def __init__(self, sink: ByteSink) -> None:
        self.sink = sink

    def open_part(self, number: int) -> ByteSink:
        return self.sink

    def end_part(self, part: PartFigures) -> str:
        return ""


def encoder_for(
    spec: OutputSpec, upload: ByteSink, parts: PartSink | None, which: str = ""
) -> Encoder:
    """The encoder of one export: split into parts when ``spec.split`` says so, into
    ``parts`` (the upload's own, when it is a set's) or else all into ``upload``.
    ``which`` names the set in its refusal when it is not the output's (a holdout's)."""
    if spec.split is None:
        return Encoder(spec, upload)
    return SplitEncoder(spec, parts if parts is not None else _OneSink(upload), which)


def split_warning(encoder: Encoder) -> str | None:
    """Parts larger than ``max_bytes`` (a warning), or None."""
    return encoder.oversized if isinstance(encoder, SplitEncoder) else None


def part_list(encoder: Encoder) -> list[dict[str, Any]] | None:
    """The parts an encoder wrote, for the manifest; None when it did not split, or when
    its one part is published as the plain file (a preset's default limits)."""
    if not isinstance(encoder, SplitEncoder) or encoder.plain:
        return None
    return [asdict(p) for p in encoder.parts]


def over_limit(spec: OutputSpec, rows: int, size: int) -> str | None:
    """Why a preset's export written as one file (``split: false``) is past its
    platform's documented limit on one import file (a warning), or None; never for a
    split export."""
    if spec.split is not None or spec.preset is None:
        return None
    limits = split_spec(effective_split(spec.preset, True))
    if limits is None:
        return None
    over = []
    if limits.max_bytes is not None and size > limits.max_bytes:
        over.append(f"{size:,} bytes (the limit is {limits.max_bytes:,})")
    if limits.max_rows is not None and rows > limits.max_rows:
        over.append(f"{rows:,} rows (the limit is {limits.max_rows:,})")
    if not over:
        return None
    return (
        f"the file has {' and '.join(over)}, more than {spec.preset} imports in one file: "
        "without 'output.split: false' it is written as parts within its limits"
    )


def too_many_parts(spec: OutputSpec, rows: int, which: str = "") -> str:
    """Why an export stops when it needs part 10,000 (see :data:`MAX_PARTS`); ``which``
    names a set that is not the output's (``the holdout set out/vip.holdout.csv``)."""
    assert spec.split is not None
    limits = [
        f"{key} {value:,}"
        for key, value in (("max_rows", spec.split.max_rows), ("max_bytes", spec.split.max_bytes))
        if value is not None
    ]
    return (
        f"{which + ': ' if which else ''}"
        f"{rows:,} rows filled {MAX_PARTS:,} parts and more remain, but a set has at most "
        f"{MAX_PARTS:,} parts (four-digit numbers): raise output.split's {' or '.join(limits)}; "
        "nothing was published"
    )


def gzip_budget(max_bytes: int) -> int:
    """Bytes before compression whose gzip stream can never pass ``max_bytes``."""
    worst = (max_bytes >> 12) + (max_bytes >> 14) + (max_bytes >> 25) + _GZIP_FRAME
    return max(max_bytes - worst, 0)


def split_rows(data: bytes, end: bytes, rows: int | None = None) -> list[bytes]:
    """A page's bytes as its rows, without their line ends. CSV: a line end inside
    quotes is part of its cell, and a complete row holds an even number of quotes;
    when the page cuts into exactly ``rows`` pieces no cell holds one, and no quote
    is counted."""
    pieces = data.split(end)
    pieces.pop()  # after the last line end
    if end != b"\r\n" or len(pieces) == rows or b'"' not in data:
        return pieces
    merged: list[bytes] = []
    pending: bytes | None = None
    for piece in pieces:
        pending = piece if pending is None else pending + end + piece
        if pending.count(b'"') % 2 == 0:
            merged.append(pending)
            pending = None
    if pending is not None:
        merged.append(pending)
    return merged


class _Capture:
    """The line format's sink: keeps one page's bytes until they are dealt into parts."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class _Tee:
    """A part's bytes on their way to its sink, also hashed as the whole set."""

    def __init__(self, sink: ByteSink, whole: HashingWriter) -> None:
        self.sink, self.whole = sink, whole

    def write(self, data: bytes) -> int:
        self.whole.write(data)
        return self.sink.write(data)


class _Nowhere:
    def write(self, data: bytes) -> int:
        return len(data)


class _Part:
    """One part being written: ``[gzip] -> hashing -> sink`` (line formats), or its own
    :class:`Encoder` (XLSX, Parquet)."""

    def __init__(self, number: int, sink: ByteSink, spec: OutputSpec, lines: bool) -> None:
        self.number = number
        self.rows = 0
        self.raw = 0  # line formats: bytes before compression, preamble included
        self.encoder: Encoder | None = None
        self.gzip: gzip.GzipFile | None = None
        if lines:
            self.hashing = HashingWriter(sink)
            self.out: ByteSink = self.hashing
            if spec.compression == "gzip":
                self.gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.hashing, mtime=0)
                self.out = self.gzip
        else:
            self.encoder = Encoder(spec, sink)
            self.hashing = self.encoder.hashing

    def write(self, data: bytes, rows: int) -> None:
        self.out.write(data)
        self.raw += len(data)
        self.rows += rows

    def written(self) -> int:
        """XLSX, Parquet: the bytes the part has written so far (see the module docstring)."""
        assert self.encoder is not None
        return self.encoder.size + int(getattr(self.encoder.format, "pending_bytes", 0))

    def finish(self) -> PartFigures:
        if self.gzip is not None:
            self.gzip.close()
        if self.encoder is not None:
            self.encoder.finish()
            self.rows = self.encoder.rows
        digest = self.hashing.sha256.hexdigest()
        return PartFigures(self.number, self.rows, self.hashing.size, digest)


class SplitEncoder(Encoder):
    """An :class:`~runner.formats.Encoder` whose bytes go to numbered parts (see above).

    ``sha256`` and ``size`` are those of every part's bytes in order (``cat`` the parts).
    """

    def __init__(self, spec: OutputSpec, parts: PartSink, which: str = "") -> None:
        assert spec.split is not None
        self.spec, self.sink, self.which = spec, parts, which
        self.max_rows = spec.split.max_rows or sys.maxsize
        self.max_bytes = spec.split.max_bytes
        self.rows = 0
        self.parts: list[PartFigures] = []
        self.whole = HashingWriter(_Nowhere())
        self.end = LINE_FORMATS.get(spec.format)
        self._part: _Part | None = None
        self._dropped = 0  # by the parts already finished (XLSX, Parquet)
        self._invalid_phones = 0  # likewise
        self._packed: PackedSize | None = None  # XLSX, Parquet with max_bytes
        if self.end is None and self.max_bytes:
            self._packed = PackedSize(spec, self.max_bytes)
        if self.end is not None:
            self._capture = _Capture()
            self.format: Format = FORMATS[spec.format](self._capture, spec)
            self._preamble = self._capture.take()
            limit = self.max_bytes or 0
            self._budget = gzip_budget(limit) if spec.compression == "gzip" else limit

    def _open(self) -> _Part:
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise DestinationError(too_many_parts(self.spec, self.rows, self.which))
        sink = _Tee(self.sink.open_part(number), self.whole)
        part = _Part(number, sink, self.spec, lines=self.end is not None)
        if part.encoder is not None:
            self.format = part.encoder.format
            if self._packed is not None:
                self._packed.start(part.written())
        elif self._preamble:
            part.write(self._preamble, 0)
        self._part = part
        return part

    def _close(self) -> None:
        part, self._part = self._part, None
        assert part is not None
        raw = part.written() if part.encoder is not None else 0
        figures = part.finish()
        if part.encoder is not None:
            self._dropped += part.encoder.dropped_unmatchable
            self._invalid_phones += part.encoder.invalid_phones
            if self._packed is not None:
                self._packed.finished(raw, figures.rows, figures.bytes)
        where = self.sink.end_part(figures)
        self.parts.append(PartFigures(**{**asdict(figures), "destination": where}))

    def write_page(self, records: Sequence[Any]) -> None:
        if self.end is not None:
            rows = self.format.write_page(records)
            self._deal(split_rows(self._capture.take(), self.end, rows), self.end)
        else:
            self._write_slices(records)

    def _deal(self, rows: list[bytes], end: bytes) -> None:
        """Line formats: the page's rows into parts, by count and by bytes."""
        step = len(end)
        sizes = list(accumulate(len(row) + step for row in rows)) if self.max_bytes else []
        done = 0
        while done < len(rows):
            part = self._part or self._open()
            take = min(self.max_rows - part.rows, len(rows) - done)
            if self.max_bytes:
                before = sizes[done - 1] if done else 0
                fit = bisect_right(sizes, before + self._budget - part.raw, done, done + take)
                if fit == done and part.rows:
                    self._close()
                    continue
                take = max(fit - done, 1)  # a row larger than max_bytes goes in a part alone
            part.write(end.join(rows[done : done + take]) + end, take)
            done += take
            self.rows += take
            if part.rows >= self.max_rows:
                self._close()

    def _write_slices(self, records: Sequence[Any]) -> None:
        """XLSX, Parquet: the page in slices, each to the part it fits."""
        done = 0
        while done < len(records):
            part = self._part or self._open()
            assert part.encoder is not None
            take = min(self.max_rows - part.encoder.rows, len(records) - done)
            if self._packed is not None:
                take = self._packed.rows_to_write(part.written(), part.encoder.rows, take)
                if not take:
                    self._close()
                    continue
            before = part.encoder.rows
            part.encoder.write_page(records[done : done + take])
            done += take
            self.rows += part.encoder.rows - before
            if part.encoder.rows >= self.max_rows:
                self._close()

    def finish(self) -> None:
        if self.end is not None:
            self.format.close()
            rest = self._capture.take()  # nothing for CSV and JSONL; kept if ever there is
            if rest:
                (self._part or self._open()).write(rest, 0)
        if self._part is None and not self.parts:
            self._open()  # no rows: one part, with the header where the format has one
        if self._part is not None:
            self._close()

    @property
    def oversized(self) -> str | None:
        """The warning naming the parts larger than ``max_bytes`` (see split_size)."""
        if self._packed is not None:
            return oversized(self.parts, self.max_bytes, self._packed.empty)
        return oversized(self.parts, self.max_bytes, len(getattr(self, "_preamble", b"")))

    @property
    def plain(self) -> bool:
        """Published as the one plain file (:attr:`runner.spec.split.SplitSpec.plain_if_one`)."""
        assert self.spec.split is not None
        return self.spec.split.plain(len(self.parts))

    @property
    def dropped_unmatchable(self) -> int:
        if self.end is not None:
            return self.format.dropped_unmatchable
        current = self._part.encoder.dropped_unmatchable if self._part and self._part.encoder else 0
        return self._dropped + current

    @property
    def invalid_phones(self) -> int:
        if self.end is not None:
            return self.format.invalid_phones
        current = self._part.encoder.invalid_phones if self._part and self._part.encoder else 0
        return self._invalid_phones + current

    @property
    def sha256(self) -> str:
        return self.whole.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self.whole.size

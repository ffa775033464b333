"""What a format is: the small interface every format class implements.

The format modules (:mod:`~runner.formats.csv`, ``jsonl``, ``xlsx``, ``parquet``)
import this, and :mod:`runner.formats` imports them into its registry, so the
imports run one way: registry -> formats -> this interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.rows.build import Rows
    from runner.spec.segment import OutputSpec


class ByteSink(Protocol):
    """Where a format's bytes go: gzip, the hashing writer, an upload."""

    def write(self, data: bytes) -> int: ...


class Format(Protocol):
    """One export being written: pages in, bytes out to the sink given at creation."""

    header: list[str]

    def write_page(self, records: Sequence[Any]) -> int:
        """Write one page; return the number of rows written (records left out are
        counted in ``dropped_unmatchable``)."""

    def close(self) -> None:
        """Write whatever the format keeps until the end (XLSX: the whole zip)."""

    @property
    def dropped_unmatchable(self) -> int: ...

    @property
    def invalid_phones(self) -> int:
        """Phone numbers left empty because libphonenumber says they are not valid."""


class RowCounts:
    """What a format whose cells come from :class:`~runner.rows.build.Rows` (``rows``)
    reports about them: records left out, phone numbers left empty."""

    rows: Rows

    @property
    def dropped_unmatchable(self) -> int:
        return self.rows.dropped

    @property
    def invalid_phones(self) -> int:
        return self.rows.invalid_phones


class FormatClass(Protocol):
    """What the registry holds: a class that names itself and makes a :class:`Format`."""

    name: str
    extension: str  # the one ``segments init`` and default paths use
    content_type: str
    compressible: bool

    @property
    def extensions(self) -> tuple[str, ...]:
        """Every extension an output path may end with (the first is ``extension``)."""

    def __call__(self, out: ByteSink, spec: OutputSpec) -> Format: ...

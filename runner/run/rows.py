"""Steps 3 and 4, build rows and write: pages of records -> rows -> an upload, finished
(not yet published), with what writing measured (:class:`Written`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.formats import Encoder
from runner.formats.split import encoder_for, over_limit, part_list, split_warning
from runner.rows.empty import EmptyColumns
from runner.rows.presets import too_small
from runner.run.pages import Records
from runner.sinks import Upload
from runner.spec.segment import Segment


@dataclass(frozen=True)
class Written:
    """What writing measured (names as in :class:`~runner.run.record.ExportResult`)."""

    rows: int
    bytes: int
    sha256: str
    parts: int  # output.split: the numbered files written (0: one file)
    dropped_unmatchable: int
    invalid_phones: int
    empty_columns: tuple[str, ...]
    cautions: tuple[str, ...]  # warnings: too big, too small, split, columns with no value
    # for the manifest: the header, and every part (number, rows, bytes, sha256, destination)
    columns: list[str] = field(default_factory=list)
    part_list: list[dict[str, Any]] | None = None


def write_rows(
    pages: Iterable[Records],
    seg: Segment,
    upload: Upload,
    on_page: Callable[[Records, int], None] | None = None,
) -> Written:
    """Each page's records -> rows -> ``upload``, then finished; ``on_page`` hears of
    every page written, with the rows so far (progress, the delta files)."""
    encoder = encoder_for(seg.output, upload, upload.part_writer())  # parts if output.split says so
    watch = EmptyColumns(seg.output.columns or ())
    for page in pages:
        encoder.write_page(page)
        watch.page(page)
        if on_page is not None:
            on_page(page, encoder.rows)
    encoder.finish()
    return _written(seg, encoder, watch)


def _written(seg: Segment, encoder: Encoder, watch: EmptyColumns) -> Written:
    rows = encoder.rows
    parts = part_list(encoder)
    notes = [over_limit(seg.output, rows, encoder.size), split_warning(encoder)]
    notes += [too_small(seg.output, rows), watch.warning(rows)]
    return Written(
        rows,
        encoder.size,
        encoder.sha256,
        len(parts or ()),
        encoder.dropped_unmatchable,
        encoder.invalid_phones,
        tuple(watch.names) if rows else (),
        tuple(filter(None, notes)),
        encoder.format.header,
        parts,
    )

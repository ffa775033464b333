"""The one record of a run's figures: :class:`ExportResult`.

The export fills it in step by step (each step's figures arrive as a new frozen value);
the manifest (:mod:`runner.run.manifest`), the history entry (:mod:`runner.run.remember`),
the summary (:mod:`runner.report.summary`) and the ``--results`` file
(:mod:`runner.run.results`) are all made from it, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.history import RunStatus

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# How a segment ended (``status`` in the results file, the summary and the history) is a
# RunStatus; these two mean the segment ran to its end.
DONE = frozenset({RunStatus.SUCCESS, RunStatus.DRY_RUN})


@dataclass(frozen=True)
class ExportResult:
    """One segment's export: how it ended and every figure it measured.

    A listener sees a new value at each step (``rows`` and ``pages`` grow page by page);
    the value :func:`runner.run.export` returns is the final one.
    """

    segment: str
    status: RunStatus | None = None  # None while the segment runs
    rows: int = 0
    pages: int = 0
    duplicates: int = 0
    dropped_unmatchable: int = 0  # a preset's rows with no e-mail and no phone
    invalid_phones: int = 0  # phone numbers libphonenumber says are not valid: left empty
    after_as_of: int = 0  # contacts created after the as-of: left for the next run
    api_clock_skew: float | None = None  # seconds the API's clock is ahead (Date header)
    undated: int = 0  # incremental: contacts without createdAt (in no window), found after
    undated_included: bool = False  # passed on (a first run), or only counted
    retries: int = 0
    reread: bool = False
    concurrency: int = 0  # requests at once the run settled at
    auto_concurrency: bool = False  # found as the run went (api.concurrency: auto)
    windows: int = 0  # createdAt windows read (0: page numbers only)
    note: str = ""  # why the run stopped reading windows, if it did
    read_as: str = ""  # page numbers after the first window, contacts outside every window
    seconds: float = 0.0
    bytes: int = 0
    parts: int = 0  # output.split: the numbered files written (0: one file)
    destination: str = ""
    manifest: str = ""
    sha256: str = ""
    error: str = ""
    published: bool = False  # the destination holds this run's data (even if status failed)
    warnings: tuple[str, ...] = ()  # history or notifications: never fatal
    empty_columns: tuple[str, ...] = ()  # output.columns with no value
    held_out: int = 0  # holdout: the rows of <name>.holdout.<ext> (runner.run.route)
    held_out_parts: int = 0  # holdout: its parts, when split as the output (0: one file)
    started_at: str = ""  # UTC, to the millisecond: when the segment's run began
    finished_at: str = ""  # when its file was written (before it was published)

    def with_figures(self, figures: DataclassInstance) -> ExportResult:
        """This record with every field of the dataclass ``figures`` that it shares by name:
        how a step's measured figures (:class:`runner.run.rows.Written`, ...) come in."""
        names = {f.name for f in dataclasses.fields(self)}
        known = {k: v for k, v in dataclasses.asdict(figures).items() if k in names}
        return dataclasses.replace(self, **known)

    def paged(self, pages: int, rows: int, duplicates: int, held_out: int) -> ExportResult:
        """This record with a page's figures: :func:`dataclasses.replace` without its walk
        over 32 fields and their defaults (53 us a page, where this takes 8: 3 % of a
        zero-latency export's CPU went there)."""
        new = object.__new__(ExportResult)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields.update(pages=pages, rows=rows, duplicates=duplicates, held_out=held_out)
        return new

    def warned(self, *lines: str) -> ExportResult:
        return dataclasses.replace(self, warnings=(*self.warnings, *lines))

    def as_json(self) -> dict[str, Any]:
        """The record as plain JSON values: one entry of ``--results``."""
        document = dataclasses.asdict(self)
        for name in ("warnings", "empty_columns"):  # JSON arrays, as the results file had
            document[name] = list(document[name])
        return document


# What a step tells whoever watches the run: "start:N" (N rows expected, or nothing),
# "page", "retry:REASON", "warning:TEXT", "waiting:TEXT", "end"; with the record as it stands.
Listener = Callable[[str, ExportResult], None]


def quiet(_event: str, _result: ExportResult) -> None:
    pass

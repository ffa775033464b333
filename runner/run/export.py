"""The export, as its steps in order; each passes typed values to the next, none calls back.

1. plan: where the file goes, the history beside it, the window to read
   (:meth:`runner.run.remember.HistoryRun.start`);
2. fetch: the segment's de-duplicated pages (:mod:`runner.run.pages`);
3. build rows and 4. write them, finished but not published (:mod:`runner.run.rows`);
   then the guards (``expect.min_rows``, ``max_rows``, ``max_change``);
5. publish the file with its manifest and delta files (:mod:`runner.run.publish`);
6. remember: the history entry (:meth:`~runner.run.remember.HistoryRun.remember`);
7. notify (:func:`runner.run.notify.notify_run`).

Every figure lands in one record, :class:`~runner.run.record.ExportResult`, from which
the manifest, the history entry, the summary and ``--results`` are made.
:func:`export_segment` never leaves a partial file or object under the destination name;
:func:`export` runs several segments, each on its own; :func:`count_contacts` is steps
2 to 4, dry (``diff --count``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from runner.errors import GuardError, ManifestError, RunnerError, Terminated
from runner.fetch import PageFetcher, token_from_env
from runner.fetch.redact import Redactor
from runner.formats import content_type
from runner.history import RunStatus
from runner.history.record import utc_now
from runner.run.manifest import Manifest
from runner.run.notify import catalog_link, notify_run
from runner.run.options import ExportOptions
from runner.run.pages import Fetched, Records, open_pages, records
from runner.run.publish import publish
from runner.run.record import DONE, ExportResult, Listener, quiet
from runner.run.remember import HistoryRun, expected_rows
from runner.run.rows import Written, write_rows
from runner.sinks import DiscardUpload, Upload
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


class _Live:
    """The run's record as the steps fill it in, shown to the listener at each event."""

    def __init__(self, segment: str, listener: Listener | None) -> None:
        self.result = ExportResult(segment, started_at=utc_now())
        self._listener = listener or quiet

    def tell(self, event: str) -> None:
        self._listener(event, self.result)

    def warn(self, *lines: str) -> None:
        for line in lines:
            self.result = self.result.warned(line)
            self.tell("warning:" + line)


def export_segment(
    seg: Segment,
    ws: Workspace,
    options: ExportOptions,
    token: str,
    listener: Listener | None = None,
    env: Mapping[str, str] | None = None,
) -> ExportResult:
    """Export one segment: its final record. Every failure is in the record; only an
    interrupt is raised, after the run is recorded (the listener's last record then
    says ``interrupted``)."""
    live = _Live(seg.name, listener)
    scrub = Redactor(token)  # the one redaction: every text this run leaves passes it
    started = time.monotonic()
    upload: Upload | None = None
    run: HistoryRun | None = None
    try:  # 1. plan
        run = HistoryRun.start(
            seg,
            ws,
            options.out,
            accept_change=options.accept_change,
            since=options.since,
            dry_run=options.dry_run,
        )
        live.result = replace(live.result, destination=run.destination.display)
        live.tell(f"start:{expected_rows(run) or ''}")  # with progress's total, if any
        upload = (
            DiscardUpload() if options.dry_run else run.destination.open(content_type(seg.output))
        )
        run.open_deltas()  # 2 to 4: fetch, build rows, write
        written = _fetch_and_write(seg, ws, options, token, run, upload, live, scrub)
        _check_guards(seg, written.rows)  # nothing is published past a guard
        run.check(written.rows, written.sha256)
        if options.dry_run:
            live.result = replace(live.result, status=RunStatus.DRY_RUN)
        else:
            _publish(seg, ws, run, upload, written, live, scrub)  # 5
    except ManifestError as exc:
        live.result = replace(
            live.result, status=RunStatus.FAILED, published=True, error=scrub.mask(str(exc))
        )
    except RunnerError as exc:
        status = RunStatus.GUARD if isinstance(exc, GuardError) else RunStatus.FAILED
        live.result = replace(live.result, status=status, error=scrub.mask(str(exc)))
    except (KeyboardInterrupt, Terminated):
        live.result = replace(live.result, status=RunStatus.INTERRUPTED, error="interrupted")
        raise
    finally:
        if upload is not None and live.result.status != RunStatus.SUCCESS:
            upload.abort()
        live.result = replace(live.result, seconds=round(time.monotonic() - started, 3))
        _remember_and_notify(run, ws, live, os.environ if env is None else env, scrub)  # 6, 7
        if live.result.status is not None:
            live.tell("end")
    return live.result


def _publish(
    seg: Segment,
    ws: Workspace,
    run: HistoryRun,
    upload: Upload,
    written: Written,
    live: _Live,
    scrub: Redactor,
) -> None:
    """Step 5: the delta files finished, the manifest made from the record, all published."""
    companions = run.companions()
    live.result = replace(live.result, finished_at=utc_now())
    history = run.manifest_fields()
    manifest = Manifest.of(seg, ws, live.result, written.columns, history, written.part_list)
    shown = publish(manifest, upload, run.destination, companions, scrub)
    live.result = replace(live.result, status=RunStatus.SUCCESS, published=True, manifest=shown)


def _fetch_and_write(
    seg: Segment,
    ws: Workspace,
    options: ExportOptions,
    token: str,
    run: HistoryRun,
    upload: Upload,
    live: _Live,
    scrub: Redactor,
) -> Written:
    """Steps 2 to 4: the pages of ``run``'s request, as rows, into ``upload``."""

    def on_retry(reason: str) -> None:
        live.result = replace(live.result, retries=fetcher.retries)
        live.tell("retry:" + scrub.mask(reason))

    def on_page(page: Records, rows: int) -> None:
        run.page(page)  # the delta files
        pages, duplicates = live.result.pages + 1, fetcher.duplicates
        live.result = replace(live.result, pages=pages, rows=rows, duplicates=duplicates)
        live.tell("page")

    fetcher = open_pages(
        ws,
        token,
        run.body,
        concurrency=options.concurrency,
        max_pages=options.max_pages,
        on_retry=on_retry,
    )
    try:
        written = write_rows(records(fetcher, run.fetch_needed), seg, upload, on_page)
    finally:
        fetcher.close()
        live.result = live.result.with_figures(Fetched.of(fetcher, live.result.pages))
        if live.result.note:
            live.tell("warning:" + live.result.note)
    live.result = live.result.with_figures(written)
    live.warn(*written.cautions)
    return written


def _remember_and_notify(
    run: HistoryRun | None,
    ws: Workspace,
    live: _Live,
    env: Mapping[str, str],
    scrub: Redactor,
) -> None:
    """Steps 6 and 7: the history entry, then the notifications; what goes wrong there
    is a warning, never a change of the run's status."""
    if run is None:
        return
    try:
        if live.result.status is None:
            return
        entry, warnings = run.remember(live.result, scrub.mask)
        if entry is not None:
            warnings += notify_run(
                run.seg.notify,
                entry,
                run.previous,
                env=env,
                redact=scrub.mask,
                timeout=ws.project.notify_timeout,
                catalog=catalog_link(ws.project.catalog_url, run.seg.name),
            )
        live.warn(*(scrub.mask(line) for line in warnings))
    finally:
        run.close()


def count_contacts(seg: Segment, ws: Workspace, token: str) -> int:
    """How many contacts ``seg`` selects: steps 2 to 4 with nothing written, without the
    guards. A contact a preset leaves out is still counted. Failures are raised."""
    fetcher: PageFetcher = open_pages(ws, token, seg.body)
    try:
        written = write_rows(records(fetcher), seg, DiscardUpload())
    finally:
        fetcher.close()
    return written.rows + written.dropped_unmatchable


def _check_guards(seg: Segment, rows: int) -> None:
    if seg.min_rows is not None and rows < seg.min_rows:
        raise GuardError(
            f"{rows} rows is below expect.min_rows ({seg.min_rows}); the previous file is kept"
        )
    if seg.max_rows is not None and rows > seg.max_rows:
        raise GuardError(
            f"{rows} rows is above expect.max_rows ({seg.max_rows}); the previous file is kept"
        )


class _Latest:
    """A listener that keeps the record it last saw (the one an interrupt stopped)."""

    def __init__(self, segment: str, listener: Listener | None) -> None:
        self.result = ExportResult(segment)
        self._listener = listener or quiet

    def __call__(self, event: str, result: ExportResult) -> None:
        self.result = result
        self._listener(event, result)


def export(
    segments: Sequence[Segment],
    ws: Workspace,
    options: ExportOptions | None = None,
    *,
    env: Mapping[str, str] | None = None,
    listener: Listener | None = None,
    results: list[ExportResult] | None = None,
) -> list[ExportResult]:
    """Export ``segments`` one after the other; their records, in order. With
    ``fail_fast``, the segments after one that did not finish are ``skipped``.
    ``env`` (default: the process's) holds the API token and the notify URLs' variables.

    ``results``, if given, is filled as the segments go, so a caller still holds it
    when an interrupt is raised: the segment it stopped is ``interrupted``, the rest
    ``skipped``.
    """
    options = options or ExportOptions()
    env = os.environ if env is None else env
    token = token_from_env(ws.project.api, env)
    results = [] if results is None else results
    for number, seg in enumerate(segments, 1):
        latest = _Latest(seg.name, listener)
        try:
            result = export_segment(seg, ws, options, token, latest, env)
        except (KeyboardInterrupt, Terminated):
            stopped = latest.result
            if stopped.status is None:  # stopped before it was recorded
                stopped = replace(stopped, status=RunStatus.INTERRUPTED, error="interrupted")
            results.append(stopped)
            _skip(results, segments[number:])
            raise
        results.append(result)
        if result.status not in DONE and options.fail_fast:
            _skip(results, segments[number:])
            break
    return results


def _skip(results: list[ExportResult], rest: Sequence[Segment]) -> None:
    results.extend(ExportResult(seg.name, status=RunStatus.SKIPPED) for seg in rest)

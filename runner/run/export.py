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
:func:`export` runs several segments, each on its own (:mod:`runner.run.count` is steps
2 to 4, dry: ``diff --count``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from runner.errors import GuardError, ManifestError, RunnerError, Terminated
from runner.fetch import PageFetcher, token_from_env
from runner.fetch.learned import keep
from runner.fetch.redact import Redactor
from runner.fetch.undated import undated_scan
from runner.formats import content_type
from runner.history import RunStatus
from runner.history.record import utc_now
from runner.locations import STATE_DIR
from runner.run.compose import Audiences, export_order
from runner.run.manifest import Manifest
from runner.run.notify import catalog_link, notify_run
from runner.run.options import ExportOptions
from runner.run.pages import Fetched, Records, check_resolved, open_pages, records
from runner.run.publish import publish
from runner.run.record import DONE, ExportResult, Listener, quiet
from runner.run.remember import HistoryRun, expected_rows
from runner.run.route import Router
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
    audiences: Audiences | None = None,  # export()'s: one run's shared id sets
) -> ExportResult:
    """Export one segment: its final record. Every failure is in the record; only an
    interrupt is raised, after the run is recorded (the listener's last record then
    says ``interrupted``)."""
    live = _Live(seg.name, listener)
    scrub = Redactor(token)  # the one redaction: every text this run leaves passes it
    started = time.monotonic()
    upload: Upload | None = None
    run: HistoryRun | None = None
    router = Router()
    try:  # 1. plan
        run = _plan(seg, ws, options)
        live.result = replace(live.result, destination=run.destination.display)
        live.tell(f"start:{expected_rows(run) or ''}")  # with progress's total, if any
        upload = (
            DiscardUpload() if options.dry_run else run.destination.open(content_type(seg.output))
        )
        router = (audiences or Audiences(ws, token, options)).start(run, options.dry_run)
        run.open_deltas()  # 2 to 4: fetch, build rows (exclude, only, holdout), write
        written, fetcher = _fetch_and_write(
            seg, ws, options, token, run, upload, live, scrub, router
        )
        _check_guards(seg, written.rows)  # nothing is published past a guard
        run.check(written.rows + live.result.held_out, written.sha256)  # the whole audience
        if options.dry_run:
            live.result = replace(live.result, status=RunStatus.DRY_RUN)
        else:
            _publish(seg, ws, run, upload, written, live, scrub, router)  # 5
        if fetcher.auto:  # what concurrency suits the API; a failed run leaves it as it was
            keep(ws.project.root / STATE_DIR, ws.project.api.url, fetcher.learned)
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
        router.abort()
        live.result = replace(live.result, seconds=round(time.monotonic() - started, 3))
        _remember_and_notify(run, ws, live, os.environ if env is None else env, scrub)  # 6, 7
        if live.result.status is not None:
            live.tell("end")
    return live.result


def _plan(seg: Segment, ws: Workspace, options: ExportOptions) -> HistoryRun:
    """Step 1: the destination, the history beside it, the window to read."""
    accept, since, dry = options.accept_change, options.since, options.dry_run
    return HistoryRun.start(seg, ws, options.out, accept_change=accept, since=since, dry_run=dry)


def _publish(
    seg: Segment,
    ws: Workspace,
    run: HistoryRun,
    upload: Upload,
    written: Written,
    live: _Live,
    scrub: Redactor,
    router: Router,
) -> None:
    """Step 5: the delta and holdout files finished, the manifest made from the record,
    all published."""
    companions = run.companions() + router.companions()
    live.result = replace(live.result, finished_at=utc_now())
    history, audience = run.manifest_fields(), router.manifest_fields(live.result.rows)
    manifest = Manifest.of(
        seg, ws, live.result, written.columns, history, written.part_list, audience
    )
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
    router: Router,
) -> tuple[Written, PageFetcher]:
    """Steps 2 to 4: the pages of ``run``'s request, through ``router`` (exclude, only,
    holdout), as rows, into ``upload``."""

    def on_retry(reason: str) -> None:
        live.result = replace(live.result, retries=fetcher.retries)
        live.tell("retry:" + scrub.mask(reason))

    def on_page(page: Records, rows: int) -> None:
        run.page(page)  # the delta files
        pages, duplicates = live.result.pages + 1, fetcher.duplicates
        live.result = replace(
            live.result, pages=pages, rows=rows, duplicates=duplicates, held_out=router.held
        )
        live.tell("page")

    check_resolved(seg)

    fetcher = open_pages(
        ws,
        token,
        run.body,
        concurrency=options.concurrency,
        max_pages=options.max_pages,
        on_retry=on_retry,
    )
    window, key = run.window, ws.project.api.id_key  # see runner.fetch.undated
    first = window is not None and window.start is None
    scan = undated_scan(seg.body, run.body, key, scrub, first) if window else None
    fetcher.last_pass = scan
    live.result = replace(live.result, undated_included=first and scan is not None)
    try:
        pages = (router.route(page) for page in records(fetcher, run.fetch_needed))
        written = write_rows(pages, seg, upload, on_page)
        router.finish()
    finally:
        fetcher.close()
        live.result = live.result.with_figures(Fetched.of(fetcher, live.result.pages))
        if live.result.note:
            live.tell("warning:" + live.result.note)
    if clock := fetcher.clock.warning():
        live.warn(clock)
    live.result = live.result.with_figures(written)
    held_parts = router.held_parts()
    live.result = replace(live.result, undated=scan.found if scan else 0, held_out_parts=held_parts)
    live.warn(*written.cautions, *router.cautions())
    return written, fetcher


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


def _check_guards(seg: Segment, rows: int) -> None:
    low, high = seg.min_rows, seg.max_rows
    why = f"below expect.min_rows ({low})" if low is not None and rows < low else ""
    if high is not None and rows > high:
        why = f"above expect.max_rows ({high})"
    if why:
        raise GuardError(f"{rows} rows is {why}; the previous file is kept")


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
    segments = export_order(segments)  # a referenced segment first: its pages are shared
    audiences = Audiences(ws, token, options, segments)
    for number, seg in enumerate(segments, 1):
        latest = _Latest(seg.name, listener)
        try:
            result = export_segment(seg, ws, options, token, latest, env, audiences)
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

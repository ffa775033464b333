"""The export, as its steps in order; each passes typed values to the next, none calls back.

1. plan: where the file goes, the history beside it, the window to read
   (:func:`runner.run.plan.plan`: a :class:`~runner.run.plan.Plan`);
2. fetch: the segment's de-duplicated pages (:mod:`runner.run.pages`), through its
   composition (:mod:`runner.run.route`) and, page by page, into the id snapshot and the
   delta files (:mod:`runner.run.deltas`);
3. build rows and 4. write them, finished but not published (:mod:`runner.run.rows`:
   :class:`~runner.run.rows.Written`); then the guards (:mod:`runner.run.guards`);
5. publish the file with its manifest and delta files (:mod:`runner.run.publish`);
6. remember: the history entry (:mod:`runner.run.remember`);
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
from runner.run.deltas import Deltas, Kept, open_deltas
from runner.run.guards import check_guards
from runner.run.manifest import Manifest, history_fields
from runner.run.notify import catalog_link, notify_run
from runner.run.options import ExportOptions
from runner.run.pages import Fetched, Records, check_resolved, open_pages, records
from runner.run.plan import Plan, plan
from runner.run.publish import publish
from runner.run.record import DONE, ExportResult, Listener, quiet
from runner.run.remember import remember, run_record
from runner.run.route import Router
from runner.run.rows import Written, write_rows
from runner.run.supersede import Earlier
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

    def failed(self, exc: RunnerError, error: str) -> None:
        """The status ``exc`` gives the run: a guard's, or failed."""
        status = RunStatus.GUARD if isinstance(exc, GuardError) else RunStatus.FAILED
        self.result = replace(self.result, status=status, error=error)
        if isinstance(exc, ManifestError):  # the file was published, its manifest was not
            self.result = replace(self.result, published=True)


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
    started, dry = time.monotonic(), options.dry_run
    planned: Plan | None = None
    upload: Upload | None = None
    router = Router()
    deltas: Deltas | None = None
    kept: Kept | None = None  # the snapshot stored and the delta files, once finished
    accepted = False  # --accept-change let a tripped max_change through
    try:
        planned = plan(seg, ws, options.out, options.since)  # 1
        live.result = replace(live.result, destination=planned.destination.display)
        live.tell(f"start:{planned.expected_rows or ''}")  # with progress's total, if any
        upload = DiscardUpload() if dry else planned.destination.open(content_type(seg.output))
        router = (audiences or Audiences(ws, token, options)).start(planned, dry)
        deltas = open_deltas(planned, dry)
        written, fetcher = _fetch_and_write(  # 2 to 4: exclude, only, holdout; the deltas
            ws, options, token, planned, deltas, upload, live, scrub, router
        )
        held, accept = live.result.held_out, options.accept_change  # nothing is published
        accepted = check_guards(planned, written, held, accept_change=accept, dry_run=dry)
        if dry:
            live.result = replace(live.result, status=RunStatus.DRY_RUN)
        else:
            kept = deltas.finish() if deltas is not None else None
            history = history_fields(planned, accepted, kept.manifest if kept else None)
            _publish(ws, planned, kept, history, upload, written, live, scrub, router)  # 5
        if fetcher.auto:  # what concurrency suits the API; a failed run leaves it as it was
            keep(ws.project.root / STATE_DIR, ws.project.api.url, fetcher.learned)
    except RunnerError as exc:
        live.failed(exc, scrub.mask(str(exc)))
    except (KeyboardInterrupt, Terminated):
        live.result = replace(live.result, status=RunStatus.INTERRUPTED, error="interrupted")
        raise
    finally:
        if upload is not None and live.result.status != RunStatus.SUCCESS:
            upload.abort()
        router.abort()
        live.result = replace(live.result, seconds=round(time.monotonic() - started, 3))
        try:
            if planned is not None and not dry:  # 6, 7: a dry run leaves no trace
                _remember_and_notify(planned, ws, kept, accepted, live, env, scrub)
        finally:
            if deltas is not None:
                deltas.close()  # what the deltas left (their uploads abort unless published)
        if live.result.status is not None:
            live.tell("end")
    return live.result


def _publish(
    ws: Workspace,
    planned: Plan,
    kept: Kept | None,
    history: Mapping[str, object],
    upload: Upload,
    written: Written,
    live: _Live,
    scrub: Redactor,
    router: Router,
) -> None:
    """Step 5: the manifest made from the record, published with the file, the delta
    and holdout files, all or none."""
    companions = [*(kept.uploads if kept else ()), *router.companions()]
    live.result = replace(live.result, finished_at=utc_now())
    audience = router.manifest_fields(live.result.rows)
    manifest = Manifest.of(
        planned.seg, ws, live.result, written.columns, history, written.part_list, audience
    )
    # One publisher of this output at a time, from reading its previous result to
    # clearing what this one supersedes (a run waiting meanwhile reads this one's).
    target, said = planned.destination.display, lambda line: live.tell("waiting:" + line)
    with planned.store.publish_lock(target, said), upload.group_lock():
        earlier = Earlier.read(planned, ws)  # the previous result, before it is replaced
        shown = publish(manifest, upload, planned.destination, companions, scrub, earlier)
    live.result = replace(live.result, status=RunStatus.SUCCESS, published=True, manifest=shown)


def _fetch_and_write(
    ws: Workspace,
    options: ExportOptions,
    token: str,
    planned: Plan,
    deltas: Deltas | None,
    upload: Upload,
    live: _Live,
    scrub: Redactor,
    router: Router,
) -> tuple[Written, PageFetcher]:
    """Steps 2 to 4: the pages of the plan's request, through ``router`` (exclude, only,
    holdout), as rows, into ``upload``; each page into ``deltas`` too."""
    seg = planned.seg
    check_resolved(seg)  # before anything is asked

    def on_retry(reason: str) -> None:
        live.result = replace(live.result, retries=fetcher.retries)
        live.tell("retry:" + scrub.mask(reason))

    def on_page(page: Records, rows: int) -> None:
        if deltas is not None:
            deltas.page(page)
        result = live.result
        live.result = result.paged(result.pages + 1, rows, fetcher.duplicates, router.held)
        live.tell("page")

    fetcher = open_pages(
        ws,
        token,
        planned.body,
        concurrency=options.concurrency,
        max_pages=options.max_pages,
        on_retry=on_retry,
    )
    window, key = planned.window, ws.project.api.id_key  # see runner.fetch.undated
    first = window is not None and window.start is None

    width = lambda: fetcher.in_flight.limit  # noqa: E731 (its end probe: as many at once)
    scan = undated_scan(seg.body, planned.body, key, scrub, first, width) if window else None
    fetcher.last_pass = scan
    live.result = replace(live.result, undated_included=first and scan is not None)
    try:
        pages = (router.route(page) for page in records(fetcher, planned.fetch_needed))
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
    planned: Plan,
    ws: Workspace,
    kept: Kept | None,
    accepted: bool,
    live: _Live,
    env: Mapping[str, str] | None,
    scrub: Redactor,
) -> None:
    """Steps 6 and 7: the history entry made from the record, then the notifications;
    what goes wrong there is a warning, never a change of the run's status."""
    if live.result.status is None:
        return
    entry = run_record(live.result, planned, ws, kept, accepted)
    entry, warnings = remember(planned, entry, kept, scrub.mask)
    warnings += notify_run(
        planned.seg.notify,
        entry,
        planned.previous,
        env=os.environ if env is None else env,
        redact=scrub.mask,
        timeout=ws.project.notify_timeout,
        catalog=catalog_link(ws.project.catalog_url, planned.seg.name),
    )
    live.warn(*(scrub.mask(line) for line in warnings))


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

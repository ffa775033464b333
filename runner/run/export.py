"""Export: segment -> rendered request -> pages -> records -> rows -> destination -> manifest.

:func:`export_segment` runs one segment and returns a :class:`SegmentResult`; it never leaves
a partial file or object under the destination name. :func:`export_all` runs several, each
on its own, reporting as it goes; :func:`count_contacts`: the same path, dry (``diff --count``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner import __version__
from runner.errors import ConfigError, GuardError, ManifestError, RunnerError, Terminated
from runner.fetch import PageFetcher, token_from_env
from runner.fetch.learned import keep, recall
from runner.fetch.redact import Redactor
from runner.fetch.undated import undated_scan
from runner.formats import Encoder, content_type
from runner.formats.split import encoder_for, over_limit, part_list, split_warning
from runner.history import RunStatus
from runner.locations import STATE_DIR, public_url
from runner.rows.empty import EmptyColumns
from runner.rows.presets import too_small
from runner.run.compose import Audiences, export_order
from runner.run.manifest import Manifest, git_blob_id
from runner.run.remember import HistoryRun, expected_rows
from runner.run.route import Router
from runner.sinks import (
    Destination,
    DiscardUpload,
    OutputRoot,
    Upload,
    as_output_root,
    manifest_display,
)
from runner.sinks.group import publish_group
from runner.sinks.parts import remove_old_set
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace

# How a segment ended (``status`` in the results file, the summary and the history) is a
# RunStatus; these two mean the segment ran to its end.
DONE = frozenset({RunStatus.SUCCESS, RunStatus.DRY_RUN})


@dataclass(frozen=True)
class ExportOptions:
    """``out`` is parsed once (text from Python callers is parsed here, UsageError if bad)."""

    out: OutputRoot | None = None
    concurrency: int | None = None
    max_pages: int | None = None
    dry_run: bool = False
    fail_fast: bool = False
    accept_change: bool = False  # publish past expect.max_change, once (recorded)
    since: str | None = None  # where the first incremental run starts (like --as-of)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", as_output_root(self.out))

    def as_args(self) -> dict[str, Any]:
        """The options as plain JSON values, for the results file."""
        return {**asdict(self), "out": None if self.out is None else str(self.out)}


@dataclass
class SegmentResult:
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
    warnings: list[str] = field(default_factory=list)  # history or notifications: never fatal
    empty_columns: list[str] = field(default_factory=list)  # output.columns with no value
    held_out: int = 0  # holdout: the rows of <name>.holdout.<ext> (runner.run.route)


Listener = Callable[[str, SegmentResult], None]


def _quiet(_event: str, _result: SegmentResult) -> None:
    pass


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def export_segment(
    seg: Segment,
    ws: Workspace,
    options: ExportOptions,
    token: str,
    listener: Listener | None = None,
    env: Mapping[str, str] | None = None,
    into: SegmentResult | None = None,
    audiences: Audiences | None = None,  # export_all's: one run's shared id sets
) -> SegmentResult:
    """Export one segment; every failure is in the result, only an interrupt is raised
    (``into``, the result to fill, then says ``interrupted``). The run is recorded in the
    history beside the destination (:mod:`runner.run.remember`)."""
    result = SegmentResult(seg.name) if into is None else into
    scrub = Redactor(token)  # the one redaction: every text this run leaves passes it
    started, started_at = time.monotonic(), _utc_now()
    notify = listener or _quiet
    upload: Upload | None = None
    run: HistoryRun | None = None
    router = Router()
    try:
        run = HistoryRun.start(seg, ws, options.out, **_history_flags(options))
        destination = run.destination
        result.destination = destination.display
        notify(f"start:{expected_rows(run) or ''}", result)  # with progress's total, if any
        fetcher = fetcher_for(seg, ws, options, token, result, notify, body=run.body, scrub=scrub)
        window, key = run.window, ws.project.api.id_key  # see runner.fetch.undated
        first = window is not None and window.start is None
        scan = undated_scan(seg.body, run.body, key, scrub, first) if window else None
        fetcher.last_pass, result.undated_included = scan, first and scan is not None
        upload = DiscardUpload() if options.dry_run else destination.open(content_type(seg.output))
        router = (audiences or Audiences(ws, token, options)).start(run, options.dry_run)
        run.open_deltas()
        encoder = write_rows(fetcher, seg, upload, result, notify, run, router)
        result.undated = scan.found if scan else 0
        _check_guards(seg, result.rows)
        run.check(result.rows + result.held_out, result.sha256)  # the whole audience
        if options.dry_run:
            upload.abort()
            result.status = RunStatus.DRY_RUN
        else:
            companions = run.companions() + router.companions()  # delta and holdout files
            manifest = _manifest(seg, ws, result, started_at, encoder, destination, run, router)
            _publish(manifest, ws, result, upload, destination, companions, scrub)
        if fetcher.auto:  # a failed run leaves the state folder as it was
            keep(ws.project.root / STATE_DIR, ws.project.api.url, fetcher.learned)
    except ManifestError as exc:
        result.status, result.published = RunStatus.FAILED, True
        result.error = scrub.mask(str(exc))
    except RunnerError as exc:
        result.status = RunStatus.GUARD if isinstance(exc, GuardError) else RunStatus.FAILED
        result.error = scrub.mask(str(exc))
    except (KeyboardInterrupt, Terminated):
        result.status, result.error = RunStatus.INTERRUPTED, "interrupted"
        raise
    finally:
        if upload is not None and result.status != RunStatus.SUCCESS:
            upload.abort()
        router.abort()
        result.seconds = round(time.monotonic() - started, 3)
        _remember(run, result, os.environ if env is None else env, scrub, notify)
        if result.status is not None:
            notify("end", result)
    return result


def _history_flags(options: ExportOptions) -> dict[str, Any]:
    return dict(accept_change=options.accept_change, since=options.since, dry_run=options.dry_run)


def _remember(
    run: HistoryRun | None,
    result: SegmentResult,
    env: Mapping[str, str],
    scrub: Redactor,
    notify: Listener,
) -> None:
    """Record the run and send its notifications; what goes wrong there is a warning."""
    if run is None:
        return
    try:
        if result.status is not None:
            for line in run.end(result.status, result, env, scrub.mask):
                text = scrub.mask(line)
                result.warnings.append(text)
                notify("warning:" + text, result)
    finally:
        run.close()


def fetcher_for(
    seg: Segment,
    ws: Workspace,
    options: ExportOptions,
    token: str,
    result: SegmentResult,
    notify: Listener,
    body: Mapping[str, Any] | None = None,
    scrub: Redactor | None = None,
) -> PageFetcher:
    if seg.saved_names:  # the API would read "name:VIP list" as an id and match no one
        raise ConfigError(
            f"{seg.file}: filter.segments names saved segments that were not resolved "
            "(runner.fetch.saved.resolve_names); nothing was asked"
        )
    mask = (scrub or Redactor(token)).mask

    def on_retry(page: int, reason: str) -> None:
        result.retries = fetcher.retries
        notify("retry:" + mask(reason), result)

    fetcher = PageFetcher(
        ws.project.api,
        token,
        seg.body if body is None else body,
        concurrency=options.concurrency,
        max_pages=options.max_pages,
        on_retry=on_retry,
        as_of=ws.clock.now,
        learned=recall(ws.project.root / STATE_DIR, ws.project.api.url),
    )
    return fetcher


class PageWatcher(Protocol):
    """What :func:`write_rows` feeds the records to besides the file (a :class:`HistoryRun`,
    or the id collector of ``diff --count``), and which says whether to ask at all."""

    @property
    def fetch_needed(self) -> bool: ...

    def page(self, records: list[Any]) -> None: ...


def write_rows(
    fetcher: PageFetcher,
    seg: Segment,
    upload: Upload,
    result: SegmentResult,
    notify: Listener = _quiet,
    run: PageWatcher | None = None,
    router: Router | None = None,
) -> Encoder:
    """Pages -> de-duplicated records -> rows -> ``upload``, finished (not published);
    ``result`` gets the figures as they come; ``run`` gets the records too (deltas), and
    says when there is nothing to ask (an empty incremental window); ``router`` applies
    the segment's exclude, only and holdout (runner.run.route)."""
    router = router or Router()
    encoder = encoder_for(seg.output, upload)  # split into parts if output.split says so
    watch = EmptyColumns(seg.output.columns or ())
    try:
        for page in fetcher.pages() if run is None or run.fetch_needed else ():
            records = router.route(page.records)  # de-duplicated by the fetcher
            encoder.write_page(records)
            watch.page(records)
            if run is not None:
                run.page(records)
            result.pages += 1
            result.rows = encoder.rows
            result.duplicates = fetcher.duplicates
            result.held_out = router.held
            notify("page", result)
        router.finish()
    finally:
        fetcher.close()
        result.concurrency, result.auto_concurrency = fetcher.settled, fetcher.auto
        result.windows, result.note, result.read_as = fetcher.windows, fetcher.note, fetcher.read_as
        result.after_as_of, result.api_clock_skew = fetcher.after_as_of, fetcher.clock.skew
        if result.note:
            notify("warning:" + result.note, result)
    result.reread = fetcher.reread
    if clock := fetcher.clock.warning():
        result.warnings.append(clock)
        notify("warning:" + clock, result)
    encoder.finish()
    result.rows, result.bytes, result.sha256 = encoder.rows, encoder.size, encoder.sha256
    result.parts = len(part_list(encoder) or ())
    result.empty_columns = watch.names if encoder.rows else []
    too_big = [over_limit(seg.output, encoder.rows, encoder.size), split_warning(encoder)]
    too_big.append(too_small(seg.output, encoder.rows))
    for text in filter(None, [*too_big, watch.warning(encoder.rows)]):
        result.warnings.append(text)
        notify("warning:" + text, result)
    result.dropped_unmatchable = encoder.dropped_unmatchable
    result.invalid_phones = encoder.invalid_phones
    result.retries = fetcher.retries
    return encoder


def _check_guards(seg: Segment, rows: int) -> None:
    low, high = seg.min_rows, seg.max_rows
    why = f"below expect.min_rows ({low})" if low is not None and rows < low else ""
    if high is not None and rows > high:
        why = f"above expect.max_rows ({high})"
    if why:
        raise GuardError(f"{rows} rows is {why}; the previous file is kept")


def _manifest(
    seg: Segment,
    ws: Workspace,
    result: SegmentResult,
    started_at: str,
    encoder: Encoder,
    destination: Destination,
    run: HistoryRun,
    router: Router,
) -> Manifest:
    return Manifest(
        segment=seg.name,
        source_file=seg.file,
        source_git_blob=git_blob_id(Path(seg.file)),
        request={"method": "POST", "url": public_url(ws.project.api.url), "body": seg.body},
        as_of=ws.clock.iso(),
        variables=dict(ws.variables),
        started_at=started_at,
        finished_at=_utc_now(),
        pages=result.pages,
        rows=result.rows,
        duplicates_dropped=result.duplicates,
        dropped_unmatchable=result.dropped_unmatchable,
        invalid_phones=result.invalid_phones,
        after_as_of=result.after_as_of,
        api_clock_skew_seconds=result.api_clock_skew,
        without_created_at={"count": result.undated, "exported": result.undated_included},
        retries=result.retries,
        reread_after_churn=result.reread,
        concurrency={"auto": result.auto_concurrency, "settled": result.concurrency},
        created_at_windows=result.windows,
        paging_note=result.note,
        format=seg.output.format,
        compression=seg.output.compression,
        preset=seg.output.preset,
        columns=encoder.format.header,
        destination=destination.display,
        bytes=encoder.size,
        sha256=encoder.sha256,
        parts=part_list(encoder),
        runner_version=__version__,
        history=run.manifest_fields(),
        empty_columns=result.empty_columns,
        audience=router.manifest_fields(result.rows),
    )


def _publish(
    manifest: Manifest,
    ws: Workspace,
    result: SegmentResult,
    upload: Upload,
    destination: Destination,
    companions: Sequence[Upload] = (),
    scrub: Redactor | None = None,
) -> None:
    """Publish the file with its delta files (if any), all or none; every text in the
    manifest passes ``scrub``."""
    metadata = {"rows": str(result.rows), "sha256": result.sha256, "as-of": ws.clock.iso()}
    content = manifest.to_bytes(scrub.document if scrub is not None else None)
    publish_group(upload, companions, content, metadata)
    remove_old_set(destination)  # one file where a set was (split turned off)
    result.published = True
    result.manifest = manifest_display(destination, result.parts)
    result.status = RunStatus.SUCCESS


def export_all(
    segments: Sequence[Segment],
    ws: Workspace,
    options: ExportOptions,
    env: Mapping[str, str] | None = None,
    listener: Listener | None = None,
    results: list[SegmentResult] | None = None,
) -> list[SegmentResult]:
    """Export ``segments`` one after the other; their results, in order. With
    ``fail_fast``, the segments after one that did not finish are ``skipped``.

    ``results``, if given, is filled as the segments go, so a caller still holds it
    when an interrupt is raised: the segment it stopped is ``interrupted``, the rest
    ``skipped``.
    """
    env = os.environ if env is None else env
    token = token_from_env(ws.project.api, env)
    results = [] if results is None else results
    segments = export_order(segments)  # a referenced segment first: its pages are shared
    audiences = Audiences(ws, token, options, segments)
    for number, seg in enumerate(segments, 1):
        result = SegmentResult(seg.name)
        results.append(result)
        try:
            export_segment(seg, ws, options, token, listener, env, result, audiences)
        except (KeyboardInterrupt, Terminated):
            if result.status is None:  # stopped before it began
                result.status, result.error = RunStatus.INTERRUPTED, "interrupted"
            _skip(results, segments[number:])
            raise
        if result.status not in DONE and options.fail_fast:
            _skip(results, segments[number:])
            break
    return results


def _skip(results: list[SegmentResult], rest: Sequence[Segment]) -> None:
    results.extend(SegmentResult(seg.name, status=RunStatus.SKIPPED) for seg in rest)

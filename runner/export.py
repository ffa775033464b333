"""Export: segment -> rendered request -> pages -> records -> rows -> destination -> manifest.

:func:`export_segment` runs one segment and returns a :class:`SegmentResult`;
it never leaves a partial file or object under the destination name.
:func:`export_all` runs several, each independently, and reports as it goes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner import __version__
from runner.errors import GuardError, ManifestError, RunnerError, Terminated
from runner.fetch import PageFetcher, token_from_env
from runner.formats import Encoder
from runner.locations import public_url
from runner.manifest import git_blob_id, manifest_bytes
from runner.sinks import Destination, DiscardUpload, OutputRoot, as_output_root, destination_for
from runner.sinks.local import write_atomically
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


@dataclass(frozen=True)
class ExportOptions:
    """``out`` is parsed once (text from Python callers is parsed here, UsageError if bad)."""

    out: OutputRoot | None = None
    concurrency: int | None = None
    max_pages: int | None = None
    dry_run: bool = False
    fail_fast: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", as_output_root(self.out))

    def as_args(self) -> dict[str, Any]:
        """The options as plain JSON values, for the results file."""
        return {**asdict(self), "out": None if self.out is None else str(self.out)}


@dataclass
class SegmentResult:
    segment: str
    status: str = "pending"  # success | failed | dry-run | skipped
    rows: int = 0
    pages: int = 0
    duplicates: int = 0
    dropped_unmatchable: int = 0  # a preset's rows with no e-mail and no phone
    retries: int = 0
    reread: bool = False
    seconds: float = 0.0
    bytes: int = 0
    destination: str = ""
    manifest: str = ""
    sha256: str = ""
    error: str = ""
    published: bool = False  # the destination holds this run's data (even if status failed)


Listener = Callable[[str, SegmentResult], None]


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def export_segment(
    seg: Segment,
    ws: Workspace,
    options: ExportOptions,
    token: str,
    listener: Listener | None = None,
) -> SegmentResult:
    result = SegmentResult(seg.name)
    started = time.monotonic()
    started_at = _utc_now()
    notify = listener or (lambda _event, _result: None)
    upload = None
    try:
        destination: Destination = destination_for(seg, ws.project, options.out)
        result.destination = destination.display
        notify("start", result)

        def on_retry(page: int, reason: str) -> None:
            result.retries = fetcher.retries
            notify("retry:" + redact(reason, token), result)

        fetcher = PageFetcher(
            ws.project.api,
            token,
            seg.body,
            concurrency=options.concurrency,
            max_pages=options.max_pages,
            on_retry=on_retry,
        )
        upload = DiscardUpload() if options.dry_run else destination.open()
        encoder = Encoder(seg.output, upload)
        try:
            for page in fetcher.pages():
                encoder.write_page(page.records)  # de-duplicated by the fetcher
                result.pages += 1
                result.rows = encoder.rows
                result.duplicates = fetcher.duplicates
                notify("page", result)
        finally:
            fetcher.close()
        result.reread = fetcher.reread
        encoder.finish()
        result.rows, result.bytes = encoder.rows, encoder.size
        result.sha256 = encoder.sha256
        result.dropped_unmatchable = encoder.dropped_unmatchable
        _check_guards(seg, result.rows)
        if options.dry_run:
            upload.abort()
            result.status = "dry-run"
        else:
            manifest = _manifest(seg, ws, result, started_at, fetcher, encoder, destination)
            metadata = {"rows": str(result.rows), "sha256": result.sha256, "as-of": ws.clock.iso()}
            upload.publish(manifest, metadata)
            result.published = True
            result.manifest = destination.manifest_display
            result.status = "success"
    except ManifestError as exc:
        result.status = "failed"
        result.published = True
        result.error = redact(str(exc), token)
    except RunnerError as exc:
        result.status = "failed"
        result.error = redact(str(exc), token)
    except (KeyboardInterrupt, Terminated):
        result.status = "failed"
        result.error = "interrupted"
        raise
    finally:
        if upload is not None and result.status not in ("success",):
            upload.abort()
        result.seconds = round(time.monotonic() - started, 3)
        if result.status != "pending":
            notify("end", result)
    return result


def _check_guards(seg: Segment, rows: int) -> None:
    if seg.min_rows is not None and rows < seg.min_rows:
        raise GuardError(
            f"{rows} rows is below expect.min_rows ({seg.min_rows}); the previous file is kept"
        )
    if seg.max_rows is not None and rows > seg.max_rows:
        raise GuardError(
            f"{rows} rows is above expect.max_rows ({seg.max_rows}); the previous file is kept"
        )


def _manifest(
    seg: Segment,
    ws: Workspace,
    result: SegmentResult,
    started_at: str,
    fetcher: PageFetcher,
    encoder: Encoder,
    destination: Destination,
) -> bytes:
    source = Path(seg.file)
    return manifest_bytes(
        {
            "segment": seg.name,
            "source_file": seg.file,
            "source_git_blob": git_blob_id(source),
            "request": {"method": "POST", "url": public_url(ws.project.api.url), "body": seg.body},
            "as_of": ws.clock.iso(),
            "variables": dict(ws.variables),
            "started_at": started_at,
            "finished_at": _utc_now(),
            "pages": result.pages,
            "rows": result.rows,
            "duplicates_dropped": result.duplicates,
            "dropped_unmatchable": result.dropped_unmatchable,
            "retries": fetcher.retries,
            "reread_after_churn": fetcher.reread,
            "format": seg.output.format,
            "compression": seg.output.compression,
            "preset": seg.output.preset,
            "columns": encoder.format.header,
            "destination": destination.display,
            "bytes": encoder.size,
            "sha256": encoder.sha256,
            "runner_version": __version__,
        }
    )


def export_all(
    segments: Sequence[Segment],
    ws: Workspace,
    options: ExportOptions,
    env: Mapping[str, str] | None = None,
    listener: Listener | None = None,
) -> list[SegmentResult]:
    env = os.environ if env is None else env
    token = token_from_env(ws.project.api, env)
    results: list[SegmentResult] = []
    for seg in segments:
        result = export_segment(seg, ws, options, token, listener)
        results.append(result)
        if result.status == "failed" and options.fail_fast:
            for rest in segments[len(results) :]:
                results.append(SegmentResult(rest.name, status="skipped"))
            break
    return results


def results_document(
    ws: Workspace, results: Sequence[SegmentResult], args: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "metadata": {
            "runner_version": __version__,
            "generated_at": _utc_now(),
            "as_of": ws.clock.iso(),
        },
        "args": dict(args),
        "results": [asdict(r) for r in results],
        "elapsed_seconds": round(sum(r.seconds for r in results), 3),
        "success": all(r.status in ("success", "dry-run") for r in results),
    }


def write_results(path: Path, document: Mapping[str, Any]) -> None:
    """The results file, whole or not at all; DestinationError names the path and reason."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode("utf-8", "surrogatepass"))

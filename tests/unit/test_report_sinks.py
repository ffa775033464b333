"""Progress output, the summary, and local path safety (no server needed)."""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import pytest

from runner.errors import DestinationError, PathEscapeError, UsageError
from runner.history import RunStatus
from runner.locations import S3Location
from runner.report.progress import Progress
from runner.report.summary import summary
from runner.run import ExportOptions, ExportResult
from runner.sinks import LocalRoot, S3Root, parse_output_root
from runner.sinks.local import (
    TEMP_PREFIX,
    LocalDestination,
    Temporary,
    clean_stale_temporaries,
)


def test_live_progress_rewrites_one_line() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True, interval=0)
    r = ExportResult("vip", destination="exports/vip.csv")
    progress("start", r)
    r = replace(r, pages=3, rows=150)
    progress("page", r)
    r = replace(r, status=RunStatus.SUCCESS, seconds=0.5)
    progress("end", r)
    text = out.getvalue()
    assert "\r\x1b[Kvip: page 3, 150 rows," in text
    assert text.rstrip().endswith(
        "vip: success: 150 rows, 3 pages, 0 duplicates dropped, 0 retries, 0.5s"
    )


def test_log_progress_is_one_line_per_event() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False)
    r = ExportResult("vip", destination="exports/vip.csv")
    progress("start", r)
    progress("page", r)
    progress("retry:page 2: HTTP 429 Too Many Requests", r)
    r = replace(r, status=RunStatus.FAILED, error="boom")
    progress("end", r)
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "vip: started -> exports/vip.csv",
        "vip: retrying page 2: HTTP 429 Too Many Requests",
        "vip: FAILED: boom",
    ]


def test_summary_table_and_errors() -> None:
    ok = ExportResult(
        "a",
        "success",
        rows=1204,
        pages=25,
        duplicates=3,
        retries=1,
        seconds=1.5,
        destination="x.csv",
    )
    bad = ExportResult("b", "failed", error="401")
    text = summary([ok, bad])
    header, first, second = text.splitlines()[:3]
    assert header.split() == [
        "SEGMENT",
        "ROWS",
        "PAGES",
        "DUPLICATES",
        "RETRIES",
        "SECONDS",
        "DESTINATION",
        "STATUS",
    ]
    assert first.split() == ["a", "1,204", "25", "3", "1", "1.50", "x.csv", "success"]
    assert second.split()[-1] == "failed"
    assert "error: b: 401" in text and text.endswith("1 of 2 segments exported, 1 failed\n")


@pytest.mark.parametrize("relative", ["../x.csv", "a/../../x.csv", "/etc/passwd"])
def test_paths_cannot_escape_the_root(tmp_path: Path, relative: str) -> None:
    with pytest.raises(PathEscapeError, match="outside the output root"):
        LocalDestination.under(tmp_path / "root", relative)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(PathEscapeError):
        LocalDestination.under(root, "link/x.csv")


def test_stale_temporaries_are_those_no_writer_holds_a_lock_on(tmp_path: Path) -> None:
    live = Temporary(tmp_path, "x.csv")  # a writer that is still running holds its flock
    # The PID in a name says nothing (another PID namespace may reuse it): no lock = stale.
    dead = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-x.csv"
    other = tmp_path / "x.csv"
    for path in (dead, other):
        path.write_text("data")
    assert clean_stale_temporaries(tmp_path) == [dead]
    assert live.path.exists() and other.exists()
    live.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_temporaries_are_unique_and_exclusive(tmp_path: Path) -> None:
    first, second = Temporary(tmp_path, "x.csv"), Temporary(tmp_path, "x.csv")
    assert first.path != second.path
    assert first.path.name.startswith(TEMP_PREFIX) and first.path.name.endswith("-x.csv")
    first.discard()
    second.discard()


def test_a_failed_data_rename_keeps_the_previous_file_and_manifest(tmp_path: Path) -> None:
    dest = LocalDestination.under(tmp_path, "out/t.csv")
    first = dest.open()
    first.write(b"old\n")
    first.publish(b'{"old": true}\n', {"sha256": "0", "rows": "1"})
    upload = dest.open()
    upload.write(b"new\n")
    dest.target.unlink()
    dest.target.mkdir()  # the data's name is taken between the start and the publish
    with pytest.raises(DestinationError, match=r"t\.csv: Is a directory$"):
        upload.publish(b'{"new": true}\n', {"sha256": "1", "rows": "1"})
    upload.abort()
    assert dest.manifest.read_bytes() == b'{"old": true}\n'  # put back
    # Nothing but the files in their folder: the lock is the tool's own state.
    assert sorted(p.name for p in dest.target.parent.iterdir()) == ["t.csv", "t.csv.manifest.json"]
    assert [p.relative_to(tmp_path) for p in (tmp_path / ".segments").rglob("*")] == [
        Path(".segments/locks"),
        dest.lock.relative_to(tmp_path),
    ]
    assert dest.lock.stat().st_size == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("s3://", "names no bucket"),
        ("s3:///exports", "names no bucket"),
        ("s3://eg..bucket/x", "must not contain '..'"),
        ("s3://Bad_Bucket", "lower-case letters"),
        ("s3://192.168.1.1", "IP address"),
        ("s3://bucket/a/../b", "'.' or '..' segments"),
        ("s3://bucket/a//b", "empty segments"),
        ("../elsewhere", "contains '..'"),
        ("try/../../x", "contains '..'"),
        ("gs://bucket/x", "only local folders and s3://"),
        ("S3://bucket", "only local folders and s3://"),
        ("try\nrun", "control character"),
    ],
)
def test_bad_out_values_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_output_root(text)
    with pytest.raises(UsageError, match=reason):
        ExportOptions(out=text)


def test_out_is_parsed_once_into_a_typed_value() -> None:
    assert parse_output_root("s3://try-bucket/run-1/") == S3Root(S3Location("try-bucket", "run-1"))
    assert parse_output_root("s3://try-bucket") == S3Root(S3Location("try-bucket", ""))
    assert parse_output_root("/tmp/try") == LocalRoot(Path("/tmp/try"))
    options = ExportOptions(out="s3://try-bucket/run-1")
    assert options.out == S3Root(S3Location("try-bucket", "run-1"))
    assert options.as_args()["out"] == "s3://try-bucket/run-1"

"""output.split, the review's findings: part names through symlinks, whole numbers,
file modes, the 9,999-part cap, XLSX/Parquet parts within max_bytes, Parquet aborts."""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from runner.sandbox import Sandbox
from runner.sinks.s3.copy import server_copy
from tests.conftest import make_project, run_cli
from tests.integration.s3servers import S3Server
from tests.integration.test_split import Start, export, manifest_of, parts_of, segment


def test_a_part_name_through_a_symlinked_folder_is_claimed(tmp_path: Path) -> None:
    other = segment("csv", None, path="out2/a-0003.csv").replace("everyone", "b")
    split = segment("csv", "{max_rows: 300}", path="out/a.csv").replace("everyone", "a")
    project = make_project(tmp_path, {"a": split, "b": other})
    (project / "out").mkdir()
    (project / "out2").symlink_to("out")
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith(
        "segments/b.yaml:4:1: output path 'out2/a-0003.csv' is a part name of segment 'a'"
    )


@pytest.mark.parametrize(
    ("split", "where", "message"),
    [
        ("{max_rows: 1.0}", "7:21", "'output.split.max_rows' is 1.0: it must be a whole number"),
        ("{max_rows: 1e5}", "7:21", "'output.split.max_rows' is 100000.0: it must be a whole"),
        ("{max_bytes: 5e4}", "7:22", "'output.split.max_bytes' is 50000.0: it must be a whole"),
    ],
)
def test_a_split_limit_that_is_not_a_whole_number_is_a_problem(
    sandbox: Start, tmp_path: Path, split: str, where: str, message: str
) -> None:
    project = make_project(tmp_path, {"everyone": segment("jsonl", split)})
    checked = run_cli("validate", cwd=project)
    assert checked.returncode == 1
    assert checked.stdout.startswith(f"segments/everyone.yaml:{where}: {message}")
    run = export(project, sandbox(users=50, page_size=10))
    assert run.returncode == 1
    assert f"segments/everyone.yaml:{where}: {message}" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (project / "out").exists()


def test_parts_and_their_manifest_have_the_single_file_mode(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, page_size=25)
    project = make_project(tmp_path, {"everyone": segment("csv", None)})
    assert export(project, api).returncode == 0
    single = project / "out" / "everyone.csv"
    mode = stat.S_IMODE(single.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(single.with_name("everyone.csv.manifest.json").stat().st_mode) == mode
    (project / "segments" / "everyone.yaml").write_text(segment("csv", "{max_rows: 50}"))
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    parts = parts_of(single.parent, single.name)
    assert len(parts) == 3
    assert manifest_of(single)["part_count"] == 3
    set_manifest = single.with_name("everyone.csv.parts.manifest.json")
    assert [stat.S_IMODE(p.stat().st_mode) for p in [*parts, set_manifest]] == [mode] * 4


ONE_ATTEMPT = """\
api:
  retry: {max_attempts: 1, backoff_initial: 0.01, backoff_max: 0.05}
  timeout: {connect: 2, read: 2}
timezone: UTC
"""


@pytest.mark.parametrize("split", [None, "{max_rows: 40}"])
def test_a_failed_parquet_export_is_one_clean_line(
    sandbox: Start, tmp_path: Path, split: str | None
) -> None:
    api = sandbox(users=400, page_size=20, faults="500=0.1", seed=1)  # fails at page 8
    project = make_project(tmp_path, {"everyone": segment("parquet", split)}, ONE_ATTEMPT)
    run = export(project, api)
    assert run.returncode == 1, run.stdout + run.stderr
    both = run.stdout + run.stderr
    assert "Exception ignored" not in both
    assert "Traceback" not in both
    errors = [line for line in both.splitlines() if "HTTP 500" in line]
    assert len(errors) == 2  # the summary's error line and the log's FAILED line
    # The 500 falls after two pages (40 rows: a part written, when split); which page it
    # is depends on the order requests go out in (windows, concurrency).
    failed = re.search(r"page (\d+): HTTP 500", errors[0])
    assert failed and int(failed.group(1)) > 2, errors[0]
    assert not (project / "out").exists() or not any((project / "out").iterdir())


def refused_past_the_last_part(api: Sandbox, tmp_path: Path, limit: int) -> None:
    """A set of 3 parts published, then one row a part: past part ``limit`` the run stops
    with one line, publishes nothing, and the 3 parts stay as they were."""
    rows = (api.options.users + 2) // 3
    project = make_project(tmp_path, {"everyone": segment("jsonl", f"{{max_rows: {rows}}}")})
    assert export(project, api).returncode == 0
    target = project / "out" / "everyone.jsonl"
    before = {p.name: p.read_bytes() for p in target.parent.iterdir()}
    assert len(parts_of(target.parent, target.name)) == 3
    (project / "segments" / "everyone.yaml").write_text(segment("jsonl", "{max_rows: 1}"))
    run = export(project, api)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: everyone: {limit:,} rows filled {limit:,} parts and more remain, but a set has "
        f"at most {limit:,} parts (four-digit numbers): raise output.split's max_rows 1; "
        "nothing was published"
    ]
    assert "Traceback" not in run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in target.parent.iterdir()} == before


@pytest.mark.slow  # 9,999 files, each written and synced: `make test-slow`
def test_a_set_that_needs_more_than_9999_parts_is_refused(sandbox: Start, tmp_path: Path) -> None:
    """Part 10,000 would sort before part 1,001 in a shell glob: the run stops, nothing
    is published and the previous set stays as it was."""
    refused_past_the_last_part(sandbox(users=10_001, page_size=500), tmp_path, 9_999)


def test_past_the_last_part_number_the_run_stops_and_keeps_the_set(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule of the test above, with the limit lowered to 9 parts (the export runs in
    this process): it is the same code path, in a second instead of minutes."""
    from runner.formats import split
    from runner.spec.targets import MAX_PARTS, PART_DIGITS

    assert MAX_PARTS == 9_999 == 10**PART_DIGITS - 1  # what the slow test proves at size
    monkeypatch.setattr(split, "MAX_PARTS", 9)
    refused_past_the_last_part(sandbox(users=11, page_size=5), tmp_path, 9)


def copied(s3: S3Server, threshold: int | None) -> tuple[bytes, dict[str, str]]:
    """A 6 MiB object with metadata, copied by :func:`server_copy`: (its bytes, metadata)."""
    client = s3.client()
    body = bytes(range(256)) * (6 * 1024 * 4)
    meta = {"rows": "7", "sha256": hashlib.sha256(body).hexdigest()}
    client.put_object(
        Bucket="exports", Key="a/vip-0001.csv", Body=body, Metadata=meta, ContentType="text/csv"
    )
    more = {} if threshold is None else {"threshold": threshold}
    server_copy(client, "exports", "a/vip-0001.csv", "a/copy", **more)
    return body, meta


# rclone serve s3 answers UploadPartCopy without an ETag, so boto3's managed copy
# cannot run there (AWS and moto do it): the ranged copy is proven on moto.
@pytest.mark.parametrize("s3", ["moto"], indirect=True)
def test_a_copy_past_the_threshold_is_a_multipart_copy_with_the_metadata(s3: S3Server) -> None:
    """Past ``threshold`` (5 GiB, CopyObject's limit; 5 MiB here) the copy is boto3's
    managed one, in ranges: the copy's ETag is a multipart one (``-2``)."""
    body, meta = copied(s3, threshold=5 * 1024 * 1024)
    got = s3.client().get_object(Bucket="exports", Key="a/copy")
    assert got["Body"].read() == body
    assert got["Metadata"] == meta
    assert got["ContentType"] == "text/csv"
    assert got["ETag"].strip('"').endswith("-2")


def test_a_copy_below_the_threshold_is_one_copy_object(s3: S3Server) -> None:
    """The usual case (every part up to 5 GiB): one CopyObject, the ETag of the bytes."""
    body, meta = copied(s3, threshold=None)
    got = s3.client().get_object(Bucket="exports", Key="a/copy")
    assert got["Body"].read() == body
    assert {k.lower(): v for k, v in got["Metadata"].items() if k.lower() in meta} == meta
    assert got["ContentType"] == "text/csv"
    assert got["ETag"].strip('"') == hashlib.md5(body).hexdigest()


def test_a_copy_of_a_missing_object_is_a_404(s3: S3Server) -> None:
    """What publishing takes for "no previous part" (nothing to set aside)."""
    with pytest.raises(ClientError) as caught:
        server_copy(s3.client(), "exports", "a/none.csv", "a/copy")
    assert caught.value.response["Error"]["Code"] in ("404", "NoSuchKey")


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_xlsx_and_parquet_parts_stay_at_or_under_max_bytes(
    sandbox: Start, tmp_path: Path, fmt: str
) -> None:
    """The first part is cut on the bytes before zip/Parquet encoding (an upper bound),
    later ones on the last part's ratio plus a margin: every part within the limit, and
    the later ones close to it (before: 102,806, 53,718, 50,106 B for XLSX)."""
    api = sandbox(users=5000, page_size=500)
    project = make_project(tmp_path, {"everyone": segment(fmt, "{max_bytes: 50KB}")})
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "larger than output.split.max_bytes" not in run.stdout + run.stderr
    target = project / "out" / f"everyone.{fmt}"
    parts = parts_of(target.parent, target.name)
    listed = manifest_of(target)["parts"]
    assert isinstance(listed, list)
    assert [p["bytes"] for p in listed] == [p.stat().st_size for p in parts]
    assert sum(p["rows"] for p in listed) == 5000
    sizes = sorted(p.stat().st_size for p in parts)
    assert sizes[-1] <= 50_000
    assert sizes[len(sizes) // 2] >= 40_000  # the median part: not needlessly small


def test_parts_that_cannot_fit_max_bytes_are_a_warning(sandbox: Start, tmp_path: Path) -> None:
    """Below the bytes of an empty workbook every part holds one row and is larger."""
    project = make_project(tmp_path, {"everyone": segment("xlsx", "{max_bytes: 2KB}")})
    run = export(project, sandbox(users=3, page_size=10))
    assert run.returncode == 0, run.stdout + run.stderr
    target = project / "out" / "everyone.xlsx"
    parts = parts_of(target.parent, target.name)
    assert len(parts) == 3
    empty = "a part with no rows is already"
    warned = [line for line in run.stderr.splitlines() if "larger than output.split" in line]
    assert len(warned) == 1
    assert "3 parts larger than output.split.max_bytes (2,000): part 1 (" in warned[0]
    assert warned[0].endswith("bytes in this format") and empty in warned[0]

"""``output.split``: numbered parts, published as a set, against the sandbox over a socket,
real files, moto and rclone, and the CLI run as a subprocess."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sinks.local import TEMP_PREFIX
from runner.spec.targets import part_number
from tests.conftest import ANCHOR, HOOKED, api_env, cli_env, make_project, run_cli, wait_for
from tests.hooked import STOP_HOOK
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]
BOM = b"\xef\xbb\xbf"

SEGMENT = """\
version: 1
name: everyone
filter: {{isContact: false, applicableFilters: []}}
output:
  format: {fmt}
  path: {path}
{extra}"""


def segment(fmt: str, split: str | None, extra: str = "", path: str = "") -> str:
    lines = extra + (f"  split: {split}\n" if split is not None else "")
    return SEGMENT.format(fmt=fmt, path=path or f"out/everyone.{fmt}", extra=lines)


def export(project: Path, api: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    run = run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--concurrency",
        "1",
        *args,
        cwd=project,
        env={**api_env(api), **env},
        timeout=300,
    )
    return run


def parts_of(folder: Path, name: str) -> list[Path]:
    """The parts of ``name`` in ``folder``, in order (and no other file)."""
    found = [(part_number(p.name, name), p) for p in folder.iterdir()]
    return [p for number, p in sorted((n, p) for n, p in found if n is not None)]


def manifest_of(target: Path, plain: bool = False) -> dict[str, object]:
    """The set's manifest (``<name>.parts.manifest.json``), or the plain file's."""
    suffix = ".manifest.json" if plain else ".parts.manifest.json"
    return json.loads(target.with_name(target.name + suffix).read_bytes())


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def check_manifest(target: Path, parts: list[Path], rows: int) -> dict[str, object]:
    """The manifest lists every part with its rows, bytes and sha256, in order."""
    manifest = manifest_of(target)
    assert manifest["part_count"] == len(parts)
    listed = manifest["parts"]
    assert isinstance(listed, list)
    assert [p["number"] for p in listed] == list(range(1, len(parts) + 1))
    for entry, part in zip(listed, parts, strict=True):
        data = part.read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert str(entry["destination"]).endswith(part.name)
    joined = b"".join(p.read_bytes() for p in parts)
    assert manifest["sha256"] == hashlib.sha256(joined).hexdigest()
    assert manifest["bytes"] == len(joined) and manifest["rows"] == rows
    assert sum(int(p["rows"]) for p in listed) == rows
    return manifest


CASES = {
    # format, split, extra output lines, max_rows, max_bytes
    "csv-bom-rows-and-bytes": (
        "csv",
        "{max_rows: 70, max_bytes: 40KB}",
        "  csv: {bom: true}\n",
        70,
        40_000,
    ),
    "csv-rows-only": ("csv", "{max_rows: 150}", "", 150, 0),
    "csv-bytes-no-header": ("csv", "{max_bytes: 30000}", "  csv: {header: false}\n", 0, 30_000),
    "jsonl-bytes": ("jsonl", "{max_bytes: 25KiB}", "", 0, 25 * 1024),
}


@pytest.mark.parametrize("case", list(CASES))
def test_parts_joined_equal_the_unsplit_export(sandbox: Start, tmp_path: Path, case: str) -> None:
    fmt, split, extra, max_rows, max_bytes = CASES[case]
    api = sandbox(users=900, page_size=40, seed=11)
    project = make_project(tmp_path, {"everyone": segment(fmt, None, extra)})
    assert export(project, api).returncode == 0
    target = project / "out" / f"everyone.{fmt}"
    whole = target.read_bytes()
    target.unlink()
    (project / "segments" / "everyone.yaml").write_text(segment(fmt, split, extra))
    results = tmp_path / "results.json"
    run = export(project, api, "--results", str(results))
    assert run.returncode == 0, run.stdout + run.stderr
    parts = parts_of(target.parent, target.name)
    assert len(parts) >= 4
    assert not target.exists() and temporaries(target.parent) == []

    preamble = b""  # JSONL, and CSV without a header
    if fmt == "csv" and "header: false" not in extra:
        preamble = whole[: whole.index(b"\r\n") + 2]
    assert preamble.startswith(BOM) == ("bom" in extra)
    bodies = []
    for part in parts:
        data = part.read_bytes()
        assert data.startswith(preamble), f"{part.name} lacks the header"
        bodies.append(data[len(preamble) :])
    assert b"".join(bodies) == whole[len(preamble) :]  # byte for byte after the header

    if fmt == "csv":
        parsed = list(csv.reader(io.StringIO(whole.decode("utf-8-sig"), newline="")))
        rows = len(parsed) - (1 if preamble else 0)
        # A cell holds a line break: a cut between rows must not fall inside it.
        assert len(whole.split(b"\r\n")) - 1 > len(parsed)
    else:
        rows = len(whole.splitlines())
    assert rows == 900
    listed = check_manifest(target, parts, rows)["parts"]
    assert isinstance(listed, list)
    for entry in listed:
        assert not max_rows or entry["rows"] <= max_rows
        assert not max_bytes or entry["bytes"] <= max_bytes
    for entry in listed[:-1]:  # full: a part ends only where the next row would not fit
        assert entry["rows"] == max_rows or entry["bytes"] > max_bytes * 0.9
    document = json.loads(results.read_text())
    assert document["results"][0]["parts"] == len(parts)
    assert f"{len(parts)} parts beside" in run.stdout


def test_gzip_parts_stay_under_max_bytes_and_hold_every_row(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=1500, page_size=50, seed=5)
    extra = "  compression: gzip\n"
    path = "out/everyone.csv.gz"
    project = make_project(tmp_path, {"everyone": segment("csv", None, extra, path)})
    assert export(project, api).returncode == 0
    whole = gzip.decompress((project / path).read_bytes())
    (project / "segments" / "everyone.yaml").write_text(
        segment("csv", "{max_bytes: 20KB}", extra, path)
    )
    assert export(project, api).returncode == 0
    parts = parts_of(project / "out", "everyone.csv.gz")
    assert len(parts) >= 3 and all(p.stat().st_size <= 20_000 for p in parts)
    header = whole[: whole.index(b"\r\n") + 2]
    texts = [gzip.decompress(p.read_bytes()) for p in parts]  # each a complete gzip file
    assert all(t.startswith(header) for t in texts)
    assert header + b"".join(t[len(header) :] for t in texts) == whole
    check_manifest(project / path, parts, 1500)


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_xlsx_and_parquet_parts_read_back_as_the_unsplit_rows(
    sandbox: Start, tmp_path: Path, fmt: str
) -> None:
    api = sandbox(users=700, page_size=40, seed=7)
    project = make_project(tmp_path, {"everyone": segment(fmt, None)})
    assert export(project, api).returncode == 0
    target = project / "out" / f"everyone.{fmt}"
    whole = read_table(target, fmt)
    target.unlink()
    split = "{max_rows: 150, max_bytes: 60KB}" if fmt == "xlsx" else "{max_bytes: 40KB}"
    (project / "segments" / "everyone.yaml").write_text(segment(fmt, split))
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    parts = parts_of(target.parent, target.name)
    assert len(parts) >= 4
    tables = [read_table(p, fmt) for p in parts]  # each part a file of its own, header first
    assert all(t[0] == whole[0] for t in tables)
    assert [row for t in tables for row in t[1:]] == whole[1:]
    assert all(p.stat().st_size <= (60_000 if fmt == "xlsx" else 40_000) for p in parts)
    if fmt == "xlsx":
        assert all(len(t) - 1 <= 150 for t in tables)
    else:
        import duckdb

        glob = str(target.parent / "everyone-*.parquet")
        con = duckdb.connect()
        query = f"SELECT count(*), count(DISTINCT _id) FROM '{glob}'"
        assert con.execute(query).fetchall() == [(700, 700)]
    check_manifest(target, parts, 700)


def read_table(path: Path, fmt: str) -> list[tuple[object, ...]]:
    """Header, then rows, as a reader other than ours sees them."""
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:
            (sheet,) = book.worksheets
            return [tuple(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return [tuple(table.column_names), *[tuple(r.values()) for r in table.to_pylist()]]


def test_kill_9_between_parts_keeps_the_previous_set(sandbox: Start, tmp_path: Path) -> None:
    fast = sandbox(users=600, seed=3)
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 200}")})
    assert export(project, fast).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(parts_of(folder, "everyone.csv")) == 3

    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env(api_env(slow)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Part 2 begun: part 1 is complete in the run's staging folder.
        wait_for(
            lambda: any((folder / t / "everyone-0002.csv").exists() for t in temporaries(folder))
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -9
    after = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(TEMP_PREFIX)}
    assert after == before  # every part and the manifest, byte for byte; no new part
    assert temporaries(folder) != []  # the killed run's staging folder, left for the next run
    assert export(project, fast).returncode == 0
    assert temporaries(folder) == []  # removed by the next run
    again = {p.name: p.read_bytes() for p in parts_of(folder, "everyone.csv")}
    assert again == {k: v for k, v in before.items() if part_number(k, "everyone.csv")}


def test_sigterm_between_parts_cleans_up_at_once(sandbox: Start, tmp_path: Path) -> None:
    fast = sandbox(users=600, seed=3)
    project = make_project(tmp_path, {"everyone": segment("jsonl", "{max_rows: 250}")})
    assert export(project, fast).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env(api_env(slow)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: any((folder / t / "everyone-0002.jsonl").exists() for t in temporaries(folder))
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143 and b"Traceback" not in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # and no temporary


def test_fewer_parts_remove_the_old_extras_only_after_the_new_set(
    sandbox: Start, tmp_path: Path
) -> None:
    big = sandbox(users=1000, seed=8)
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 200}")})
    assert export(project, big).returncode == 0
    folder = project / "out"
    old = {p.name: p.read_bytes() for p in parts_of(folder, "everyone.csv")}
    assert len(old) == 5

    small = sandbox(users=300, seed=9)
    cmd = [*HOOKED, "export", "--as-of", ANCHOR]
    proc = subprocess.Popen(
        cmd,
        cwd=project,
        env=cli_env({**api_env(small), STOP_HOOK: "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Stopped by the test hook: the new parts are in place, the manifest is not yet.
        wait_for(lambda: stopped(proc))
        names = [p.name for p in parts_of(folder, "everyone.csv")]
        assert names == [f"everyone-000{n}.csv" for n in range(1, 6)]  # old 3-5 still there
        assert (folder / "everyone-0003.csv").read_bytes() == old["everyone-0003.csv"]
        assert (folder / "everyone-0001.csv").read_bytes() != old["everyone-0001.csv"]
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    parts = parts_of(folder, "everyone.csv")
    assert [p.name for p in parts] == ["everyone-0001.csv", "everyone-0002.csv"]
    check_manifest(folder / "everyone.csv", parts, 300)
    assert temporaries(folder) == []


def stopped(proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the run ended (exit {proc.returncode}) instead of stopping")
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def test_a_guard_failure_keeps_the_previous_set(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=500, seed=2)
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 200}")})
    assert export(project, api).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    guarded = segment("csv", "{max_rows: 100}") + "expect: {min_rows: 100000}\n"
    (project / "segments" / "everyone.yaml").write_text(guarded)
    run = export(project, api)
    assert run.returncode == 1 and "below expect.min_rows" in run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_split_under_out_and_from_one_file_to_parts(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=400, seed=6)
    project = make_project(tmp_path, {"everyone": segment("csv", None)})
    assert export(project, api, "--out", "try").returncode == 0
    folder = project / "try" / "out"
    assert (folder / "everyone.csv").exists()
    (project / "segments" / "everyone.yaml").write_text(segment("csv", "{max_rows: 150}"))
    assert export(project, api, "--out", "try").returncode == 0
    parts = parts_of(folder, "everyone.csv")
    assert [p.name for p in parts] == [f"everyone-000{n}.csv" for n in (1, 2, 3)]
    check_manifest(folder / "everyone.csv", parts, 400)
    assert not (project / "out").exists()
    # the one file and its manifest are gone with the set in place: nothing stale beside it
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        *(p.name for p in parts),
        "everyone.csv.parts.manifest.json",
    ]


def test_split_turned_off_removes_the_set_once_the_file_is_in(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=400, seed=6)
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 150}")})
    assert export(project, api).returncode == 0
    folder = project / "out"
    assert len(parts_of(folder, "everyone.csv")) == 3
    # part 2 is no longer the set's (rewritten since): it is not the runner's to remove
    (folder / "everyone-0002.csv").write_bytes(b"someone else's file\r\n")
    (project / "segments" / "everyone.yaml").write_text(segment("csv", None))
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["everyone-0002.csv", "everyone.csv", "everyone.csv.manifest.json"]
    assert manifest_of(folder / "everyone.csv", plain=True)["rows"] == 400


PRESET = """\
version: 1
name: handoff
filter: {{isContact: false, applicableFilters: []}}
output:
  preset: {preset}
  path: out/handoff.csv
  csv: {{bom: true}}
{split}"""


@pytest.mark.parametrize("preset", ["klaviyo", "google_customer_match"])
def test_preset_parts_keep_the_platform_file_shape(
    sandbox: Start, tmp_path: Path, preset: str
) -> None:
    api = sandbox(users=800, seed=12)
    project = make_project(tmp_path, {"handoff": PRESET.format(preset=preset, split="")})
    assert export(project, api).returncode == 0
    whole = (project / "out" / "handoff.csv").read_bytes()
    dropped = manifest_of(project / "out" / "handoff.csv", plain=True)["dropped_unmatchable"]
    (project / "out" / "handoff.csv").unlink()
    split = "  split: {max_bytes: 12KB}\n"
    (project / "segments" / "handoff.yaml").write_text(PRESET.format(preset=preset, split=split))
    assert export(project, api).returncode == 0
    parts = parts_of(project / "out", "handoff.csv")
    header = whole[: whole.index(b"\r\n") + 2]
    assert not header.startswith(BOM)  # the platforms want no BOM, whatever csv.bom says
    assert len(parts) >= 3
    for part in parts:
        data = part.read_bytes()
        assert data.startswith(header) and len(data) <= 12_000
    assert header + b"".join(p.read_bytes()[len(header) :] for p in parts) == whole
    manifest = manifest_of(project / "out" / "handoff.csv")
    assert manifest["dropped_unmatchable"] == dropped and manifest["part_count"] == len(parts)


def test_split_true_uses_the_preset_limits(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, seed=12)
    split = "  split: true\n"
    project = make_project(tmp_path, {"handoff": PRESET.format(preset="klaviyo", split=split)})
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    # Klaviyo's 50 MB: 300 contacts fit in one part, named as a part.
    parts = parts_of(project / "out", "handoff.csv")
    assert [p.name for p in parts] == ["handoff-0001.csv"]
    assert manifest_of(project / "out" / "handoff.csv")["part_count"] == 1


BAD = [
    ("{max_rows: 0}", "7:21", "'output.split.max_rows' is 0: it must be at least 1"),
    (
        "{max_bytes: 50XB}",
        "7:22",
        "'output.split.max_bytes' has invalid value \"50XB\": expected a size such as 50MB, "
        "1.5GB, 512KiB or a number of bytes",
    ),
    ("{max_bytes: 0.5B}", "7:22", "'output.split.max_bytes' '0.5B' is less than one byte"),
    ("{max_row: 10}", "7:11", "unknown key 'max_row' in output.split (did you mean 'max_rows'?)"),
    ("{}", "7:10", "'output.split' needs max_rows, max_bytes or both"),
    ("true", "7:10", "'output.split: true' splits at the preset's platform limits, but there"),
    ("10", "7:10", "'output.split' must be an object or boolean, got integer 10"),
]


@pytest.mark.parametrize(("split", "where", "message"), BAD)
def test_bad_split_values_are_problems_with_file_and_line(
    tmp_path: Path, split: str, where: str, message: str
) -> None:
    project = make_project(tmp_path, {"everyone": segment("csv", split)})
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0].startswith(f"segments/everyone.yaml:{where}: {message}")
    assert "Traceback" not in run.stdout + run.stderr


def test_another_output_on_a_part_name_is_a_problem(tmp_path: Path) -> None:
    other = (
        segment("csv", None)
        .replace("everyone", "other")
        .replace("out/other.csv", "out/everyone-0002.csv")
    )
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 10}"), "other": other})
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1
    assert "'out/everyone-0002.csv' is a part name of segment 'everyone'" in run.stdout + run.stderr


# -- S3 ------------------------------------------------------------------------
def s3_segment(split: str) -> str:
    extra = "  s3: {part_size_mb: 5, metadata: {team: crm}}\n"
    return segment("csv", split, extra, path="s3://exports/daily/everyone.csv")


def s3_parts(s3: S3Server) -> dict[str, bytes]:
    client = s3.client()
    listed = client.list_objects_v2(Bucket="exports", Prefix="daily/").get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket="exports", Key=item["Key"])["Body"].read()
        for item in listed
    }


def test_s3_parts_equal_the_local_export_and_shrink(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api = sandbox(users=1200, page_size=50, seed=3)
    project = make_project(tmp_path, {"everyone": s3_segment("{max_rows: 250, max_bytes: 60KB}")})
    env = s3.env()
    run = export(project, api, **{k: v for k, v in env.items() if v is not None})
    assert run.returncode == 0, run.stdout + run.stderr
    local = export(project, api, "--out", "local", **{k: v for k, v in env.items() if v})
    assert local.returncode == 0
    folder = project / "local" / "exports" / "daily"
    expected = {f"daily/{p.name}": p.read_bytes() for p in parts_of(folder, "everyone.csv")}
    objects = s3_parts(s3)
    manifest = json.loads(objects.pop("daily/everyone.csv.parts.manifest.json"))
    assert objects == expected and len(objects) >= 6  # the same parts, byte for byte
    assert manifest["part_count"] == len(objects) and manifest["rows"] == 1200
    client = s3.client()
    for entry in manifest["parts"]:
        key = str(entry["destination"]).removeprefix("s3://exports/")
        head = client.head_object(Bucket="exports", Key=key)
        meta = {k.lower(): v for k, v in head["Metadata"].items()}
        assert meta["sha256"] == entry["sha256"] == hashlib.sha256(objects[key]).hexdigest()
        assert meta["rows"] == str(entry["rows"]) and meta["team"] == "crm"
    # Fewer contacts: fewer parts, the old extras gone once the new set is in place.
    fewer = sandbox(users=300, page_size=50, seed=3)
    assert export(project, fewer, **{k: v for k, v in env.items() if v}).returncode == 0
    count = int(str(manifest["part_count"]))
    objects = s3_parts(s3)
    manifest = json.loads(objects.pop("daily/everyone.csv.parts.manifest.json"))
    assert manifest["rows"] == 300 and 1 < manifest["part_count"] < count
    assert sorted(objects) == [
        f"daily/everyone-{n:04d}.csv" for n in range(1, manifest["part_count"] + 1)
    ]
    assert s3.open_uploads("exports", "daily/everyone-0001.csv") == []


def test_s3_parts_add_no_bucket_check_or_upload_listing_of_their_own(
    sandbox: Start, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set checks its bucket and aborts the uploads a killed run left on any part
    once; each part then only uploads (before: a HeadBucket and a ListMultipartUploads
    a part, 200 requests more for a 100-part set)."""
    import botocore.client

    calls: list[str] = []
    call = botocore.client.BaseClient._make_api_call

    def counted(client: object, name: str, params: object) -> object:
        calls.append(name)
        return call(client, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    env = {k: v for k, v in s3.env().items() if v is not None}
    seen = {}
    for parts in (2, 8):
        project = make_project(tmp_path / str(parts), {"everyone": s3_segment("{max_rows: 50}")})
        calls.clear()
        assert export(project, sandbox(users=50 * parts, seed=parts), **env).returncode == 0
        assert calls.count("UploadPart") >= parts  # every part went up
        seen[parts] = (calls.count("HeadBucket"), calls.count("ListMultipartUploads"))
    # One bucket check, and the set's listings: its own key's, its parts' and staged
    # names' (fewer where rclone answers NoSuchUpload for a bucket with none open).
    assert all(heads == 1 and listings <= 3 for heads, listings in seen.values()), seen


# rclone's server pages the listing of open uploads as S3 does (moto's answers them all).
@pytest.mark.parametrize("s3", ["rclone"], indirect=True)
def test_s3_uploads_left_open_on_parts_are_aborted_reply_after_reply(
    sandbox: Start, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set's one sweep of uploads a killed run left open reads every reply of the
    listing: two uploads a reply here (S3's is 1,000, and a folder other writers share
    can hold more), seven stale uploads on three parts and a staged first part, and
    another output's open uploads beside them, which stay."""
    from runner.sinks.s3 import target

    monkeypatch.setattr(target, "UPLOADS_PAGE", 2)
    client = s3.client()
    stale = [f"daily/everyone-000{n}.csv" for n in (1, 1, 2, 2, 3, 3)]
    stale.append(f"daily/{TEMP_PREFIX}0a1b2c3d-everyone-0001.csv")
    others = [
        "daily/another-0001.csv",
        "daily/another-0001.csv",
        "daily/everyone.csv.bak",
        "daily/everyone-eu-0001.csv",  # another output's parts, under the same prefix
        f"daily/{TEMP_PREFIX}1a2b3c4d-x-everyone-0001.csv",  # another's staged first part
    ]
    for key in stale + others:
        client.create_multipart_upload(Bucket="exports", Key=key)
    project = make_project(tmp_path, {"everyone": s3_segment("{max_rows: 100}")})
    env = {k: v for k, v in s3.env().items() if v is not None}
    assert export(project, sandbox(users=250, seed=5), **env).returncode == 0
    assert [key for key in sorted(set(stale)) if s3.open_uploads("exports", key)] == []
    assert {key: len(s3.open_uploads("exports", key)) for key in others} == Counter(others)


def test_s3_kill_9_between_parts_keeps_the_previous_set(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    fast = sandbox(users=600, seed=3)
    project = make_project(tmp_path, {"everyone": s3_segment("{max_rows: 200}")})
    env = {k: v for k, v in s3.env().items() if v is not None}
    assert export(project, fast, **env).returncode == 0
    before = s3_parts(s3)
    assert len(before) == 4  # three parts and the manifest
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env({**api_env(slow), **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: bool(s3.open_uploads("exports", "daily/everyone-0002.csv")))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert s3_parts(s3) == before  # the previous set and manifest, byte for byte
    assert s3.open_uploads("exports", "daily/everyone-0001.csv") != []  # left by the kill
    assert export(project, fast, **env).returncode == 0
    parts = {k: v for k, v in s3_parts(s3).items() if not k.endswith(".manifest.json")}
    assert parts == {k: v for k, v in before.items() if not k.endswith(".manifest.json")}
    for n in (1, 2, 3):
        assert s3.open_uploads("exports", f"daily/everyone-000{n}.csv") == []


def test_delta_files_beside_a_split_set_are_published_with_it(
    sandbox: Start, tmp_path: Path
) -> None:
    extra = "  delta: true\n  columns: [_id]\n"
    first = sandbox(users=400, seed=21)
    project = make_project(tmp_path, {"everyone": segment("csv", "{max_rows: 150}", extra)})
    assert export(project, first).returncode == 0
    folder = project / "out"
    assert [p.name for p in parts_of(folder, "everyone.csv")] == [
        f"everyone-000{n}.csv" for n in (1, 2, 3)
    ]
    added = (folder / "everyone.added.csv").read_text().splitlines()
    assert len(added) == 401  # the first run: every row is new (and the header)
    second = sandbox(users=500, seed=21)  # the same contacts and 100 more
    run = export(project, second)
    assert run.returncode == 0, run.stdout + run.stderr
    parts = parts_of(folder, "everyone.csv")
    assert len(parts) == 4 and check_manifest(folder / "everyone.csv", parts, 500)
    ids = {row for p in parts for row in p.read_text().splitlines()[1:]}
    new = set((folder / "everyone.added.csv").read_text().splitlines()[1:])
    assert len(new) == 100 and new <= ids  # a delta file is one file, never split
    assert not (folder / "everyone.added-0001.csv").exists()


def test_s3_old_extra_parts_go_only_after_the_new_manifest(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    env = {k: v for k, v in s3.env().items() if v is not None}
    project = make_project(tmp_path, {"everyone": s3_segment("{max_rows: 100}")})
    assert export(project, sandbox(users=500, seed=8), **env).returncode == 0
    old = s3_parts(s3)
    assert len(old) == 6  # five parts and the manifest
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR],
        cwd=project,
        env=cli_env({**api_env(sandbox(users=150, seed=9)), **env, STOP_HOOK: "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: stopped(proc))  # the new parts are in place, the manifest is not
        now = s3_parts(s3)
        assert "daily/everyone.csv.parts.manifest.json" not in now  # no manifest describes a mix
        assert now["daily/everyone-0005.csv"] == old["daily/everyone-0005.csv"]
        assert now["daily/everyone-0001.csv"] != old["daily/everyone-0001.csv"]
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    objects = s3_parts(s3)
    manifest = json.loads(objects.pop("daily/everyone.csv.parts.manifest.json"))
    assert sorted(objects) == ["daily/everyone-0001.csv", "daily/everyone-0002.csv"]
    assert manifest["part_count"] == 2 and manifest["rows"] == 150


@pytest.mark.parametrize(
    ("fsize", "split", "users", "failing"),
    [
        (16 * 1024, "{max_rows: 1000}", 3000, "out/everyone-0001.csv"),  # a part past the limit
        # every part fits, and the run's id snapshot (about 9 bytes an id), but not the
        # manifest that lists 200 parts
        (24 * 1024, "{max_rows: 5}", 1000, "out/everyone.csv.parts.manifest.json"),
    ],
    ids=["part", "manifest"],
)
def test_a_full_disk_while_writing_keeps_the_previous_set(
    sandbox: Start, tmp_path: Path, fsize: int, split: str, users: int, failing: str
) -> None:
    from tests.integration.test_os_errors import one_line, run_limited

    project = make_project(tmp_path, {"everyone": segment("csv", split)})
    assert export(project, sandbox(users=40, seed=1)).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    api = sandbox(users=users, seed=2, token="sandbox-token")
    # RLIMIT_FSIZE in the child: a write past it fails with EFBIG, as on a full disk.
    run = run_limited(project, api, "export", "--as-of", ANCHOR, fsize=fsize)
    assert run.returncode == 1
    one_line(run, f"cannot write {failing}: File too large")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # and no temporary

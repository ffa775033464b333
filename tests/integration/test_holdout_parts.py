"""A split output's holdout is a set of parts of its own (``parts.holdout-0001.csv`` ...),
cut by the same rule, named and listed as the output's parts, published with them all
or none; against the sandbox over a socket, real files, moto and rclone."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from runner.sinks.base import TEMP_PREFIX
from runner.spec.targets import part_number
from tests.conftest import (
    ANCHOR,
    FAST_RETRY,
    HOOKED,
    api_env,
    cli_env,
    full_body,
    make_project,
    run_cli,
    wait_for,
)
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: parts
filter: {{isContact: false, applicableFilters: []}}
output: {{path: {path}, format: {fmt}, {output}}}
holdout: {{share: "{share}", salt: p}}
"""


def write(project: Path, output: str, fmt: str = "csv", share: str = "30%", path: str = "") -> None:
    text = SEGMENT.format(path=path or f"out/parts.{fmt}", fmt=fmt, output=output, share=share)
    (project / "segments" / "parts.yaml").write_text(text, "utf-8")


def export(project: Path, api: Sandbox, **env: str | None) -> subprocess.CompletedProcess[str]:
    return run_cli("export", "--as-of", ANCHOR, cwd=project, env={**api_env(api), **env})


def parts_of(folder: Path, name: str) -> list[Path]:
    """The parts of ``name`` in ``folder``, in order."""
    found = [(part_number(p.name, name), p) for p in folder.iterdir()]
    return [p for number, p in sorted((n, p) for n, p in found if n is not None)]


def ids_in(path: Path, fmt: str) -> list[str]:
    """The ``_id`` column of one file, read by a reader other than ours."""
    # The readers are imported where used: a test process that runs none of these tests
    # does not load them (openpyxl alone is about 0.4 s).
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:
            rows = [list(r) for sheet in book.worksheets for r in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
        column = rows[0].index("_id")
        return [str(r[column]) for r in rows[1:]]
    if fmt == "parquet":
        import duckdb

        return [r[0] for r in duckdb.connect().execute(f"select _id from '{path}'").fetchall()]
    if fmt == "jsonl":
        return [json.loads(line)["_id"] for line in path.read_text("utf-8").splitlines()]
    return [r["_id"] for r in csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline=""))]


def check_listed(entries: list[dict[str, Any]], parts: list[Path], fmt: str) -> None:
    """The manifest's entries are these parts: number, rows, bytes, sha256, destination."""
    assert [e["number"] for e in entries] == list(range(1, len(parts) + 1))
    for entry, part in zip(entries, parts, strict=True):
        data = part.read_bytes()
        assert (entry["bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert entry["rows"] == len(ids_in(part, fmt))
        assert str(entry["destination"]).endswith("/" + part.name)


def s3_objects(s3: S3Server) -> dict[str, bytes]:
    """Every object under ``daily/`` of bucket ``exports``, by key."""
    client = s3.client()
    listed = client.list_objects_v2(Bucket="exports", Prefix="daily/").get("Contents", [])
    return {
        i["Key"]: client.get_object(Bucket="exports", Key=i["Key"])["Body"].read() for i in listed
    }


def kill_9_when(project: Path, env: dict[str, str | None], ready: Callable[[], bool]) -> None:
    """An export started in a child, killed with SIGKILL once ``ready()`` holds."""
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(ready)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -9


CASES = [
    ("csv", "columns: [_id], split: {max_rows: 70}", "max_rows", 70),
    ("jsonl", "columns: [_id, status], split: {max_bytes: 3000}", "max_bytes", 3000),
    ("xlsx", "columns: [_id, status], split: {max_rows: 90}", "max_rows", 90),
    ("parquet", "columns: [_id, status], split: {max_rows: 80}", "max_rows", 80),
]


@pytest.mark.parametrize(("fmt", "output", "limit", "value"), CASES, ids=[c[0] for c in CASES])
def test_the_holdout_of_a_split_output_is_a_set_of_parts_of_its_own(
    sandbox: Start, tmp_path: Path, fmt: str, output: str, limit: str, value: int
) -> None:
    api = sandbox(users=700, seed=31)
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, output, fmt)
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    folder = project / "out"
    main = parts_of(folder, f"parts.{fmt}")
    held = parts_of(folder, f"parts.holdout.{fmt}")
    assert [p.name for p in held] == [
        f"parts.holdout-{n:04d}.{fmt}" for n in range(1, len(held) + 1)
    ]
    assert len(main) > 1 and len(held) > 1
    assert not (folder / f"parts.holdout.{fmt}").exists()  # a set, not one file
    beside = f"{len(main)} parts and {len(held)} holdout parts beside out/parts.{fmt}"
    assert f"parts: {beside} (output.split)" in run.stdout  # the summary
    # together the audience, by id, never a contact on both sides
    main_ids = [i for p in main for i in ids_in(p, fmt)]
    held_ids = [i for p in held for i in ids_in(p, fmt)]
    audience = api.truth(full_body(isContact=False, applicableFilters=[]))
    assert sorted(main_ids + held_ids) == sorted(audience)
    assert not set(main_ids) & set(held_ids)
    # each part within the split's limit, with the output's mode (0600)
    for part in main + held:
        size = len(ids_in(part, fmt)) if limit == "max_rows" else part.stat().st_size
        assert 0 < size <= value, part.name
        assert part.stat().st_mode & 0o777 == 0o600
    # the manifest lists the holdout's parts as it lists the output's
    manifest = json.loads((folder / f"parts.{fmt}.parts.manifest.json").read_text())
    holdout = manifest["audience"]["holdout"]
    assert holdout["part_count"] == len(held) and holdout["rows"] == len(held_ids)
    check_listed(holdout["parts"], held, fmt)
    check_listed(manifest["parts"], main, fmt)
    joined = b"".join(p.read_bytes() for p in held)
    assert holdout["sha256"] == hashlib.sha256(joined).hexdigest()
    assert manifest["audience"]["audience_rows"] == len(audience)
    history = json.loads(run_cli("history", "parts", "--format", "json", cwd=project).stdout)
    assert (history[0]["rows"], history[0]["held_out"]) == (len(main_ids), len(held_ids))
    # the next run holds back the same contacts, in parts named the same
    again = export(project, api)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [p.name for p in parts_of(folder, f"parts.holdout.{fmt}")] == [p.name for p in held]
    assert [i for p in parts_of(folder, f"parts.holdout.{fmt}") for i in ids_in(p, fmt)] == held_ids


def test_a_smaller_holdout_set_removes_its_old_extra_parts_and_the_old_shape(
    sandbox: Start, tmp_path: Path
) -> None:
    """Fewer held-back contacts: the holdout's parts past the new count go, as the
    output's do; the one holdout file of a run before split was turned on goes when the
    set replaces it, and the set's parts go when split is turned off again."""
    project = make_project(tmp_path, {}, FAST_RETRY)
    folder = project / "out"
    write(project, "columns: [_id]", share="30%")
    assert export(project, sandbox(users=900, seed=5)).returncode == 0
    assert (folder / "parts.holdout.csv").exists()
    write(project, "columns: [_id], split: {max_rows: 60}", share="30%")
    assert export(project, sandbox(users=900, seed=5)).returncode == 0
    many = parts_of(folder, "parts.holdout.csv")
    assert len(many) >= 4
    assert not (folder / "parts.holdout.csv").exists()  # the old shape, gone
    assert not (folder / "parts.csv").exists() and not (folder / "parts.csv.manifest.json").exists()
    small = sandbox(users=300, seed=6)
    assert export(project, small).returncode == 0
    fewer = parts_of(folder, "parts.holdout.csv")
    assert 1 < len(fewer) < len(many)
    held = [i for p in fewer for i in ids_in(p, "csv")]
    main = [i for p in parts_of(folder, "parts.csv") for i in ids_in(p, "csv")]
    assert sorted(main + held) == sorted(
        small.truth(full_body(isContact=False, applicableFilters=[]))
    )
    manifest = json.loads((folder / "parts.csv.parts.manifest.json").read_text())
    check_listed(manifest["audience"]["holdout"]["parts"], fewer, "csv")
    # split turned off: one holdout file again, and the set's parts (its own and its
    # holdout's, as its manifest lists them) removed with its manifest
    write(project, "columns: [_id]", share="30%")
    assert export(project, small).returncode == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "parts.csv",
        "parts.csv.manifest.json",
        "parts.holdout.csv",
    ]
    assert sorted(ids_in(folder / "parts.holdout.csv", "csv")) == sorted(held)


def test_past_the_last_part_number_the_holdout_set_is_refused_by_name(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 9,999-part rule applies to the holdout's set (lowered to 9 parts here, the
    same code path): the run stops with one line naming the holdout, nothing is
    published and the previous sets stay byte for byte."""
    from runner.formats import split

    monkeypatch.setattr(split, "MAX_PARTS", 9)
    api = sandbox(users=60, page_size=10, seed=3)
    project = make_project(tmp_path, {}, FAST_RETRY)
    folder = project / "out"
    write(project, "columns: [_id], split: {max_rows: 10}", "jsonl", share="50%")
    assert export(project, api).returncode == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(parts_of(folder, "parts.holdout.jsonl")) > 1
    write(project, "columns: [_id], split: {max_rows: 4}", "jsonl", share="75%")
    run = export(project, api)
    assert run.returncode == 1, run.stdout + run.stderr
    # the output (about 15 rows) fits in 9 parts of 4 rows; its holdout does not: the
    # run stops when part 10 is needed, 9 x 4 rows in
    errors = [line for line in run.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: parts: the holdout set out/parts.holdout.jsonl: 36 rows filled 9 parts and more "
        "remain, but a set has at most 9 parts (four-digit numbers): raise output.split's "
        "max_rows 4; nothing was published"
    ]
    assert "Traceback" not in run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_preset_limits_split_the_holdout_as_the_output(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preset's own limits (klaviyo's 50 MB, lowered to 6 KB here) cut the holdout into
    parts as they cut the output; with the limit above both, each is the plain file."""
    from runner.spec import split

    monkeypatch.setattr(
        split, "PRESET_LIMITS", {**split.PRESET_LIMITS, "klaviyo": {"max_bytes": "6KB"}}
    )
    api = sandbox(users=500, seed=9)
    plain = SEGMENT.format(path="out/whole.csv", fmt="csv", output="preset: klaviyo", share="1%")
    plain = plain.replace("name: parts", "name: whole").replace(
        'holdout: {share: "1%", salt: p}\n', ""
    )
    plain = plain.replace("preset: klaviyo", "preset: klaviyo, split: false")
    project = make_project(tmp_path, {"whole": plain}, FAST_RETRY)
    write(project, "preset: klaviyo", share="40%")
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    folder = project / "out"

    def rows(path: Path) -> list[list[str]]:
        return list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))

    main, held = parts_of(folder, "parts.csv"), parts_of(folder, "parts.holdout.csv")
    assert len(main) > 1 and len(held) > 1
    whole = rows(folder / "whole.csv")
    for part in main + held:
        assert part.stat().st_size <= 6000 and rows(part)[0] == whole[0]  # the preset's header
    body = [tuple(r) for p in main + held for r in rows(p)[1:]]
    assert sorted(body) == sorted(tuple(r) for r in whole[1:])
    monkeypatch.setattr(
        split, "PRESET_LIMITS", {**split.PRESET_LIMITS, "klaviyo": {"max_bytes": "50MB"}}
    )
    assert export(project, api).returncode == 0
    # one part each: the plain files, and the sets' parts gone
    assert parts_of(folder, "parts.holdout.csv") == [] and parts_of(folder, "parts.csv") == []
    body = [
        tuple(r) for name in ("parts.csv", "parts.holdout.csv") for r in rows(folder / name)[1:]
    ]
    assert sorted(body) == sorted(tuple(r) for r in whole[1:])


def test_a_full_disk_while_publishing_keeps_both_previous_sets(
    sandbox: Start, tmp_path: Path
) -> None:
    """The holdout's parts are in place when the output's manifest cannot be written (a
    file size limit, as a full disk): they are put back, so both previous sets stay."""
    from tests.integration.test_os_errors import one_line, run_limited

    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "columns: [_id], split: {max_rows: 5}", share="30%")
    assert export(project, sandbox(users=40, seed=1)).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(parts_of(folder, "parts.holdout.csv")) >= 2
    api = sandbox(users=1000, seed=2, token="sandbox-token")
    # every part fits, and the id snapshot, but not the manifest listing 200 parts
    run = run_limited(project, api, "export", "--as-of", ANCHOR, fsize=24 * 1024)
    assert run.returncode == 1
    one_line(run, "cannot write out/parts.csv.parts.manifest.json: File too large")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # and no temporary


def test_kill_9_while_the_holdout_set_is_written_keeps_both_previous_sets(
    sandbox: Start, tmp_path: Path
) -> None:
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "columns: [_id], split: {max_rows: 100}", share="50%")
    assert export(project, sandbox(users=500, seed=3)).returncode == 0
    folder = project / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)

    def staged(name: str) -> bool:
        return any((t / name).exists() for t in folder.iterdir() if t.name.startswith(TEMP_PREFIX))

    kill_9_when(project, api_env(slow), lambda: staged("parts.holdout-0002.csv"))  # 1 complete
    after = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(TEMP_PREFIX)}
    assert after == before  # both sets and the manifest, byte for byte; no new part
    assert export(project, sandbox(users=500, seed=3)).returncode == 0  # cleans up after it
    now = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert now.keys() == before.keys()  # the killed run's staging folders gone
    assert {k: v for k, v in now.items() if "manifest" not in k} == {
        k: v for k, v in before.items() if "manifest" not in k
    }


def test_s3_holdout_parts_beside_the_output_parts(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    project = make_project(tmp_path, {}, FAST_RETRY)
    path = "s3://exports/daily/parts.csv"
    write(project, "columns: [_id], split: {max_rows: 80}, s3: {part_size_mb: 5}", path=path)
    env = {k: v for k, v in s3.env().items() if v is not None}
    first = sandbox(users=700, seed=31)
    run = export(project, first, **env)
    assert run.returncode == 0, run.stdout + run.stderr
    client = s3.client()

    def ids(data: bytes) -> list[str]:
        return [r["_id"] for r in csv.DictReader(io.StringIO(data.decode(), newline=""))]

    def check(api: Sandbox) -> int:
        found = s3_objects(s3)
        manifest = json.loads(found.pop("daily/parts.csv.parts.manifest.json"))
        main = [k for k in sorted(found) if part_number(k[6:], "parts.csv")]
        held = [k for k in sorted(found) if part_number(k[6:], "parts.holdout.csv")]
        assert sorted(found) == sorted(main + held)  # no plain object, no stray
        assert held == [f"daily/parts.holdout-{n:04d}.csv" for n in range(1, len(held) + 1)]
        main_ids = [i for k in main for i in ids(found[k])]
        held_ids = [i for k in held for i in ids(found[k])]
        audience = api.truth(full_body(isContact=False, applicableFilters=[]))
        assert sorted(main_ids + held_ids) == sorted(audience)
        assert not set(main_ids) & set(held_ids)
        listed = manifest["audience"]["holdout"]["parts"]
        assert manifest["audience"]["holdout"]["part_count"] == len(held) == len(listed)
        for entry, key in zip(listed, held, strict=True):
            assert entry["destination"] == f"s3://exports/{key}"
            assert entry["sha256"] == hashlib.sha256(found[key]).hexdigest()
            assert 0 < entry["rows"] == len(ids(found[key])) <= 80
            meta = client.head_object(Bucket="exports", Key=key)["Metadata"]
            assert {k.lower(): v for k, v in meta.items()}["sha256"] == entry["sha256"]
        assert s3.open_uploads("exports", "daily/parts.holdout-0001.csv") == []
        return len(held)

    many = check(first)
    assert many >= 3
    fewer = sandbox(users=450, seed=6)  # the old extra holdout parts go
    run = export(project, fewer, **env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 1 < check(fewer) < many


def test_a_holdout_part_name_is_claimed_by_its_segment(tmp_path: Path) -> None:
    """Another segment's output on a part of the holdout's set is a validation problem."""
    other = """\
version: 1
name: other
filter: {isContact: false, applicableFilters: []}
output: {path: out/parts.holdout-0002.csv}
"""
    project = make_project(tmp_path, {"other": other}, FAST_RETRY)
    write(project, "columns: [_id], split: {max_rows: 60}")
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1
    assert (
        "output path 'out/parts.holdout-0002.csv' is a part name of segment 'parts'"
        in run.stdout + run.stderr
    )


def test_s3_preset_limits_split_the_holdout_and_a_one_part_holdout_is_the_plain_object(
    sandbox: Start, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3, a preset's own limits: parts for both while they pass the limit; one part
    each (the first part staged, then copied to the plain key) once they fit, and the
    sets' parts removed."""
    from runner.spec import split

    limits = {**split.PRESET_LIMITS, "klaviyo": {"max_bytes": "6KB"}}
    monkeypatch.setattr(split, "PRESET_LIMITS", limits)
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "preset: klaviyo", share="40%", path="s3://exports/daily/parts.csv")
    env = {k: v for k, v in s3.env().items() if v is not None}
    api = sandbox(users=500, seed=9)
    run = export(project, api, **env)
    assert run.returncode == 0, run.stdout + run.stderr
    client = s3.client()

    def keys() -> list[str]:
        listed = client.list_objects_v2(Bucket="exports", Prefix="daily/").get("Contents", [])
        return sorted(item["Key"][len("daily/") :] for item in listed)

    def body(name: str) -> list[str]:
        data = client.get_object(Bucket="exports", Key="daily/" + name)["Body"].read()
        return data.decode().splitlines()[1:]

    split_keys = keys()
    held = [k for k in split_keys if part_number(k, "parts.holdout.csv")]
    main = [k for k in split_keys if part_number(k, "parts.csv")]
    assert len(held) > 1 and len(main) > 1
    assert sorted(split_keys) == sorted([*held, *main, "parts.csv.parts.manifest.json"])
    rows = sorted(r for k in held + main for r in body(k))
    monkeypatch.setattr(split, "PRESET_LIMITS", {**limits, "klaviyo": {"max_bytes": "50MB"}})
    run = export(project, api, **env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert keys() == ["parts.csv", "parts.csv.manifest.json", "parts.holdout.csv"]
    assert sorted(body("parts.csv") + body("parts.holdout.csv")) == rows
    manifest = json.loads(
        client.get_object(Bucket="exports", Key="daily/parts.csv.manifest.json")["Body"].read()
    )
    data = client.get_object(Bucket="exports", Key="daily/parts.holdout.csv")["Body"].read()
    assert manifest["audience"]["holdout"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "parts" not in manifest["audience"]["holdout"]
    assert s3.open_uploads("exports", "daily/parts.holdout-0001.csv") == []


def test_a_dry_run_of_a_split_holdout_counts_it_and_writes_nothing(
    sandbox: Start, tmp_path: Path
) -> None:
    """The holdout is counted by the README's recipe (hashlib as the oracle), whatever its
    parts, and nothing is written."""
    from fractions import Fraction

    from tests.integration.test_compose_holdout import readme_draw

    api = sandbox(users=300, seed=2)
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "columns: [_id], split: {max_rows: 50}")
    run = run_cli(
        "export",
        "--dry-run",
        "--as-of",
        ANCHOR,
        "--results",
        "r.json",
        cwd=project,
        env=api_env(api),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    audience = api.truth(full_body(isContact=False, applicableFilters=[]))
    held = [i for i in audience if readme_draw(i, "p", Fraction(3, 10))]
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    assert (entry["rows"], entry["held_out"]) == (len(audience) - len(held), len(held)) != (0, 0)
    assert entry["held_out_parts"] == -(-len(held) // 50)  # counted, none written
    assert not (project / "out").exists() or not any((project / "out").iterdir())


def test_holdout_parts_that_cannot_fit_max_bytes_are_a_warning_naming_it(
    sandbox: Start, tmp_path: Path
) -> None:
    """Below the bytes of an empty workbook every part holds one row and is larger: the
    output's parts and the holdout's are each named in a warning."""
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "columns: [_id], split: {max_bytes: 2KB}", "xlsx", share="50%")
    api = sandbox(users=8, page_size=10, seed=2)
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    held = parts_of(project / "out", "parts.holdout.xlsx")
    main = parts_of(project / "out", "parts.xlsx")
    assert len(held) + len(main) == 8 and held and main
    warned = [line for line in run.stderr.splitlines() if "larger than output.split" in line]
    assert len(warned) == 2
    holdout = [line for line in warned if "the holdout set out/parts.holdout.xlsx: " in line]
    assert len(holdout) == 1
    count = f"{len(held)} part{'s' if len(held) > 1 else ''} larger than"
    assert f"{count} output.split.max_bytes (2,000): part 1 (" in holdout[0]


def test_s3_kill_9_while_the_holdout_set_is_written_keeps_both_previous_sets(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    project = make_project(tmp_path, {}, FAST_RETRY)
    path = "s3://exports/daily/parts.csv"
    write(project, "columns: [_id], split: {max_rows: 100}, s3: {part_size_mb: 5}", path=path)
    env = {k: v for k, v in s3.env().items() if v is not None}
    assert export(project, sandbox(users=500, seed=3), **env).returncode == 0
    before = s3_objects(s3)
    assert "daily/parts.holdout-0002.csv" in before
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)

    def ready() -> bool:  # its part 2 complete and sent, the set not published
        return bool(s3.open_uploads("exports", "daily/parts.holdout-0002.csv"))

    kill_9_when(project, {**api_env(slow), **env}, ready)
    assert s3_objects(s3) == before  # both sets and the manifest, byte for byte
    assert export(project, sandbox(users=500, seed=3), **env).returncode == 0
    for name in ("parts.holdout-0001.csv", "parts.holdout-0002.csv", "parts-0001.csv"):
        assert s3.open_uploads("exports", f"daily/{name}") == []  # aborted by the next run
    now = s3_objects(s3)
    assert {k: v for k, v in now.items() if "manifest" not in k} == {
        k: v for k, v in before.items() if "manifest" not in k
    }


def test_s3_a_failure_after_the_holdout_parts_are_placed_puts_them_back(
    sandbox: Start, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holdout's parts are in place and the output's too when the output's manifest
    fails (a DestinationError raised just before it, in this process): both sets are
    put back, byte for byte, with the old manifest, and nothing is left open."""
    from runner.errors import DestinationError
    from runner.sinks import base

    project = make_project(tmp_path, {}, FAST_RETRY)
    path = "s3://exports/daily/parts.csv"
    write(project, "columns: [_id], split: {max_rows: 100}, s3: {part_size_mb: 5}", path=path)
    env = {k: v for k, v in s3.env().items() if v is not None}
    assert export(project, sandbox(users=500, seed=3), **env).returncode == 0
    before = s3_objects(s3)
    placed: list[dict[str, bytes]] = []

    def fail() -> None:
        placed.append(s3_objects(s3))
        raise DestinationError("cannot write the manifest (the test's failure)")

    monkeypatch.setattr(base, "BEFORE_MANIFEST", [fail])
    run = export(project, sandbox(users=800, seed=4), **env)
    assert run.returncode == 1 and "the test's failure" in run.stdout + run.stderr
    (during,) = placed  # both new sets were in place then
    assert during["daily/parts.holdout-0001.csv"] != before["daily/parts.holdout-0001.csv"]
    for name in ("parts.holdout.csv", "parts.csv"):  # more parts than before, each new
        new = [k for k in during if part_number(k.removeprefix("daily/"), name)]
        assert len(new) > len([k for k in before if part_number(k.removeprefix("daily/"), name)])
    assert s3_objects(s3) == before
    for name in ("parts.holdout-0001.csv", "parts-0001.csv"):
        assert s3.open_uploads("exports", f"daily/{name}") == []


def test_a_gzip_holdout_set_keeps_gz_last_and_each_part_is_a_gzip_file(
    sandbox: Start, tmp_path: Path
) -> None:
    import gzip

    api = sandbox(users=400, seed=7)
    project = make_project(tmp_path, {}, FAST_RETRY)
    output = "columns: [_id], compression: gzip, split: {max_rows: 60}"
    write(project, output, path="out/parts.csv.gz")
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    folder = project / "out"
    held = parts_of(folder, "parts.holdout.csv.gz")
    assert [p.name for p in held] == [
        f"parts.holdout-{n:04d}.csv.gz" for n in range(1, len(held) + 1)
    ]
    main = parts_of(folder, "parts.csv.gz")
    assert len(held) > 1 and len(main) > 1

    def ids(path: Path) -> list[str]:
        text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
        return [r["_id"] for r in csv.DictReader(io.StringIO(text, newline=""))]

    held_ids = [i for p in held for i in ids(p)]
    main_ids = [i for p in main for i in ids(p)]
    assert all(0 < len(ids(p)) <= 60 for p in held + main)
    audience = api.truth(full_body(isContact=False, applicableFilters=[]))
    assert sorted(held_ids + main_ids) == sorted(audience) and not set(held_ids) & set(main_ids)


def test_delta_files_and_the_holdout_set_are_published_with_the_output(
    sandbox: Start, tmp_path: Path
) -> None:
    """Three companions (added, removed, the holdout's set): the added file holds the new
    contacts of the published side only, the holdout's parts the same held-back ones."""
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "columns: [_id], delta: true, split: {max_rows: 60}")
    assert export(project, sandbox(users=300, seed=21)).returncode == 0
    folder = project / "out"
    held_before = {i for p in parts_of(folder, "parts.holdout.csv") for i in ids_in(p, "csv")}
    main_before = {i for p in parts_of(folder, "parts.csv") for i in ids_in(p, "csv")}
    bigger = sandbox(users=400, seed=21)  # the same contacts and 100 more
    run = export(project, bigger)
    assert run.returncode == 0, run.stdout + run.stderr
    held = {i for p in parts_of(folder, "parts.holdout.csv") for i in ids_in(p, "csv")}
    main = {i for p in parts_of(folder, "parts.csv") for i in ids_in(p, "csv")}
    added = set(ids_in(folder / "parts.added.csv", "csv"))
    assert held_before < held and not held & main
    assert sorted(held | main) == sorted(
        bigger.truth(full_body(isContact=False, applicableFilters=[]))
    )
    assert added == main - main_before and added  # the published side's new contacts

"""`segments export` against the sandbox over a real socket."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from runner.formats.csv import guard_formula
from runner.sandbox import Sandbox
from tests.conftest import (
    ANCHOR,
    FAST_RETRY,
    api_env,
    cli_env,
    closed_port,
    make_project,
    rendered_body,
    run_cli,
    sigint_default,
    wait_for,
)

Start = Callable[..., Sandbox]
TOKEN = "tok-Zq9-VERY-SECRET"

ALL_CONTACTS = """\
version: 1
name: everyone
filter:
  isContact: false
  applicableFilters: []
output:
  format: {fmt}
  path: out/everyone.{fmt}
"""


def read_ids(path: Path, fmt: str) -> list[str]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return [row["_id"] for row in csv.DictReader(fh)]
    return [json.loads(line)["_id"] for line in path.read_text("utf-8").splitlines()]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_equals_ground_truth_under_faults_and_churn(
    sandbox: Start, tmp_path: Path, fmt: str
) -> None:
    api = sandbox(
        users=1200,
        page_size=40,
        seed=5,
        churn=3,
        token=TOKEN,
        faults="429=0.08,500=0.04,503=0.03,html=0.05,drop=0.05",
    )
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt=fmt)})
    truth = api.truth(rendered_body(project, "everyone"))
    result = run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--concurrency",
        "4",
        "--results",
        "results.json",
        cwd=project,
        env=api_env(api),
    )
    assert result.returncode == 0, result.stderr
    ids = read_ids(project / "out" / f"everyone.{fmt}", fmt)
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert set(ids) >= set(truth), "a contact the server held was missed"
    assert set(ids) <= set(truth) | set(api.inserted)
    (entry,) = json.loads((project / "results.json").read_text())["results"]
    assert entry["status"] == "success" and entry["rows"] == len(ids)
    assert entry["retries"] > 0 and entry["duplicates"] > 0
    assert sum(v for k, v in api.stats.items() if k.startswith("fault:")) > 0


def test_manifest_describes_the_file(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    data = (project / "out" / "everyone.csv").read_bytes()
    manifest = json.loads((project / "out" / "everyone.csv.manifest.json").read_text())
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["bytes"] == len(data)
    assert manifest["rows"] == 300 and manifest["pages"] == 6
    assert manifest["segment"] == "everyone" and manifest["as_of"] == "2026-11-25T00:00:00+00:00"
    assert manifest["request"]["body"]["isContact"] is False
    assert manifest["columns"][0] == "_id" and manifest["columns"][-1] == "_extra"
    assert manifest["source_file"] == "segments/everyone.yaml"


HOSTILE = """\
version: 1
name: hostile
filter:
  isContact: false
  applicableFilters: []
output:
  path: out/hostile.csv
  csv: {{bom: true, formula_guard: {guard}}}
  columns:
    - {{name: id, path: _id}}
    - {{name: name, path: profile.userDetails.name}}
    - {{name: email, path: profile.userDetails.contact.email}}
    - {{name: text, path: lastMessage.text}}
    - {{name: phone, expr: e164(profile.userDetails.contact.phone)}}
"""


@pytest.mark.parametrize("guard", [False, True])
def test_csv_gives_back_the_hostile_strings(sandbox: Start, tmp_path: Path, guard: bool) -> None:
    api = sandbox(users=400, seed=9, token=TOKEN)
    project = make_project(tmp_path, {"hostile": HOSTILE.format(guard=str(guard).lower())})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    raw = (project / "out" / "hostile.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    served = {c["_id"]: c for c in map(orjson.loads, api.population.blobs)}
    with io.StringIO(raw.decode("utf-8-sig"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 400
    hostile_seen = 0
    for row in rows:
        contact = served[row["id"]]
        name = contact["profile"]["userDetails"]["name"]
        expect = guard_formula(name) if guard else name
        assert row["name"] == expect
        assert row["text"] == (
            guard_formula(contact["lastMessage"]["text"])
            if guard
            else contact["lastMessage"]["text"]
        )
        assert row["phone"].startswith("+") or row["phone"] == ""
        hostile_seen += name != name.strip() or "\n" in name or '"' in name or "," in name
    assert hostile_seen > 3
    if guard:
        assert all(not r["name"].startswith(("=", "@", "\t", "-2+3")) for r in rows)


def _temps(folder: Path) -> list[Path]:
    return (
        [p for p in folder.iterdir() if p.name.startswith(".segments-tmp-")]
        if folder.exists()
        else []
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_export_keeps_previous_file(sandbox: Start, tmp_path: Path, sig: int) -> None:
    fast = sandbox(users=200, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(fast)).returncode == 0
    target = project / "out" / "everyone.csv"
    before = target.read_bytes()
    manifest_before = (project / "out" / "everyone.csv.manifest.json").read_bytes()

    # 300 pages at 100 ms: half a minute, so the signal lands mid-run on a loaded machine.
    slow = sandbox(users=3000, page_size=10, latency_ms=100, token=TOKEN, seed=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env(api_env(slow)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=sigint_default,
    )
    try:
        # Wait until the new file is really being written, then stop the run mid-way.
        wait_for(lambda: any(p.stat().st_size > 5000 for p in _temps(target.parent)))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == {signal.SIGKILL: -9, signal.SIGTERM: 143, signal.SIGINT: 130}[sig]
    assert b"Traceback" not in err
    assert target.read_bytes() == before
    assert (project / "out" / "everyone.csv.manifest.json").read_bytes() == manifest_before
    if sig != signal.SIGKILL:
        assert _temps(target.parent) == []  # cleaned up on the way out
    # The next run removes a killed run's temporary and publishes normally.
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(fast)).returncode == 0
    assert _temps(target.parent) == []


def test_guard_failure_keeps_previous_file(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api)).returncode == 0
    target = project / "out" / "everyone.csv"
    before = target.read_bytes()
    seg = project / "segments" / "everyone.yaml"
    seg.write_text(seg.read_text() + "expect:\n  min_rows: 5000\n")
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 1
    assert "100 rows is below expect.min_rows (5000); the previous file is kept" in result.stdout
    assert target.read_bytes() == before
    assert _temps(target.parent) == []


def test_dry_run_and_out_publish_nothing_in_place(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="jsonl")})
    dry = run_cli("export", "--dry-run", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert dry.returncode == 0, dry.stderr
    assert "dry-run" in dry.stdout and "120" in dry.stdout
    assert not (project / "out").exists()
    tried = run_cli("export", "--out", "try", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert tried.returncode == 0, tried.stderr
    assert len((project / "try" / "out" / "everyone.jsonl").read_text().splitlines()) == 120
    assert not (project / "out").exists()


def test_gzip_and_columns_in_jsonl(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=150, token=TOKEN)
    seg = """\
version: 1
name: slim
filter: {isContact: false, applicableFilters: [], tags: [vip]}
output:
  format: jsonl
  compression: gzip
  path: out/slim.jsonl.gz
  columns: [_id, {name: plan, expr: attr("plan")}, {name: tags, path: profile.userDetails.tags}]
"""
    project = make_project(tmp_path, {"slim": seg})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    lines = gzip.decompress((project / "out" / "slim.jsonl.gz").read_bytes()).splitlines()
    records = [json.loads(line) for line in lines]
    truth = api.truth(rendered_body(project, "slim"))
    assert [r["_id"] for r in records] == truth
    assert all(set(r) == {"_id", "plan", "tags"} and "vip" in r["tags"] for r in records)


def _everything_written(project: Path, result: subprocess.CompletedProcess[str]) -> str:
    texts = [result.stdout, result.stderr]
    for path in project.rglob("*"):
        if path.is_file() and "segments" not in path.parts:
            data = path.read_bytes()
            texts.append(
                gzip.decompress(data).decode("utf-8", "replace")
                if path.suffix == ".gz"
                else data.decode("utf-8", "replace")
            )
    return "\n".join(texts)


def test_token_never_appears_anywhere(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=200, token=TOKEN, faults="429=0.1,html=0.1")
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    ok = run_cli("export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api))
    assert ok.returncode == 0
    bad = run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--results",
        "r2.json",
        cwd=project,
        env=api_env(api, TOKEN + "-wrong"),
    )
    assert bad.returncode == 1
    everything = _everything_written(project, ok) + _everything_written(project, bad)
    assert "manifest" in everything and "everyone" in everything
    assert TOKEN not in everything


def _run_failure(
    project: Path, api: Sandbox | None, env: dict[str, str | None]
) -> subprocess.CompletedProcess[str]:
    return run_cli("export", "--as-of", ANCHOR, cwd=project, env=env)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-token", "environment variable FLOWMATIX_TOKEN is not set"),
        (
            "wrong-token",
            "the API refused the token (HTTP 401): Unauthorized: invalid or missing token",
        ),
        (
            "unreachable",
            # the first round asks pages 1..c at once: any of them may give up first
            ": connection failed (Connection refused) (gave up after 12 attempts",
        ),
        (
            "records-path",
            # any page of the first round may be answered first (page 4 once, in a loaded run)
            ": no 'items' in the response (api.records_path is 'items'); found keys: code, data, message, success",
        ),
        (
            "ignores-page",
            "page 2 returned exactly the records of page 1: the API seems to ignore the page number",
        ),
        (
            # an object where the id should be: a traceback (TypeError) before
            "object-id",
            "has an object at 'profile.userDetails.contact.phone' (api.id_key), not an id: "
            "choose a key whose value is text or a number (a key inside it, such as "
            "'profile.userDetails.contact.phone.number')",
        ),
        (
            "array-id",  # a list of tags: an array, nothing inside to name
            "has an array at 'profile.userDetails.tags' (api.id_key), not an id: "
            "choose a key whose value is text or a number",
        ),
    ],
)
def test_user_facing_failures_exit_1_with_one_clear_line(
    sandbox: Start, tmp_path: Path, case: str, message: str
) -> None:
    api = sandbox(users=120, token=TOKEN, ignore_page=case == "ignores-page")
    runner_yaml = FAST_RETRY + ("api_records: x\n" if False else "")
    if case == "records-path":
        runner_yaml = FAST_RETRY.replace("api:\n", "api:\n  records_path: items\n")
    if case in ("object-id", "array-id"):
        key = "contact.phone" if case == "object-id" else "tags"
        runner_yaml = FAST_RETRY.replace("api:\n", f"api:\n  id_key: profile.userDetails.{key}\n")
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")}, runner_yaml)
    env = api_env(api)
    if case == "no-token":
        env["FLOWMATIX_TOKEN"] = None
    elif case == "wrong-token":
        env["FLOWMATIX_TOKEN"] = "nope"
    with closed_port() as port:
        if case == "unreachable":
            env["FLOWMATIX_API_URL"] = f"http://127.0.0.1:{port}"
        result = _run_failure(project, api, env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in (result.stdout + result.stderr).splitlines() if message in line]
    assert errors, result.stdout + result.stderr
    if case == "unreachable":  # it names the page that gave up
        assert re.search(r"error: everyone: page \d+: connection failed", errors[0]), errors
    if case == "records-path":  # it names the page it read
        assert re.search(r"error: everyone: page \d+: no 'items'", errors[0]), errors
    assert not (project / "out" / "everyone.csv").exists()


def test_failure_of_one_segment_does_not_stop_others(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN)
    good = ALL_CONTACTS.format(fmt="csv")
    bad = good.replace("name: everyone", "name: too-few").replace("out/everyone", "out/few")
    bad += "expect: {min_rows: 1000}\n"
    project = make_project(tmp_path, {"a-too-few": bad, "b-everyone": good})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 1
    assert (project / "out" / "everyone.csv").exists()
    fast = run_cli(
        "export",
        "--fail-fast",
        "--as-of",
        ANCHOR,
        "--results",
        "r.json",
        cwd=project,
        env=api_env(api),
    )
    statuses = [r["status"] for r in json.loads((project / "r.json").read_text())["results"]]
    assert fast.returncode == 1 and statuses == ["guard", "skipped"]  # a guard stops it too


def test_max_pages_caps_a_run(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=5000, page_size=50, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="jsonl")})
    result = run_cli("export", "--max-pages", "3", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    # a capped run is a partial list: it fails and publishes nothing (test_fetch_integrity)
    assert result.returncode == 1, result.stderr
    assert "stopped at max_pages 3 before the API's last page" in result.stdout + result.stderr
    assert not (project / "out" / "everyone.jsonl").exists()
    # The cap stops the reading: of the list's 100 pages only the first few (and the pages
    # already in flight) are ever asked for.
    assert api.stats["pages"] < 20, api.stats


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("s3://", "names no bucket"),
        ("", "is empty"),
        ("s3://eg..bucket/x", "must not contain '..'"),
        ("s3://Seg_Bucket", "lower-case letters"),
        ("s3://seg-bucket/a/../b", "'.' or '..' segments"),
        ("../elsewhere", "contains '..'"),
        ("gs://seg-bucket/x", "only local folders and s3://"),
    ],
)
def test_bad_out_is_a_usage_error_before_anything_runs(
    sandbox: Start, tmp_path: Path, out: str, reason: str
) -> None:
    api = sandbox(users=50, token=TOKEN)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    for command in ("export", "render", "list"):
        run = run_cli(command, "--out", out, cwd=project, env=api_env(api))
        assert run.returncode == 2, run.stdout + run.stderr
        assert "Traceback" not in run.stderr
        assert any("--out" in line and reason in line for line in run.stderr.splitlines())
    assert sum(api.stats.values()) == 0, "no request before the usage error"
    assert sorted(p.name for p in project.iterdir()) == ["runner.yaml", "segments"]

"""Exports that remember, end to end: `segments export` against the sandbox with the data
changed between runs, the history on disk and on real S3 servers (moto, rclone), the
drift guard, deltas, incremental runs, notifications to a webhook server started here,
and `segments history`."""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.history import open_history, runs
from runner.history.record import RunRecord
from runner.sandbox import Sandbox
from runner.sinks.local.locks import lock_path
from tests.conftest import (
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
TOKEN = "tok-Hist-VERY-SECRET-7781"
A1, A2 = "2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z"

SEEN = """\
version: 1
name: {name}
filter:
  applicableFilters: [lastSeenAt]
  lastSeenAt:
    startAt: "{{{{ now | minus(days=30) | api }}}}"
    endsAt: "{{{{ now | api }}}}"
  isContact: false
output:
  format: {fmt}
  path: {path}
  delta: true
  columns: [_id, profile.userDetails.name, lastSeenAt]
"""

EVERYONE = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: []}}
output:
  path: {path}
{extra}"""

NEW_CONTACTS = """\
version: 1
name: signups
mode: incremental
filter: {isContact: false, applicableFilters: []}
output:
  format: jsonl
  path: out/signups.jsonl
  columns: [_id, createdAt]
"""


def seen(name: str = "seen", fmt: str = "csv", path: str = "") -> str:
    return SEEN.format(name=name, fmt=fmt, path=path or f"out/{name}.{fmt}")


def everyone(name: str = "everyone", path: str = "", extra: str = "") -> str:
    return EVERYONE.format(name=name, path=path or f"out/{name}.csv", extra=extra)


def window_body(start: str, end: str, **fields: Any) -> dict[str, Any]:
    return full_body(
        lastSeenAt={"startAt": start, "endsAt": end}, applicableFilters=["lastSeenAt"], **fields
    )


def seen_truth(api: Sandbox, as_of: str) -> set[str]:
    end = dt.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    start = end - dt.timedelta(days=30)
    start_text, end_text = (m.strftime("%Y-%m-%dT%H:%M:%S.000Z") for m in (start, end))
    return set(api.truth(window_body(start_text, end_text, isContact=False)))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def history(root: Path, segment: str) -> list[RunRecord]:
    return runs(open_history(root), segment)


def export(project: Path, api: Sandbox, *args: str, **env: str | None) -> Any:
    return run_cli("export", *args, cwd=project, env={**api_env(api), **env}, timeout=180)


# -- the history, the drift guard and the deltas, locally --------------------------------


def test_every_run_is_recorded_and_deltas_equal_the_truth(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=1500, seed=11)
    project = make_project(tmp_path, {"seen": seen()})
    out = project / "out"
    first = export(project, api, "--as-of", A1)
    assert first.returncode == 0, first.stderr
    assert {r["_id"] for r in csv_rows(out / "seen.added.csv")} == seen_truth(api, A1)
    assert csv_rows(out / "seen.removed.csv") == [] and csv_header(out / "seen.removed.csv") == [
        "_id"
    ]
    second = export(project, api, "--as-of", A2)
    assert second.returncode == 0, second.stderr
    before, after = seen_truth(api, A1), seen_truth(api, A2)
    added, removed = after - before, before - after
    assert len(added) > 50 and len(removed) > 50, "the data must change between the runs"
    assert {r["_id"] for r in csv_rows(out / "seen.csv")} == after
    assert {r["_id"] for r in csv_rows(out / "seen.added.csv")} == added
    assert {r["_id"] for r in csv_rows(out / "seen.removed.csv")} == removed
    assert csv_header(out / "seen.added.csv") == csv_header(out / "seen.csv")
    manifest = json.loads((out / "seen.csv.manifest.json").read_text())
    assert manifest["history"]["delta"]["added"]["rows"] == len(added)
    assert manifest["history"]["delta"]["removed"]["rows"] == len(removed)
    failed = export(project, api, "--as-of", A2, FLOWMATIX_TOKEN="wrong-token")
    assert failed.returncode == 1
    recorded = history(project, "seen")
    assert [r.status for r in recorded] == ["success", "success", "failed"]
    ok = recorded[1]
    assert (ok.rows, ok.added, ok.removed) == (len(after), len(added), len(removed))
    assert ok.as_of == "2026-11-11T00:00:00.000Z" and ok.pages >= 1 and ok.sha256
    assert ok.destination.endswith("out/seen.csv") and ok.runner_version
    assert len(ok.body_fingerprint) == 64 and ok.started <= ok.ended
    assert "401" in recorded[2].error and TOKEN not in recorded[2].error
    # the failed run left the published files and the snapshot the next run compares with
    assert {r["_id"] for r in csv_rows(out / "seen.added.csv")} == added
    snapshots = open_history(project).snapshots("seen")
    assert snapshots == [r.snapshot for r in recorded[:2]]


def test_the_drift_guard_trips_exactly_past_the_threshold(sandbox: Start, tmp_path: Path) -> None:
    full, fewer, edge = sandbox(users=1000), sandbox(users=699), sandbox(users=700)
    project = make_project(tmp_path, {"everyone": everyone(extra="expect: {max_change: 30%}\n")})
    target = project / "out" / "everyone.csv"
    assert export(project, full).returncode == 0
    kept = target.read_bytes()
    tripped = export(project, fewer)
    assert tripped.returncode == 1
    assert (
        "everyone: rows 699 vs 1000 at the last successful run " in tripped.stdout + tripped.stderr
    )
    assert "-30.1%, above expect.max_change 30%; the previous file is kept" in tripped.stdout
    assert target.read_bytes() == kept
    passed = export(project, edge)  # 1000 -> 700 is -30.0%: not above 30%
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert len(csv_rows(target)) == 700
    accepted = export(project, fewer, "--accept-change")  # 700 -> 699 passes anyway
    halved = sandbox(users=300)
    refused = export(project, halved)
    forced = export(project, halved, "--accept-change")
    assert accepted.returncode == 0 and refused.returncode == 1 and forced.returncode == 0
    assert len(csv_rows(target)) == 300
    recorded = history(project, "everyone")
    assert [(r.status, r.rows, r.accepted_change) for r in recorded] == [
        ("success", 1000, False),
        ("guard", 699, False),
        ("success", 700, False),
        ("success", 699, False),
        ("guard", 300, False),
        ("success", 300, True),
    ]
    assert "-57.1%, above expect.max_change 30%" in recorded[4].error


def test_max_change_from_defaults_and_min_rows_are_guards(sandbox: Start, tmp_path: Path) -> None:
    runner_yaml = FAST_RETRY + "defaults:\n  expect: {max_change: 10%}\n"
    segments = {
        "everyone": everyone(),
        "floor": everyone("floor", extra="expect: {min_rows: 600}\n"),
    }
    project = make_project(tmp_path, segments, runner_yaml)
    assert export(project, sandbox(users=800)).returncode == 0
    run = export(project, sandbox(users=500))
    assert run.returncode == 1
    assert [r.status for r in history(project, "everyone")] == ["success", "guard"]
    assert [r.status for r in history(project, "floor")] == ["success", "guard"]
    assert "above expect.max_change 10%" in run.stdout
    assert "500 rows is below expect.min_rows (600)" in run.stdout


def test_a_guard_trip_says_guard_in_the_results_the_summary_and_the_log(
    sandbox: Start, tmp_path: Path
) -> None:
    segments = {
        "everyone": everyone(extra="expect: {max_change: 30%}\n"),
        "steady": everyone("steady"),
    }
    project = make_project(tmp_path, segments)
    assert export(project, sandbox(users=1000)).returncode == 0
    results = tmp_path / "results.json"
    tripped = export(project, sandbox(users=600), "--results", str(results), "--progress", "log")
    assert tripped.returncode == 1
    document = json.loads(results.read_text("utf-8"))
    assert [(r["segment"], r["status"]) for r in document["results"]] == [
        ("everyone", "guard"),
        ("steady", "success"),
    ]
    assert document["success"] is False
    assert "-40.0%, above expect.max_change 30%" in document["results"][0]["error"]
    table = [line.split() for line in tripped.stdout.splitlines()[:3]]
    assert [(row[0], row[-1]) for row in table] == [
        ("SEGMENT", "STATUS"),
        ("everyone", "guard"),
        ("steady", "success"),
    ]
    assert "error: everyone: rows 600 vs 1000 at the last successful run" in tripped.stdout
    assert tripped.stdout.endswith("1 of 2 segments exported, 1 guard\n")
    assert "everyone: GUARD: rows 600 vs 1000" in tripped.stderr
    assert [r.status for r in history(project, "everyone")] == ["success", "guard"]


def delta_files(folder: Path, name: str = "seen") -> dict[str, bytes]:
    return {tag: (folder / f"{name}.{tag}.csv").read_bytes() for tag in ("added", "removed")}


def test_deltas_are_published_with_the_file_or_not_at_all(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=3000, seed=11, latency_ms=20)
    project = make_project(tmp_path, {"seen": seen()})
    out = project / "out"
    assert export(project, api, "--as-of", A1).returncode == 0
    before = delta_files(out)
    proc = spawn(project, api_env(api), "--as-of", A2, "--concurrency", "1")
    wait_for(lambda: len(list(out.glob(".segments-tmp-*"))) >= 3)  # the file and both deltas
    (out / "seen.csv").unlink()
    (out / "seen.csv").mkdir()  # the file cannot be renamed into place
    (out / "seen.csv" / "x").write_text("x")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "cannot write out/seen.csv: Is a directory" in err
    assert delta_files(out) == before  # put back: the previous run's deltas, whole
    assert not list(out.glob(".segments-tmp-*"))
    recorded = history(project, "seen")
    assert [r.status for r in recorded] == ["success", "failed"]
    assert open_history(project).snapshots("seen") == [recorded[0].snapshot]


def test_s3_deltas_are_put_back_when_the_object_fails(
    sandbox: Start, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """rclone keeps objects as files: a folder in the object's place makes its PUT fail."""
    from tests.integration.s3servers import run_server

    api = sandbox(users=1500, seed=11)
    project = make_project(tmp_path, {"seen": seen(path="s3://exports/daily/seen.csv")})
    workdir = tmp_path_factory.mktemp("rclone")
    with run_server("rclone", workdir) as s3:
        client = s3.client()
        client.create_bucket(Bucket="exports")
        assert run_cli("export", "--as-of", A1, cwd=project, env=s3_env(api, s3)).returncode == 0
        keys = ["daily/seen.added.csv", "daily/seen.removed.csv"]

        def read(key: str) -> bytes:
            data: bytes = client.get_object(Bucket="exports", Key=key)["Body"].read()
            return data

        before = [read(key) for key in keys]
        client.delete_object(Bucket="exports", Key="daily/seen.csv")
        (workdir / "rclone-data" / "exports" / "daily" / "seen.csv").mkdir()
        (workdir / "rclone-data" / "exports" / "daily" / "seen.csv" / "x").write_text("x")
        run = run_cli("export", "--as-of", A2, cwd=project, env=s3_env(api, s3))
        assert run.returncode == 1, run.stdout + run.stderr
        assert [read(key) for key in keys] == before
        listed = client.list_objects_v2(Bucket="exports", Prefix="daily/")
        assert not [o["Key"] for o in listed.get("Contents", []) if ".segments-tmp-" in o["Key"]]


def test_a_delta_file_is_claimed_like_an_output(tmp_path: Path) -> None:
    other = everyone("other", path="out/seen.added.csv")
    project = make_project(tmp_path, {"seen": seen(), "other": other})
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1
    assert "delta file 'out/seen.added.csv' collides with segment 'other'" in run.stdout


def test_an_interrupted_run_is_recorded(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=4000, page_size=50, latency_ms=40)
    project = make_project(tmp_path, {"everyone": everyone()})
    proc = spawn(project, api_env(api), "--concurrency", "1", "--progress", "log")
    assert proc.stderr is not None
    for line in proc.stderr:
        if "started" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert not (project / "out" / "everyone.csv").exists()
    (entry,) = history(project, "everyone")
    assert (entry.status, entry.error) == ("interrupted", "interrupted")


# -- incremental runs ----------------------------------------------------------------------


def utc_ms() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def arrive(api: Sandbox, pages: int = 2) -> None:
    """Serve a few pages of an unrelated list: each brings `churn` new contacts."""
    body = json.dumps(full_body(isContact=False)).encode()
    for _ in range(pages):
        request = urllib.request.Request(
            api.url + "/inbox/users", data=body, headers=api.headers, method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200


def read_jsonl_ids(folder: Path) -> list[str]:
    ids = []
    for path in sorted(folder.glob("signups.*.jsonl")):
        ids += [json.loads(line)["_id"] for line in path.read_text().splitlines()]
    return ids


@pytest.mark.parametrize("since", [None, "2026-10-01T00:00:00Z"])
def test_incremental_runs_concatenated_equal_one_full_export(
    sandbox: Start, tmp_path: Path, since: str | None
) -> None:
    api = sandbox(users=900, seed=3, page_size=40, churn=2, churn_at="now")
    project = make_project(tmp_path, {"signups": NEW_CONTACTS})
    as_ofs = []
    for n in range(4):
        if n:
            arrive(api)  # contacts created between the runs
        as_ofs.append(utc_ms())
        extra = ["--since", since] if since and n == 0 else []
        run = export(project, api, "--as-of", as_ofs[-1], "--concurrency", "2", *extra)
        assert run.returncode == 0, run.stdout + run.stderr
    ids = read_jsonl_ids(project / "out")
    assert len(ids) == len(set(ids)), "a contact was exported twice"
    truth = created_before(api, as_ofs[-1], since)
    assert set(ids) == set(truth) and len(ids) == len(truth)
    assert len(api.inserted) > 10, "contacts must arrive between and during the runs"
    arrived_in_time = [i for i in api.inserted if i in set(truth)]
    assert arrived_in_time, "some new contacts were exported by a later run"
    recorded = history(project, "signups")
    assert [r.mode for r in recorded] == ["incremental"] * 4
    assert [r.watermark for r in recorded] == as_ofs
    assert recorded[0].window_start == (since.replace("Z", ".000Z") if since else None)
    for before, after in itertools.pairwise(recorded):
        assert after.window_start == before.watermark  # no gap, no overlap
    assert len(list((project / "out").glob("signups.*.jsonl"))) == 4


def created_before(api: Sandbox, as_of: str, since: str | None = None) -> list[str]:
    """The truth: every contact created before ``as_of`` (and from ``since``)."""
    end = dt.datetime.fromisoformat(as_of.replace("Z", "+00:00")) - dt.timedelta(milliseconds=1)
    text = end.strftime("%Y-%m-%dT%H:%M:%S.") + f"{end.microsecond // 1000:03d}Z"
    start = (since or "").replace("Z", ".000Z")
    window = {"startAt": start, "endsAt": text}
    return api.truth(full_body(isContact=False, applicableFilters=["createdAt"], createdAt=window))


def test_a_failed_incremental_run_is_retried_by_the_next(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, seed=9, churn=1, churn_at="now")
    project = make_project(tmp_path, {"signups": NEW_CONTACTS})
    assert export(project, api, "--as-of", utc_ms()).returncode == 0
    arrive(api)
    failed = export(project, api, "--as-of", utc_ms(), FLOWMATIX_TOKEN="wrong")
    assert failed.returncode == 1
    arrive(api)
    last = utc_ms()
    assert export(project, api, "--as-of", last).returncode == 0
    recorded = history(project, "signups")
    assert [r.status for r in recorded] == ["success", "failed", "success"]
    assert recorded[1].watermark is None and recorded[2].window_start == recorded[0].watermark
    ids = read_jsonl_ids(project / "out")
    assert len(ids) == len(set(ids)) and set(ids) == set(created_before(api, last))
    assert len(list((project / "out").glob("signups.*.jsonl"))) == 2


# -- concurrency and kill -9 -----------------------------------------------------------------


def spawn(project: Path, env: dict[str, str | None], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "export", *args],
        cwd=project,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_9_once_started(proc: subprocess.Popen[str]) -> None:
    """kill -9 once the run has started (its destination chosen, pages on their way)."""
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "started" in line:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_two_exports_at_once_leave_a_consistent_local_history(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=2000, page_size=50, latency_ms=5)
    project = make_project(tmp_path, {"seen": seen()})
    procs = [spawn(project, api_env(api), "--as-of", a) for a in (A1, A2, A1, A2)]
    errors = [proc.communicate(timeout=180)[1] for proc in procs]  # all four end, then judge
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    recorded = history(project, "seen")
    assert sorted(r.rows for r in recorded) == sorted(
        len(seen_truth(api, a)) for a in (A1, A2, A1, A2)
    )
    assert all(r.status == "success" for r in recorded)
    text = (project / ".segments" / "history" / "seen" / "runs.jsonl").read_bytes()
    assert text.endswith(b"\n") and len(text.splitlines()) == 4


def test_kill_9_mid_run_leaves_a_readable_history(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=4000, page_size=50, latency_ms=40)
    project = make_project(tmp_path, {"seen": seen()})
    quick = sandbox(users=300)
    assert export(project, quick, "--as-of", A1).returncode == 0
    proc = spawn(project, api_env(api), "--as-of", A2, "--concurrency", "1", "--progress", "log")
    kill_9_once_started(proc)
    shown = run_cli("history", "--format", "json", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert [r["status"] for r in json.loads(shown.stdout)] == ["success"]
    assert export(project, quick, "--as-of", A2).returncode == 0
    assert [r.status for r in history(project, "seen")] == ["success", "success"]


# -- S3 ---------------------------------------------------------------------------------------


def s3_env(api: Sandbox, s3: S3Server) -> dict[str, str | None]:
    return {**api_env(api), **s3.env()}


def s3_ids(s3: S3Server, key: str) -> set[str]:
    body = s3.client().get_object(Bucket="exports", Key=key)["Body"].read().decode()
    return {row["_id"] for row in csv.DictReader(body.splitlines())}


def test_s3_history_deltas_and_concurrent_exports(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api = sandbox(users=1500, seed=11)
    project = make_project(tmp_path, {"seen": seen(path="s3://exports/daily/seen.csv")})
    env = s3_env(api, s3)
    first = run_cli("export", "--as-of", A1, cwd=project, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli("export", "--as-of", A2, cwd=project, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    before, after = seen_truth(api, A1), seen_truth(api, A2)
    assert s3_ids(s3, "daily/seen.added.csv") == after - before
    assert s3_ids(s3, "daily/seen.removed.csv") == before - after
    procs = [spawn(project, env, "--as-of", a) for a in (A1, A2, A1)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    store = open_history("s3://exports", client=s3.client())
    recorded = runs(store, "seen")
    assert len(recorded) == 5 and all(r.status == "success" for r in recorded)
    assert len({r.run_id for r in recorded}) == 5
    shown = run_cli("history", "seen", "--format", "json", cwd=project, env=s3.env())
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) == 5


def test_s3_kill_9_mid_run_leaves_a_readable_history(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    quick, slow = sandbox(users=200), sandbox(users=4000, page_size=50, latency_ms=40)
    segment = everyone(path="s3://exports/daily/everyone.csv")
    project = make_project(tmp_path, {"everyone": segment})
    assert run_cli("export", cwd=project, env=s3_env(quick, s3)).returncode == 0
    proc = spawn(project, s3_env(slow, s3), "--concurrency", "1", "--progress", "log")
    kill_9_once_started(proc)
    again = run_cli("export", cwd=project, env=s3_env(quick, s3))
    assert again.returncode == 0, again.stdout + again.stderr
    store = open_history("s3://exports", client=s3.client())
    assert [r.status for r in runs(store, "everyone")] == ["success", "success"]


# -- notifications ------------------------------------------------------------------------------


@dataclass
class Hook:
    """A webhook server: /ok/... answers 200, /fail/... 500, /hang/... never answers."""

    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, mode: str) -> str:
        return f"json://127.0.0.1:{self.port}/{mode}/hooks/SECRET-PART-77"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mode = self.path.split("/")[1]
            if mode == "hang":
                state.release.wait(60)
                return
            state.received.append((self.path, json.loads(body)))
            self.send_response(500 if mode == "fail" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/segments",
    "GITHUB_RUN_ID": "4242",
}


def test_failure_and_guard_notifications_arrive_without_the_token(
    sandbox: Start, tmp_path: Path, hook: Hook
) -> None:
    runner_yaml = FAST_RETRY + "notify:\n  - {url: '${HOOK_URL}', on: [failure, guard]}\n"
    segment = everyone(extra="expect: {max_change: 20%}\n")
    project = make_project(tmp_path, {"everyone": segment}, runner_yaml)
    env = {**GITHUB, "HOOK_URL": hook.url("ok")}
    api = sandbox(users=500, token=TOKEN, faults="echo401@1")
    failed = export(project, api, **env)
    assert failed.returncode == 1
    good = export(project, sandbox(users=500, token=TOKEN), **env)
    assert good.returncode == 0 and len(hook.received) == 1  # success is not asked for
    guarded = export(project, sandbox(users=300, token=TOKEN), **env)
    assert guarded.returncode == 1
    (_, fail), (_, guard) = hook.received
    assert fail["type"] == "failure" and fail["title"] == "segments: everyone failed"
    assert "segment: everyone" in fail["message"] and "status: failed" in fail["message"]
    assert "error: " in fail["message"] and "401" in fail["message"]
    assert "run: https://github.com/acme/segments/actions/runs/4242" in fail["message"]
    assert guard["title"] == "segments: everyone guard"
    assert "rows: 300" in guard["message"]
    assert "rows: 300 now, 500 at the last successful run (" in guard["message"]
    assert "\nchange: -200 rows, -40.0%\n" in guard["message"]
    for part in (TOKEN[i : i + 8] for i in range(len(TOKEN) - 7)):
        assert part not in json.dumps(hook.received)
        for run in (failed, good, guarded):
            assert part not in run.stdout + run.stderr
    assert "SECRET-PART" not in failed.stdout + failed.stderr
    stored = (project / ".segments" / "history" / "everyone" / "runs.jsonl").read_text()
    assert "401" in stored and not any(TOKEN[i : i + 8] in stored for i in range(len(TOKEN) - 7))


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_failing_or_hanging_webhook_never_changes_the_exit_code(
    sandbox: Start, tmp_path: Path, hook: Hook, mode: str
) -> None:
    runner_yaml = FAST_RETRY + "notify_timeout: 1.5\n"
    runner_yaml += f"notify:\n  - {{url: '{hook.url(mode)}', on: [success, failure]}}\n"
    project = make_project(tmp_path, {"everyone": everyone()}, runner_yaml)
    api = sandbox(users=100)
    ok = export(project, api)
    assert ok.returncode == 0, ok.stderr
    assert "warning: everyone: notification 1 (json://127.0.0.1:" in ok.stdout
    if mode == "hang":  # notify_timeout, not a fixed 10 s a target
        assert "no answer within 1.5s; gave up" in ok.stdout
    bad = export(project, api, FLOWMATIX_TOKEN="wrong")
    assert bad.returncode == 1
    assert "SECRET-PART" not in ok.stdout + ok.stderr + bad.stdout + bad.stderr
    assert [r.status for r in history(project, "everyone")] == ["success", "failed"]


# -- segments history -----------------------------------------------------------------------------


def test_history_text_and_json_for_several_segments(sandbox: Start, tmp_path: Path) -> None:
    segments = {"everyone": everyone(), "seen": seen(), "never-run": everyone("never-run")}
    project = make_project(tmp_path, segments)
    for users in (400, 200, 400):
        env = api_env(sandbox(users=users))
        run = run_cli("export", "everyone", "seen", cwd=project, env=env)
        assert run.returncode == 0, run.stderr
    text = run_cli("history", cwd=project)
    assert text.returncode == 0, text.stderr
    assert "everyone  █▄█  (3 runs, 3 successful)" in text.stdout
    assert "never-run: no runs recorded in" in text.stdout
    assert "-50.0%" in text.stdout and "+100.0%" in text.stdout
    assert (
        text.stdout.index("everyone") < text.stdout.index("never-run") < text.stdout.index("seen  ")
    )
    data = json.loads(run_cli("history", "--format", "json", "--last", "2", cwd=project).stdout)
    assert [(r["segment"], r["rows"]) for r in data if r["segment"] == "everyone"] == [
        ("everyone", 200),
        ("everyone", 400),
    ]
    assert {r["segment"] for r in data} == {"everyone", "seen"} and len(data) == 4
    one = json.loads(run_cli("history", "seen", "--format", "json", cwd=project).stdout)
    assert len(one) == 3 and all(r["added"] is not None for r in one)


def test_a_token_sharing_characters_with_a_segment_name_is_recorded_by_name(
    sandbox: Start, tmp_path: Path
) -> None:
    """The redaction masks pieces of the token in free text; a segment name that shares six
    characters with it ("bench-" of "bench-token") is the runner's own and stays whole."""
    api = sandbox(users=60, token="bench-token")
    project = make_project(tmp_path, {"bench-csv": everyone("bench-csv")})
    run = export(project, api, "--as-of", A1)
    assert run.returncode == 0, run.stdout + run.stderr
    (record,) = history(project, "bench-csv")
    published = csv_rows(project / "out" / "bench-csv.csv")
    assert (record.segment, record.status, record.rows) == ("bench-csv", "success", len(published))
    assert published
    assert "bench-token" not in run.stdout + run.stderr


@pytest.mark.parametrize("days", [0, 2])
def test_a_run_waiting_to_publish_while_newer_runs_publish_keeps_its_snapshot(
    sandbox: Start, tmp_path: Path, days: int
) -> None:
    """Run A stores its snapshot, then waits for its file's publish lock while B and C
    publish elsewhere and prune; A then records itself as the newest success. Its snapshot
    must still be there: the next delta run reads it (it failed on that, every time).
    Waiting two days (its snapshot named so), the others' prunes remove it as a killed
    run's: A stores it again before it records itself (a review found that)."""
    api = sandbox(users=600, page_size=50)
    path = "out/seen-{{ var('part', 'a') }}.csv"
    project = make_project(tmp_path, {"seen": seen(path=path)})
    snapshots = project / ".segments" / "history" / "seen" / "snapshots"
    lock = lock_path(project, project / "out" / "seen-a.csv")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        env = {**api_env(api), "SEGMENTS_TEST_SNAPSHOT_DAYS_AGO": str(days)}
        waiting = subprocess.Popen(
            [*HOOKED, "export", "--as-of", A1, "--var", "part=a"],
            cwd=project,
            env=cli_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: any(p.name.endswith(".ids.gz") for p in snapshots.glob("*")), 60)
        for part in "bc":  # each publishes, records itself and prunes
            done = export(project, api, "--as-of", A2, "--var", f"part={part}")
            assert done.returncode == 0, done.stderr
    finally:
        os.close(fd)  # A publishes now
    err = waiting.communicate(timeout=120)[1]
    assert waiting.returncode == 0, err
    newest = history(project, "seen")[-1]
    assert newest.snapshot and (snapshots / newest.snapshot.split("/")[1]).is_file()
    after = export(project, api, "--as-of", A2, "--var", "part=d")
    assert after.returncode == 0, after.stderr
    assert {r["_id"] for r in csv_rows(project / "out" / "seen-d.added.csv")} == (
        seen_truth(api, A2) - seen_truth(api, A1)
    )

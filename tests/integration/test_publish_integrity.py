"""Publishing under concurrency and kill -9: the file is whole and its manifest describes it.

Real `segments export` processes against the sandbox; two at once on one target (also in
two PID namespaces, where both runners are PID 1), and runs stopped (SIGSTOP, by the
documented test hook) between the data rename and the manifest rename, then killed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sinks.local import TEMP_PREFIX
from tests.conftest import (
    ANCHOR,
    HOOKED,
    api_env,
    cli_env,
    file_text,
    make_project,
    rendered_body,
    run_cli,
    wait_for,
)
from tests.hooked import STOP_HOOK

Start = Callable[..., Sandbox]
TOKEN = "tok-integrity-SECRET"

SEGMENT = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {format: csv, path: out/everyone.csv}
"""


def export_cmd(*extra: str) -> list[str]:
    return [*HOOKED, "export", "--as-of", ANCHOR, *extra]


def start(project: Path, api: Sandbox, cmd: list[str], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        cwd=project,
        env=cli_env({**api_env(api), **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes]) -> None:
    """Kill (if still running) and reap, closing its pipes."""
    proc.kill()
    proc.communicate(timeout=30)


def stopped(proc: subprocess.Popen[bytes]) -> bool:
    """The process stopped itself (state T); fail at once if it ended instead."""
    if proc.poll() is not None:
        raise AssertionError(f"the run ended (exit {proc.returncode}) instead of stopping")
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def check_pair(target: Path, truths: list[list[str]]) -> list[str]:
    """The published file parses, every row has the header's width, it holds exactly one
    run's contacts, and the manifest beside it describes it (bytes, sha256, rows)."""
    data = target.read_bytes()
    with io.StringIO(data.decode("utf-8-sig"), newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert all(len(row) == len(header) for row in rows), "a row of the wrong width"
    ids = [row[0] for row in rows]
    assert any(ids == truth for truth in truths), "the file mixes runs or lost rows"
    manifest = json.loads(target.with_name(target.name + ".manifest.json").read_bytes())
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["bytes"] == len(data) and manifest["rows"] == len(rows)
    return ids


def pid_namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--pid", "--fork", sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "1"


@pytest.mark.parametrize("namespaces", [False, True], ids=["one-pid-namespace", "pid-1-twice"])
def test_two_runs_at_once_each_publish_a_whole_file(
    sandbox: Start, tmp_path: Path, namespaces: bool
) -> None:
    if namespaces and not pid_namespaces_work():
        pytest.skip("unshare --pid --fork needs root (CAP_SYS_ADMIN)")
    # Two APIs with different contacts: every file must be wholly one run's or the other's.
    apis = [
        sandbox(users=1500, page_size=50, latency_ms=4, seed=1, token=TOKEN),
        sandbox(users=900, page_size=50, latency_ms=4, seed=2, token=TOKEN),
    ]
    project = make_project(tmp_path, {"everyone": SEGMENT})
    body = rendered_body(project, "everyone")
    truths = [api.truth(body) for api in apis]
    assert truths[0] != truths[1]
    wrap = ["unshare", "--pid", "--fork"] if namespaces else []
    target = project / "out" / "everyone.csv"
    for _ in range(3):
        procs = [start(project, api, wrap + export_cmd("--concurrency", "2")) for api in apis]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, (out + err).decode()
        check_pair(target, truths)  # one run's whole file, and its own manifest beside it
        assert temporaries(target.parent) == []


def test_kill_between_the_two_renames_leaves_no_wrong_manifest(
    sandbox: Start, tmp_path: Path
) -> None:
    old_api = sandbox(users=200, seed=1, token=TOKEN)
    new_api = sandbox(users=300, seed=2, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    body = rendered_body(project, "everyone")
    target = project / "out" / "everyone.csv"
    manifest = target.with_name("everyone.csv.manifest.json")
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(old_api)).returncode == 0
    check_pair(target, [old_api.truth(body)])

    proc = start(project, new_api, export_cmd(), **{STOP_HOOK: "1"})
    try:
        wait_for(lambda: stopped(proc))  # the data is renamed, the manifest is not
        proc.send_signal(signal.SIGKILL)
    finally:
        finish(proc)
    # The new file is whole; the old manifest, which described the old file, is gone.
    with target.open(newline="", encoding="utf-8-sig") as fh:
        assert [row["_id"] for row in csv.DictReader(fh)] == new_api.truth(body)
    assert not manifest.exists()
    assert temporaries(target.parent) != []  # the killed run's manifest, left for the next run

    again = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(old_api))
    assert again.returncode == 0, again.stdout + again.stderr
    check_pair(target, [old_api.truth(body)])
    assert temporaries(target.parent) == []


def test_a_second_run_waits_for_the_first_to_finish_publishing(
    sandbox: Start, tmp_path: Path
) -> None:
    first_api = sandbox(users=250, seed=1, token=TOKEN)
    second_api = sandbox(users=400, seed=2, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    body = rendered_body(project, "everyone")
    target = project / "out" / "everyone.csv"
    first = start(project, first_api, export_cmd(), **{STOP_HOOK: "1"})
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: stopped(first))  # holds the target's lock between its two renames
        second = start(project, second_api, export_cmd())

        def second_waits_for_the_lock() -> bool:
            if second.poll() is not None:
                raise AssertionError("the second run published while the first held the lock")
            locks = Path("/proc/locks").read_text().splitlines()
            return any("->" in line and f" {second.pid} " in line for line in locks)

        wait_for(second_waits_for_the_lock)
        assert not target.with_name("everyone.csv.manifest.json").exists()
        first.send_signal(signal.SIGKILL)  # its lock goes with it
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, (out + err).decode()
    finally:
        finish(first)
        if second is not None:
            finish(second)
    assert check_pair(target, [second_api.truth(body)]) == second_api.truth(body)
    # The killed run's temporary is removed by the second run or, if the kernel released
    # its flock only after the second run looked, by the next one.
    again = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(first_api))
    assert again.returncode == 0, again.stdout + again.stderr
    check_pair(target, [first_api.truth(body)])
    assert temporaries(target.parent) == []


def test_manifest_rename_failure_after_the_data_says_what_is_on_disk(
    sandbox: Start, tmp_path: Path
) -> None:
    old_api = sandbox(users=100, seed=1, token=TOKEN)
    new_api = sandbox(users=300, seed=2, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    target = project / "out" / "everyone.csv"
    manifest = target.with_name("everyone.csv.manifest.json")
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(old_api)).returncode == 0

    cmd = export_cmd("--results", "results.json")
    proc = start(project, new_api, cmd, **{STOP_HOOK: "1"})
    try:
        wait_for(lambda: stopped(proc))
        manifest.mkdir()  # something took the manifest's name: its rename must fail
        (manifest / "keep").write_text("not ours")
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        finish(proc)
    text = (out + err).decode()
    assert proc.returncode == 1 and "Traceback" not in text
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    expected = (
        f"published out/everyone.csv (sha256 {digest}, 300 rows) but could not write its "
        "manifest out/everyone.csv.manifest.json: Is a directory; the previous manifest was "
        "removed before the file was replaced, so no manifest describes it"
    )
    assert expected in text, text
    (entry,) = json.loads((project / "results.json").read_text())["results"]
    assert entry["status"] == "failed" and entry["published"] is True
    assert entry["sha256"] == digest and entry["manifest"] == ""
    assert (manifest / "keep").read_text() == "not ours"
    assert temporaries(target.parent) == []


def test_credentials_in_the_api_url_are_never_recorded(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=60, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    secret_url = api.url.replace("http://", "http://deploy-user:pa55-w0rd-xyz@")
    env = {**api_env(api), "FLOWMATIX_API_URL": secret_url}
    runs = [
        run_cli("export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=env),
        run_cli("render", "--as-of", ANCHOR, cwd=project, env=env),
        run_cli("render", "--format", "json", "--as-of", ANCHOR, cwd=project, env=env),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0], runs[0].stdout + runs[0].stderr
    manifest = json.loads((project / "out" / "everyone.csv.manifest.json").read_text())
    assert manifest["request"]["url"] == api.url + "/inbox/users"
    written = [file_text(p) for p in project.rglob("*") if p.is_file()]
    everything = "\n".join([*written, *(r.stdout + r.stderr for r in runs)])
    assert api.url in everything
    assert "pa55-w0rd-xyz" not in everything and "deploy-user" not in everything


HANDOFF = """\
version: 1
name: handoff
filter: {isContact: false, applicableFilters: []}
output: {format: csv, path: out/handoff.csv, delta: true, split: {max_rows: 100}}
"""


def waiting_for_a_lock(pid: int) -> bool:
    """The kernel lists ``pid`` as blocked on a lock (``->`` lines of /proc/locks)."""
    return any(
        "->" in line and line.split("->", 1)[1].split()[3] == str(pid)
        for line in Path("/proc/locks").read_text().splitlines()
    )


def test_the_output_folder_holds_only_outputs_and_the_moved_lock_still_serialises(
    sandbox: Start, tmp_path: Path
) -> None:
    """Locks live under .segments/locks, not among the files handed on; a run publishing
    a target still waits for whoever holds that target's lock there."""
    import fcntl
    import os

    from runner.sinks.local import LocalDestination

    api = sandbox(users=250, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT, "handoff": HANDOFF})
    out = project / "out"
    out.mkdir()
    legacy = [out / ".segments-lock-everyone.csv", out / ".segments-lock-handoff.csv"]
    for path in legacy:  # what an earlier version left beside the files
        path.touch()
    for _ in range(2):  # the second run replaces files, with deltas against the first
        run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
        assert run.returncode == 0, run.stdout + run.stderr
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if n.startswith(".")] == []
    assert "everyone.csv" in names and "handoff-0003.csv" in names
    assert "handoff.added.csv" in names and "handoff.removed.csv" in names
    locks = sorted(p.name for p in (project / ".segments" / "locks").iterdir())
    assert {n.split("-", 1)[1] for n in locks} >= {"everyone.csv", "handoff.csv"}
    assert all((project / ".segments" / "locks" / n).stat().st_size == 0 for n in locks)

    lock = LocalDestination.under(project, "out/everyone.csv").lock
    assert lock.exists()
    before = (out / "everyone.csv").read_bytes()
    other = sandbox(users=120, seed=7, token=TOKEN)
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = start(project, other, export_cmd("everyone"))
        try:
            wait_for(lambda: waiting_for_a_lock(proc.pid))
            assert proc.poll() is None
            assert (out / "everyone.csv").read_bytes() == before  # nothing published meanwhile
        except BaseException:
            finish(proc)
            raise
    finally:
        os.close(fd)  # lets it go on
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, (stdout + stderr).decode()
    check_pair(out / "everyone.csv", [other.truth(rendered_body(project, "everyone"))])

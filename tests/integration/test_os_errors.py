"""OS failures while writing the data, the manifest or the results: one line, exit 1 (or 2
when it can be told before the run), the previous file intact, no temporary left.

Real kernel conditions in a child `segments export`: a file-size limit (RLIMIT_FSIZE, the
write fails with EFBIG as on a full disk), a read-only tmpfs, a folder where the file
should be, a folder without write permission (as root, the child runs without
CAP_DAC_OVERRIDE so the permission bits apply).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sinks.local import TEMP_PREFIX
from tests.conftest import ANCHOR, api_env, cli_env, make_project, run_cli

Start = Callable[..., Sandbox]
TOKEN = "tok-oserrors-SECRET"

SEGMENT = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {format: csv, path: out/everyone.csv}
"""

# Applied in the child between fork and the runner: a file-size limit (SIGXFSZ ignored,
# so a write past it fails with EFBIG) and, for root, no capability to override file
# permission bits.
LIMITED = """\
import ctypes, json, os, resource, signal, sys
fsize, drop = json.loads(sys.argv[1])
if fsize is not None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
if drop:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone after exec
            sys.exit(97)
os.execv(sys.executable, [sys.executable, "-m", "runner", *sys.argv[2:]])
"""


def run_limited(
    project: Path,
    api: Sandbox,
    *args: str,
    fsize: int | None = None,
    drop_dac: bool = False,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LIMITED, json.dumps([fsize, drop_dac]), *args],
        cwd=project,
        env=cli_env(api_env(api)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def export(project: Path, api: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("export", "--as-of", ANCHOR, *args, cwd=project, env=api_env(api))


def one_line(run: subprocess.CompletedProcess[str], message: str) -> None:
    """No traceback; the failure is ``message`` on one line (in the progress log and the
    summary, as every failed segment is) and nothing else is reported as an error."""
    text = run.stdout + run.stderr
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if "error" in line or "FAILED" in line]
    assert errors and all(message in line for line in errors), text


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.fixture
def published(sandbox: Start, tmp_path: Path) -> tuple[Path, Sandbox]:
    """A project whose out/everyone.csv and manifest were published by a first run; the
    sandbox returned serves different contacts, so a second run would change the file."""
    project = make_project(tmp_path, {"everyone": SEGMENT})
    first = export(project, sandbox(users=40, seed=1, token=TOKEN))
    assert first.returncode == 0, first.stdout + first.stderr
    return project, sandbox(users=3000, seed=2, token=TOKEN)


def test_disk_full_while_writing_the_data(published: tuple[Path, Sandbox]) -> None:
    project, api = published
    before = snapshot(project / "out")
    run = run_limited(project, api, "export", "--as-of", ANCHOR, fsize=64 * 1024)
    assert run.returncode == 1
    one_line(run, "cannot write out/everyone.csv: File too large")
    assert snapshot(project / "out") == before
    assert temporaries(project / "out") == []


def test_disk_full_while_writing_the_manifest_publishes_nothing(
    sandbox: Start, tmp_path: Path
) -> None:
    project = make_project(tmp_path, {"everyone": SEGMENT})
    assert export(project, sandbox(users=1, seed=1, token=TOKEN)).returncode == 0
    out = project / "out"
    before = snapshot(out)
    data, manifest = len(before["everyone.csv"]), len(before["everyone.csv.manifest.json"])
    assert data < manifest, "the setup needs a manifest larger than the data"
    api = sandbox(users=1, seed=2, token=TOKEN)
    run = run_limited(project, api, "export", "--as-of", ANCHOR, fsize=(data + manifest) // 2)
    assert run.returncode == 1
    one_line(run, "cannot write out/everyone.csv.manifest.json: File too large")
    assert snapshot(out) == before  # the new data was complete, but not published alone
    assert temporaries(out) == []


def test_manifest_name_taken_by_a_folder(published: tuple[Path, Sandbox]) -> None:
    project, api = published
    out = project / "out"
    manifest = out / "everyone.csv.manifest.json"
    manifest.unlink()
    manifest.mkdir()
    (manifest / "inside").write_text("untouched")
    before = snapshot(out)
    run = export(project, api)
    assert run.returncode == 1
    one_line(run, "cannot write out/everyone.csv.manifest.json: Is a directory")
    assert snapshot(out) == before and (manifest / "inside").read_text() == "untouched"
    assert temporaries(out) == []
    assert sum(api.stats.values()) == 0, "decided before the first request"


def test_parent_is_a_file(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=10, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    (project / "out").write_text("a file where a folder should be")
    run = export(project, api)
    assert run.returncode == 1
    one_line(run, "cannot write out/everyone.csv: out is a file, not a folder")
    assert (project / "out").read_text() == "a file where a folder should be"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], check=True)


def test_read_only_folder(sandbox: Start, tmp_path: Path, tmpfs: Path) -> None:
    project = make_project(tmp_path / "project", {"everyone": SEGMENT})
    first = export(project, sandbox(users=40, seed=1, token=TOKEN), "--out", str(tmpfs))
    assert first.returncode == 0, first.stdout + first.stderr
    before = snapshot(tmpfs / "out")
    remount(tmpfs, "ro")
    api = sandbox(users=300, seed=2, token=TOKEN)
    run = export(project, api, "--out", str(tmpfs))
    assert run.returncode == 1
    one_line(run, "out/everyone.csv: Read-only file system")
    assert snapshot(tmpfs / "out") == before


def test_permission_denied(published: tuple[Path, Sandbox]) -> None:
    project, api = published
    out = project / "out"
    before = snapshot(out)
    out.chmod(0o555)
    try:
        run = run_limited(project, api, "export", "--as-of", ANCHOR, drop_dac=os.geteuid() == 0)
    finally:
        out.chmod(0o755)
    assert run.returncode != 97, "could not drop CAP_DAC_OVERRIDE for the child"
    assert run.returncode == 1
    one_line(run, "cannot write out/everyone.csv: Permission denied")
    assert snapshot(out) == before


@pytest.mark.parametrize("case", ["folder", "under-a-file", "read-only"])
def test_results_that_cannot_be_written_are_a_usage_error(
    sandbox: Start, tmp_path: Path, case: str
) -> None:
    api = sandbox(users=30, token=TOKEN)
    project = make_project(tmp_path / "project", {"everyone": SEGMENT})
    if case == "folder":
        (project / "results").mkdir()
        results, message = "results", "results is a folder: give a file name"
    elif case == "under-a-file":
        (project / "notes").write_text("a file")
        results, message = "notes/r.json", "cannot write notes/r.json: notes is not a folder"
    else:
        mount = tmp_path / "ro"
        mount.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount)], check=False).returncode:
            pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
        try:
            remount(mount, "ro")
            run = export(project, api, "--results", str(mount / "r.json"))
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
        results, message = "", f"cannot write {mount / 'r.json'}: Read-only file system"
    if results:
        run = export(project, api, "--results", results)
    assert run.returncode == 2
    one_line(run, message)
    assert "--results" in run.stderr
    assert sum(api.stats.values()) == 0, "decided before the first request"
    assert not (project / "out").exists()


def test_results_write_failure_is_one_line_and_keeps_the_previous_results(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=30, token=TOKEN)
    project = make_project(tmp_path, {"everyone": SEGMENT})
    (project / "r.json").write_text("previous results\n")
    run = run_limited(
        project, api, "export", "--dry-run", "--as-of", ANCHOR, "--results", "r.json", fsize=300
    )
    assert run.returncode == 1
    one_line(run, "cannot write r.json: File too large")
    assert "dry-run" in run.stdout  # the export itself ran and was reported
    assert (project / "r.json").read_text() == "previous results\n"
    assert temporaries(project) == []

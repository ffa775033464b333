"""The runner's own state (the run history and id snapshots under `.segments/`) is never
an output: refused at `validate` and `export` however the path reaches it (plainly,
through `..`, through a symlinked folder, under `--out`), locally and on S3, and the
other segment's history is left byte for byte as it was."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, make_project, run_cli
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: []}}
output:
  format: {fmt}
  path: {path}
  delta: true
  columns: [_id, createdAt]
"""


def segment(name: str, path: str, fmt: str = "jsonl") -> str:
    return SEGMENT.format(name=name, path=path, fmt=fmt)


def export(project: Path, env: dict[str, str | None], *args: str) -> Any:
    return run_cli("export", "--as-of", ANCHOR, *args, cwd=project, env=env, timeout=180)


def state_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_no_path_into_the_state_folder_is_written(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=80, seed=2)
    project = make_project(tmp_path, {"victim": segment("victim", "out/victim.jsonl")})
    assert export(project, api_env(api)).returncode == 0
    history = project / ".segments"
    before = state_files(history)
    assert "history/victim/runs.jsonl" in before and len(before) >= 2  # runs and a snapshot
    (project / "links").mkdir()
    os.symlink("../.segments/history/victim", project / "links" / "victim")
    os.symlink(".segments/history", project / "hist")
    attacks = {
        "plain": ".segments/history/victim/runs.jsonl",
        "snapshots": ".segments/history/victim/snapshots/x.jsonl",
        "dotdot": "out/../.segments/history/victim/runs.jsonl",
        "symlink": "links/victim/runs.jsonl",
        "symlink-dotdot": "hist/../.segments/history/victim/runs.jsonl",
        "symlink-root": "hist/victim/snapshots/x.jsonl",
    }
    for name, path in attacks.items():
        (project / "segments" / f"{name}.yaml").write_text(segment(name, path), "utf-8")
    checked = run_cli("validate", cwd=project)
    assert checked.returncode == 1
    problems = [line for line in checked.stdout.splitlines() if ".yaml:" in line]
    flagged = sorted(line.split(".yaml:")[0] for line in problems)
    assert flagged == sorted(f"segments/{name}" for name in attacks)
    assert all("the runner's own state" in line for line in problems)
    assert checked.stdout.splitlines()[-1] == f"{len(attacks)} problems in {len(attacks)} files"
    for name in attacks:
        run = export(project, api_env(api), name)
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert state_files(history) == before


def test_a_symlink_under_out_into_the_state_folder_is_refused_when_writing(
    sandbox: Start, tmp_path: Path
) -> None:
    """--out DIR is not known when validating: the destination refuses it itself."""
    api = sandbox(users=80, seed=2)
    project = make_project(tmp_path / "p", {"victim": segment("victim", "out/victim.jsonl")})
    out = tmp_path / "try"
    assert export(project, api_env(api), "--out", str(out)).returncode == 0
    before = state_files(out / ".segments")
    (project / "segments" / "later.yaml").write_text(segment("later", "x/runs.jsonl"), "utf-8")
    os.symlink(".segments/history/victim", out / "x")
    run = export(project, api_env(api), "later", "--out", str(out))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "the runner's own state" in run.stderr
    assert state_files(out / ".segments") == before
    refused = export(project, api_env(api), "--out", str(out / ".segments"))
    assert refused.returncode == 2 and ".segments folder" in refused.stderr


def test_s3_history_objects_are_never_an_output(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api = sandbox(users=80, seed=2)
    victim = segment("victim", "s3://exports/daily/victim.jsonl")
    attacker = segment("attacker", "s3://exports/.segments/history/victim/runs/x.jsonl")
    project = make_project(tmp_path, {"victim": victim})
    env = {**api_env(api), **s3.env()}
    assert export(project, env).returncode == 0
    client = s3.client()

    def objects() -> dict[str, bytes]:
        listed = client.list_objects_v2(Bucket="exports", Prefix=".segments/").get("Contents", [])
        return {
            o["Key"]: client.get_object(Bucket="exports", Key=o["Key"])["Body"].read()
            for o in listed
        }

    before = objects()
    assert any(key.startswith(".segments/history/victim/runs/") for key in before)
    (project / "segments" / "attacker.yaml").write_text(attacker, "utf-8")
    run = export(project, env, "attacker")
    assert run.returncode == 1 and "the runner's own state" in run.stderr
    assert objects() == before
    refused = export(project, env, "victim", "--out", "s3://exports/.segments")
    assert refused.returncode == 2 and ".segments folder" in refused.stderr
    assert objects() == before

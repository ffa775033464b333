"""``output.mode``: every local file an export writes (data, split parts, delta files,
their manifests) gets it, exactly, whatever the umask; 0600 when it is not set."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, make_project, run_cli

Start = Callable[..., Sandbox]

SEGMENTS = {
    "plain": "version: 1\nname: plain\nfilter: {}\noutput: {path: out/plain.csv}\n",
    "parts": (
        "version: 1\nname: parts\nfilter: {}\n"
        "output: {format: jsonl, path: out/parts.jsonl, delta: true, split: {max_rows: 40}}\n"
    ),
    "book": "version: 1\nname: book\nfilter: {}\noutput: {format: xlsx, path: out/book.xlsx}\n",
}


def export(project: Path, api: Sandbox, umask: int) -> None:
    """One export under ``umask``, in this process: the umask is the process's, set for the
    run and put back after it (no process boundary is under test here)."""
    before = os.umask(umask)
    try:
        run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    finally:
        os.umask(before)
    assert run.returncode == 0, run.stdout + run.stderr


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("where", "mode", "umask"),
    [
        ("segment", "0640", 0o077),  # the umask would take the group's read away
        ("segment", "644", 0o022),
        ("defaults", "0660", 0o027),  # runner.yaml's defaults.output, group-writable
        (None, None, 0o000),  # not set: 0600, even with a umask that allows more
    ],
)
def test_every_file_of_an_export_gets_the_mode(
    sandbox: Start, tmp_path: Path, where: str | None, mode: str | None, umask: int
) -> None:
    segments = dict(SEGMENTS)
    runner_yaml = "version: 1\n"
    if where == "segment":
        segments = {
            n: t.replace("output: {", f'output: {{mode: "{mode}", ') for n, t in segments.items()
        }
    elif where == "defaults":
        runner_yaml += f'defaults:\n  output: {{mode: "{mode}"}}\n'
    project = make_project(tmp_path, segments, runner_yaml)
    api = sandbox(users=150)
    for _ in range(2):  # the second run replaces every file, and has deltas to write
        export(project, api, umask)
    found = modes(project / "out")
    expected = int(mode, 8) if mode else 0o600
    assert {
        "plain.csv",
        "plain.csv.manifest.json",
        "parts-0001.jsonl",
        "parts-0002.jsonl",
        "parts.jsonl.parts.manifest.json",
        "parts.added.jsonl",
        "parts.removed.jsonl",
        "book.xlsx",
        "book.xlsx.manifest.json",
    } <= set(found)
    assert {name: m for name, m in found.items() if m != expected} == {}

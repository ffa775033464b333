"""Run the CI files `segments init` writes as GitHub Actions and GitLab CI would run them.

Real: bash (`bash --noprofile --norc -eo pipefail`, as GitHub runs `shell: bash` and
GitLab's bash shell runs a script), git, pip, jq, curl, the `segments` command that each
job's own install step installs, and every server, over a socket.

Stood in for, each by what its documentation says it does:

- ``actions/checkout``: a clone of the test's origin repository at the ref under test,
  ``--depth 1`` unless ``fetch-depth: 0`` (then every branch, as ``origin/*``). GitHub
  checks out a pull request's merge commit; the base branch does not move in these
  tests, so the head commit has the same tree.
- ``actions/setup-python`` and GitLab's ``image: python:3.11``: a fresh virtualenv put
  first on PATH. Its third-party packages come from this test's environment through a
  ``.pth`` file, and ``PIP_NO_DEPS=1 PIP_NO_INDEX=1`` keep pip off the package index,
  so the install step runs verbatim: ``pip install -r ci/requirements.txt`` installs
  the wheel built from the checkout under test (``--runner-source``).
- ``aws-actions/configure-aws-credentials`` without ``role-to-assume`` (an IAM user):
  exports the region and the key inputs for the later steps (GITHUB_ENV).
- ``actions/upload-artifact``: the ``path`` lines that exist, under ``name``.
- GitLab ``artifacts:paths``: the files under those paths, kept ``when`` it says.
- ``${{ }}`` and GitLab ``rules:if``: a small evaluator; a context, function or
  syntax the files do not use fails the test instead of guessing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(into: Path) -> Path:
    """A wheel of the checkout under test, built from a copy (the tree stays clean)."""
    copy = into / "checkout"
    copy.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, copy / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "schemas", copy / "schemas", ignore=ignore)
    shutil.copytree(ROOT / "runner", copy / "runner", symlinks=True, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(into / "dist"),
            str(copy),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (into / "dist").glob("segment_runner-*.whl")
    return wheel


def make_python(folder: Path) -> Path:
    """A fresh virtualenv whose third-party packages come from this test's environment."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    (site,) = (folder / "lib").glob("python3*/site-packages")
    (site / "test-dependencies.pth").write_text(purelib + "\n")
    return folder / "bin"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def clone(origin: Path, ref: str, into: Path, depth: int) -> None:
    shallow = ["--depth", str(depth), "--no-single-branch"] if depth else []
    subprocess.run(
        ["git", "clone", "-q", *shallow, origin.as_uri(), str(into)],
        check=True,
        capture_output=True,
    )
    git(into, "checkout", "-q", ref)


def machine_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A runner machine's environment: the test's, without credentials or CI settings."""
    drop = ("FLOWMATIX_", "AWS_", "GITHUB_", "GITLAB_", "CI_", "PIP_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "CI": "true", "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", **extra}


def run_bash(script: str, cwd: Path, env: Mapping[str, str], file: Path) -> tuple[int, str]:
    file.write_text(script)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@dataclass
class Job:
    """What a job left: did it pass, what it printed, its summary, outputs and artifacts."""

    ok: bool = True
    log: str = ""
    summary: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    retention: dict[str, int] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    workspace: Path = Path()

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("::error")]


def collect(workspace: Path, paths: list[str], exclude: Sequence[str] = ()) -> dict[str, bytes]:
    """The files under ``paths`` (relative to the workspace) but not ``exclude`` (globs)."""
    found = _collect(workspace, paths)
    return {k: v for k, v in found.items() if not any(fnmatch(k, g) for g in exclude)}


def _collect(workspace: Path, paths: list[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in paths:
        found = workspace / entry
        if found.is_file():
            files[entry] = found.read_bytes()
        elif found.is_dir():
            for item in sorted(found.rglob("*")):
                if item.is_file():
                    files[item.relative_to(workspace).as_posix()] = item.read_bytes()
    return files

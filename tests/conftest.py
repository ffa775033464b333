from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.sandbox import Sandbox, SandboxOptions

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"


def run_cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``segments`` as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("FLOWMATIX_API_URL", None) if env is None else None
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with a segments/ directory."""
    (tmp_path / "segments").mkdir()
    return tmp_path


ANCHOR = "2026-11-25T00:00:00Z"


@pytest.fixture
def sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on 127.0.0.1 and a free port; all are stopped after the test.

    ``api = sandbox(users=500, faults="429=0.2")``; ``api.truth(body)`` is the ground truth.
    """
    started: list[Sandbox] = []

    def start(**options: object) -> Sandbox:
        opts = SandboxOptions(**{"anchor": ANCHOR, **options})  # type: ignore[arg-type]
        api = Sandbox(opts).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


def full_body(**fields: object) -> dict[str, object]:
    from runner.schema import filter_defaults

    return {**filter_defaults(), "page": 1, "isExport": "none", **fields}

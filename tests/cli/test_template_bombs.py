"""`segments validate` refuses hostile templates in real segment files, with file:line:col.

One project holds one segment file per hostile template (the list in
tests/unit/test_template_budget.py). ``segments validate`` runs once over all of
them in a child whose address space is capped at 300 MB above the CLI's own
size once imported (``RLIMIT_AS``), so a template that allocates gigabytes
crashes the child instead of passing, and one that loops for minutes hits the
timeout instead of passing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.unit.test_template_budget import BOMBS

LIMITED_CLI = r"""
import resource, sys
from runner.cli.main import main
with open("/proc/self/status") as status:
    size_kb = int(status.read().split("VmSize:")[1].split()[0])
limit = size_kb * 1024 + 300 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(main(sys.argv[1:]))
"""

SEGMENT = """version: 1
name: bomb-{index}
filter:
  searchText: {template}
output:
  path: exports/bomb-{index}.csv
"""


@pytest.fixture(scope="module")
def validated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], float]:
    project = tmp_path_factory.mktemp("bombs")
    (project / "segments").mkdir()
    for index, (template, _) in enumerate(BOMBS):
        # JSON strings are YAML double-quoted scalars; '\udc80' stays a YAML escape.
        body = SEGMENT.format(index=index, template=json.dumps(template))
        Path(project / "segments" / f"bomb-{index}.yaml").write_text(body, "utf-8")
    args = ["validate", "--as-of", "2026-11-25T10:00:00Z", "--var", "big=" + "v" * 60000]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", LIMITED_CLI, *args],
        cwd=project,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


def test_validate_fails_once_for_every_file_without_a_traceback(
    validated: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    done, seconds = validated
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.endswith(f"problems in {len(BOMBS)} files\n")
    assert seconds < len(BOMBS)  # under a second per hostile file, start-up included


@pytest.mark.parametrize(("index", "message"), [(i, m) for i, (_, m) in enumerate(BOMBS)])
def test_each_file_names_what_is_not_allowed_at_its_line(
    validated: tuple[subprocess.CompletedProcess[str], float], index: int, message: str
) -> None:
    done, _ = validated
    prefix = f"segments/bomb-{index}.yaml:4:15: "
    lines = [line for line in done.stdout.splitlines() if line.startswith(prefix)]
    if "surrogate" in message:  # the loader flags the YAML value too, in its own words
        assert lines and all("surrogate '\\udc80'" in line for line in lines), done.stdout
    else:
        assert len(lines) == 1, done.stdout
        assert lines[0] == f"{prefix}'filter.searchText': {message}" or lines[0].startswith(
            f"{prefix}'filter.searchText': {message}"
        )

"""output.split, the review's findings: part names through symlinks, whole numbers,
file modes, the 9,999-part cap, XLSX/Parquet parts within max_bytes, Parquet aborts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.conftest import make_project, run_cli
from tests.integration.test_split import Start, export, manifest_of, parts_of, segment


def test_a_part_name_through_a_symlinked_folder_is_claimed(tmp_path: Path) -> None:
    other = segment("csv", None, path="out2/a-0003.csv").replace("everyone", "b")
    split = segment("csv", "{max_rows: 300}", path="out/a.csv").replace("everyone", "a")
    project = make_project(tmp_path, {"a": split, "b": other})
    (project / "out").mkdir()
    (project / "out2").symlink_to("out")
    run = run_cli("validate", cwd=project)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith(
        "segments/b.yaml:4:1: output path 'out2/a-0003.csv' is a part name of segment 'a'"
    )


@pytest.mark.parametrize(
    ("split", "where", "message"),
    [
        ("{max_rows: 1.0}", "7:21", "'output.split.max_rows' is 1.0: it must be a whole number"),
        ("{max_rows: 1e5}", "7:21", "'output.split.max_rows' is 100000.0: it must be a whole"),
        ("{max_bytes: 5e4}", "7:22", "'output.split.max_bytes' is 50000.0: it must be a whole"),
    ],
)
def test_a_split_limit_that_is_not_a_whole_number_is_a_problem(
    sandbox: Start, tmp_path: Path, split: str, where: str, message: str
) -> None:
    project = make_project(tmp_path, {"everyone": segment("jsonl", split)})
    checked = run_cli("validate", cwd=project)
    assert checked.returncode == 1
    assert checked.stdout.startswith(f"segments/everyone.yaml:{where}: {message}")
    run = export(project, sandbox(users=50, page_size=10))
    assert run.returncode == 1
    assert f"segments/everyone.yaml:{where}: {message}" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (project / "out").exists()


def test_parts_and_their_manifest_have_the_single_file_mode(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, page_size=25)
    project = make_project(tmp_path, {"everyone": segment("csv", None)})
    assert export(project, api).returncode == 0
    single = project / "out" / "everyone.csv"
    mode = stat.S_IMODE(single.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(single.with_name("everyone.csv.manifest.json").stat().st_mode) == mode
    (project / "segments" / "everyone.yaml").write_text(segment("csv", "{max_rows: 50}"))
    run = export(project, api)
    assert run.returncode == 0, run.stdout + run.stderr
    parts = parts_of(single.parent, single.name)
    assert len(parts) == 3
    assert manifest_of(single)["part_count"] == 3
    set_manifest = single.with_name("everyone.csv.parts.manifest.json")
    assert [stat.S_IMODE(p.stat().st_mode) for p in [*parts, set_manifest]] == [mode] * 4


ONE_ATTEMPT = """\
api:
  retry: {max_attempts: 1, backoff_initial: 0.01, backoff_max: 0.05}
  timeout: {connect: 2, read: 2}
timezone: UTC
"""


@pytest.mark.parametrize("split", [None, "{max_rows: 40}"])
def test_a_failed_parquet_export_is_one_clean_line(
    sandbox: Start, tmp_path: Path, split: str | None
) -> None:
    api = sandbox(users=400, page_size=20, faults="500=0.1", seed=1)  # fails at page 8
    project = make_project(tmp_path, {"everyone": segment("parquet", split)}, ONE_ATTEMPT)
    run = export(project, api)
    assert run.returncode == 1, run.stdout + run.stderr
    both = run.stdout + run.stderr
    assert "Exception ignored" not in both
    assert "Traceback" not in both
    errors = [line for line in both.splitlines() if "HTTP 500" in line]
    assert len(errors) == 2  # the summary's error line and the log's FAILED line
    assert "page 8: HTTP 500" in errors[0]  # after parts were written (split) or a row group
    assert not (project / "out").exists() or not any((project / "out").iterdir())


def test_a_set_that_needs_more_than_9999_parts_is_refused(sandbox: Start, tmp_path: Path) -> None:
    """Part 10,000 would sort before part 1,001 in a shell glob: the run stops, nothing
    is published and the previous set stays as it was."""
    api = sandbox(users=10_001, page_size=500)
    project = make_project(tmp_path, {"everyone": segment("jsonl", "{max_rows: 5000}")})
    assert export(project, api).returncode == 0
    target = project / "out" / "everyone.jsonl"
    before = {p.name: p.read_bytes() for p in target.parent.iterdir()}
    assert len(parts_of(target.parent, target.name)) == 3
    (project / "segments" / "everyone.yaml").write_text(segment("jsonl", "{max_rows: 1}"))
    run = export(project, api)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: everyone: 9,999 rows filled 9,999 parts and more remain, but a set has at most "
        "9,999 parts (four-digit numbers): raise output.split's max_rows 1; nothing was published"
    ]
    assert "Traceback" not in run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in target.parent.iterdir()} == before

"""Wrong segment files and values: one line each, no request, nothing written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.spec.files import MAX_BYTES
from tests.conftest import api_env, make_project, run_cli

Start = Callable[..., Sandbox]
AS_OF = "2026-11-25T10:00:00Z"
GOOD = "version: 1\nname: good\nfilter: {}\noutput: {path: out/good.csv}\n"
# A misspelt filter key: exporting it anyway would widen the audience.
SEAM = "version: 1\nname: seam\nlabels: [daily]\nfilter:\n  tagz: [vip]\n"
SEAM_PROBLEM = "segments/seam.yaml:5:3: unknown key 'tagz' in filter (did you mean 'tags'?)"


def files_in(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("selector", ["seam", "segments/seam.yaml", "label:daily", "se*"])
@pytest.mark.parametrize("command", ["export", "render", "list"])
def test_selecting_a_file_with_problems_shows_them(
    sandbox: Start, tmp_path: Path, selector: str, command: str
) -> None:
    project = make_project(tmp_path, {"seam": SEAM, "good": GOOD})
    before = files_in(project)
    api = sandbox(users=10)
    result = run_cli(command, selector, cwd=project, env=api_env(api))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert any(line.startswith(SEAM_PROBLEM) for line in result.stderr.splitlines())
    assert "no segment matches" not in result.stderr
    assert sum(api.stats.values()) == 0
    assert files_in(project) == before


def test_a_name_key_that_differs_from_the_file_stem(tmp_path: Path) -> None:
    seam = SEAM.replace("name: seam", "name: seam-daily")
    project = make_project(tmp_path, {"seam": seam})
    for selector in ("seam", "seam-daily"):
        result = run_cli("render", selector, cwd=project)
        assert result.returncode == 1
        assert "segments/seam.yaml:5:3: unknown key 'tagz'" in result.stderr


def test_an_unknown_name_is_still_a_usage_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"seam": SEAM})
    result = run_cli("render", "sea", cwd=project)
    assert result.returncode == 2
    assert "no segment matches 'sea' (did you mean 'seam'?)" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev zero", "folder", "too large", "socket"])
def test_segment_files_that_are_not_small_regular_files(tmp_path: Path, kind: str) -> None:
    project = make_project(tmp_path, {"good": GOOD})
    target = project / "segments" / "odd.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev zero":
        target.symlink_to("/dev/zero")
    elif kind == "folder":
        target.mkdir()
    elif kind == "socket":
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
        sock.close()
    else:
        target.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    result = run_cli("validate", cwd=project, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    why = {
        "fifo": "not a regular file (a FIFO): only regular files are read",
        "dev zero": "not a regular file (a character device): only regular files are read",
        "folder": "not a regular file (a folder): only regular files are read",
        "socket": "not a regular file (a socket): only regular files are read",
        "too large": "file is larger than 1048576 bytes (1 MiB)",
    }[kind]
    assert result.stdout.splitlines() == [f"segments/odd.yaml:1:1: {why}", "1 problem in 1 file"]


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    body = GOOD.encode()
    padding = MAX_BYTES - len(body) - 3
    project = make_project(tmp_path, {})
    (project / "segments" / "good.yaml").write_bytes(body + b"# " + b"x" * padding + b"\n")
    assert (project / "segments" / "good.yaml").stat().st_size == MAX_BYTES
    result = run_cli("validate", cwd=project)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("where", "template", "position"),
    [
        ("filter:\n  searchText", "\"{{ var('search') }}\"", "4:15: 'filter.searchText'"),
        ("filter: {}\noutput:\n  path", "\"out/{{ var('search') }}.csv\"", "5:9: 'output.path'"),
    ],
)
def test_a_var_that_is_not_utf8(tmp_path: Path, where: str, template: str, position: str) -> None:
    """From Python (the CLI refuses such a --var itself): bytes that are not UTF-8 in
    argv become lone surrogates, which no request body or file name can carry."""
    from runner.spec.workspace import Workspace

    seg = f"version: 1\nname: v\n{where}: {template}\n"
    project = make_project(tmp_path, {"v": seg})
    ws = Workspace.open(project, as_of=AS_OF, variables={"search": "caf\udce9"}, env={})
    assert ws.segments == []
    shown = [str(p).replace(str(project) + "/", "") for p in ws.problems]
    assert len(shown) == 1 and position in shown[0] and "surrogate" in shown[0], shown
    assert "\\udce9" in shown[0]  # printable: the reporters never crash on it


def test_output_through_a_symlink_into_git(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, {"hook": "version: 1\nname: hook\nfilter: {}\noutput: {path: out/x.csv}\n"}
    )
    (project / ".git" / "hooks").mkdir(parents=True)
    (project / "out").symlink_to(project / ".git" / "hooks")
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "segments/hook.yaml:4:16: 'output.path' 'out/x.csv': resolves inside the project's "
        ".git folder",
        "1 problem in 1 file",
    ]


def test_output_that_is_an_existing_folder(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, {"d": "version: 1\nname: d\nfilter: {}\noutput: {path: out/d.csv}\n"}
    )
    (project / "out" / "d.csv").mkdir(parents=True)
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "segments/d.yaml:4:16: 'output.path' 'out/d.csv': is an existing folder, not a file",
        "1 problem in 1 file",
    ]


def test_outputs_that_collide_after_resolving(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "a": "version: 1\nname: a\nfilter: {}\noutput: {path: out/a.csv}\n",
            "b": "version: 1\nname: b\nfilter: {}\noutput: {path: out/./a.csv}\n",
            "c": "version: 1\nname: c\nfilter: {}\noutput: {path: out/a.csv/c.csv}\n",
            "d": "version: 1\nname: d\nfilter: {}\noutput: {path: s3://seg-bucket/x/d.csv}\n",
            "e": "version: 1\nname: e\nfilter: {}\noutput: {path: s3://seg-bucket/x/d.csv}\n",
        },
    )
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "segments/b.yaml:4:1: output path 'out/./a.csv' collides with segment 'a' "
        "(segments/a.yaml)",
        "segments/c.yaml:4:1: output path 'out/a.csv/c.csv' needs the folder 'out/a.csv', "
        "which is the output of segment 'a' (segments/a.yaml)",
        "segments/e.yaml:4:1: output path 's3://seg-bucket/x/d.csv' collides with segment "
        "'d' (segments/d.yaml)",
        "3 problems in 3 files",
    ]


def test_output_root_symlinked_into_git(tmp_path: Path) -> None:
    settings = "version: 1\noutput_root: published\n"
    project = make_project(tmp_path, {"good": GOOD}, runner_yaml=settings)
    (project / ".git").mkdir()
    (project / "published").symlink_to(project / ".git")
    result = run_cli("list", cwd=project)
    assert result.returncode == 1
    assert (
        "runner.yaml:2:14: 'output_root' 'published' is inside the project's .git folder"
        in result.stderr
    )

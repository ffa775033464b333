"""A runner.yaml with any problem stops every command before a request or a write."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from tests.conftest import api_env, run_cli

Start = Callable[..., Sandbox]
SEGMENT = "version: 1\nname: everyone\nfilter: {}\noutput: {path: out/everyone.csv}\n"
# Each would, if dropped for the defaults, still export (to ./exports, on UTC).
BAD_SETTINGS = {
    "misspelt key": (
        "version: 1\napi:\n  retry:\n    max_atempts: 3\noutput_root: published\n",
        "runner.yaml:4:5: unknown key 'max_atempts' in api.retry (did you mean 'max_attempts'?)",
    ),
    "empty file": ("", "runner.yaml:1:1: file is empty"),
    "bad time zone": (
        "version: 1\ntimezone: Europe/Londn\n",
        "runner.yaml:2:11: 'timezone' has invalid value \"Europe/Londn\" "
        "(did you mean 'Europe/London'?)",
    ),
    "wrong type": (
        "version: 1\napi:\n  max_pages: four\n",
        "runner.yaml:3:14: 'api.max_pages' must be an integer, got string \"four\"",
    ),
    "header with CRLF": (
        'version: 1\napi:\n  headers: {X-Trace: "a\\r\\nX-Evil: 1"}\n',
        "runner.yaml:3:22: 'api.headers.X-Trace' has invalid value",
    ),
    "id_key not a path": (
        'version: 1\napi:\n  id_key: "attr("\n',
        "runner.yaml:3:11: 'api.id_key' \"attr(\" is not a dotted path such as _id or "
        "profile.userId: empty expression",
    ),
    "default column misspelt": (
        "version: 1\ndefaults:\n  output:\n    columns: [_id, profile.userDetails.contact.emial]\n",
        "runner.yaml:4:20: 'defaults.output.columns[1]': 'profile.userDetails.contact.emial' "
        "reads nothing",
    ),
    "default path template": (
        'version: 1\ndefaults:\n  output:\n    path: "out/{{ segment.name }.csv"\n',
        "runner.yaml:4:11: 'defaults.output.path': template syntax error: unexpected '}'",
    ),
    "latin-1 bytes": (
        "version: 1\n# caf\xe9\n",
        "runner.yaml:2:6: file is not UTF-8 text: byte 0xE9",
    ),
}


def project_with(root: Path, settings: str) -> Path:
    (root / "segments").mkdir()
    (root / "segments" / "everyone.yaml").write_text(SEGMENT, "utf-8")
    (root / "runner.yaml").write_bytes(settings.encode("latin-1"))
    return root


def files_in(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
@pytest.mark.parametrize("command", ["export", "render", "list"])
def test_bad_runner_yaml_stops_the_command(
    sandbox: Start, tmp_path: Path, case: str, command: str
) -> None:
    settings, line = BAD_SETTINGS[case]
    project = project_with(tmp_path, settings)
    before = files_in(project)
    api = sandbox(users=20)
    result = run_cli(command, cwd=project, env=api_env(api))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "runner.yaml has 1 problem; nothing was run" in result.stderr
    assert any(text.startswith(line) for text in result.stderr.splitlines()), result.stderr
    assert sum(api.stats.values()) == 0  # not one request
    assert files_in(project) == before  # nothing written: no exports/, no published/
    assert result.stdout == ""


def test_validate_reports_runner_yaml_in_the_chosen_format(tmp_path: Path) -> None:
    project = project_with(tmp_path, BAD_SETTINGS["misspelt key"][0])
    result = run_cli("validate", "--format", "github", cwd=project)
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=runner.yaml,line=4,col=5::unknown key")
    text = run_cli("validate", cwd=project)
    assert text.stdout.splitlines() == [
        BAD_SETTINGS["misspelt key"][1],
        "1 problem in runner.yaml; segments not checked",
    ]
    assert text.stderr == ""


def test_diff_stops_on_a_bad_runner_yaml(tmp_path: Path) -> None:
    project = project_with(tmp_path, "version: 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=project, check=True)
    (project / "runner.yaml").write_text(BAD_SETTINGS["bad time zone"][0], "utf-8")
    result = run_cli("diff", "HEAD", cwd=project)
    assert result.returncode == 1
    assert BAD_SETTINGS["bad time zone"][1] in result.stderr
    assert result.stdout == ""


def test_a_misnamed_project_file_is_not_silently_ignored(tmp_path: Path) -> None:
    project = project_with(tmp_path, "version: 1\n")
    (project / "runner.yaml").rename(project / "runner.yml")
    result = run_cli("list", cwd=project)
    assert result.returncode == 1
    assert "runner.yml:1:1: the project file must be named runner.yaml" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling symlink", "dev zero"])
def test_runner_yaml_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    project = project_with(tmp_path, "version: 1\n")
    target = project / "runner.yaml"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "dangling symlink":
        target.symlink_to(project / "missing.yaml")
    else:
        target.symlink_to("/dev/zero")
    result = run_cli("validate", cwd=project, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    expected = {
        "fifo": "runner.yaml:1:1: not a regular file (a FIFO): only regular files are read",
        "folder": "runner.yaml:1:1: not a regular file (a folder): only regular files are read",
        "dangling symlink": "runner.yaml:1:1: cannot read the file: No such file or directory",
        "dev zero": "runner.yaml:1:1: not a regular file (a character device): "
        "only regular files are read",
    }
    assert result.stdout.splitlines() == [
        expected[kind],
        "1 problem in runner.yaml; segments not checked",
    ]


def test_valid_settings_are_used(sandbox: Start, tmp_path: Path) -> None:
    """The other side: a clean runner.yaml is read (token_env, headers, output_root)."""
    project = project_with(
        tmp_path,
        "version: 1\napi:\n  token_env: MY_TOKEN\n  headers: {authtype: Key, X-Team: crm}\n"
        "  timeout: {read: 1e1}\noutput_root: published\n",
    )
    api = sandbox(users=20)
    env = {**api_env(api), "FLOWMATIX_TOKEN": None, "MY_TOKEN": api.options.token}
    result = run_cli("export", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert (project / "published" / "out" / "everyone.csv").exists()
    assert api.stats["pages"] >= 1


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("api.example.com", '"api.example.com" is not an http:// or https:// URL'),
        ("http://127.0.0.1:99999", '"http://127.0.0.1:99999" is not a usable URL: Port out of'),
        ("http://u:s3cr3t@[::1", '"[::1" is not a usable URL: Invalid IPv6 URL'),
    ],
)
def test_a_broken_api_url_variable_is_one_line(tmp_path: Path, url: str, why: str) -> None:
    project = project_with(tmp_path, "version: 1\n")
    result = run_cli("export", cwd=project, env={"FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": "t"})
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"segments: error: FLOWMATIX_API_URL {why}")
    assert "s3cr3t" not in result.stderr and "Traceback" not in result.stderr
    assert not (project / "out").exists()

"""No piece of the API token in any output, file or process list.

`segments export` and `segments diff --count` run as child processes against a
sandbox whose errors quote the request's Authorization header (JSON messages,
HTML titles, plain text, each with the token placed across the 100/200/300
character cuts). Every 8-character piece of a long token is looked for in stdout,
stderr and every file under the project: exports, manifests, the results file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sandbox.faults import echo_text
from tests.conftest import ANCHOR, api_env, cli_env, file_text, make_project, run_cli, wait_for
from tests.integration.test_export import ALL_CONTACTS
from tests.integration.test_review import repo_with_segments

Start = Callable[..., Sandbox]
TOKEN = "flx_live_Q7mZ2vK9pR4tW8yB3nC6dF1gH5jL0xS2aE7uI9oP4kM8qT3wV6zY1rN5bD"
PIECE = 8


def pieces(secret: str = TOKEN) -> set[str]:
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}


def leaks(text: str, secret: str = TOKEN) -> list[str]:
    return sorted(piece for piece in pieces(secret) if piece in text)


def written(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): file_text(path) for path in root.rglob("*") if path.is_file()
    }


def assert_no_piece(result: subprocess.CompletedProcess[str], root: Path) -> None:
    assert leaks(result.stdout) == [], result.stdout
    assert leaks(result.stderr) == [], result.stderr
    for name, text in written(root).items():
        assert leaks(text) == [], name


def test_the_echo_puts_the_token_across_every_cut() -> None:
    text = echo_text(f"Bearer {TOKEN}")
    for cut in (100, 200, 300):
        assert leaks(text[:cut]), cut  # a plain cut would print a piece of the token


EXPORT_CASES = {
    # retried, then served: the retry lines, the manifest and the results are written
    "json-5xx-retried": ("echo500@1|2", 0),
    "html-and-text-retried": ("echohtml@1,echotext@2", 0),
    "401": ("echo401@1", 1),
    "5xx-until-give-up": ("echo500=1", 1),
}


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_export_never_shows_the_token(sandbox: Start, tmp_path: Path, case: str) -> None:
    faults, code = EXPORT_CASES[case]
    api = sandbox(users=120, page_size=50, token=TOKEN, faults=faults)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    (project / "runner.yaml").write_text(
        (project / "runner.yaml").read_text().replace("max_attempts: 12", "max_attempts: 3")
    )
    result = run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--concurrency",
        "1",
        "--progress",
        "log",
        "--results",
        "results.json",
        cwd=project,
        env=api_env(api),
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert sum(v for k, v in api.stats.items() if k.startswith("fault:echo")) >= 1
    assert "***" in result.stdout + result.stderr  # the echo was shown, masked
    if code == 0:
        assert (project / "out" / "everyone.csv.manifest.json").exists()
    assert (project / "results.json").exists()
    assert_no_piece(result, project)


@pytest.mark.parametrize("faults", ["echo401@1", "echo500@1|2", "echohtml@1,echotext@2"])
def test_diff_count_never_shows_the_token(sandbox: Start, tmp_path: Path, faults: str) -> None:
    api = sandbox(users=200, page_size=50, token=TOKEN, faults=faults)
    repo = repo_with_segments(tmp_path)
    alpha = repo / "segments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("[vip]", "[vip, gold]"))
    result = run_cli("diff", "main", "--count", "--as-of", ANCHOR, cwd=repo, env=api_env(api))
    assert "Traceback" not in result.stderr
    if faults.startswith("echo401"):
        assert result.returncode == 1
        assert "the API refused the token (HTTP 401): Unauthorized" in result.stderr
        assert "***" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "contacts" in result.stdout
    assert_no_piece(result, tmp_path)


@pytest.mark.parametrize("command", ["export", "diff"])
@pytest.mark.parametrize("bad", ["\n", "\r", "\x1b", "\x7f"])
def test_a_token_with_a_control_character_is_refused_unquoted(
    sandbox: Start, tmp_path: Path, command: str, bad: str
) -> None:
    api = sandbox(users=10, token=TOKEN)
    token = TOKEN[:30] + bad + TOKEN[30:]
    if command == "export":
        root = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
        (root / "runner.yaml").write_text("version: 1\napi: {token_env: CRM_TOKEN}\n")
        env = {**api_env(api), "FLOWMATIX_TOKEN": None, "CRM_TOKEN": token}
        result = run_cli("export", "--as-of", ANCHOR, cwd=root, env=env)
        name = "CRM_TOKEN"
    else:
        root = repo_with_segments(tmp_path)
        alpha = root / "segments" / "alpha.yaml"
        alpha.write_text(alpha.read_text().replace("[vip]", "[vip, gold]"))
        env = api_env(api, token=token)
        result = run_cli("diff", "main", "--count", "--as-of", ANCHOR, cwd=root, env=env)
        name = "FLOWMATIX_TOKEN"
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"{name} contains a control character" in out
    assert "Traceback" not in out
    assert api.faults.count == 0  # refused before any request
    assert leaks(out, TOKEN[:30]) == [] and leaks(out, TOKEN[30:]) == []


def test_the_token_is_not_on_any_command_line(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=60, token=TOKEN, faults="slow@1", slow_ms=3000)
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})
    with subprocess.Popen(
        [sys.executable, "-m", "runner", "export", "--as-of", ANCHOR],
        cwd=project,
        env=cli_env(api_env(api)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        wait_for(lambda: api.stats["fault:slow"] == 1)  # the request is on its way
        command_lines = [
            path.read_bytes().decode("utf-8", "replace")
            for path in Path("/proc").glob("[0-9]*/cmdline")
            if path.exists()
        ]
        assert proc.wait(timeout=60) == 0
    assert any("runner" in line and "export" in line for line in command_lines)
    assert [line for line in command_lines if leaks(line)] == []

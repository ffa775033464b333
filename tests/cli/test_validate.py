"""`segments validate|render|list` as a user types them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests.conftest import CASES, ROOT, cli_env, run_cli

AS_OF = "2026-11-25T10:00:00Z"
INVALID = CASES / "invalid"
# Each folder of bad files has an expected.json: file name -> the exact "line:col: message"
# lines it must produce. invalid/ holds segment files, validated where they lie;
# invalid-runner/ holds runner.yaml files, each copied into an empty project.
CORPORA = ("invalid", "invalid-runner")


def expected(folder: str) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((CASES / folder / "expected.json").read_text("utf-8"))
    return data


EXPECTED = expected("invalid")
CASE_FILES = [(folder, name) for folder in CORPORA for name in sorted(expected(folder))]


@pytest.mark.parametrize("folder", CORPORA)
def test_every_invalid_case_has_an_expectation(folder: str) -> None:
    files = sorted(p.name for p in (CASES / folder).glob("*.yaml"))
    assert files == sorted(expected(folder))
    assert len(files) >= 25


@pytest.mark.parametrize(("folder", "name"), CASE_FILES)
def test_invalid_file_gives_exact_message(folder: str, name: str, tmp_path: Path) -> None:
    if folder == "invalid-runner":
        (tmp_path / "segments").mkdir()
        shutil.copyfile(CASES / folder / name, tmp_path / "runner.yaml")
        path, cwd, args = "runner.yaml", tmp_path, ()
    else:
        path = f"tests/cases/{folder}/{name}"
        cwd, args = ROOT, (path,)
    result = run_cli("validate", *args, "--as-of", AS_OF, cwd=cwd, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    *problems, verdict = result.stdout.splitlines()
    assert problems == [f"{path}:{line}" for line in expected(folder)[name]]
    assert verdict.startswith(f"{len(problems)} problem")


VALID = CASES / "valid"  # a project: runner.yaml, segments/ and expected.json
VALID_AS_OF = "2026-03-29T12:00:00Z"  # the morning British Summer Time begins
VALID_EXPECTED: dict[str, dict[str, object]] = json.loads(
    (VALID / "expected.json").read_text("utf-8")
)


def test_every_valid_case_validates_and_has_an_expectation() -> None:
    files = sorted(p.name for p in (VALID / "segments").glob("*.yaml"))
    assert files == sorted(VALID_EXPECTED)
    result = run_cli("validate", "--as-of", VALID_AS_OF, cwd=VALID)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert result.stdout == f"{len(files)} segments valid\n"


@pytest.mark.parametrize("name", sorted(VALID_EXPECTED))
def test_valid_file_renders_to_its_exact_body(name: str) -> None:
    """Each good file, rendered at one instant: its request body, URL and output, exactly."""
    path = f"segments/{name}"
    result = run_cli("render", path, "--as-of", VALID_AS_OF, "--format", "json", cwd=VALID)
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item == VALID_EXPECTED[name]


def test_all_files_reported_in_one_run() -> None:
    result = run_cli("validate", "tests/cases/invalid", "--as-of", AS_OF)
    assert result.returncode == 1
    *lines, verdict = result.stdout.splitlines()
    reported = {line.split(":", 1)[0] for line in lines}
    assert len(reported) == len(EXPECTED)
    assert verdict == f"{sum(len(v) for v in EXPECTED.values())} problems in {len(EXPECTED)} files"


def test_example_segments_are_clean() -> None:
    result = run_cli("validate", "--as-of", AS_OF)
    assert result.returncode == 0, result.stdout
    assert result.stdout == "5 segments valid\n" and result.stderr == ""


def test_github_format_lands_on_the_line() -> None:
    result = run_cli(
        "validate", "tests/cases/invalid/misspelt-filter-key.yaml", "--format", "github"
    )
    assert result.returncode == 1
    assert result.stdout.startswith(
        "::error file=tests/cases/invalid/misspelt-filter-key.yaml,line=4,col=3::unknown key 'tagz'"
    )


def test_json_format_is_machine_readable() -> None:
    result = run_cli("validate", "tests/cases/invalid/bad-status.yaml", "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data[0]["line"] == 4 and data[0]["col"] == 18 and "CLOSD" in data[0]["message"]


def write_segment(project: Path, name: str, body: str) -> Path:
    path = project / "segments" / f"{name}.yaml"
    path.write_text(body, "utf-8")
    return path


def test_duplicate_names_and_colliding_paths(project: Path) -> None:
    for file in ("a", "b"):
        write_segment(
            project,
            file,
            "version: 1\nname: same\nfilter: {}\noutput:\n  path: exports/x.csv\n",
        )
    write_segment(
        project, "c", "version: 1\nname: other\nfilter: {}\noutput:\n  path: exports/x.csv\n"
    )
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "segments/b.yaml:2:1: segment name 'same' is already used by segments/a.yaml" in lines
    assert any(
        line.startswith("segments/c.yaml:4:1: output path 'exports/x.csv' collides")
        for line in lines
    )


def test_runner_yaml_problems_are_reported(project: Path) -> None:
    (project / "runner.yaml").write_text("api:\n  concurency: 8\ntimezone: Mars/Base\n", "utf-8")
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert (
        "runner.yaml:2:3: unknown key 'concurency' in api (did you mean 'concurrency'?)"
        in result.stdout
    )


def test_render_prints_the_exact_body() -> None:
    result = run_cli("render", "vip-whatsapp-last-7-days", "--as-of", AS_OF, "--format", "json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    body = item["body"]
    assert body["tags"] == ["vip"]
    assert body["applicableFilters"] == ["lastSeenAt"]
    assert body["lastSeenAt"] == {
        "startAt": "2026-11-18T10:00:00.000Z",
        "endsAt": "2026-11-25T10:00:00.000Z",
    }
    assert body["page"] == 1 and body["isExport"] == "none"
    # Every documented field is sent, unused ones at their defaults.
    assert body["userInteracted"] is True and body["createdAt"] == {"startAt": "", "endsAt": ""}
    assert item["output"] == "exports/vip-whatsapp-last-7-days.csv"
    assert item["url"] == "https://api.v7.flowmatix.ai/inbox/users"


def test_render_uses_project_time_zone_and_vars() -> None:
    result = run_cli(
        "render",
        "india-signups-previous-month",
        "--as-of",
        "2026-03-01T02:00:00Z",
        "--var",
        "search=diwali",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    # 02:00Z on 1 March is already March in India: the previous month is February.
    assert item["body"]["createdAt"] == {
        "startAt": "2026-01-31T18:30:00.000Z",
        "endsAt": "2026-02-28T18:29:59.999Z",
    }
    assert item["body"]["searchText"] == "diwali"
    assert item["output"] == "exports/india-signups-previous-month-2026-02.csv"


def test_render_text_format_and_reroot() -> None:
    result = run_cli("render", "label:leads", "--as-of", AS_OF, "--out", "/tmp/try")
    assert result.returncode == 0, result.stderr
    assert "# website-leads-this-month (segments/website-leads-this-month.yaml)" in result.stdout
    assert "/tmp/try/exports/website-leads-this-month/2026-11-25.jsonl.gz" in result.stdout


def test_list_selection_and_exclude() -> None:
    result = run_cli("list", "label:daily", "--exclude", "vip-*", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [r["name"] for r in json.loads(result.stdout)] == ["website-leads-this-month"]
    text = run_cli("list", "segments/waiting-on-live-chat.yaml")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].split() == ["NAME", "LABELS", "FORMAT", "OUTPUT", "FILE"]
    assert text.stdout.splitlines()[1].startswith("waiting-on-live-chat")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "vip-whatsap-last-7-days"], "did you mean 'vip-whatsapp-last-7-days'"),
        (["render", "--as-of", "yesterday"], "ISO-8601"),
        (["render", "--var", "novalue"], "NAME=VALUE"),
        (["validate", "no/such/dir"], "no such file"),
        (["frobnicate"], "invalid choice"),
        (["list", "state:modified"], "--state"),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_module_and_console_script_agree() -> None:
    """``python -m runner`` and the installed ``segments`` script are the same program."""
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("segment-runner ")
    assert result.stdout == f"segment-runner {__version__}\n"
    script = Path(sys.executable).with_name("segments")
    for args in (["--version"], ["validate"], ["render", "--as-of", AS_OF, "--format", "json"]):
        module = run_cli(*args)
        console = subprocess.run(
            [str(script), *args], cwd=ROOT, env=cli_env(), capture_output=True, text=True
        )
        assert (console.returncode, console.stdout, console.stderr) == (
            module.returncode,
            module.stdout,
            module.stderr,
        ), args
        assert module.returncode == 0, module.stderr


def test_templates_cannot_inject_yaml_structure(project: Path) -> None:
    write_segment(
        project,
        "inject",
        "version: 1\nname: inject\nfilter:\n  searchText: \"{{ 'x\\n  tags: [vip]' }}\"\n",
    )
    result = run_cli("render", "--format", "json", "--as-of", AS_OF, cwd=project)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)[0]["body"]
    assert body["searchText"] == "x\n  tags: [vip]"
    assert body["tags"] == []


def test_sandbox_command_serves_until_stopped() -> None:
    import signal
    import subprocess
    import sys

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--users", "25", "--token", "t"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("sandbox: 25 contacts (seed 1)")
        assert lines[1].startswith("sandbox: shape uniform: ")
        url = lines[2].strip().removeprefix("export FLOWMATIX_API_URL=")
        assert lines[3].strip() == "export FLOWMATIX_TOKEN=t"
        from tests.conftest import full_body

        reply = requests.post(
            url + "/inbox/users",
            json=full_body(isContact=False, applicableFilters=[]),
            headers={"Authorization": "Bearer t", "authtype": "Key"},
            timeout=10,
        )
        assert reply.status_code == 200 and len(reply.json()["data"]) == 25
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()

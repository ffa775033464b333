"""Review and CI wiring in a real temporary git repository."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, ROOT, api_env, rendered_body, run_cli

Start = Callable[..., Sandbox]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


SEG = """\
version: 1
name: {name}
filter: {{tags: [{tag}], isContact: false}}
output: {{path: "exports/{name}.csv"}}
"""


def repo_with_segments(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "segments").mkdir(parents=True)
    (repo / "runner.yaml").write_text("version: 1\ntimezone: UTC\n")
    for name, tag in [("alpha", "vip"), ("beta", "lead"), ("gamma", "gold")]:
        (repo / "segments" / f"{name}.yaml").write_text(SEG.format(name=name, tag=tag))
    # gamma sets its own delimiter, so a default change in runner.yaml does not touch it
    gamma = repo / "segments" / "gamma.yaml"
    gamma.write_text(
        gamma.read_text().replace("output: {path:", 'output: {csv: {delimiter: ";"}, path:')
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    return repo


def names(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [row["name"] for row in json.loads(result.stdout)]


def test_state_modified_picks_exactly_the_affected_segments(sandbox: Start, tmp_path: Path) -> None:
    repo = repo_with_segments(tmp_path)
    assert (
        names(run_cli("list", "state:modified", "--state", "main", "--format", "json", cwd=repo))
        == []
    )
    alpha = repo / "segments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("[vip]", "[vip, gold]"))
    assert names(
        run_cli("list", "state:modified", "--state", "main", "--format", "json", cwd=repo)
    ) == ["alpha"]
    # a default in runner.yaml reaches beta and alpha, not gamma (which overrides it)
    (repo / "runner.yaml").write_text(
        'version: 1\ntimezone: UTC\ndefaults:\n  output:\n    csv: {delimiter: "\\t"}\n'
    )
    selected = run_cli("list", "state:modified", "--state", "main", "--format", "json", cwd=repo)
    assert names(selected) == ["alpha", "beta"]
    excluded = run_cli(
        "list",
        "--select",
        "state:modified",
        "--exclude",
        "alpha",
        "--state",
        "main",
        "--format",
        "json",
        cwd=repo,
    )
    assert names(excluded) == ["beta"]
    rendered = run_cli("render", "state:modified", "--state", "main", "--format", "json", cwd=repo)
    assert names(rendered) == ["alpha", "beta"]
    validated = run_cli("validate", "--select", "state:modified", "--state", "main", cwd=repo)
    assert validated.returncode == 0 and "2 segments valid" in validated.stdout
    api = sandbox(users=100, token="tok")
    exported = run_cli(
        "export",
        "state:modified",
        "--state",
        "main",
        "--dry-run",
        "--results",
        "r.json",
        cwd=repo,
        env=api_env(api),
    )
    assert exported.returncode == 0, exported.stdout + exported.stderr
    results = json.loads((repo / "r.json").read_text())["results"]
    assert [(r["segment"], r["status"]) for r in results] == [
        ("alpha", "dry-run"),
        ("beta", "dry-run"),
    ]


def test_diff_shows_added_removed_and_changed(tmp_path: Path) -> None:
    repo = repo_with_segments(tmp_path)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "segments" / "beta.yaml").unlink()
    (repo / "segments" / "delta.yaml").write_text(SEG.format(name="delta", tag="b2b"))
    alpha = repo / "segments" / "alpha.yaml"
    alpha.write_text(
        alpha.read_text()
        .replace("exports/alpha.csv", "exports/alpha-v2.csv")
        .replace("[vip]", "[vip, gold]")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    result = run_cli(
        "diff", "--as-of", ANCHOR, "--format", "json", cwd=repo
    )  # default: merge base with main
    assert result.returncode == 0, result.stderr
    changes = {c["name"]: c for c in json.loads(result.stdout)}
    assert {n: c["status"] for n, c in changes.items()} == {
        "alpha": "changed",
        "beta": "removed",
        "delta": "added",
    }
    assert '-    "vip"\n+    "vip",\n+    "gold"\n' in changes["alpha"]["body_diff"]
    assert changes["alpha"]["output_before"] == "exports/alpha.csv"
    assert changes["alpha"]["output_after"] == "exports/alpha-v2.csv"
    assert (
        changes["beta"]["file"] == "segments/beta.yaml" and changes["beta"]["output_after"] is None
    )
    markdown = run_cli("diff", "main", "--as-of", ANCHOR, "--format", "markdown", cwd=repo)
    assert (
        "| `alpha` | changed | `exports/alpha.csv` -> `exports/alpha-v2.csv` |" in markdown.stdout
    )
    assert "```diff" in markdown.stdout
    text = run_cli("diff", "main", "--as-of", ANCHOR, cwd=repo)
    assert text.stdout.startswith("changed: alpha (segments/alpha.yaml)")
    bad_ref = run_cli("diff", "no-such-ref", cwd=repo)
    assert bad_ref.returncode == 2 and "Traceback" not in bad_ref.stderr


def test_diff_count_gives_true_audience_sizes(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=800, page_size=30, token="tok")
    repo = repo_with_segments(tmp_path)
    before = len(api.truth(rendered_body(repo, "alpha")))
    alpha = repo / "segments" / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("[vip]", "[vip, gold]"))
    after = len(api.truth(rendered_body(repo, "alpha")))
    result = run_cli(
        "diff",
        "main",
        "--count",
        "--as-of",
        ANCHOR,
        cwd=repo,
        env=api_env(api),
    )
    assert result.returncode == 0, result.stderr
    assert before < after
    assert (
        f"changed: alpha (segments/alpha.yaml): {before:,} -> {after:,} contacts" in result.stdout
    )


def test_init_scaffolds_a_working_project(sandbox: Start, tmp_path: Path) -> None:
    target = tmp_path / "new"
    made = run_cli("init", str(target))
    assert made.returncode == 0, made.stderr
    again = run_cli("init", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr
    example = (target / "segments" / "recent-vip-contacts.yaml").read_text()
    assert example.startswith("# yaml-language-server: $schema=../schemas/segment.schema.json")
    assert (target / "schemas" / "segment.schema.json").exists()
    valid = run_cli("validate", cwd=target)
    assert valid.returncode == 0, valid.stdout
    api = sandbox(users=3000, token="tok")
    dry = run_cli(
        "export",
        "--dry-run",
        "--as-of",
        ANCHOR,
        cwd=target,
        env=api_env(api),
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry-run" in dry.stdout and not (target / "exports").exists()
    workflows = target / ".github" / "workflows"
    jobs = {p.name: set(yaml.safe_load(p.read_text())["jobs"]) for p in workflows.glob("*.yml")}
    assert jobs == {
        "segments-pr.yml": {"validate", "diff"},
        "segments-scheduled.yml": {"plan", "export", "catalog"},
        "segments-manual.yml": {"export"},
        "segments-freshness.yml": {"freshness"},
    }
    triggers = {p.name: yaml.safe_load(p.read_text())[True] for p in workflows.glob("*.yml")}
    assert "pull_request" in triggers["segments-pr.yml"]
    assert "schedule" in triggers["segments-scheduled.yml"]
    assert "workflow_dispatch" in triggers["segments-manual.yml"]


def test_pre_commit_hook_definition() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "segments-validate" and hook["entry"] == "segments validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is False

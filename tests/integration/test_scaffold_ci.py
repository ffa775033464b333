"""The CI files `segments init` writes, checked by their schemas and linters and run.

Every ``run:`` step of each GitHub workflow and every ``script:`` line of each GitLab
job runs in order with bash, in a clone of a temporary git repository, against the
sandbox API, with the install line pointing at a wheel built from this checkout.
``tests/integration/ci_harness.py`` says what is stood in for (the ``uses:`` actions,
the runner images) and how; ``ci_github.py`` and ``ci_gitlab.py`` do it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.sandbox import Sandbox
from tests.conftest import ROOT, run_cli
from tests.integration.ci_github import GitHub
from tests.integration.ci_gitlab import GitLab
from tests.integration.ci_harness import Job, build_wheel, git, machine_env

Start = Callable[..., Sandbox]
BIN = Path(sys.executable).parent
MARKER = "<!-- segments-diff -->"
WORKFLOWS = (
    "segments-pr.yml",
    "segments-scheduled.yml",
    "segments-manual.yml",
    "segments-freshness.yml",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def scaffold(target: Path, ci: str, wheel: Path) -> Path:
    """`segments init --ci CI --runner-source <the wheel>` (the CLI: tests/cli/test_init.py)."""
    from runner.scaffold import init_project

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    init_project(target, ci=ci, runner_source=f"segment-runner @ {wheel.as_uri()}#sha256={digest}")
    return target


@pytest.fixture(scope="module")
def made(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One GitHub and one GitLab scaffold for the tests that only read them."""
    root = tmp_path_factory.mktemp("scaffolds")
    return {ci: scaffold(root / ci, ci, wheel) for ci in ("github", "gitlab")}


def publish(work: Path, origin: Path) -> None:
    """``work`` becomes the repository's main branch on ``origin`` (a bare repository)."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "segments init")
    git(work, "remote", "add", "origin", origin.as_uri())
    git(work, "push", "-q", "origin", "main")


def push(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-qm", message)
    git(work, "push", "-q", "origin", "HEAD")
    return git(work, "rev-parse", "HEAD")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


# --- schemas, linters, pins and names ---------------------------------------------------


def test_every_ci_file_passes_its_schema_and_actionlint(
    made: dict[str, Path], tmp_path: Path
) -> None:
    github = made["github"] / ".github" / "workflows"
    gitlab = made["gitlab"] / ".gitlab-ci.yml"
    files = [str(github / name) for name in WORKFLOWS]
    for schema, paths in (("vendor.github-workflows", files), ("vendor.gitlab-ci", [gitlab])):
        checked = subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", schema, *map(str, paths)],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0 and "ok -- validation done" in checked.stdout, (
            checked.stdout + checked.stderr
        )
    # shellcheck on PATH: actionlint checks every run: script with it too
    lint_env = {"PATH": f"{BIN}:/usr/bin:/bin"}
    linted = subprocess.run(
        [BIN / "actionlint", *files], capture_output=True, text=True, env=lint_env
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # the checks can fail: a misspelt step output and an unquoted variable are caught
    broken = tmp_path / "broken.yml"
    broken.write_text(
        Path(files[2])
        .read_text()
        .replace("steps.report.outputs.files", "steps.reprt.outputs.files")
        .replace('export "$SEGMENT"', "export $SEGMENT")
    )
    caught = subprocess.run(
        [BIN / "actionlint", broken], capture_output=True, text=True, env=lint_env
    )
    assert "reprt" in caught.stdout and "SC2086" in caught.stdout
    bad = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", "-"],
        input="validate:\n  script: 1\n  stage: [x]\n",
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1


def test_actions_are_pinned_to_a_commit_with_its_version(
    made: dict[str, Path], tmp_path: Path
) -> None:
    github = made["github"] / ".github" / "workflows"
    pins: dict[str, set[str]] = {}
    for name in WORKFLOWS:
        for line in (github / name).read_text().splitlines():
            if "uses:" in line:
                m = re.search(r"uses: ([\w-]+/[\w-]+)@([0-9a-f]{40})  # (v\d+\.\d+\.\d+)$", line)
                assert m, f"{name}: not pinned to a sha with its version tag: {line.strip()}"
                pins.setdefault(m.group(1), set()).add(m.group(2) + " " + m.group(3))
    assert {a: len(p) for a, p in pins.items()} == {
        "actions/checkout": 1,
        "actions/setup-python": 1,
        "actions/upload-artifact": 1,
        "aws-actions/configure-aws-credentials": 1,
    }


def segments_commands(text: str) -> list[list[str]]:
    """Each `segments SUBCOMMAND --option ...` in shell text: [subcommand, options...]."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for m in re.finditer(r"(?:^|[\s;|&(])segments (\w+)([^\n|;&>]*)", joined):
        found.append([m.group(1), *re.findall(r"(--[a-z][a-z-]*)(?:[ =](\w+))?", m.group(2))])
    return found


def shell_texts(made: dict[str, Path]) -> dict[str, str]:
    texts = {}
    workflows = made["github"] / ".github" / "workflows"
    for name in WORKFLOWS:
        jobs = load(workflows / name)["jobs"]
        runs = [s["run"] for job in jobs.values() for s in job["steps"] if "run" in s]
        texts[name] = "\n".join(runs)
    ci = load(made["gitlab"] / ".gitlab-ci.yml")
    lines = [line for job in ci.values() if isinstance(job, dict) for line in job.get("script", [])]
    texts[".gitlab-ci.yml"] = "\n".join([*ci["default"]["before_script"], *lines])
    return texts


def test_every_segments_option_in_ci_exists_in_the_cli_parser(
    made: dict[str, Path], tmp_path: Path
) -> None:
    from runner.cli.main import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    commands: dict[str, Any] = sub.choices  # type: ignore[attr-defined]
    seen = set()
    for name, text in shell_texts(made).items():
        found = segments_commands(text)
        assert found, name
        for command, *options in found:
            assert command in commands, f"{name}: segments {command} does not exist"
            known = commands[command]._option_string_actions
            for option, value in options:
                assert option in known, f"{name}: segments {command} has no {option}"
                choices = known[option].choices
                if choices and value:
                    assert value in choices, f"{name}: {option} {value} not in {choices}"
                seen.add(f"{command} {option}")
    assert {"validate --format", "diff --format", "diff --count", "list --format"} <= seen
    assert {"export --results", "export --as-of", "export --progress"} <= seen
    # the negative: an option the parser lacks is reported
    assert "--colour" not in commands["diff"]._option_string_actions
    assert segments_commands('segments diff "$X" --colour auto') == [["diff", ("--colour", "auto")]]


def test_secrets_variables_and_files_named_in_ci_exist(
    made: dict[str, Path], tmp_path: Path
) -> None:
    project = made["github"]
    text = "\n".join((project / ".github" / "workflows" / n).read_text() for n in WORKFLOWS)
    gitlab = (made["gitlab"] / ".gitlab-ci.yml").read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) == {
        "FLOWMATIX_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_WEBHOOK",  # the freshness job's example notify: secret
    }
    assert set(re.findall(r"vars\.(\w+)", text)) == {"AWS_REGION", "AWS_ROLE_ARN"}
    runner_yaml = yaml.safe_load((project / "runner.yaml").read_text())
    assert runner_yaml["api"]["token_env"] == "FLOWMATIX_TOKEN"
    readme = (ROOT / "README.md").read_text()
    ci_section = readme[readme.index("## Run it in CI") :]
    for name in (
        "FLOWMATIX_TOKEN",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_ACCESS_KEY_ID",
        "SLACK_WEBHOOK",
    ):
        assert name in ci_section and name in gitlab, name
    installs = re.findall(r"pip install .*-r (\S+)", text + gitlab)
    assert len(installs) == (text + gitlab).count("pip install") == 8
    assert set(installs) == {"ci/requirements.txt"}
    assert (project / "ci" / "requirements.txt").is_file()


# --- the GitHub workflows, run ---------------------------------------------------------


class Comments(BaseHTTPRequestHandler):
    """GitHub's issue-comments API for one repository, as the PR workflow calls it."""

    token = "ghs-stand-in-token"
    store: dict[int, dict[str, Any]]
    calls: list[str]

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        self.calls.append(f"{method} {self.path}")
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(401, {"message": "Bad credentials"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or "{}")
        listed = re.fullmatch(
            r"/repos/acme/segments/issues/(\d+)/comments(\?per_page=100)?", self.path
        )
        one = re.fullmatch(r"/repos/acme/segments/issues/comments/(\d+)", self.path)
        if listed and method == "GET":
            return self._reply(200, list(self.store.values()))
        if listed and method == "POST":
            new = {"id": 100 + len(self.store), "body": body["body"]}
            self.store[new["id"]] = {**new, "user": {"login": "github-actions[bot]"}}
            return self._reply(201, self.store[new["id"]])
        if one and method == "PATCH" and int(one.group(1)) in self.store:
            self.store[int(one.group(1))]["body"] = body["body"]
            return self._reply(200, self.store[int(one.group(1))])
        return self._reply(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def comments_api() -> Iterator[tuple[str, type[Comments]]]:
    handler = type("Handler", (Comments,), {"store": {}, "calls": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def pr_event(head: str, repo: str = "acme/segments") -> tuple[str, dict[str, Any]]:
    return "pull_request", {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": repo}},
            "base": {"ref": "main", "repo": {"full_name": "acme/segments"}},
        },
    }


@pytest.mark.slow  # a whole pipeline, job by job, each installing the wheel
def test_pull_request_workflow_annotates_and_keeps_one_comment(
    wheel: Path, tmp_path: Path, sandbox: Start, comments_api: tuple[str, type[Comments]]
) -> None:
    api_url, store = comments_api
    api = sandbox(users=300, token="flowmatix-secret")
    work = scaffold(tmp_path / "work", "github", wheel)
    publish(work, tmp_path / "origin.git")
    workflow = load(work / ".github" / "workflows" / "segments-pr.yml")
    machine = machine_env({"FLOWMATIX_API_URL": api.url, "GITHUB_API_URL": api_url})
    gh = GitHub(tmp_path / "origin.git", tmp_path / "runs", machine)
    gh.secrets = {"FLOWMATIX_TOKEN": "flowmatix-secret"}
    segment = work / "segments" / "recent-vip-contacts.yaml"
    git(work, "checkout", "-q", "-b", "feature")

    edit(segment, "  tags: [vip]", "  tagz: [vip]")
    head = push(work, "typo")
    validate = gh.run_job(workflow, "validate", ref=head, event=pr_event(head))
    assert not validate.ok
    assert any(
        a.startswith("::error file=segments/recent-vip-contacts.yaml,line=8,col=3::")
        and "tagz" in a
        for a in validate.annotations
    ), validate.log

    edit(segment, "  tagz: [vip]", "  tags: [vip, gold]")
    head = push(work, "gold too")
    first = gh.run_job(workflow, "diff", ref=head, event=pr_event(head))
    assert first.ok, first.log
    ((comment_id, comment),) = store.store.items()
    body = comment["body"]
    assert body.startswith(MARKER + "\n### Segment changes since `origin/main`")
    assert "| `recent-vip-contacts` | changed |" in body and '+    "gold"' in body
    assert re.search(r"\| [\d,]+ -> [\d,]+ contacts \|", body), body
    assert body in first.summary

    edit(segment, "[vip, gold]", "[vip, gold, lead]")
    head = push(work, "leads as well")
    second = gh.run_job(workflow, "diff", ref=head, event=pr_event(head))
    assert second.ok, second.log
    assert list(store.store) == [comment_id], "one comment, updated"
    assert '+    "lead"' in store.store[comment_id]["body"]
    assert [c.split("?")[0] for c in store.calls] == [
        "GET /repos/acme/segments/issues/7/comments",
        "POST /repos/acme/segments/issues/7/comments",
        "GET /repos/acme/segments/issues/7/comments",
        f"PATCH /repos/acme/segments/issues/comments/{comment_id}",
    ]

    # a fork: no secrets, a token that cannot comment; the diff stays in the summary
    gh.secrets = {}
    fork = gh.run_job(workflow, "diff", ref=head, event=pr_event(head, "someone/segments"))
    assert fork.ok, fork.log
    assert "Audience counts skipped" in fork.summary and '+    "lead"' in fork.summary
    assert "contacts |" not in fork.summary and len(store.calls) == 4
    assert "Post the diff as one comment, updated on every push" not in fork.ran
    assert "flowmatix-secret" not in first.log + second.log + body


SEGMENT = """\
version: 1
name: {name}
labels: [{label}]
filter: {{tags: [{tag}], isContact: false}}
output: {{path: "{path}"{extra}}}
expect: {{min_rows: {min_rows}}}
"""


def add_segment(work: Path, name: str, tag: str, path: str, **more: Any) -> None:
    text = SEGMENT.format(
        name=name,
        tag=tag,
        path=path,
        label=more.get("label", "daily"),
        min_rows=more.get("min_rows", 1),
        extra=more.get("extra", ""),
    )
    (work / "segments" / f"{name}.yaml").write_text(text)


def rows_of(data: bytes) -> int:
    return len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) - 1


@pytest.mark.slow  # a whole pipeline, job by job, each installing the wheel
def test_scheduled_and_manual_exports_keep_their_files(
    wheel: Path, tmp_path: Path, sandbox: Start
) -> None:
    from tests.integration.s3servers import run_server

    api = sandbox(users=400, token="flowmatix-secret", anchor=None)
    work = scaffold(tmp_path / "work", "github", wheel)
    add_segment(work, "to-s3", "gold", "s3://exports/daily/{{ segment.name }}.csv")
    add_segment(work, "too-strict", "vip", "exports/strict.csv", min_rows=10**6)
    add_segment(work, "weekly", "vip", "exports/weekly.csv", label="weekly")
    add_segment(work, "in-parts", "gold", "exports/parts.csv", extra=", split: {max_rows: 20}")
    publish(work, tmp_path / "origin.git")
    flows = work / ".github" / "workflows"
    scheduled, manual = load(flows / WORKFLOWS[1]), load(flows / WORKFLOWS[2])
    kept = tmp_path / "kept-artifacts"  # what the gh stand-in downloads
    with run_server("rclone", tmp_path) as s3:
        s3.client().create_bucket(Bucket="exports")
        machine = machine_env({"FLOWMATIX_API_URL": api.url, "AWS_ENDPOINT_URL": s3.endpoint})
        machine.update(gh_standin(tmp_path / "bin", kept, machine["PATH"]))
        gh = GitHub(tmp_path / "origin.git", tmp_path / "runs", machine)
        gh.secrets = {
            "FLOWMATIX_TOKEN": "flowmatix-secret",
            "AWS_ACCESS_KEY_ID": s3.env()["AWS_ACCESS_KEY_ID"] or "",
            "AWS_SECRET_ACCESS_KEY": s3.env()["AWS_SECRET_ACCESS_KEY"] or "",
        }
        gh.variables = {"AWS_REGION": "us-east-1"}
        event = ("schedule", {"schedule": "0 5 * * *"})
        plan = gh.run_job(scheduled, "plan", ref="main", event=event)
        assert plan.ok, plan.log
        names = json.loads(plan.outputs["segments"])
        assert names == ["in-parts", "recent-vip-contacts", "to-s3", "too-strict"]
        needs = {"plan": {"outputs": plan.outputs, "result": "success"}}

        def export(name: str) -> Job:
            matrix = {"segment": name}
            return gh.run_job(
                scheduled, "export", ref="main", event=event, matrix=matrix, needs=needs
            )

        with ThreadPoolExecutor(2) as pool:  # matrix jobs run side by side, as on GitHub
            jobs = dict(zip(names, pool.map(export, names), strict=True))
        stored = s3.client().get_object(Bucket="exports", Key="daily/to-s3.csv")["Body"].read()
        for job in jobs.values():
            for name, files in job.artifacts.items():
                for path, data in files.items():
                    (kept / name / path).parent.mkdir(parents=True, exist_ok=True)
                    (kept / name / path).write_bytes(data)
        needs = {**needs, "export": {"result": "failure"}}  # too-strict failed its job
        catalog = gh.run_job(scheduled, "catalog", ref="main", event=event, needs=needs)
        hourly = ("schedule", {"schedule": "17 * * * *"})
        freshness = gh.run_job(load(flows / WORKFLOWS[3]), "freshness", ref="main", event=hourly)

    for name in ("in-parts", "recent-vip-contacts", "to-s3"):
        job = jobs[name]
        assert job.ok, job.log
        (result,) = json.loads(job.artifacts[f"segment-{name}"]["results.json"])["results"]
        assert result["status"] == "success" and result["rows"] > 0
        assert job.retention[f"segment-{name}"] == 30
        assert f"| {name} | success | {result['rows']} | {result['pages']} |" in job.summary
        assert "| segment | status | rows | pages | seconds | destination | error |" in job.summary
        assert not job.annotations
    vip = jobs["recent-vip-contacts"].artifacts["segment-recent-vip-contacts"]
    (data_file,) = [p for p in vip if p.endswith(".csv")]
    assert re.fullmatch(r"exports/recent-vip-contacts/\d{4}-\d{2}-\d{2}\.csv", data_file)
    assert f"{data_file}.manifest.json" in vip
    assert rows_of(vip[data_file]) == json.loads(vip["results.json"])["results"][0]["rows"]
    assert set(jobs["to-s3"].artifacts["segment-to-s3"]) == {"results.json"}
    # A split set: its manifest and every part it lists, which hold every row.
    split = jobs["in-parts"].artifacts["segment-in-parts"]
    (result,) = json.loads(split["results.json"])["results"]
    listed = json.loads(split["exports/parts.csv.parts.manifest.json"])["parts"]
    assert result["parts"] == len(listed) > 1
    # and the history: its runs and the ids this run published (every full run keeps
    # them, for the next run's deltas, overlap and exclude from: last-published)
    (snapshot,) = [name for name in split if "/snapshots/" in name]
    assert re.fullmatch(r"\.segments/history/in-parts/snapshots/[^/]+\.ids\.gz", snapshot)
    assert set(split) == {
        "results.json", ".segments/history/in-parts/runs.jsonl", snapshot,
        "exports/parts.csv.parts.manifest.json", *(p["destination"] for p in listed)
    }  # fmt: skip
    assert sum(rows_of(split[p["destination"]]) for p in listed) == result["rows"]
    assert (
        rows_of(stored)
        == json.loads(jobs["to-s3"].artifacts["segment-to-s3"]["results.json"])["results"][0][
            "rows"
        ]
    )
    assert (
        "| to-s3 | success |" in jobs["to-s3"].summary
        and "s3://exports/daily/to-s3.csv" in jobs["to-s3"].summary
    )

    strict = jobs["too-strict"]
    assert not strict.ok
    (annotation,) = strict.annotations
    assert (
        annotation.startswith("::error title=segments export too-strict::")
        and "min_rows" in annotation
    )
    assert "| too-strict | guard |" in strict.summary
    # The guard trip is in the history the artifact keeps (hidden files uploaded on purpose).
    assert set(strict.artifacts["segment-too-strict"]) == {
        "results.json", ".segments/history/too-strict/runs.jsonl"
    }  # fmt: skip
    assert not (strict.workspace / "exports" / "strict.csv").exists()

    inputs = {"segment": "recent-vip-contacts", "as_of": "2026-11-20T12:00:00Z"}
    by_hand = gh.run_job(
        manual, "export", ref="main", event=("workflow_dispatch", {"inputs": inputs}), inputs=inputs
    )
    assert by_hand.ok, by_hand.log
    kept = by_hand.artifacts["segment-recent-vip-contacts"]
    assert "exports/recent-vip-contacts/2026-11-20.csv" in kept
    assert json.loads(kept["results.json"])["metadata"]["as_of"].startswith("2026-11-20T12:00:00")
    assert "flowmatix-secret" not in "".join(j.log for j in jobs.values())

    # The catalog after the exports: every segment, the runs from each kept history (local)
    # and from the bucket (to-s3).
    assert catalog.ok, catalog.log
    site = catalog.artifacts["segments-catalog"]
    assert {"catalog/index.html", "catalog/assets/uPlot.LICENSE"} <= set(site)
    assert catalog.retention["segments-catalog"] == 30
    data = json.loads(
        re.search(rb'id="catalog-data">(.*?)</script>', site["catalog/index.html"], re.S)[1]
    )
    shown = {s["name"]: [r["status"] for r in s["runs"]] for s in data["segments"]}
    assert shown == {
        "in-parts": ["success"],
        "recent-vip-contacts": ["success"],
        "to-s3": ["success"],
        "too-strict": ["guard"],
        "weekly": [],
    }
    # The hourly freshness check reads the same kept history: too-strict never published.
    assert not freshness.ok
    log = freshness.log.splitlines()
    states = dict(line.split()[:2] for line in log if line.startswith(tuple(names)))
    assert states == {
        "in-parts": "fresh", "recent-vip-contacts": "fresh", "to-s3": "fresh", "too-strict": "never"
    }  # fmt: skip
    assert "### segments freshness" in freshness.summary


def gh_standin(folder: Path, kept: Path, path: str) -> dict[str, str]:
    """The GitHub CLI for the two calls the workflows make (``gh run list`` and ``gh run
    download``), serving the artifacts written under ``kept``: the machine's new PATH."""
    folder.mkdir()
    gh = folder / "gh"
    gh.write_text(
        f"""#!/usr/bin/env bash
set -euo pipefail
[ -n "${{GH_TOKEN:-}}" ] || {{ echo "gh: no GH_TOKEN" >&2; exit 4; }}
case "$1 $2" in
  "run list") echo 41 ;;
  "run download")
    shift 2; dir=.; pattern='*'
    while [ $# -gt 0 ]; do
      case "$1" in --dir) dir=$2; shift 2 ;; --pattern) pattern=$2; shift 2 ;; *) shift ;; esac
    done
    mkdir -p "$dir"
    for found in {kept}/$pattern; do cp -R "$found" "$dir/"; done ;;
  *) echo "gh stand-in: $*" >&2; exit 1 ;;
esac
"""
    )
    gh.chmod(0o755)
    return {"PATH": f"{folder}:{path}"}


def test_scheduled_and_manual_workflows_share_their_export_steps(made: dict[str, Path]) -> None:
    flows = made["github"] / ".github" / "workflows"
    scheduled = load(flows / WORKFLOWS[1])["jobs"]["export"]["steps"]
    manual = load(flows / WORKFLOWS[2])["jobs"]["export"]["steps"]
    assert scheduled == manual


# --- GitLab ----------------------------------------------------------------------------


@pytest.mark.slow  # a whole pipeline, job by job, each installing the wheel
def test_gitlab_jobs_validate_diff_and_export(wheel: Path, tmp_path: Path, sandbox: Start) -> None:
    api = sandbox(users=300, token="flowmatix-secret", anchor=None)
    work = scaffold(tmp_path / "work", "gitlab", wheel)
    publish(work, tmp_path / "origin.git")
    base = git(work, "rev-parse", "HEAD")
    ci = load(work / ".gitlab-ci.yml")
    machine = machine_env({"FLOWMATIX_API_URL": api.url})
    gl = GitLab(tmp_path / "origin.git", tmp_path / "runs", machine)
    gl.variables = {"FLOWMATIX_TOKEN": "flowmatix-secret"}
    git(work, "checkout", "-q", "-b", "feature")
    edit(work / "segments" / "recent-vip-contacts.yaml", "[vip]", "[vip, gold]")
    head = push(work, "gold too")

    mr = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_DIFF_BASE_SHA": base}
    validate = gl.run_job(ci, "validate", ref=head, pipeline=mr)
    assert validate is not None and validate.ok, validate and validate.log
    diff = gl.run_job(ci, "diff", ref=head, pipeline=mr)
    assert diff is not None and diff.ok, diff and diff.log
    report = diff.artifacts["diff"]["segments-diff.md"].decode()
    assert report.startswith(MARKER) and '+    "gold"' in report and " contacts |" in report
    assert diff.outputs["expose_as"] == "segments diff"
    assert gl.run_job(ci, "scheduled-export", ref=head, pipeline=mr) is None
    gl.variables = {}
    uncounted = gl.run_job(ci, "diff", ref=head, pipeline=mr)
    assert uncounted is not None and uncounted.ok
    assert "Audience counts skipped" in uncounted.artifacts["diff"]["segments-diff.md"].decode()

    gl.variables = {"FLOWMATIX_TOKEN": "flowmatix-secret"}
    schedule = {"CI_PIPELINE_SOURCE": "schedule"}
    assert gl.run_job(ci, "validate", ref="main", pipeline=schedule) is None
    assert gl.run_job(ci, "manual-export", ref="main", pipeline=schedule) is None
    nightly = gl.run_job(ci, "scheduled-export", ref="main", pipeline=schedule)
    assert nightly is not None and nightly.ok, nightly and nightly.log
    kept = nightly.artifacts["scheduled-export"]
    assert not [p for p in kept if "/." in p], "no lock or temporary file is kept"
    (data_file,) = [p for p in kept if p.endswith(".csv")]
    (result,) = json.loads(kept["results.json"])["results"]
    assert result["status"] == "success" and rows_of(kept[data_file]) == result["rows"] > 0
    assert f"{data_file}.manifest.json" in kept
    assert ".segments/history/recent-vip-contacts/runs.jsonl" in kept

    # After the export, the pages job: the catalog as GitLab Pages (public/).
    pages = gl.run_job(ci, "pages", ref="main", pipeline=schedule, needed=kept)
    assert pages is not None and pages.ok, pages and pages.log
    site = pages.artifacts["pages"]
    page = re.search(rb'id="catalog-data">(.*?)</script>', site["public/index.html"], re.S)
    (entry,) = json.loads(page[1])["segments"]
    assert [(r["status"], r["rows"]) for r in entry["runs"]] == [("success", result["rows"])]

    # The freshness schedule runs freshness alone, on the history the API hands it.
    hourly = {"CI_PIPELINE_SOURCE": "schedule", "SEGMENTS_JOB": "freshness"}
    for job in ("scheduled-export", "pages", "validate"):
        assert gl.run_job(ci, job, ref="main", pipeline=hourly) is None
    blind = gl.run_job(ci, "freshness", ref="main", pipeline=hourly)
    assert blind is not None and not blind.ok  # no history to read: never published
    assert "recent-vip-contacts  never" in blind.log
    with artifacts_api(kept) as api_url:
        api = {**hourly, "CI_API_V4_URL": api_url, "CI_PROJECT_ID": "7", "CI_JOB_TOKEN": "jt"}
        api |= {"CI_DEFAULT_BRANCH": "main"}
        checked = gl.run_job(ci, "freshness", ref="main", pipeline=api)
    assert checked is not None and checked.ok, checked and checked.log
    assert "recent-vip-contacts  fresh" in checked.log

    web = {
        "CI_PIPELINE_SOURCE": "web",
        "SEGMENT": "recent-vip-contacts",
        "AS_OF": "2026-11-20T12:00:00Z",
    }
    assert gl.run_job(ci, "manual-export", ref="main", pipeline={**web, "SEGMENT": ""}) is None
    by_hand = gl.run_job(ci, "manual-export", ref="main", pipeline=web)
    assert by_hand is not None and by_hand.ok, by_hand and by_hand.log
    assert "exports/recent-vip-contacts/2026-11-20.csv" in by_hand.artifacts["manual-export"]


@contextmanager
def artifacts_api(kept: dict[str, bytes]) -> Iterator[str]:
    """GitLab's "download the artifacts of a ref's newest job" endpoint, job token only,
    serving ``kept`` as the zip GitLab sends; yields CI_API_V4_URL."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path, data in kept.items():
            zipped.writestr(path, data)

    class Artifacts(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            wanted = "/api/v4/projects/7/jobs/artifacts/main/download?job=scheduled-export"
            ok = self.path == wanted and self.headers.get("JOB-TOKEN") == "jt"
            body = archive.getvalue() if ok else b"{}"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Artifacts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    finally:
        server.shutdown()
        server.server_close()


# --- pre-commit ------------------------------------------------------------------------


def test_pre_commit_snippet_rev_exists_and_the_hook_checks_runner_yaml(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (rev,) = re.findall(r"rev: ([0-9a-f]{40})", readme)
    hooks = subprocess.run(
        ["git", "show", f"{rev}:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True, text=True
    )
    assert hooks.returncode == 0, f"README's rev {rev} is not a commit of this repository"
    (hook,) = yaml.safe_load(hooks.stdout)
    assert hook["id"] == "segments-validate" and hook["entry"] == "segments validate"
    assert re.search(hook["files"], "runner.yaml") and re.search(hook["files"], "segments/a.yaml")
    project = tmp_path / "p"
    (project / "segments").mkdir(parents=True)
    (project / "runner.yaml").write_text("version: 1\ntimezon: UTC\n")
    checked = run_cli(*hook["entry"].split()[1:], cwd=project)
    assert checked.returncode == 1 and "runner.yaml:2:1: unknown key 'timezon'" in checked.stdout

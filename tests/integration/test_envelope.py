"""Replies that say failure in their body (issue 22.1), against the sandbox over a socket.

A ``200`` whose envelope says failure (``success: false``, an error ``code``, a
``message`` with no ``data``, an empty ``data`` with no ``success``) is a failed page:
retried like the status its ``code`` names, and a run that cannot get past it fails
with exit 1, publishing nothing: the previous file, its manifest and the run history
stay as they were.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sandbox.faults import ENVELOPES
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project, rendered_body, run_cli
from tests.integration.test_export import ALL_CONTACTS, read_ids

Start = Callable[..., Sandbox]
USERS, PAGE = 300, 100
RUNNER_YAML = FAST_RETRY.replace("max_attempts: 12", "max_attempts: 3")
# What the one error line must name for each kind: the code (or what the envelope said
# instead) and the server's message.
NAMED = {
    kind: (
        f"code {body['code']}" if body.get("code") not in (None, 200) else "HTTP 200",
        str(body["message"]),
    )
    for kind, body in ENVELOPES.items()
}


def export(project: Path, api: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--concurrency",
        "1",  # request N is page N: the fault lands on the page the test names
        "--results",
        "results.json",
        *args,
        cwd=project,
        env=api_env(api),
    )


def snapshot(project: Path) -> dict[str, bytes]:
    """Every published file and every history file, by path."""
    return {
        str(path.relative_to(project)): path.read_bytes()
        for folder in ("out", ".segments")
        for path in sorted((project / folder).rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def published(sandbox: Start, tmp_path: Path) -> Path:
    """A project whose last run published all 300 contacts."""
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")}, RUNNER_YAML)
    first = export(project, sandbox(users=USERS, page_size=PAGE))
    assert first.returncode == 0, first.stderr
    assert len(read_ids(project / "out" / "everyone.csv", "csv")) == USERS
    return project


@pytest.mark.parametrize("page", [1, 3])
@pytest.mark.parametrize("kind", sorted(ENVELOPES))
def test_a_reply_that_says_failure_publishes_nothing(
    sandbox: Start, published: Path, kind: str, page: int
) -> None:
    before = snapshot(published)
    # the page fails on every try (a try is one request at concurrency 1)
    api = sandbox(
        users=USERS, page_size=PAGE, faults=f"{kind}@" + "|".join(map(str, range(page, page + 9)))
    )
    failed = export(published, api)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    errors = [line for line in failed.stdout.splitlines() if line.startswith("error: everyone:")]
    assert len(errors) == 1, failed.stdout
    code, message = NAMED[kind]
    # (the first of the failing pages the run asks: where the list ends is found first)
    asked = re.search(r"page (\d+):", errors[0])
    assert asked and page <= int(asked[1]) < page + 9, errors[0]
    assert code in errors[0] and message in errors[0], errors[0]
    assert api.stats[f"fault:{kind}"] >= 1
    after = snapshot(published)
    # the data, its manifest and every earlier history entry are as they were ...
    for name, content in before.items():
        if name.endswith("runs.jsonl"):
            assert after[name].startswith(content), name
        else:
            assert after[name] == content, name
    # ... and the history adds one line that says the run failed
    runs = published / ".segments" / "history" / "everyone" / "runs.jsonl"
    added = after[str(runs.relative_to(published))][len(before[str(runs.relative_to(published))]) :]
    (entry,) = [json.loads(line) for line in added.splitlines()]
    assert entry["status"] == "failed"
    results = json.loads((published / "results.json").read_text())
    assert [r["status"] for r in results["results"]] == ["failed"]
    assert results["results"][0]["published"] is False


def test_a_token_refused_in_the_body_is_not_retried(sandbox: Start, published: Path) -> None:
    api = sandbox(users=USERS, page_size=PAGE, faults="env401=1")
    failed = export(published, api)
    assert failed.returncode == 1
    assert api.stats["fault:env401"] == 1  # one request: a refused token is refused again
    assert "page 1: the API refused the token (HTTP 200, code 401): Invalid token" in failed.stdout


@pytest.mark.parametrize(
    "faults", ["env429@1", "env429@3", "env429bare@2", "env500@1|3", "envcode@3"]
)
def test_a_passing_failure_is_retried_and_the_file_is_whole(
    sandbox: Start, published: Path, faults: str
) -> None:
    api = sandbox(users=USERS, page_size=PAGE, faults=faults)
    done = export(published, api, "--progress", "log")
    assert done.returncode == 0, done.stdout + done.stderr
    kind = faults.split("@")[0]
    assert api.stats[f"fault:{kind}"] == faults.count("|") + 1
    assert "retrying page" in done.stderr and NAMED[kind][0] in done.stderr
    ids = read_ids(published / "out" / "everyone.csv", "csv")
    assert sorted(ids) == sorted(api.truth({**rendered_body(published, "everyone"), "page": 1}))
    results = json.loads((published / "results.json").read_text())
    assert results["results"][0]["retries"] == faults.count("|") + 1


def test_retry_after_of_a_429_in_the_body_is_honoured(sandbox: Start, published: Path) -> None:
    # back-off alone would wait at most 0.05 s; the reply asks for 1 s
    yaml = published / "runner.yaml"
    yaml.write_text(yaml.read_text().replace("retry_after_cap: 0.02", "retry_after_cap: 5"))
    api = sandbox(users=USERS, page_size=PAGE, faults="env429@2", retry_after=1)
    done = export(published, api)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((published / "results.json").read_text())
    assert results["results"][0]["retries"] == 1
    assert results["results"][0]["seconds"] >= 1.0


# -- pages read in parallel, in createdAt windows: a page may come before its turn ----------

BIG = {"users": 3000, "page_size": 50, "seed": 4}


def export_parallel(project: Path, api: Sandbox) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "export",
        "--as-of",
        ANCHOR,
        "--concurrency",
        "4",
        "--results",
        "results.json",
        cwd=project,
        env=api_env(api),
    )


@pytest.mark.parametrize("faults", ["env429=0.15", "env500bare=0.1,envcode=0.05"])
def test_passing_failures_in_parallel_give_the_whole_list(
    sandbox: Start, tmp_path: Path, faults: str
) -> None:
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")}, FAST_RETRY)
    api = sandbox(**BIG, faults=faults)
    done = export_parallel(project, api)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(v for k, v in api.stats.items() if k.startswith("fault:env")) >= 5
    ids = read_ids(project / "out" / "everyone.csv", "csv")
    assert len(ids) == len(set(ids)) == BIG["users"]
    assert set(ids) == set(api.truth({**rendered_body(project, "everyone"), "page": 1}))


@pytest.mark.parametrize("kind", ["env401", "envfalse", "envmessage", "envnosuccess"])
def test_a_failure_mid_list_in_parallel_publishes_nothing(
    sandbox: Start, tmp_path: Path, kind: str
) -> None:
    project = make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")}, RUNNER_YAML)
    assert export_parallel(project, sandbox(**BIG)).returncode == 0
    before = snapshot(project)
    api = sandbox(**BIG, faults=f"{kind}@20")  # one reply, well into the list
    failed = export_parallel(project, api)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert api.stats[f"fault:{kind}"] == 1 and api.stats["pages"] >= 10
    (error,) = [line for line in failed.stdout.splitlines() if line.startswith("error: everyone:")]
    assert NAMED[kind][1] in error
    after = snapshot(project)
    assert {k: v for k, v in after.items() if "history" not in k} == {
        k: v for k, v in before.items() if "history" not in k
    }

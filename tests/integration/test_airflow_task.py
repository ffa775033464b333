"""runner_airflow.task against the sandbox, without Airflow: the real `segments export` as a
child process, its --results read back, and what each ending means for the task
(succeed, fail now, or fail and allow the one retry)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner_airflow.task import ExportCall, Finished, Verdict, run_export
from tests.conftest import api_env, make_project

SEGMENT = """\
version: 1
name: {name}
filter: {{tags: {tags}}}
output: {{path: "{path}"}}
expect: {{max_change: 30%}}
"""


def seg(name: str, tags: str = "[vip]", path: str = "") -> str:
    return SEGMENT.format(name=name, tags=tags, path=path or f"exports/{name}.csv")


def export(project: Path, name: str, env: dict[str, str | None]) -> Finished:
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            if value is None:
                patch.delenv(key, raising=False)
            else:
                patch.setenv(key, value)
        finished = run_export(ExportCall(name, project, concurrency=2), lines.append)
    assert list(finished.tail) == lines[-len(finished.tail) :]  # every line was logged
    return finished


@pytest.fixture
def api(sandbox: Callable[..., Sandbox]) -> Sandbox:
    return sandbox(users=400)


@pytest.mark.parametrize("tags", ["[vip]", "[gold, lead]", "[]"])
def test_a_success_is_ok_and_its_figures_are_the_files(
    tmp_path: Path, api: Sandbox, tags: str
) -> None:
    project = make_project(tmp_path, {"a": seg("a", tags)})
    done = export(project, "a", api_env(api))
    verdict, message = done.verdict()
    assert verdict is Verdict.OK and done.returncode == 0, done.tail
    figures = done.xcom()
    assert figures is not None and figures["status"] == "success"
    manifest = json.loads((project / figures["manifest"]).read_text("utf-8"))
    assert figures["rows"] == manifest["rows"] == len(api.truth(_body(project, "a")))
    assert (project / figures["destination"]).is_file()
    assert message == f"a: success, {figures['rows']:,} rows"


def _body(project: Path, name: str) -> dict[str, object]:
    from tests.conftest import rendered_body

    return rendered_body(project, name)


@pytest.mark.parametrize("wider", ["[]", "[vip, gold, lead]", "[gold, lead, newsletter]"])
def test_a_guard_trip_fails_without_a_retry_and_says_so(
    tmp_path: Path, api: Sandbox, wider: str
) -> None:
    project = make_project(tmp_path, {"a": seg("a")})
    assert export(project, "a", api_env(api)).verdict()[0] is Verdict.OK
    kept = (project / "exports" / "a.csv").read_bytes()
    (project / "segments" / "a.yaml").write_text(seg("a", wider), "utf-8")
    done = export(project, "a", api_env(api))
    verdict, message = done.verdict()
    assert done.xcom() is not None and done.xcom()["status"] == "guard"  # type: ignore[index]
    assert verdict is Verdict.FAIL
    assert "not retried" in message and "--accept-change" in message and "max_change" in message
    assert (project / "exports" / "a.csv").read_bytes() == kept


@pytest.mark.parametrize(
    ("path", "env"),
    [
        ("blocked/a.csv", {}),  # a file where a folder should be
        ("", {"FLOWMATIX_TOKEN": "wrong-token"}),  # the API refuses the token
        ("", {"FLOWMATIX_API_URL": "http://127.0.0.1:9"}),  # nothing listens there
    ],
)
def test_a_failed_run_may_be_retried_once(
    tmp_path: Path, api: Sandbox, path: str, env: dict[str, str | None]
) -> None:
    project = make_project(tmp_path, {"a": seg("a", path=path)})
    (project / "blocked").write_text("not a folder\n", "utf-8")
    done = export(project, "a", {**api_env(api), **env})
    verdict, message = done.verdict()
    assert done.xcom() is not None and done.xcom()["status"] == "failed"  # type: ignore[index]
    assert verdict is Verdict.RETRY and message.startswith("a: failed: ")
    assert "wrong-token" not in message + "\n".join(done.tail)


@pytest.mark.parametrize(
    ("files", "name", "code", "says", "env"),
    [
        ({"a": "version: 1\nname: a\nfilter: {tagz: [vip]}\n"}, "a", 1, "tagz", {}),  # a problem
        ({"a": seg("a")}, "b", 2, "no segment matches 'b'", {}),  # not in the project
        ({"a": seg("a")}, "--bogus", 2, "unrecognized arguments", {}),  # a bad option
        ({"a": seg("a")}, "a", 1, "FLOWMATIX_TOKEN is not set", {"FLOWMATIX_TOKEN": None}),
    ],
)
def test_no_result_from_bad_input_fails_without_a_retry_quoting_the_runner(
    tmp_path: Path,
    api: Sandbox,
    files: dict[str, str],
    name: str,
    code: int,
    says: str,
    env: dict[str, str | None],
) -> None:
    project = make_project(tmp_path, files)
    done = export(project, name, {**api_env(api), **env})
    verdict, message = done.verdict()
    assert done.result is None and done.returncode == code
    assert verdict is Verdict.FAIL and "not retried" in message and says in message


def test_a_problem_in_another_file_does_not_fail_this_segment(tmp_path: Path, api: Sandbox) -> None:
    project = make_project(
        tmp_path, {"a": seg("a"), "b": "version: 1\nname: b\nfilter: {tagz: [vip]}\n"}
    )
    done = export(project, "a", api_env(api))
    assert done.returncode == 1  # the CLI counts b's problem...
    assert done.verdict()[0] is Verdict.OK  # ...the task judges a by its own result

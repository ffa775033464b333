"""A stand-in GitHub Actions runner: `${{ }}` expressions, steps, and the actions the
scaffold uses, each replaced by what its documentation says it does (see ci_harness)."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.ci_harness import Job, clone, collect, make_python, run_bash

CONTEXTS = {"github", "env", "vars", "secrets", "inputs", "matrix", "needs", "steps", "runner"}
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(&&|\|\||==|!=|!|\(|\)|,)|(\d+)|([A-Za-z_][\w.-]*))")
_WHOLE = re.compile(r"\s*\$\{\{(.*?)\}\}\s*", re.S)
_PART = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_ARTIFACT_BAD = set('":<>|*?\r\n\\/')


def read_command_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: ``NAME=value`` lines and ``NAME<<END`` blocks."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines()) if path.exists() else iter(())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, end = line.split("<<", 1)
            block = []
            for item in lines:
                if item == end:
                    break
                block.append(item)
            values[name] = "\n".join(block)
        elif line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def evaluate(expr: str, ctx: Mapping[str, Any], job_ok: bool = True) -> Any:
    functions: dict[str, Callable[..., Any]] = {
        "always": lambda: True,
        "success": lambda: job_ok,
        "failure": lambda: not job_ok,
        "cancelled": lambda: False,
        "fromJSON": json.loads,
        "toJSON": json.dumps,
    }

    def lookup(path: str) -> Any:
        head, *rest = path.split(".")
        if head not in CONTEXTS:
            raise AssertionError(f"unknown context {head!r} in ${{{{ {expr} }}}}")
        value: Any = ctx.get(head, {})
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return "" if value is None else value

    code, pos, text = [], 0, expr.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise AssertionError(f"cannot read ${{{{ {expr} }}}} at {text[pos:]!r}")
        pos = m.end()
        string, op, number, name = m.groups()
        if string is not None:
            code.append(repr(string[1:-1].replace("''", "'")))
        elif op:
            code.append({"&&": " and ", "||": " or ", "!": " not "}.get(op, op))
        elif number:
            code.append(number)
        elif text[pos:].lstrip().startswith("("):
            if name not in functions:
                raise AssertionError(f"unknown function {name!r} in ${{{{ {expr} }}}}")
            code.append(f"_f[{name!r}]")
        else:
            literal = {"true": "True", "false": "False", "null": "None"}.get(name)
            code.append(literal or f"_v({name!r})")
    return eval("".join(code), {"__builtins__": {}, "_f": functions, "_v": lookup})


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def interpolate(value: Any, ctx: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, ctx) for v in value]
    if not isinstance(value, str):
        return value
    whole = _WHOLE.fullmatch(value)
    if whole and "${{" not in whole.group(1):
        return evaluate(whole.group(1), ctx)
    return _PART.sub(lambda m: as_text(evaluate(m.group(1), ctx)), value)


def should_run(condition: Any, ctx: Mapping[str, Any], job_ok: bool) -> bool:
    if condition is None:
        return job_ok
    text = str(condition).strip()
    whole = _WHOLE.fullmatch(text)
    text = whole.group(1) if whole else text
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        return job_ok and bool(evaluate(text, ctx, job_ok))
    return bool(evaluate(text, ctx, job_ok))


@dataclass
class GitHub:
    """One repository on a stand-in GitHub: run a workflow's job on a fresh machine."""

    origin: Path
    scratch: Path
    machine: dict[str, str]
    repository: str = "acme/segments"
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    token: str = "ghs-stand-in-token"
    runs: Iterator[int] = field(default_factory=itertools.count)  # thread-safe job numbers

    def run_job(
        self,
        workflow: Mapping[str, Any],
        job_id: str,
        *,
        ref: str,
        event: tuple[str, dict[str, Any]],
        matrix: Mapping[str, Any] | None = None,
        needs: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Job:
        """Run ``job_id`` of ``workflow`` at ``ref`` for ``event`` (name, payload)."""
        home = self.scratch / f"gh-{next(self.runs)}-{job_id}"
        run = JobRun(self, home, ref)
        base_ref = event[1].get("pull_request", {}).get("base", {}).get("ref", "")
        run.ctx.update(
            github={
                "event_name": event[0],
                "event": event[1],
                "repository": self.repository,
                "base_ref": base_ref,
                "token": self.token,
            },
            secrets=self.secrets,
            vars=self.variables,
            inputs=dict(inputs or {}),
            matrix=dict(matrix or {}),
            needs=dict(needs or {}),
        )
        job = workflow["jobs"][job_id]
        if "if" in job and not should_run(job["if"], run.ctx, True):
            return Job(ran=[])
        listed = interpolate(job.get("strategy", {}).get("matrix", {}), run.ctx)
        assert all(value in listed[key] for key, value in (matrix or {}).items())
        (home / "temp" / "event.json").write_text(json.dumps(event[1]))
        run.env.update(
            GITHUB_EVENT_NAME=event[0],
            GITHUB_EVENT_PATH=str(home / "temp" / "event.json"),
            GITHUB_BASE_REF=base_ref,
        )
        for scope in (workflow.get("env", {}), job.get("env", {})):
            run.ctx["env"].update({k: as_text(v) for k, v in interpolate(scope, run.ctx).items()})
        for index, step in enumerate(job["steps"]):
            if should_run(step.get("if"), run.ctx, run.result.ok):
                run.step(index, step)
        outputs = job.get("outputs", {})
        run.result.outputs = {k: interpolate(v, run.ctx) for k, v in outputs.items()}
        return run.result


class JobRun:
    """One job on one fresh machine: its workspace, environment, contexts and result."""

    def __init__(self, github: GitHub, home: Path, ref: str) -> None:
        self.github, self.home, self.ref = github, home, ref
        self.temp, self.workspace = home / "temp", home / "workspace"
        self.temp.mkdir(parents=True)
        self.ctx: dict[str, Any] = {"steps": {}, "env": {}, "runner": {"temp": str(self.temp)}}
        self.env = {
            **github.machine,
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": github.repository,
            "GITHUB_RUN_ID": home.name,
            "GITHUB_SERVER_URL": "https://github.example",
            "RUNNER_TEMP": str(self.temp),
        }
        self.path: list[str] = []
        self.result = Job(workspace=self.workspace)

    def step(self, index: int, step: Mapping[str, Any]) -> None:
        """Run one step with fresh GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY files."""
        files = {n: self.temp / f"{n.lower()}-{index}" for n in ("GITHUB_OUTPUT", "GITHUB_ENV")}
        files["GITHUB_STEP_SUMMARY"] = self.temp / f"summary-{index}"
        for file in files.values():
            file.touch()
        self.result.ran.append(str(step.get("name") or step.get("uses")))
        if "uses" in step:
            ok = self.action(step, files)
        else:
            step_env = interpolate(step.get("env", {}), self.ctx)
            env = {**self.env, **self.ctx["env"], **{k: as_text(v) for k, v in step_env.items()}}
            env.update({k: str(v) for k, v in files.items()})
            env["PATH"] = os.pathsep.join([*self.path, self.env["PATH"]])
            script = self.temp / f"step-{index}.sh"
            code, log = run_bash(str(step["run"]), self.workspace, env, script)
            self.result.log += log
            ok = code == 0
        self.ctx["env"].update(read_command_file(files["GITHUB_ENV"]))
        self.result.summary += files["GITHUB_STEP_SUMMARY"].read_text()
        if "id" in step:
            outputs = read_command_file(files["GITHUB_OUTPUT"])
            self.ctx["steps"][step["id"]] = {"outputs": outputs}
        self.result.ok = self.result.ok and ok

    def action(self, step: Mapping[str, Any], files: Mapping[str, Path]) -> bool:
        """A ``uses:`` step, done as its documentation says."""
        action = str(step["uses"]).split("@")[0]
        given = {k: as_text(v) for k, v in interpolate(step.get("with", {}), self.ctx).items()}
        if action == "actions/checkout":
            clone(self.github.origin, self.ref, self.workspace, int(given.get("fetch-depth", "1")))
        elif action == "actions/setup-python":
            assert given["python-version"] == "3.11"
            self.path.insert(0, str(make_python(self.home / "python")))
        elif action == "aws-actions/configure-aws-credentials":
            assert not given.get("role-to-assume"), "OIDC needs GitHub: set no AWS_ROLE_ARN here"
            region = given["aws-region"]
            files["GITHUB_ENV"].write_text(
                f"AWS_REGION={region}\nAWS_DEFAULT_REGION={region}\n"
                f"AWS_ACCESS_KEY_ID={given['aws-access-key-id']}\n"
                f"AWS_SECRET_ACCESS_KEY={given['aws-secret-access-key']}\n"
            )
        elif action == "actions/upload-artifact":
            return self.upload(given)
        else:
            raise AssertionError(f"no stand-in for {step['uses']}")
        return True

    def upload(self, given: Mapping[str, str]) -> bool:
        name, artifacts = given["name"], self.result.artifacts
        assert name and not _ARTIFACT_BAD & set(name), f"artifact name {name!r} is refused"
        assert name not in artifacts, f"artifact {name!r} uploaded twice"
        paths = [p.strip() for p in given["path"].splitlines() if p.strip()]
        found = collect(self.workspace, paths)
        if given.get("include-hidden-files", "false") != "true":  # upload-artifact v4.4+
            found = {k: v for k, v in found.items() if not any(p[:1] == "." for p in k.split("/"))}
        artifacts[name] = found
        self.result.retention[name] = int(given.get("retention-days", "90"))
        return bool(artifacts[name]) or given.get("if-no-files-found", "warn") != "error"

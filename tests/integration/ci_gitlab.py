"""A stand-in GitLab runner: `rules:if`, variables, `script:` lines and artifacts."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.ci_harness import Job, clone, collect, make_python, run_bash


def gitlab_condition(text: str, variables: Mapping[str, str]) -> bool:
    """GitLab ``rules:if``: ``$VAR``, ``$VAR == "x"``, ``!=``, ``&&``, ``||``."""
    token = re.compile(r'\s*(?:(\$\w+)|("(?:[^"\\]|\\.)*")|(==|!=|&&|\|\||\(|\)))')
    code, pos = [], 0
    while pos < len(text.strip()):
        m = token.match(text.strip(), pos)
        if not m:
            raise AssertionError(f"cannot read rules:if {text!r}")
        pos = m.end()
        var, string, op = m.groups()
        if var:
            code.append(repr(variables.get(var[1:], "")))
        elif string:
            code.append(string)
        else:
            code.append({"&&": " and ", "||": " or "}.get(op, op))
    return bool(eval("".join(code), {"__builtins__": {}}))


def expand(value: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), ""), value)


@dataclass
class GitLab:
    """One project on a stand-in GitLab: run a job of .gitlab-ci.yml for a pipeline."""

    origin: Path
    scratch: Path
    machine: dict[str, str]
    variables: dict[str, str] = field(default_factory=dict)
    runs: Iterator[int] = field(default_factory=itertools.count)

    def run_job(
        self,
        ci: Mapping[str, Any],
        name: str,
        *,
        ref: str,
        pipeline: Mapping[str, str],
        needed: Mapping[str, bytes] | None = None,
    ) -> Job | None:
        """The job's result, or None when its rules leave it out of this pipeline.
        ``needed``: the artifacts of the jobs it ``needs`` (path: content), put in place."""
        number = next(self.runs)
        job = dict(ci[name])
        for parent in [job.pop("extends")] if "extends" in job else []:
            job = {**ci[parent], **job}
        declared = {
            k: (v["value"] if isinstance(v, dict) else str(v))
            for k, v in ci.get("variables", {}).items()
        }
        base = {**declared, **self.variables, **pipeline}
        rules = job.get("rules", [{}])
        rule = next((r for r in rules if "if" not in r or gitlab_condition(r["if"], base)), None)
        if rule is None:
            return None
        job_vars = {**job.get("variables", {}), **rule.get("variables", {})}
        variables = {**declared, **{k: expand(str(v), base) for k, v in job_vars.items()}}
        variables.update({**self.variables, **pipeline})
        home = self.scratch / f"gl-{number}-{name}"
        workspace = home / "project"
        home.mkdir(parents=True)
        clone(self.origin, ref, workspace, int(variables.get("GIT_DEPTH", "20")))
        for path, data in (needed or {}).items():
            (workspace / path).parent.mkdir(parents=True, exist_ok=True)
            (workspace / path).write_bytes(data)
        bin_dir = make_python(home / "python")
        for token_name in job.get("id_tokens", {}):
            variables[token_name] = "stand-in-oidc-token"
        env = {**self.machine, **variables, "GITLAB_CI": "true", "CI_JOB_NAME": name}
        env["CI_PROJECT_DIR"] = str(workspace)
        env["PATH"] = os.pathsep.join([str(bin_dir), self.machine["PATH"]])
        default = ci.get("default", {})
        lines = [*job.get("before_script", default.get("before_script", [])), *job["script"]]
        code, log = run_bash("\n".join(lines) + "\n", workspace, env, home / "script.sh")
        result = Job(ok=code == 0, log=log, workspace=workspace, ran=[name])
        artifacts = job.get("artifacts", {})
        if artifacts and (result.ok or artifacts.get("when") == "always"):
            paths, exclude = artifacts.get("paths", []), artifacts.get("exclude", [])
            result.artifacts[name] = collect(workspace, paths, exclude)
            result.outputs["expose_as"] = artifacts.get("expose_as", "")
            result.outputs["expire_in"] = artifacts.get("expire_in", "")
        return result

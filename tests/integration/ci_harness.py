"""Run the CI files `segments init` writes as GitHub Actions and GitLab CI would run them.

Real: bash (`bash --noprofile --norc -eo pipefail`, as GitHub runs `shell: bash` and
GitLab's bash shell runs a script), git, pip, jq, curl, the `segments` command that each
job's own install step installs, and every server, over a socket.

Stood in for, each by what its documentation says it does:

- ``actions/checkout``: a clone of the test's origin repository at the ref under test,
  ``--depth 1`` unless ``fetch-depth: 0`` (then every branch, as ``origin/*``). GitHub
  checks out a pull request's merge commit; the base branch does not move in these
  tests, so the head commit has the same tree.
- ``actions/setup-python`` and GitLab's ``image: python:3.11``: a fresh virtualenv put
  first on PATH. Its third-party packages come from this test's environment through a
  ``.pth`` file, and ``PIP_NO_DEPS=1 PIP_NO_INDEX=1`` keep pip off the package index,
  so the install step runs verbatim: ``pip install -r ci/requirements.txt`` installs
  the wheel built from the checkout under test (``--runner-source``).
- ``aws-actions/configure-aws-credentials`` without ``role-to-assume`` (an IAM user):
  exports the region and the key inputs for the later steps (GITHUB_ENV).
- ``actions/upload-artifact``: the ``path`` lines that exist, under ``name``.
- GitLab ``artifacts:paths``: the files under those paths, kept ``when`` it says.
- ``${{ }}`` and GitLab ``rules:if``: a small evaluator; a context, function or
  syntax the files do not use fails the test instead of guessing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = {"github", "env", "vars", "secrets", "inputs", "matrix", "needs", "steps", "runner"}
_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(&&|\|\||==|!=|!|\(|\)|,)|(\d+)|([A-Za-z_][\w.-]*))")
_WHOLE = re.compile(r"\s*\$\{\{(.*?)\}\}\s*", re.S)
_PART = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_ARTIFACT_BAD = set('":<>|*?\r\n\\/')


def build_wheel(into: Path) -> Path:
    """A wheel of the checkout under test, built from a copy (the tree stays clean)."""
    copy = into / "checkout"
    copy.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, copy / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "schemas", copy / "schemas", ignore=ignore)
    shutil.copytree(ROOT / "runner", copy / "runner", symlinks=True, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(into / "dist"),
            str(copy),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (into / "dist").glob("segment_runner-*.whl")
    return wheel


def make_python(folder: Path) -> Path:
    """A fresh virtualenv whose third-party packages come from this test's environment."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    (site,) = (folder / "lib").glob("python3*/site-packages")
    (site / "test-dependencies.pth").write_text(purelib + "\n")
    return folder / "bin"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def clone(origin: Path, ref: str, into: Path, depth: int) -> None:
    shallow = ["--depth", str(depth), "--no-single-branch"] if depth else []
    subprocess.run(
        ["git", "clone", "-q", *shallow, origin.as_uri(), str(into)],
        check=True,
        capture_output=True,
    )
    git(into, "checkout", "-q", ref)


def machine_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A runner machine's environment: the test's, without credentials or CI settings."""
    drop = ("FLOWMATIX_", "AWS_", "GITHUB_", "GITLAB_", "CI_", "PIP_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "CI": "true", "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", **extra}


def run_bash(script: str, cwd: Path, env: Mapping[str, str], file: Path) -> tuple[int, str]:
    file.write_text(script)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(file)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


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


# --- GitHub expressions ----------------------------------------------------------------


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


# --- Jobs ------------------------------------------------------------------------------


@dataclass
class Job:
    """What a job left: did it pass, what it printed, its summary, outputs and artifacts."""

    ok: bool = True
    log: str = ""
    summary: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    retention: dict[str, int] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    workspace: Path = Path()

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("::error")]


def collect(workspace: Path, paths: list[str], exclude: Sequence[str] = ()) -> dict[str, bytes]:
    """The files under ``paths`` (relative to the workspace) but not ``exclude`` (globs)."""
    found = _collect(workspace, paths)
    return {k: v for k, v in found.items() if not any(fnmatch(k, g) for g in exclude)}


def _collect(workspace: Path, paths: list[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in paths:
        found = workspace / entry
        if found.is_file():
            files[entry] = found.read_bytes()
        elif found.is_dir():
            for item in sorted(found.rglob("*")):
                if item.is_file():
                    files[item.relative_to(workspace).as_posix()] = item.read_bytes()
    return files


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
    runs: int = 0

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
        self.runs += 1
        home = self.scratch / f"gh-{self.runs}-{job_id}"
        temp, workspace = home / "temp", home / "workspace"
        temp.mkdir(parents=True)
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(event[1]))
        github = {
            "event_name": event[0],
            "event": event[1],
            "repository": self.repository,
            "base_ref": event[1].get("pull_request", {}).get("base", {}).get("ref", ""),
            "token": self.token,
        }
        ctx: dict[str, Any] = {
            "github": github,
            "secrets": self.secrets,
            "vars": self.variables,
            "inputs": dict(inputs or {}),
            "matrix": dict(matrix or {}),
            "needs": dict(needs or {}),
            "steps": {},
            "runner": {"temp": str(temp)},
        }
        job = workflow["jobs"][job_id]
        if "if" in job and not should_run(job["if"], ctx, True):
            return Job(ran=[])
        matrix_given = interpolate(job.get("strategy", {}).get("matrix", {}), ctx)
        assert not matrix or all(ctx["matrix"][k] in matrix_given[k] for k in ctx["matrix"])
        defaults = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_EVENT_NAME": event[0],
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "GITHUB_SERVER_URL": "https://github.example",
            "RUNNER_TEMP": str(temp),
        }
        env: dict[str, str] = {**self.machine, **defaults}
        ctx["env"] = {}
        for scope in (workflow.get("env", {}), job.get("env", {})):
            ctx["env"].update({k: as_text(v) for k, v in interpolate(scope, ctx).items()})
        result = Job(workspace=workspace)
        path_prefix: list[str] = []
        for index, step in enumerate(job["steps"]):
            if not should_run(step.get("if"), ctx, result.ok):
                continue
            step_env = {k: as_text(v) for k, v in interpolate(step.get("env", {}), ctx).items()}
            files = {n: temp / f"{n.lower()}-{index}" for n in ("GITHUB_OUTPUT", "GITHUB_ENV")}
            files["GITHUB_STEP_SUMMARY"] = temp / f"summary-{index}"
            for file in files.values():
                file.touch()
            full = {**env, **ctx["env"], **step_env, **{k: str(v) for k, v in files.items()}}
            full["PATH"] = os.pathsep.join([*path_prefix, env["PATH"]])
            result.ran.append(str(step.get("name") or step.get("uses") or step.get("id")))
            if "uses" in step:
                where = (ref, workspace, home)
                ok = self._action(step, ctx, where, path_prefix, files, result)
            else:
                code, log = run_bash(str(step["run"]), workspace, full, temp / f"step-{index}.sh")
                result.log += log
                ok = code == 0
            outputs = read_command_file(files["GITHUB_OUTPUT"])
            ctx["env"].update(read_command_file(files["GITHUB_ENV"]))
            result.summary += files["GITHUB_STEP_SUMMARY"].read_text()
            if "id" in step:
                ctx["steps"][step["id"]] = {
                    "outputs": outputs,
                    "outcome": "success" if ok else "failure",
                }
            result.ok = result.ok and ok
        result.outputs = {k: interpolate(v, ctx) for k, v in job.get("outputs", {}).items()}
        return result

    def _action(
        self,
        step: Mapping[str, Any],
        ctx: dict[str, Any],
        where: tuple[str, Path, Path],
        path_prefix: list[str],
        files: Mapping[str, Path],
        result: Job,
    ) -> bool:
        ref, workspace, home = where
        action = str(step["uses"]).split("@")[0]
        given = {k: as_text(v) for k, v in interpolate(step.get("with", {}), ctx).items()}
        if action == "actions/checkout":
            clone(self.origin, ref, workspace, int(given.get("fetch-depth", "1")))
        elif action == "actions/setup-python":
            assert given["python-version"] == "3.11"
            path_prefix.insert(0, str(make_python(home / "python")))
        elif action == "aws-actions/configure-aws-credentials":
            assert not given.get("role-to-assume"), "OIDC needs GitHub: set no AWS_ROLE_ARN here"
            with files["GITHUB_ENV"].open("a") as out:
                out.write(f"AWS_REGION={given['aws-region']}\n")
                out.write(f"AWS_DEFAULT_REGION={given['aws-region']}\n")
                out.write(f"AWS_ACCESS_KEY_ID={given['aws-access-key-id']}\n")
                out.write(f"AWS_SECRET_ACCESS_KEY={given['aws-secret-access-key']}\n")
        elif action == "actions/upload-artifact":
            name = given["name"]
            assert name and not _ARTIFACT_BAD & set(name), f"artifact name {name!r} is refused"
            assert name not in result.artifacts, f"artifact {name!r} uploaded twice"
            paths = [p.strip() for p in given["path"].splitlines() if p.strip()]
            found = collect(workspace, paths)
            if not found and given.get("if-no-files-found", "warn") == "error":
                return False
            result.artifacts[name] = found
            result.retention[name] = int(given.get("retention-days", "90"))
        else:
            raise AssertionError(f"no stand-in for {step['uses']}")
        return True


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
    runs: int = 0

    def run_job(
        self, ci: Mapping[str, Any], name: str, *, ref: str, pipeline: Mapping[str, str]
    ) -> Job | None:
        """The job's result, or None when its rules leave it out of this pipeline."""
        self.runs += 1
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
        home = self.scratch / f"gl-{self.runs}-{name}"
        workspace = home / "project"
        home.mkdir(parents=True)
        clone(self.origin, ref, workspace, int(variables.get("GIT_DEPTH", "20")))
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

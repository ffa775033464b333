"""``segments init``: a new segments repository with CI wiring, ready to validate.

The files are package data under ``templates/`` (named without leading dots so
every packaging tool keeps them); ``ci/requirements.txt`` is written from where
the running segment-runner came from (:mod:`runner.scaffold.source`).

>>> sorted(CI_FILES), sorted(ORCHESTRATOR_FILES)
(['github', 'gitlab'], ['airflow'])
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from runner.errors import DestinationError, UsageError
from runner.problems import counted
from runner.scaffold.source import InstallSource, detect, explicit
from runner.spec.schema import SCHEMA_DIR

REQUIREMENTS = "ci/requirements.txt"
COMMON_FILES = {
    "runner.yaml": "runner.yaml",
    "segments/recent-vip-contacts.yaml": "recent-vip-contacts.yaml",
    ".gitignore": "gitignore",
}
CI_FILES = {
    "github": {
        ".github/workflows/segments-pr.yml": "github/segments-pr.yml",
        ".github/workflows/segments-scheduled.yml": "github/segments-scheduled.yml",
        ".github/workflows/segments-manual.yml": "github/segments-manual.yml",
        ".github/workflows/segments-freshness.yml": "github/segments-freshness.yml",
    },
    "gitlab": {".gitlab-ci.yml": "gitlab/gitlab-ci.yml"},
}
# An orchestrator's files are also what `init --orchestrator` adds to an existing project.
ORCHESTRATOR_FILES = {"airflow": {"dags/segments_dag.py": "airflow/segments_dag.py.txt"}}
NEXT_STEPS = {
    None: "next: git init && git add . && segments validate\n",
    "airflow": "next: create the pool dags/segments_dag.py names (airflow pools set ...), "
    "then AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags airflow dags test segments\n",
}


@dataclass(frozen=True)
class Scaffold:
    """What ``init`` wrote and which segment-runner the CI jobs install."""

    written: list[Path]
    source: InstallSource


def files_for(ci: str, source: InstallSource, orchestrator: str | None = None) -> dict[str, str]:
    """Every scaffold file for ``ci`` as {path relative to the target: text}."""
    if ci not in CI_FILES:
        raise UsageError(f"--ci {ci!r}: choose one of {', '.join(sorted(CI_FILES))}")
    files = _templates({**COMMON_FILES, **CI_FILES[ci], **orchestrator_files(orchestrator)})
    text = _templates({"": "requirements.txt"})[""]
    files[REQUIREMENTS] = text.format(origin=source.origin, line=source.line)
    for schema in sorted(SCHEMA_DIR.glob("*.schema.json")):
        files[f"schemas/{schema.name}"] = schema.read_text("utf-8")
    return files


def orchestrator_files(orchestrator: str | None) -> dict[str, str]:
    """{path: template name} of ``--orchestrator`` (none without it)."""
    if orchestrator is None:
        return {}
    if orchestrator not in ORCHESTRATOR_FILES:
        known = ", ".join(sorted(ORCHESTRATOR_FILES))
        raise UsageError(f"--orchestrator {orchestrator!r}: choose one of {known}")
    return ORCHESTRATOR_FILES[orchestrator]


def _templates(names: dict[str, str]) -> dict[str, str]:
    templates = resources.files(__name__) / "templates"
    return {path: (templates / name).read_text("utf-8") for path, name in names.items()}


def init_project(
    target: Path,
    *,
    force: bool = False,
    ci: str = "github",
    runner_source: str | None = None,
    orchestrator: str | None = None,
) -> Scaffold:
    """Write the scaffold into ``target``; refuse to overwrite anything unless ``force``.

    With ``orchestrator`` in a folder that already holds a project (``runner.yaml`` or
    ``segments/``), only the orchestrator's files are written. Nothing is half-done: if a
    write fails, the files this call created are removed and the error names the path and
    the reason.
    """
    source = explicit(runner_source) if runner_source is not None else detect()
    existing = (target / "runner.yaml").is_file() or (target / "segments").is_dir()
    if orchestrator is not None and existing:
        files = _templates(orchestrator_files(orchestrator))
    else:
        files = files_for(ci, source, orchestrator)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a folder: give a new or existing folder")
    clashes = [name for name in files if (target / name).exists() or (target / name).is_symlink()]
    if clashes and not force:
        more = f", as do {len(clashes) - 1} more scaffold files" if len(clashes) > 1 else ""
        raise UsageError(
            f"{target / clashes[0]} already exists{more}; "
            "use --force to overwrite (nothing was written)"
        )
    created: list[Path] = []
    overwritten = 0
    for name, text in files.items():
        path = target / name
        try:
            _make_parents(path.parent, created)
            existed = path.exists()
            _write_atomically(path, text)
        except OSError as exc:
            _remove(created)
            where = exc.filename if exc.filename is not None else path
            done = (
                f"{counted(overwritten, 'file')} overwritten"
                if overwritten
                else "nothing was written"
            )
            raise DestinationError(f"cannot write {where}: {exc.strerror or exc}; {done}") from exc
        overwritten += existed
        if not existed:
            created.append(path)
    return Scaffold([target / name for name in files], source)


def init(
    target: Path,
    *,
    force: bool = False,
    ci: str = "github",
    runner_source: str | None = None,
    orchestrator: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> Scaffold:
    """``segments init``: write the scaffold and say what CI will install."""
    out = out or sys.stdout
    err = err or sys.stderr
    made = init_project(
        target, force=force, ci=ci, runner_source=runner_source, orchestrator=orchestrator
    )
    for path in made.written:
        out.write(f"created {path}\n")
    out.write(f"CI installs {made.source.line}  ({REQUIREMENTS}, from {made.source.origin})\n")
    if made.source.warning:
        err.write(f"segments: warning: {made.source.warning}\n")
    out.write(NEXT_STEPS[orchestrator])
    return made


def _make_parents(folder: Path, created: list[Path]) -> None:
    """``mkdir -p folder``, recording each folder made so a failure can remove it."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".segments-tmp-{os.getpid()}-{path.name}")
    try:
        temporary.write_text(text, "utf-8")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _remove(created: list[Path]) -> None:
    """Undo this call's files and folders, newest first."""
    for path in reversed(created):
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()

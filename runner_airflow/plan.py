"""Which export tasks a DAG holds, which pool they share and what ``--concurrency`` each gets.

Worked out at parse time, without Airflow. The segments come from a saved
``segments list --format json`` (as astronomer-cosmos reads dbt's manifest: parsing never
opens a segment file), or from the project itself: its list is then kept in
``.segments/airflow/list.json`` and reused until ``runner.yaml`` or a file under
``segments/`` changes, because loading 1,000 segment files takes longer than a DAG parse
may. Selection is the CLI's (names with wildcards, ``label:NAME``, file paths).

The pool rule: the exports sharing a token share one pool named after ``api.token_env``;
with ``slots`` tasks at once, each is pinned to ``--concurrency budget // slots``, so the
token never has more than ``budget`` requests in flight (``api.concurrency`` when it is a
number, else ``api.max_concurrency``).

>>> share = TokenShare("FLOWMATIX_TOKEN", budget=16, slots=4)
>>> share.pool, share.concurrency
('FLOWMATIX_TOKEN', 4)
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.problems import did_you_mean

if TYPE_CHECKING:
    from runner.spec.project import ApiSettings

CACHE = Path(".segments") / "airflow" / "list.json"
DEFAULT_SLOTS = 4
MAX_RETRIES = 1  # pages are retried inside the runner: a second task try is the last


class PlanError(ValueError):
    """The DAG cannot be planned: a saved list, a selector or a number is wrong."""


@dataclass(frozen=True)
class Listed:
    """One segment as ``segments list --format json`` shows it."""

    name: str
    labels: tuple[str, ...]
    file: str  # relative to the project folder, as the list was saved


@dataclass(frozen=True)
class TokenShare:
    """One API token's pool, and the ``--concurrency`` that keeps it within its budget."""

    token_env: str
    budget: int  # requests at once the token may have in flight
    slots: int = DEFAULT_SLOTS  # tasks at once: the pool's slots

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= self.budget:
            raise PlanError(
                f"pool_slots {self.slots}: give 1 to {self.budget}, the requests at once "
                f"{self.token_env} may have in flight (each task runs at least one)"
            )

    @property
    def pool(self) -> str:
        return self.token_env

    @property
    def concurrency(self) -> int:
        return self.budget // self.slots

    def pool_command(self) -> str:
        """The command that creates (or resizes) the pool, as the README shows it."""
        why = (
            f"segment-runner exports sharing {self.token_env}: {self.slots} tasks x "
            f"--concurrency {self.concurrency} <= {self.budget} requests at once"
        )
        return f'airflow pools set {self.pool} {self.slots} "{why}"'


@dataclass(frozen=True)
class Plan:
    project: Path
    segments: tuple[Listed, ...]
    share: TokenShare


def read_saved_list(path: Path) -> list[dict[str, Any]]:
    """The rows of a saved ``segments list --format json``; PlanError names what is wrong."""
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: cannot read a saved segments list: {exc}") from exc
    if not isinstance(rows, list):
        raise PlanError(f"{path}: expected the JSON list `segments list --format json` writes")
    for number, row in enumerate(rows, 1):
        missing = [k for k in ("name", "labels", "file", "token_env") if k not in row]
        if missing:
            raise PlanError(
                f"{path}: entry {number} has no {missing[0]!r}: save the list again with "
                "`segments list --format json` (segment-runner 0.1.0 or later)"
            )
    return list(rows)


def project_rows(project: Path, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every segment of ``project`` as list rows, from the cache while it is current."""
    mark = fingerprint(project)
    cache = project / CACHE
    try:
        saved = json.loads(cache.read_text("utf-8"))
        if saved["fingerprint"] == mark:
            return list(saved["segments"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or another version's: list the project
    rows = list_project(project, env)
    _save(cache, {"fingerprint": mark, "segments": rows})
    return rows


def list_project(project: Path, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """``segments list --format json`` in-process; files with problems are listed too, so
    their tasks fail with the problems instead of vanishing from the DAG."""
    from runner.errors import RunnerError
    from runner.spec.workspace import Workspace

    try:
        ws = Workspace.open(project, env=env)
    except RunnerError as exc:
        raise PlanError(f"{project}: {exc}") from exc
    shared = token_fields(ws.project.api)
    found = [(s.name, s.labels, s.file) for s in ws.segments]
    found += [(f.name, f.labels, f.file) for f in ws.failed]
    root = project.resolve()
    return [
        {"name": name, "labels": list(labels), "file": _relative(file, root), **shared}
        for name, labels, file in sorted(found)
    ]


def token_fields(api: ApiSettings) -> dict[str, Any]:
    """The fields of a list row that say how the token is shared (``segments list``'s)."""
    return {
        "token_env": api.token_env,
        "concurrency": api.concurrency,
        "max_concurrency": api.max_concurrency,
    }


def fingerprint(project: Path) -> str:
    """Names, sizes and times of ``runner.yaml`` and every file under ``segments/``."""
    from runner import __version__

    digest = hashlib.sha256(__version__.encode())
    files = [project / "runner.yaml", *sorted((project / "segments").rglob("*"))]
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path.relative_to(project)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def select(
    rows: Sequence[Mapping[str, Any]],
    selectors: Iterable[str] = (),
    exclude: Iterable[str] = (),
    project: Path = Path("."),
) -> list[Listed]:
    """The rows the CLI's selectors pick (all when none), minus any ``exclude`` match."""
    listed = [Listed(r["name"], tuple(r["labels"]), r["file"]) for r in rows]
    chosen = list(selectors)
    for selector in chosen:
        if not any(_match(item, selector, project) for item in listed):
            raise PlanError(_no_match(selector, listed))
    picked = [s for s in listed if not chosen or any(_match(s, c, project) for c in chosen)]
    return [s for s in picked if not any(_match(s, x, project) for x in exclude)]


def share_of(rows: Sequence[Mapping[str, Any]], slots: int, budget: int | None) -> TokenShare:
    """The token's pool for these rows (one project: one token)."""
    if not rows:
        raise PlanError("no segments to plan: the project or the saved list has none")
    first = rows[0]
    fixed = first.get("concurrency")
    default = fixed if isinstance(fixed, int) else int(first.get("max_concurrency", 16))
    return TokenShare(str(first["token_env"]), budget or default, slots)


def make_plan(
    project: Path,
    selectors: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    saved_list: Path | str | None = None,
    slots: int = DEFAULT_SLOTS,
    budget: int | None = None,
) -> Plan:
    """What :func:`runner_airflow.dag.segments_dag` builds its tasks from."""
    rows = read_saved_list(Path(saved_list)) if saved_list else project_rows(project)
    share = share_of(rows, slots, budget)
    return Plan(project, tuple(select(rows, selectors, exclude, project)), share)


def _match(item: Listed, selector: str, project: Path) -> bool:
    if selector.startswith("label:"):
        return selector[6:] in item.labels
    if selector.startswith("state:"):
        raise PlanError(
            f"{selector}: a DAG fixed at parse time cannot compare with git; "
            "use mapped_segments_dag, which selects at run time"
        )
    if selector.endswith((".yaml", ".yml")) or "/" in selector:
        return (project / selector).resolve() == (project / item.file).resolve()
    return fnmatch.fnmatchcase(item.name, selector)


def _no_match(selector: str, listed: Sequence[Listed]) -> str:
    if selector.startswith("label:"):
        known = sorted({label for s in listed for label in s.labels})
        hint = did_you_mean(selector[6:], known) or f" (in use: {', '.join(known) or 'none'})"
        return f"no segment has the label {selector[6:]!r}{hint}"
    return f"no segment matches {selector!r}{did_you_mean(selector, [s.name for s in listed])}"


def _relative(file: str, root: Path) -> str:
    path = Path(file).resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _save(cache: Path, document: Mapping[str, Any]) -> None:
    """Whole or not at all; a folder Airflow may not write to only makes parses slower."""
    text = json.dumps(document, ensure_ascii=False)
    temporary: str | None = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False) as handle:
            temporary = handle.name
            handle.write(text)
        os.replace(temporary, cache)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)

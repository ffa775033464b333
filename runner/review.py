"""Git-aware review: what changed since a ref, rendered before and after.

``state:modified`` compares each segment's *effective* configuration (its
rendered body, output, expectations and the API settings that shape its
records) with the same project at a git ref, rendered on the same clock, so a
change in ``runner.yaml`` selects exactly the segments it affects.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, RunnerError, UsageError
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed; state:modified and diff need it") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"git {' '.join(args)} failed: {reason[-1] if reason else 'unknown error'}"
        )
    return done.stdout


def default_base(project: Path) -> str:
    """The merge base of HEAD with the main branch (main, master, or their origin copies)."""
    for branch in ("origin/main", "main", "origin/master", "master"):
        try:
            return _git(project, "merge-base", "HEAD", branch).decode().strip()
        except UsageError:
            continue
    raise UsageError("no main branch to compare with: pass a REF, e.g. `segments diff HEAD~1`")


def checkout_at(project: Path, ref: str, into: Path) -> Path:
    """Extract the project folder as it was at ``ref`` into ``into``; return its root there."""
    if ref.startswith("-") or not ref.isprintable() or not ref.strip():
        # git would read '--output=...' as an option, not a ref.
        raise UsageError(f"{ref!r} is not a git ref (a branch, tag or commit, e.g. HEAD~1)")
    prefix = _git(project, "rev-parse", "--show-prefix").decode().strip()
    _git(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    treeish = f"{ref}:{prefix.rstrip('/')}" if prefix else ref
    data = _git(project, "archive", "--format=tar", treeish)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def fingerprint(seg: Segment, ws: Workspace) -> str:
    api = ws.project.api
    out = seg.output
    return json.dumps(
        {
            "body": seg.body,
            "output": {
                "format": out.format,
                "path": out.path,
                "columns": [(c.name, c.source, c.default) for c in out.columns or ()],
                "compression": out.compression,
                "csv": vars(out.csv),
                "s3": dict(out.s3),
            },
            "expect": [seg.min_rows, seg.max_rows],
            "compose": seg.compose.describe(),
            "api": [api.url, api.records_path, api.id_key, sorted(api.headers)],
        },
        sort_keys=True,
        default=str,
    )


def workspace_at(ws: Workspace, ref: str, tmp: Path) -> Workspace:
    root = checkout_at(ws.project.root, ref, tmp)
    # Same environment as the current side: FLOWMATIX_API_URL must not read as a change.
    return Workspace.open(root, as_of=ws.clock.iso(), variables=ws.variables)


def modified_filter(ws: Workspace, ref: str) -> Callable[[Segment], bool]:
    with tempfile.TemporaryDirectory(prefix="segments-state-") as tmp:
        old = workspace_at(ws, ref, Path(tmp))
        before = {s.name: fingerprint(s, old) for s in old.segments}
    return lambda seg: before.get(seg.name) != fingerprint(seg, ws)


@dataclass
class Change:
    name: str
    status: str  # added | removed | changed
    file: str
    body_diff: str
    output_before: str | None
    output_after: str | None
    count_before: int | None = None
    count_after: int | None = None
    before: Segment | None = None
    after: Segment | None = None
    # --count: how the change moves the overlap with each other segment's last export
    overlap: list[dict[str, Any]] = field(default_factory=list)


def _body_text(seg: Segment | None) -> list[str]:
    if seg is None:
        return []
    # every line ends in a newline, the body's last too: else unified_diff glues the
    # first composition line onto the closing brace ("}-# exclude: lead")
    text = json.dumps(seg.body, indent=2, ensure_ascii=False) + "\n"
    return text.splitlines(keepends=True) + [f"# {line}\n" for line in seg.compose.lines()]


def changes(ws: Workspace, ref: str, selected: list[Segment]) -> list[Change]:
    with tempfile.TemporaryDirectory(prefix="segments-diff-") as tmp:
        old = workspace_at(ws, ref, Path(tmp))
        old_by_name = {s.name: s for s in old.segments}
        before_print = {s.name: fingerprint(s, old) for s in old.segments}
        old_files = {
            s.name: os.path.relpath(
                ws.project.root / Path(s.file).resolve().relative_to(Path(tmp).resolve())
            )
            for s in old.segments
        }
    new_by_name = {s.name: s for s in selected}
    out: list[Change] = []
    for name in sorted(set(old_by_name) | set(new_by_name)):
        prev, cur = old_by_name.get(name), new_by_name.get(name)
        if cur is None and name in {s.name for s in ws.segments}:
            continue  # not selected
        if prev is not None and cur is not None and before_print[name] == fingerprint(cur, ws):
            continue
        status = "added" if prev is None else "removed" if cur is None else "changed"
        diff = "".join(
            difflib.unified_diff(
                _body_text(prev), _body_text(cur), f"{name} @ {ref[:12]}", f"{name} (working tree)"
            )
        )
        out.append(
            Change(
                name=name,
                status=status,
                file=cur.file if cur else old_files[name],
                body_diff=diff,
                output_before=prev.output.path if prev else None,
                output_after=cur.output.path if cur else None,
                before=prev,
                after=cur,
            )
        )
    return out


def count_audiences(ws: Workspace, found: list[Change], env: Mapping[str, str]) -> None:
    """Count both versions of each change: the export's path in dry-run mode, nothing written."""
    from runner.fetch import token_from_env
    from runner.fetch.saved import SavedSegments, resolve_all
    from runner.history.overlap import IdCollector
    from runner.run.count import count_contacts

    token = token_from_env(ws.project.api, env)
    versions = [v for change in found for v in (change.before, change.after)]
    # Every name is resolved before any count: a misspelt one costs no page of the others.
    ready, problems = resolve_all(
        [v for v in versions if v is not None], SavedSegments(ws.project.api, env)
    )
    if problems:
        raise ConfigError("\n".join(map(str, problems)))
    resolved = iter(ready)  # one for each version there is, in order
    ids = [None if v is None else IdCollector(ws.project.api.id_key) for v in versions]
    counts = [
        None if v is None else count_contacts(next(resolved), ws, token, watch)
        for v, watch in zip(versions, ids, strict=True)
    ]
    for change, before, after in zip(found, counts[::2], counts[1::2], strict=True):
        change.count_before, change.count_after = before, after
    _overlaps(ws, found, ids)


def _overlaps(ws: Workspace, found: list[Change], ids: list[Any]) -> None:
    """Each change's overlap with every other segment's last published ids (its id
    snapshot), before and after the change; segments without a snapshot are left out."""
    from runner.history.overlap import Pair, latest_audience, shared
    from runner.run.plan import store_for

    others, id_key = {}, ws.project.api.id_key
    for seg in ws.segments:
        try:  # a history that cannot be reached (S3 without credentials) has no figure
            audience = latest_audience(store_for(seg, ws.project, None), seg.name, id_key)
        except RunnerError:
            continue
        if audience.digests is not None:
            others[seg.name] = audience.digests
    for change, before, after in zip(found, ids[::2], ids[1::2], strict=True):
        mine = [None if c is None else c.digests() for c in (before, after)]
        for name, theirs in others.items():
            if name == change.name:
                continue
            pairs = [
                None
                if d is None
                else Pair(change.name, name, len(d), len(theirs), shared(d, theirs))
                for d in mine
            ]
            change.overlap.append(
                {
                    "segment": name,
                    "shared_before": pairs[0].shared if pairs[0] else None,
                    "shared_after": pairs[1].shared if pairs[1] else None,
                    "jaccard_before": pairs[0].jaccard if pairs[0] else None,
                    "jaccard_after": pairs[1].jaccard if pairs[1] else None,
                }
            )

"""After step 5: the files of the output's previous result that this run's result does
not have are removed, so a run leaves exactly its own files as current.

What a result is, is what its manifest lists (:func:`listed`): the output's one file or
its parts, the holdout's file or parts, the delta files, all beside the output. Before
anything is published, :meth:`Earlier.read` reads the manifests of this segment's
previous result: the plain and the set manifest under this run's name, and under the
name the previous successful run wrote (the run history's ``output_path``) when that is
not this run's but its path as written (``output_template``) still renders to it now,
so a format or a fixed name changed; never a dated file of another day, nor an
incremental run's window. Once this run's files and manifest are in place,
:meth:`Earlier.remove_superseded` removes, for each such manifest, that manifest first
(if it is not where this run's is, and still the bytes read), then each file it lists
that this run's manifest does not, if that file is still the one listed (its size and
sha256: :meth:`~runner.sinks.base.Destination.remove_published`). A file the runner did
not write, or one rewritten since, stays; a failed or killed run publishes nothing and
removes nothing.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import RunnerError
from runner.run.plan import Plan
from runner.sinks import Destination
from runner.sinks.base import set_name
from runner.spec.templating import TemplateContext, render_string
from runner.spec.workspace import Workspace


@dataclass(frozen=True)
class Listed:
    """One file a manifest lists: its name beside the output, its size and sha256."""

    name: str
    size: int
    sha256: str


def listed(document: Any) -> list[Listed]:
    """Every file a manifest document lists beside its output: the output (its one file or
    its parts), the holdout's file or parts, the delta files; [] for a document this
    runner did not write.

    >>> held = {"destination": "out/v.holdout.csv", "bytes": 3, "sha256": "b"}
    >>> doc = {"destination": "out/v.csv", "bytes": 9, "sha256": "a", "audience": {"holdout": held}}
    >>> [f.name for f in listed(doc)]
    ['v.csv', 'v.holdout.csv']
    """
    try:
        files = _one_or_parts(document)
        holdout = (document.get("audience") or {}).get("holdout")
        if holdout:
            files += _one_or_parts(holdout)
        delta = (document.get("history") or {}).get("delta") or {}
        files += [_entry(delta[tag]) for tag in ("added", "removed") if delta.get(tag)]
    except (AttributeError, KeyError, TypeError, ValueError):
        return []
    return files


def _one_or_parts(fields: Mapping[str, Any]) -> list[Listed]:
    parts = fields.get("parts")
    return [_entry(e) for e in parts] if isinstance(parts, list) else [_entry(fields)]


def _entry(fields: Mapping[str, Any]) -> Listed:
    name = posixpath.basename(str(fields["destination"]))
    size, sha256 = fields["bytes"], fields["sha256"]
    if name in ("", ".", "..") or type(size) is not int or not isinstance(sha256, str):
        raise ValueError("not a file this runner listed")
    return Listed(name, size, sha256)


@dataclass(frozen=True)
class Found:
    """A manifest of the previous result, as read before this run published."""

    owner: Destination  # the name whose manifest it is: the plain name or <name>.parts
    base: Destination  # the plain name: the files it lists are beside it
    data: bytes
    files: tuple[Listed, ...]


def beside(base: Destination, name: str) -> Destination:
    return base.sibling(lambda _: name)


@dataclass(frozen=True)
class Earlier:
    """The previous result's manifests (see the module)."""

    base: Destination  # this run's output, by its plain name
    found: tuple[Found, ...]

    @classmethod
    def read(cls, plan: Plan, ws: Workspace) -> Earlier:
        base = plan.destination  # a set's siblings and manifests are named as the plain file's
        bases = [base]
        earlier = earlier_path(plan, ws)
        if earlier is not None:
            with contextlib.suppress(RunnerError):  # a path no longer allowed: left alone
                bases.append(plan.plain(earlier))
        found = [
            _found(owner, named, plan.seg.name)
            for named in bases
            for owner in (named, named.sibling(set_name))
        ]
        return cls(base, tuple(f for f in found if f is not None))

    def remove_superseded(self, document: Mapping[str, Any]) -> None:
        """This run's manifest ``document`` is in place: what the previous result's
        manifests list and it does not goes, each manifest first."""
        kept = {beside(self.base, f.name).display for f in listed(document)}
        owner = self.base.sibling(set_name) if document.get("parts") is not None else self.base
        for found in self.found:
            replaced = found.owner.manifest_display == owner.manifest_display
            if not replaced and not found.owner.remove_manifest(found.data):
                continue  # rewritten since (another run): not ours to clear
            for file in found.files:
                # The run is published: a name no destination takes is left, never raised.
                with contextlib.suppress(RunnerError, ValueError):
                    where = beside(found.base, file.name)
                    if where.display not in kept:
                        where.remove_published(file.size, file.sha256)


def _found(owner: Destination, base: Destination, segment: str) -> Found | None:
    data = owner.read_manifest()
    if data is None:
        return None
    try:
        document = json.loads(data)
    except ValueError:
        return None
    files = listed(document)
    if not files or document.get("segment") != segment:
        return None  # not a manifest of this segment's
    return Found(owner, base, data, tuple(files))


def earlier_path(plan: Plan, ws: Workspace) -> str | None:
    """The output path of the last successful run, when it is not this run's and its
    path as written still renders to it now (a fixed path, or a dated one of today): the
    result this run replaces. None otherwise (no such run, or one before this was kept)."""
    previous, path = plan.previous, plan.seg.output.path
    if previous is None or not previous.output_path or previous.output_template is None:
        return None
    if "incremental" in (plan.seg.mode, previous.mode):
        return None  # a window's file never replaces a whole audience's, nor the reverse
    if previous.output_path == path:
        return None
    seg = plan.seg
    context = TemplateContext(ws.clock, ws.variables, {"name": seg.name, "labels": [*seg.labels]})
    try:
        again = render_string(previous.output_template, context)
    except RunnerError:
        return None
    return previous.output_path if again == previous.output_path else None

"""A project opened for one run: settings, every segment, one clock, and selection.

For example (not run: it needs a server or a project)::

    ws = Workspace.open(Path("."), as_of="2026-11-25T00:00:00Z")
    [s.name for s in ws.select(["label:vip"])]
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import ProjectFileError, UsageError
from runner.problems import Problem, did_you_mean
from runner.spec import compose
from runner.spec.crosscheck import cross_check
from runner.spec.project import Project, load_project
from runner.spec.segment import Loaded, Segment, load_segment
from runner.spec.templating import Clock

StateFilter = Callable[[Segment], bool]


def find_segment_files(paths: Iterable[Path]) -> list[Path]:
    """The ``.yaml``/``.yml`` files under each folder (sorted), and each file as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


@dataclass
class Workspace:
    project: Project
    clock: Clock
    segments: list[Segment]
    problems: list[Problem]
    variables: Mapping[str, str] = field(default_factory=dict)
    state: StateFilter | None = None
    failed: list[Loaded] = field(default_factory=list)  # files that did not load
    # segment -> why its filter.segments names could not be resolved in this command
    unresolved: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        as_of: str | None = None,
        variables: Mapping[str, str] | None = None,
        paths: Sequence[Path] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Workspace:
        """Load ``root/runner.yaml`` and every segment file.

        Raises :class:`ProjectFileError` if ``runner.yaml`` has any problem: its
        settings (API, token variable, output root, time zone) were not understood,
        so nothing may run on defaults in their place.
        """
        project, problems = load_project(root, env)
        if problems:
            raise ProjectFileError(problems)
        clock = Clock.parse(as_of, project.timezone)
        variables = dict(variables or {})
        if paths:
            missing = [p for p in paths if not os.path.lexists(p)]
            if missing:
                raise UsageError(f"no such file or folder: {missing[0]}")
        files = find_segment_files(paths or [project.segments_dir])
        loaded = [load_segment(file, project, clock, variables) for file in files]
        segments = [item.segment for item in loaded if item.segment is not None]
        failed = [item for item in loaded if item.segment is None]
        problems = [p for item in loaded for p in item.problems]
        problems += cross_check(segments, project)
        problems += compose.check(segments, [item.name for item in failed])
        ws = cls(project, clock, segments, sorted(set(problems)), variables)
        ws.failed = failed
        return ws

    def select(self, selectors: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Segment]:
        """Segments matching any selector (all when none), minus any ``exclude`` match.

        A selector is a segment name (shell-style wildcards allowed), a file path,
        ``label:NAME``, or ``state:modified`` (needs :attr:`state`).
        """
        chosen = list(selectors)
        picked = [s for s in self.segments if not chosen or any(self._match(s, c) for c in chosen)]
        for sel in chosen:
            if sel.startswith("state:") or any(self._match(s, sel) for s in self.segments):
                continue
            if any(self._match(item, sel) for item in self.failed):
                continue  # a file with problems: they are reported, it is not exported
            if sel.startswith("label:"):
                known = sorted({label for s in self.segments for label in s.labels})
                hint = did_you_mean(sel[6:], known) or f" (in use: {', '.join(known) or 'none'})"
                raise UsageError(f"no segment has the label {sel[6:]!r}{hint}")
            names = [s.name for s in self.segments] + [item.name for item in self.failed]
            hint = did_you_mean(sel, names)
            raise UsageError(f"no segment matches {sel!r}{hint}")
        excluded = list(exclude)
        return [s for s in picked if not any(self._match(s, x) for x in excluded)]

    def _match(self, seg: Segment | Loaded, selector: str) -> bool:
        if selector.startswith("label:"):
            return selector[6:] in seg.labels
        if selector.startswith("state:"):
            if selector != "state:modified":
                raise UsageError(f"unknown selector {selector!r}: the only state is state:modified")
            if self.state is None:
                raise UsageError("state:modified needs --state REF (a git ref to compare with)")
            return isinstance(seg, Segment) and self.state(seg)
        if selector.endswith((".yaml", ".yml")) or "/" in selector:
            return Path(selector).resolve() == Path(seg.file).resolve()
        if isinstance(seg, Loaded) and fnmatch.fnmatchcase(Path(seg.file).stem, selector):
            return True
        return fnmatch.fnmatchcase(seg.name, selector)

"""A project opened for one run: settings, every segment, one clock, and selection.

>>> ws = Workspace.open(Path("."), as_of="2026-11-25T00:00:00Z")  # doctest: +SKIP
>>> [s.name for s in ws.select(["label:vip"])]  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import Project, load_project
from runner.errors import UsageError
from runner.problems import Problem, did_you_mean
from runner.spec import Segment, cross_check, find_segment_files, load_segment
from runner.templating import Clock

StateFilter = Callable[[Segment], bool]


@dataclass
class Workspace:
    project: Project
    clock: Clock
    segments: list[Segment]
    problems: list[Problem]
    variables: Mapping[str, str] = field(default_factory=dict)
    state: StateFilter | None = None

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
        project, problems = load_project(root, env)
        clock = Clock.parse(as_of, project.timezone if not problems else "UTC")
        variables = dict(variables or {})
        if paths:
            missing = [p for p in paths if not p.exists()]
            if missing:
                raise UsageError(f"no such file or folder: {missing[0]}")
        files = find_segment_files(paths or [project.segments_dir])
        segments: list[Segment] = []
        for file in files:
            seg, found = load_segment(file, project, clock, variables)
            problems += found
            if seg is not None:
                segments.append(seg)
        problems += cross_check(segments)
        return cls(project, clock, segments, sorted(set(problems)), variables)

    def select(self, selectors: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Segment]:
        """Segments matching any selector (all when none), minus any ``exclude`` match.

        A selector is a segment name (shell-style wildcards allowed), a file path,
        ``label:NAME``, or ``state:modified`` (needs :attr:`state`).
        """
        chosen = list(selectors)
        picked = [s for s in self.segments if not chosen or any(self._match(s, c) for c in chosen)]
        for sel in chosen:
            if not any(self._match(s, sel) for s in self.segments) and not sel.startswith(
                ("state:", "label:")
            ):
                hint = did_you_mean(sel, [s.name for s in self.segments])
                raise UsageError(f"no segment matches {sel!r}{hint}")
        excluded = list(exclude)
        return [s for s in picked if not any(self._match(s, x) for x in excluded)]

    def _match(self, seg: Segment, selector: str) -> bool:
        if selector.startswith("label:"):
            return selector[6:] in seg.labels
        if selector.startswith("state:"):
            if selector != "state:modified":
                raise UsageError(f"unknown selector {selector!r}: the only state is state:modified")
            if self.state is None:
                raise UsageError("state:modified needs --state REF (a git ref to compare with)")
            return self.state(seg)
        if selector.endswith((".yaml", ".yml")) or "/" in selector:
            return Path(selector).resolve() == Path(seg.file).resolve()
        return fnmatch.fnmatchcase(seg.name, selector)

"""Audiences from audiences: a segment's ``exclude``, ``only`` and ``holdout`` keys.

``exclude: [b]`` leaves out every contact of segment ``b``; ``only: [b]`` keeps only
the contacts also in ``b`` (in each one listed); ``holdout: {share, salt}`` holds a
share of what is left back, in a file of its own. Contacts are the same contact when
their ``api.id_key`` is the same id (:mod:`runner.fetch.records`).

A referenced segment's audience is its own filter with its own ``exclude`` and
``only`` applied (recursively), before its own holdout: a holdout is how a segment is
published, not who is in it. So references form a graph, and a cycle (``a`` excludes
``b``, ``b`` only ``a``) has no answer: :func:`check` reports it, with unknown names,
at the reference's ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from runner.problems import Problem, did_you_mean

Where = Callable[[tuple[str | int, ...]], tuple[int, int]]
RUN = "run"  # fetched in this run
LAST_PUBLISHED = "last-published"  # the ids its last successful run published
HOLDOUT_TAG = "holdout"  # <name>.holdout.<ext>


@dataclass(frozen=True)
class Reference:
    """One item of ``exclude`` or ``only``; ``line``/``col`` where the file names it."""

    segment: str
    source: str = RUN  # RUN | LAST_PUBLISHED
    line: int = 1
    col: int = 1

    def describe(self) -> str:
        return self.segment if self.source == RUN else f"{self.segment} ({self.source})"


@dataclass(frozen=True)
class Holdout:
    share: Fraction  # of the audience held back, 0 < share < 1
    salt: str
    text: str  # the share as written, e.g. "10%"


@dataclass(frozen=True)
class Composition:
    exclude: tuple[Reference, ...] = ()
    only: tuple[Reference, ...] = ()
    holdout: Holdout | None = None

    @property
    def references(self) -> tuple[Reference, ...]:
        return self.exclude + self.only

    @property
    def filters(self) -> bool:
        """Whether the audience depends on other segments."""
        return bool(self.exclude or self.only)

    def describe(self) -> dict[str, Any]:
        """What ``render`` and ``diff`` show: only the keys the file sets."""
        shown: dict[str, Any] = {}
        if self.exclude:
            shown["exclude"] = [ref.describe() for ref in self.exclude]
        if self.only:
            shown["only"] = [ref.describe() for ref in self.only]
        if self.holdout is not None:
            shown["holdout"] = {"share": self.holdout.text, "salt": self.holdout.salt}
        return shown

    def lines(self) -> list[str]:
        """One line a key, as ``render`` and ``diff`` print them below the body.

        >>> Composition((Reference("ordered"),), (), Holdout(Fraction(1, 10), "q4", "10%")).lines()
        ['exclude: ordered', "holdout: 10% (salt 'q4')"]
        """
        return described_lines(self.describe())


NONE = Composition()


def described_lines(shown: Mapping[str, Any]) -> list[str]:
    """:meth:`Composition.lines` from what :meth:`Composition.describe` gave (other keys
    are left alone)."""
    lines = [f"{key}: {', '.join(shown[key])}" for key in ("exclude", "only") if key in shown]
    if "holdout" in shown:
        lines.append(f"holdout: {shown['holdout']['share']} (salt {shown['holdout']['salt']!r})")
    return lines


def parse_share(text: str) -> Fraction:
    """``"10%"`` -> 1/10 (the schema has checked the form).

    >>> parse_share(" 12.5 % ")
    Fraction(1, 8)
    """
    return Fraction(text.strip().rstrip("%").strip()) / 100


def composition(
    data: Mapping[str, Any], where: Where, problems: list[Problem], file: str
) -> Composition:
    """The keys of a schema-checked segment; ``where(path)`` gives a value's (line, col)."""
    refs: dict[str, tuple[Reference, ...]] = {}
    for key in ("exclude", "only"):
        items: list[Reference] = []
        for i, item in enumerate(data.get(key, ())):
            line, col = where((key, i))
            if isinstance(item, str):
                items.append(Reference(item, RUN, line, col))
            else:
                items.append(Reference(item["segment"], item.get("from", RUN), line, col))
        refs[key] = tuple(items)
    holdout = None
    raw = data.get("holdout")
    if isinstance(raw, dict):
        share = parse_share(raw["share"])
        if not 0 < share < 1:
            line, col = where(("holdout", "share"))
            problems.append(
                Problem(
                    file,
                    line,
                    col,
                    f"holdout.share {raw['share']!r} must be above 0% and below 100% "
                    "(0% holds nobody back: leave holdout out; 100% would publish nobody)",
                )
            )
        holdout = Holdout(share, raw["salt"], raw["share"].strip())
    return Composition(refs["exclude"], refs["only"], holdout)


class Composes(Protocol):
    """What :func:`check` reads of a segment (:class:`runner.spec.segment.Segment`)."""

    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def compose(self) -> Composition: ...


def check(segments: Sequence[Composes], failed: Iterable[str] = ()) -> list[Problem]:
    """Unknown names and cycles among the ``exclude``/``only`` of ``segments`` (each has
    ``name``, ``file`` and ``compose``). ``failed``: names of files that did not load
    (a reference to one is not unknown; that file's own problems are reported)."""
    by_name = {seg.name: seg for seg in segments}
    known = sorted({*by_name, *failed})
    problems: list[Problem] = []
    for seg in segments:
        for key, refs in (("exclude", seg.compose.exclude), ("only", seg.compose.only)):
            for ref in refs:
                if ref.segment in known:
                    continue
                others = [name for name in known if name != seg.name]
                hint = did_you_mean(ref.segment, others) or (
                    f" (segments: {', '.join(others[:8])}{', ...' if len(others) > 8 else ''})"
                    if others
                    else " (the project has no other segment)"
                )
                message = f"{key}: no segment is named '{ref.segment}'{hint}"
                problems.append(Problem(seg.file, ref.line, ref.col, message))
    return problems + _cycles(by_name)


def _cycles(by_name: Mapping[str, Composes]) -> list[Problem]:
    """Each reference that closes a cycle, in the file that makes it."""
    problems: list[Problem] = []
    for seg in by_name.values():
        for key, refs in (("exclude", seg.compose.exclude), ("only", seg.compose.only)):
            for ref in refs:
                if ref.source != RUN or ref.segment not in by_name:
                    continue  # a published snapshot is fixed: no cycle through it
                path = _path_back(by_name, ref.segment, seg.name)
                if path is None:
                    continue
                loop = " -> ".join([seg.name, *path])
                message = (
                    f"{key}: '{ref.segment}' makes a cycle ({loop}): a segment cannot be "
                    "computed from itself (from: last-published reads its last published "
                    "ids instead)"
                )
                problems.append(Problem(seg.file, ref.line, ref.col, message))
    return problems


def _path_back(by_name: Mapping[str, Composes], start: str, goal: str) -> list[str] | None:
    """Names from ``start`` to ``goal`` following run references, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name == goal:
            return path
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        for ref in by_name[name].compose.references:
            if ref.source == RUN:
                stack.append((ref.segment, [*path, ref.segment]))
    return None

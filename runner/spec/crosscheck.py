"""The rules between the files of a project: each segment's name and output are its own.

Run once every file is loaded (:meth:`runner.spec.workspace.Workspace.open`); each
problem points at the later file's ``name`` or ``output`` key.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

from runner.locations import S3_SCHEME
from runner.problems import Problem
from runner.spec.compose import HOLDOUT_TAG
from runner.spec.project import Project
from runner.spec.segment import Segment
from runner.spec.targets import (
    DELTA_TAGS,
    claims_dated,
    claims_part,
    resolved_target,
    tagged_path,
)


def cross_check(segments: list[Segment], project: Project) -> list[Problem]:
    """Problems between files: duplicate names and colliding output paths."""
    problems: list[Problem] = []
    by_name: dict[str, Segment] = {}
    for seg in segments:
        first = by_name.setdefault(seg.name, seg)
        if first is not seg:
            line, col = seg.key_pos.get("name", (1, 1))
            problems.append(
                Problem(
                    seg.file,
                    line,
                    col,
                    f"segment name '{seg.name}' is already used by {first.file}",
                )
            )
    return problems + collisions(segments, project)


def collisions(segments: Iterable[Segment], project: Project) -> list[Problem]:
    """Outputs that land on the same file (or object), on a segment file, or on a folder
    another output needs."""
    problems: list[Problem] = []
    owners: dict[str, Segment] = {}
    files = {_key_of_file(seg.file): seg for seg in segments}
    for seg in segments:
        for path in _written(seg):
            key = _target_key(path, project)
            if key in files:
                message = f"would overwrite the segment file {files[key].file}"
                problems.append(_problem(seg, message, path))
            other = owners.setdefault(key, seg)
            if other is not seg:
                message = f"collides with segment '{other.name}' ({other.file})"
                problems.append(_problem(seg, message, path))
    problems += _part_claims(segments, project) + _dated_claims(segments, project)
    for key, seg in owners.items():
        for parent in _parents(key):
            if parent in owners:
                other = owners[parent]
                problems.append(
                    _problem(
                        seg,
                        f"needs the folder {other.output.path!r}, which is the "
                        f"output of segment '{other.name}' ({other.file})",
                    )
                )
    return problems


def _part_claims(segments: Iterable[Segment], project: Project) -> list[Problem]:
    """A split output claims every ``name-NNNN.ext`` beside it (and its holdout's
    ``name.holdout-NNNN.ext``): no other output lands there.

    Compared on the resolved keys :func:`collisions` uses, so a part name reached
    through a symlinked folder (``out2 -> out``) is claimed too."""
    split = [
        (seg, _target_key(path, project))
        for seg in segments
        if seg.output.split
        for path in _sets(seg)
    ]
    return [
        _problem(seg, f"is a part name of segment '{owner.name}' ({owner.file}), split", path)
        for seg in segments
        for path in _written(seg)
        for owner, owner_key in split
        if owner is not seg and claims_part(_target_key(path, project), owner_key)
    ]


def _dated_claims(segments: Iterable[Segment], project: Project) -> list[Problem]:
    """An incremental output claims its dated names (``name.<as-of>.ext``) beside it: a
    template that renders to one of them would replace a run's file."""
    dated = [(s, _target_key(s.output.path, project)) for s in segments if s.mode == "incremental"]
    return [
        _problem(
            seg, f"is a dated file name of segment '{owner.name}' ({owner.file}), incremental", path
        )
        for seg in segments
        for path in _written(seg)
        for owner, owner_key in dated
        if owner is not seg and claims_dated(_target_key(path, project), owner_key)
    ]


def _sets(seg: Segment) -> list[str]:
    """The paths a split segment's sets are named after: its output, and its holdout's
    (``name.holdout-0001.csv`` ...)."""
    holdout = [tagged_path(seg.output.path, HOLDOUT_TAG)] if seg.compose.holdout else []
    return [seg.output.path, *holdout]


def _written(seg: Segment) -> list[str]:
    """The paths a segment writes: its output, and the delta files beside it."""
    path = seg.output.path
    tags = [
        *(DELTA_TAGS if seg.output.delta else ()),
        *([HOLDOUT_TAG] if seg.compose.holdout else []),
    ]
    return [path, *(tagged_path(path, tag) for tag in tags)]


def _problem(seg: Segment, message: str, path: str | None = None) -> Problem:
    line, col = seg.key_pos.get("output", (1, 1))
    what = "output path" if path in (None, seg.output.path) else "delta file"
    if (
        path is not None
        and seg.compose.holdout
        and path == tagged_path(seg.output.path, HOLDOUT_TAG)
    ):
        what = "holdout file"
    return Problem(seg.file, line, col, f"{what} '{path or seg.output.path}' {message}")


def _target_key(path: str, project: Project) -> str:
    if path.startswith(S3_SCHEME):
        return path
    try:
        return str(resolved_target(project, path))
    except (OSError, ValueError, RuntimeError):
        return posixpath.normpath(path)


def _key_of_file(file: str) -> str:
    try:
        return str(Path(file).resolve())
    except (OSError, ValueError, RuntimeError):
        return file


def _parents(key: str) -> list[str]:
    if key.startswith(S3_SCHEME):
        bucket, _, path = key[len(S3_SCHEME) :].partition("/")
        parts = path.split("/")[:-1]
        return [f"{S3_SCHEME}{bucket}/{'/'.join(parts[: i + 1])}" for i in range(len(parts))]
    return [str(p) for p in Path(key).parents]

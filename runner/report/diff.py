"""``segments diff``: what changed since a git ref, as text, Markdown (a pull-request
comment) or JSON. The changes themselves are found by :mod:`runner.review`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.review import Change


def _counts(c: Change) -> str:
    if c.count_before is None and c.count_after is None:
        return ""
    before = "-" if c.count_before is None else f"{c.count_before:,}"
    after = "-" if c.count_after is None else f"{c.count_after:,}"
    return f"{before} -> {after} contacts"


def render_changes(found: Sequence[Change], fmt: str, ref: str) -> str:
    """The changes in ``fmt`` (a name in :data:`DIFF_FORMATS`); ``ref`` as the reader knows it."""
    return DIFF_FORMATS[fmt](found, ref)


def _json(found: Sequence[Change], ref: str) -> str:
    keys = (
        "name",
        "status",
        "file",
        "body_diff",
        "output_before",
        "output_after",
        "count_before",
        "count_after",
        "overlap",
    )
    return json.dumps([{k: getattr(c, k) for k in keys} for c in found], indent=2) + "\n"


def _markdown(found: Sequence[Change], ref: str) -> str:
    """A pull-request comment: a table, then each request body diff folded away."""
    if not found:
        return "### Segment changes\n\nNo segment changes.\n"
    lines = [
        f"### Segment changes since `{ref[:12]}`\n",
        "| segment | change | output | audience |",
        "|---|---|---|---|",
    ]
    for c in found:
        output = _arrow(c.output_before, c.output_after, "`")
        audience = "<br>".join([_counts(c) or "not counted", *_overlap(c)])
        lines.append(f"| `{c.name}` | {c.status} | {output} | {audience} |")
    for c in found:
        lines.append(f"\n<details><summary><code>{c.name}</code>: request body</summary>\n")
        lines.append("```diff\n" + c.body_diff.rstrip("\n") + "\n```\n</details>")
    return "\n".join(lines) + "\n"


def _text(found: Sequence[Change], ref: str) -> str:
    if not found:
        return "No segment changes.\n"
    lines: list[str] = []
    for c in found:
        head = f"{c.status}: {c.name} ({c.file})"
        counts = _counts(c)
        lines.append(head + (f": {counts}" if counts else ""))
        lines.append(f"  output: {_arrow(c.output_before, c.output_after, '')}")
        lines += [f"  {line}" for line in _overlap(c)]
        lines.append(c.body_diff.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _overlap(c: Change) -> list[str]:
    """``overlap with vip: 120 -> 340 shared, Jaccard 0.1000 -> 0.2500``, per segment."""

    def shown(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    return [
        f"overlap with {o['segment']}: {shown(o['shared_before'], ',')} -> "
        f"{shown(o['shared_after'], ',')} shared, Jaccard {shown(o['jaccard_before'], '.4f')}"
        f" -> {shown(o['jaccard_after'], '.4f')}"
        for o in c.overlap
    ]


def _arrow(before: str | None, after: str | None, quote: str) -> str:
    b = f"{quote}{before}{quote}" if before else "-"
    a = f"{quote}{after}{quote}" if after else "-"
    return b if before == after else f"{b} -> {a}"


DIFF_FORMATS: dict[str, Callable[[Sequence[Change], str], str]] = {
    "text": _text,
    "markdown": _markdown,
    "json": _json,
}

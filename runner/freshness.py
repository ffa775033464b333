"""``segments freshness``: judge each segment's last published export, and tell the
``on: [stale]`` notification targets about those that are not fresh.

The rules are :mod:`runner.history.freshness`; the table :mod:`runner.report.freshness`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from runner.errors import HistoryError
from runner.fetch.redact import redactor_for
from runner.history import last_success
from runner.history.freshness import SegmentFreshness, judge, unreadable
from runner.run.notify import ci_link, send, stale_message
from runner.run.plan import store_for
from runner.sinks import OutputRoot
from runner.spec.project import Project
from runner.spec.segment import Segment


def judge_all(
    segments: Sequence[Segment], project: Project, now: dt.datetime, out: OutputRoot | None
) -> list[SegmentFreshness]:
    """Each segment's freshness at ``now``, its history read where its exports wrote it."""
    found = []
    for seg in segments:
        store = store_for(seg, project, out)
        try:
            newest = next(store.newest(seg.name), None)
            state = judge(last_success(store, seg.name), seg.fresh_within, now)
        except HistoryError as exc:  # one unreadable history: the others are still judged
            newest, state = None, unreadable(seg.fresh_within, exc)
        found.append(SegmentFreshness(seg.name, state, newest))
    return found


def notify_stale(
    seg: Segment, item: SegmentFreshness, project: Project, env: Mapping[str, str]
) -> list[str]:
    """Send ``item``, when it is not fresh, to the segment's ``on: [stale]`` targets; the
    warnings (the API token never appears in a message)."""
    if item.judgement.ok:
        return []
    targets = seg.notify  # typed and checked at load (runner.spec.notify)
    scrub = redactor_for(project.api.token_env, env)
    text = stale_message(seg.name, item.judgement, item.newest, ci_link(env))
    return send(targets, "stale", text, env=env, redact=scrub.mask)

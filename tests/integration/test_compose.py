"""Audiences from audiences against the sandbox over a socket: exclude and only are the
set difference and intersection of the same segments exported on their own, and a
segment several others use is fetched once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, make_project, run_cli

Start = Callable[..., Sandbox]

# Page numbers, one request at a time: a run's requests are then a function of the
# audiences alone (windows and auto concurrency time the server and ask ahead).
PAGED = """\
version: 1
api:
  concurrency: 1
  windows: false
  retry: {max_attempts: 12, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.02, deadline: 60}
timezone: UTC
"""
ANY = "isContact: false, applicableFilters: []"
FILTERS = {
    "vip": f"{{{ANY}, tags: [vip]}}",
    "ordered": "{isContact: false, applicableFilters: [hasOrdered], "
    'hasOrdered: {status: true, lastAt: ""}}',
    "open": f"{{{ANY}, status: [OPEN, INPROGRESS]}}",
    "gold": f"{{{ANY}, tags: [gold]}}",
}


def segment(name: str, filter_of: str, extra: str = "") -> str:
    return (
        f"version: 1\nname: {name}\nfilter: {FILTERS[filter_of]}\n"
        f"output: {{path: out/{name}.jsonl, format: jsonl}}\n{extra}"
    )


COMPOSED = {
    "vip": segment("vip", "vip"),
    "ordered": segment("ordered", "ordered"),
    "open": segment("open", "open"),
    "gold": segment("gold", "gold"),
    "vip-not-ordered": segment("vip-not-ordered", "vip", "exclude: [ordered]\n"),
    "vip-open": segment("vip-open", "vip", "only: [open]\n"),
    "vip-open-gold": segment("vip-open-gold", "vip", "only: [open, gold]\n"),
    "vip-open-not-ordered": segment(
        "vip-open-not-ordered", "vip", "exclude: [ordered]\nonly:\n  - segment: open\n"
    ),
    # its own exclude applies where another segment uses it
    "open-in-vip-not-ordered": segment(
        "open-in-vip-not-ordered", "open", "only: [vip-not-ordered]\n"
    ),
    "open-not-vip-not-ordered": segment(
        "open-not-vip-not-ordered", "open", "exclude: [vip-not-ordered]\n"
    ),
}

NO_ID = "(no id)"


def ids(project: Path, name: str) -> list[Any]:
    """The ids of an exported JSONL file, in order (a record without one: NO_ID)."""
    lines = (project / "out" / f"{name}.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line).get("_id", NO_ID) for line in lines]


def export(project: Path, api: Sandbox, *names: str) -> Any:
    result = run_cli("export", *names, "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("records", ["contacts", "int-ids", "missing-ids"])
def test_exclude_and_only_are_difference_and_intersection(
    sandbox: Start, tmp_path: Path, records: str
) -> None:
    api = sandbox(users=3000, seed=7, records=records)
    project = make_project(tmp_path, COMPOSED, PAGED)
    export(project, api)
    vip, ordered, opened, gold = (ids(project, n) for n in ("vip", "ordered", "open", "gold"))
    without_id = vip.count(NO_ID)
    assert (without_id > 0) == (records == "missing-ids")
    known = lambda rows: {i for i in rows if i != NO_ID}  # noqa: E731
    # exclude: the difference, in the segment's own order; a contact without an id stays
    assert ids(project, "vip-not-ordered") == [i for i in vip if i not in known(ordered)]
    # only: the intersection (with every list named); no id, nothing to match: left out
    assert ids(project, "vip-open") == [i for i in vip if i in known(opened)]
    both = known(opened) & known(gold)
    assert ids(project, "vip-open-gold") == [i for i in vip if i in both]
    assert ids(project, "vip-open-not-ordered") == [
        i for i in vip if i in known(opened) and i not in known(ordered)
    ]
    # a referenced segment's own exclude applies (its audience, not only its filter)
    vip_not_ordered = known(ids(project, "vip-not-ordered"))
    assert ids(project, "open-in-vip-not-ordered") == [i for i in opened if i in vip_not_ordered]
    assert ids(project, "open-not-vip-not-ordered") == [
        i for i in opened if i not in vip_not_ordered
    ]
    # none of these is trivial on this data
    assert 0 < len(ids(project, "vip-open-gold")) < len(ids(project, "vip-open")) < len(vip)
    assert 0 < len(vip_not_ordered) < len(vip)
    manifest = json.loads(
        (project / "out" / "vip-open-not-ordered.jsonl.manifest.json").read_text()
    )
    audience = manifest["audience"]
    assert audience["exclude"] == ["ordered"] and audience["only"] == ["open"]
    assert audience["excluded"] + audience["not_in_only"] + manifest["rows"] == len(vip)
    assert [(s["key"], s["segment"], s["contacts"]) for s in audience["sources"]] == [
        ("exclude", "ordered", len(known(ordered))),
        ("only", "open", len(known(opened))),
    ]


def pages(api: Sandbox, project: Path, *names: str) -> int:
    """The pages the sandbox served for one export of ``names``."""
    before = api.stats["pages"]
    export(project, api, *names)
    return api.stats["pages"] - before


def test_a_segment_several_others_use_is_fetched_once(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=2000, seed=3)
    project = make_project(tmp_path, COMPOSED, PAGED)
    ordered = pages(api, project, "ordered")
    vip = pages(api, project, "vip")
    opened = pages(api, project, "open")
    assert min(ordered, vip, opened) >= 3
    # alone, a segment that excludes 'ordered' reads it once for itself
    assert pages(api, project, "vip-not-ordered") == vip + ordered
    assert pages(api, project, "vip-open-not-ordered") == vip + ordered + opened
    # together, 'ordered' and 'open' are read once for every segment that uses them
    together = pages(api, project, "vip-not-ordered", "vip-open-not-ordered", "vip-open")
    assert together == 3 * vip + ordered + opened
    # and exported in the same run, their own export's pages are the reference: the
    # run reads nothing twice, whatever the order the segments were named in
    run = pages(api, project, "vip-open-not-ordered", "vip-not-ordered", "ordered", "open")
    assert run == 2 * vip + ordered + opened
    manifest = json.loads((project / "out" / "vip-not-ordered.jsonl.manifest.json").read_text())
    assert manifest["audience"]["sources"][0]["via"] == "its export"


def test_a_segment_used_by_a_segment_it_uses_is_read_from_its_export_once(
    sandbox: Start, tmp_path: Path
) -> None:
    """Nesting: open-in-vip-not-ordered needs vip-not-ordered, which needs ordered."""
    api = sandbox(users=2000, seed=5)
    project = make_project(tmp_path, COMPOSED, PAGED)
    vip, ordered, opened = (pages(api, project, n) for n in ("vip", "ordered", "open"))
    alone = pages(api, project, "open-in-vip-not-ordered")
    assert alone == opened + vip + ordered
    run = pages(api, project, "open-in-vip-not-ordered", "vip-not-ordered", "ordered")
    assert run == opened + vip + ordered


def test_last_published_reads_the_snapshot_and_sends_no_request_for_it(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=2000, seed=9)
    segments = {
        **COMPOSED,
        # the delta keeps an id snapshot of each published run
        "ordered": segment("ordered", "ordered", "").replace(
            "format: jsonl", "format: jsonl, delta: true"
        ),
        "vip-not-published": segment(
            "vip-not-published",
            "vip",
            "exclude:\n  - {segment: ordered, from: last-published}\n",
        ),
        # an incremental run's file is one window, not an audience: it keeps no snapshot
        "signups": segment("signups", "vip", "mode: incremental\n"),
        "vip-not-signups": segment(
            "vip-not-signups", "vip", "exclude:\n  - {segment: signups, from: last-published}\n"
        ),
    }
    project = make_project(tmp_path, segments, PAGED)
    failed = run_cli(
        "export", "vip-not-published", "--as-of", ANCHOR, cwd=project, env=api_env(api)
    )
    assert failed.returncode == 1
    assert (
        "exclude: segment 'ordered' (from: last-published) has not published yet"
        in failed.stdout + failed.stderr
    )
    assert not (project / "out" / "vip-not-published.jsonl").exists()
    export(project, api, "ordered")
    vip = pages(api, project, "vip")
    assert pages(api, project, "vip-not-published") == vip  # nothing asked for 'ordered'
    ordered = set(ids(project, "ordered"))
    assert ids(project, "vip-not-published") == [i for i in ids(project, "vip") if i not in ordered]
    manifest = json.loads((project / "out" / "vip-not-published.jsonl.manifest.json").read_text())
    (source,) = manifest["audience"]["sources"]
    history = run_cli("history", "ordered", "--format", "json", cwd=project)
    (run,) = [r for r in json.loads(history.stdout) if r["status"] == "success"]
    assert source["run_id"] == run["run_id"] and source["from"] == "last-published"
    assert source["contacts"] == len(ordered) and source["age_seconds"] >= 0
    # a segment that kept no snapshot is refused, naming what to do
    export(project, api, "signups")
    refused = run_cli("export", "vip-not-signups", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert refused.returncode == 1
    assert (
        "exclude: segment 'signups' (from: last-published) kept no id snapshot in its history"
        in refused.stdout + refused.stderr
    )
    assert not (project / "out" / "vip-not-signups.jsonl").exists()

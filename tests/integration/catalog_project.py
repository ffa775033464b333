"""A project whose history comes from real exports to the sandbox, for the catalog's
tests (tests/integration/test_catalog.py and the browser tests): a segment exported
four times (with deltas), one that published then failed, one exported once that
is stale an hour later, and one never run; owners, labels and destinations differ."""

from __future__ import annotations

import json
from pathlib import Path

from runner.sandbox import Sandbox, SandboxOptions
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project, run_cli

HOSTILE = "Ends the page? </script><script>alert('owned')</script> <!-- & \u2028"
SEGMENTS = {
    "four-runs": """\
version: 1
name: four-runs
description: VIP contacts seen in the week before the run.
owner: ana@example.com
labels: [daily, vip]
filter:
  tags: [vip]
  applicableFilters: [lastSeenAt]
  lastSeenAt: {startAt: "{{ now | minus(days=7) | api }}", endsAt: "{{ now | api }}"}
output: {path: out/four-runs.csv, delta: true}
""",
    "flaky": """\
version: 1
name: flaky
description: DESCRIPTION
owner: bo@example.com
labels: [weekly]
filter:
  status: [OPEN, ONHOLD]
  _botWhatsapp: ["64f1a2b3c4d5e6f7a8b9c0d1"]
  isContact: false
  applicableFilters: []
output: {path: out/crm/flaky.jsonl, format: jsonl}
""".replace("DESCRIPTION", json.dumps(HOSTILE)),
    "hourly": """\
version: 1
name: hourly
description: Every contact, hourly.
owner: chen@example.com
labels: [hourly]
filter: {isContact: false, applicableFilters: []}
output: {path: out/hourly.csv}
expect: {fresh_within: 1h}
""",
    "never-run": """\
version: 1
name: never-run
description: Gold members created in the last 30 days, not exported yet.
owner: dee@example.com
labels: [gold]
filter:
  tags: [gold]
  applicableFilters: [createdAt]
  createdAt: {startAt: "{{ now | minus(days=30) | api }}", endsAt: ""}
output: {path: out/never-run.csv}
expect: {fresh_within: 26h}
""",
}
OWNERS = {
    "four-runs": "ana@example.com",
    "flaky": "bo@example.com",
    "hourly": "chen@example.com",
    "never-run": "dee@example.com",
}
AS_OF = ["2026-11-21T05:00:00Z", "2026-11-22T05:00:00Z", "2026-11-23T05:00:00Z", ANCHOR]


def exported_project(root: Path) -> Path:
    """Write the project into ``root`` and run its exports against two sandboxes."""
    project = make_project(root, SEGMENTS, FAST_RETRY + "output_root: .\n")
    good = Sandbox(SandboxOptions(users=200, anchor=ANCHOR)).start()
    bad = Sandbox(SandboxOptions(users=200, anchor=ANCHOR, faults="500=1")).start()
    try:
        for as_of in AS_OF:
            export(project, good, "four-runs", "--as-of", as_of)
        export(project, good, "flaky")
        export(project, bad, "flaky", expect=1)
        export(project, good, "hourly")
    finally:
        good.stop()
        bad.stop()
    return project


def export(project: Path, api: Sandbox, name: str, *args: str, expect: int = 0) -> None:
    done = run_cli("export", name, *args, cwd=project, env=api_env(api))
    assert done.returncode == expect, done.stderr

"""``segments init``: a new segments repository with CI wiring, ready to validate."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.errors import UsageError
from runner.schema import SCHEMA_DIR

RUNNER_YAML = """\
# yaml-language-server: $schema=schemas/runner.schema.json
version: 1
api:
  base_url: https://api.v7.flowmatix.ai   # FLOWMATIX_API_URL overrides this
  token_env: FLOWMATIX_TOKEN              # the token is read from this variable, never stored
  concurrency: 4
timezone: UTC
defaults:
  output:
    format: csv
    csv: {bom: true}
"""

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/segment.schema.json
version: 1
name: recent-vip-contacts
description: VIP contacts seen in the last 7 days.
owner: you@example.com
labels: [daily]
filter:
  tags: [vip]
  applicableFilters: [lastSeenAt]
  lastSeenAt:
    startAt: "{{ now | minus(days=7) | api }}"
    endsAt: "{{ now | api }}"
output:
  path: "exports/{{ segment.name }}/{{ run_date }}.csv"
  columns:
    - {name: id, path: _id}
    - {name: name, path: profile.userDetails.name}
    - {name: email, path: profile.userDetails.contact.email}
    - {name: phone, expr: e164(profile.userDetails.contact.phone)}
expect:
  min_rows: 1
"""

GITIGNORE = """\
exports/
.venv/
__pycache__/
"""

SETUP = """\
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install segment-runner
"""

PR_WORKFLOW = (
    """\
name: segments / pull request
on:
  pull_request:
    paths: ["segments/**", "runner.yaml"]
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
"""
    + SETUP
    + """\
      - name: Validate segment files (annotations land on the changed lines)
        run: segments validate --format github
  diff:
    runs-on: ubuntu-latest
    needs: validate
    steps:
"""
    + SETUP
    + """\
      - name: Rendered request bodies before and after, with audience sizes
        env:
          FLOWMATIX_TOKEN: ${{ secrets.FLOWMATIX_TOKEN }}
        run: |
          segments diff "origin/${{ github.base_ref }}" --format markdown \\
            $([ -n "$FLOWMATIX_TOKEN" ] && echo --count) > segments-diff.md
          cat segments-diff.md >> "$GITHUB_STEP_SUMMARY"
"""
)

SCHEDULED_WORKFLOW = (
    """\
name: segments / scheduled export
on:
  schedule:
    - cron: "0 5 * * *"
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      segments: ${{ steps.list.outputs.segments }}
    steps:
"""
    + SETUP
    + """\
      - id: list
        run: |
          names=$(segments list label:daily --format json | jq -c '[.[].name]')
          echo "segments=$names" >> "$GITHUB_OUTPUT"
  export:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        segment: ${{ fromJSON(needs.plan.outputs.segments) }}
    steps:
"""
    + SETUP
    + """\
      - name: Export ${{ matrix.segment }}
        env:
          FLOWMATIX_TOKEN: ${{ secrets.FLOWMATIX_TOKEN }}
          AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}
          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
        run: segments export "${{ matrix.segment }}" --results results.json
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: results-${{ matrix.segment }}
          path: results.json
"""
)

MANUAL_WORKFLOW = (
    """\
name: segments / manual export
on:
  workflow_dispatch:
    inputs:
      segment:
        description: Segment name, file path or label:NAME
        required: true
      as_of:
        description: Freeze the clock (ISO-8601), for backfills; empty = now
        required: false
jobs:
  export:
    runs-on: ubuntu-latest
    steps:
"""
    + SETUP
    + """\
      - name: Export
        env:
          FLOWMATIX_TOKEN: ${{ secrets.FLOWMATIX_TOKEN }}
          SEGMENT: ${{ inputs.segment }}
          AS_OF: ${{ inputs.as_of }}
        run: segments export "$SEGMENT" ${AS_OF:+--as-of "$AS_OF"} --results results.json
"""
)

FILES = {
    "runner.yaml": RUNNER_YAML,
    "segments/recent-vip-contacts.yaml": EXAMPLE,
    ".gitignore": GITIGNORE,
    ".github/workflows/segments-pr.yml": PR_WORKFLOW,
    ".github/workflows/segments-scheduled.yml": SCHEDULED_WORKFLOW,
    ".github/workflows/segments-manual.yml": MANUAL_WORKFLOW,
}


def init_project(target: Path, *, force: bool = False) -> list[Path]:
    """Write the scaffold into ``target``; refuse to overwrite unless ``force``."""
    existing = [target / name for name in FILES if (target / name).exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} already exists; use --force to overwrite")
    written: list[Path] = []
    for name, text in FILES.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        written.append(path)
    schemas = target / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    for schema in sorted(SCHEMA_DIR.glob("*.schema.json")):
        shutil.copyfile(schema, schemas / schema.name)
        written.append(schemas / schema.name)
    return written

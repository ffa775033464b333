"""A run publishes the whole list, each record once, or nothing: `segments export`
against sandboxes that misbehave on purpose (integer ids that Python's hash folds,
pages that never end or repeat, records that are not objects, a gzip bomb, a reply
trickled one byte at a time, a body that is not JSON)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.fetch.windows.plan import window_pages
from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, cli_env, make_project, rendered_body, run_cli
from tests.integration.test_export import ALL_CONTACTS, TOKEN, read_ids

Start = Callable[..., Sandbox]

RUNNER = """\
version: 1
api:
  retry: {{max_attempts: {attempts}, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.02, deadline: {deadline}}}
  timeout: {{connect: 2, read: {read}, total: {total}}}
{extra}timezone: UTC
"""


def runner_yaml(
    attempts: int = 12,
    deadline: float = 60,
    read: float = 2,
    total: float = 120,
    extra: str = "",
) -> str:
    extra = "".join(f"  {line}\n" for line in extra.splitlines())
    return RUNNER.format(attempts=attempts, deadline=deadline, read=read, total=total, extra=extra)


def everyone(tmp_path: Path, fmt: str = "csv", runner: str | None = None) -> Path:
    return make_project(
        tmp_path, {"everyone": ALL_CONTACTS.format(fmt=fmt)}, runner or runner_yaml()
    )


def export(project: Path, api: Sandbox, *args: str, timeout: float = 120) -> tuple[int, str]:
    result = run_cli(
        "export", "--as-of", ANCHOR, *args, cwd=project, env=api_env(api), timeout=timeout
    )
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    return result.returncode, out


def published(project: Path) -> dict[str, bytes]:
    """Every file under out/ (the data, its manifest, any temporary left behind)."""
    folder = project / "out"
    files = sorted(folder.iterdir()) if folder.exists() else []
    return {p.name: p.read_bytes() for p in files}


def publish_first(sandbox: Start, project: Path) -> dict[str, bytes]:
    """A good run, so that a failed one has something to leave alone."""
    good = sandbox(users=60, token=TOKEN)
    code, out = export(project, good)
    assert code == 0, out
    files = published(project)
    assert len(files) == 2, files.keys()
    return files


# -- 11.4 ids are compared exactly ---------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_integer_ids_that_share_a_python_hash_are_all_kept(
    sandbox: Start, tmp_path: Path, fmt: str
) -> None:
    # ids 0, 1, -1, -2, n and n + 2**61 - 1 ...: hash() folds every eight of them into one
    api = sandbox(users=400, page_size=50, token=TOKEN, records="int-ids")
    project = everyone(tmp_path, fmt)
    truth = api.truth(rendered_body(project, "everyone"))
    assert len(set(truth)) == 400 and {0, 1, -1, -2, 2**61 - 1} <= set(truth)
    code, out = export(project, api, "--results", "results.json")
    assert code == 0, out
    ids = read_ids(project / "out" / f"everyone.{fmt}", fmt)
    assert sorted(map(int, ids)) == sorted(truth)
    (entry,) = json.loads((project / "results.json").read_text())["results"]
    assert entry["rows"] == 400 and entry["duplicates"] == 0


def test_integer_ids_under_churn_drop_only_true_duplicates(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, page_size=30, token=TOKEN, records="int-ids", churn=2)
    project = everyone(tmp_path, "jsonl")
    truth = api.truth(rendered_body(project, "everyone"))
    code, out = export(project, api, "--concurrency", "1")
    assert code == 0, out
    lines = (project / "out" / "everyone.jsonl").read_text().splitlines()
    ids = [json.loads(line)["_id"] for line in lines]
    # churn clones contacts with new string ids; every integer id is there exactly once
    assert sorted(i for i in ids if isinstance(i, int)) == sorted(truth)
    assert len(ids) == len({(type(i), i) for i in ids})


# -- 11.5 a run that stops early publishes nothing -------------------------------
def test_reaching_max_pages_fails_and_keeps_the_previous_file(
    sandbox: Start, tmp_path: Path
) -> None:
    project = everyone(tmp_path, runner=runner_yaml(extra="windows: false"))  # page numbers
    before = publish_first(sandbox, project)
    api = sandbox(users=500, page_size=50, token=TOKEN)
    code, out = export(project, api, "--max-pages", "3")
    assert code == 1
    assert "stopped at max_pages 3 before the API's last page; nothing published" in out
    assert published(project) == before
    # Where the list ends is looked for first (pages 1, 2, 4): page 4 still has records.
    assert api.stats["pages"] == 3


def test_max_pages_from_runner_yaml_fails_too(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=500, page_size=50, token=TOKEN)
    project = everyone(tmp_path, runner=runner_yaml(extra="max_pages: 2"))
    code, out = export(project, api)
    assert code == 1 and "stopped at max_pages 2 before the API's last page" in out
    assert published(project) == {}


def test_max_pages_that_covers_the_list_succeeds(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=150, page_size=50, token=TOKEN)
    project = everyone(tmp_path, runner=runner_yaml(extra="windows: false"))  # page numbers
    code, out = export(project, api, "--max-pages", "3", "--concurrency", "1")
    assert code == 0, out
    assert len(read_ids(project / "out" / "everyone.csv", "csv")) == 150
    # Where the list ends (pages 1, 2, 4, 3), the pass (1-3 and the empty page 4, which
    # is not a page of records) and its last page again (3: no contact deleted meanwhile).
    assert api.stats["pages"] == 9


def test_never_ending_pages_stop_at_max_pages(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, page_size=40, token=TOKEN, paging="endless")
    project = everyone(tmp_path)
    code, out = export(project, api, "--max-pages", "6")
    assert code == 1 and "stopped at max_pages 6 before the API's last page" in out
    assert published(project) == {}


@pytest.mark.parametrize("paging", ["rotate", "alternate"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_api_that_reorders_instead_of_paging_is_caught(
    sandbox: Start, tmp_path: Path, paging: str, concurrency: int
) -> None:
    api = sandbox(users=500, page_size=50, token=TOKEN, paging=paging)
    project = everyone(tmp_path)
    before = publish_first(sandbox, project)
    code, out = export(project, api, "--concurrency", str(concurrency))
    assert code == 1
    # every page after the first (rotate) or the first two (alternate) holds only
    # records already read; a few in a row are allowed, as live data can do that
    first = 2 if paging == "rotate" else 3
    last = first + concurrency + 1
    assert (
        f"pages {first} to {last} hold only records read on earlier pages: the API is not paging"
        in out
    ), out
    assert published(project) == before
    # Not a run to max_pages: windows go first, and the first window's pages are asked
    # ahead (up to its depth + 1) before the order check of page 2 sends the run to page
    # numbers; how many go out before page 2's turn depends on the order replies come in.
    # Before them, where the list ends is found (pages 1, 2, 4 ... then the gap split):
    # about twice log2 of its 10 pages.
    windowed = window_pages(50) + 1 + concurrency
    probe = 2 * (10).bit_length() + 2
    assert api.stats["pages"] <= windowed + last + concurrency + probe


def test_ignored_page_number_is_named_as_such(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, token=TOKEN, paging="ignore")
    code, out = export(everyone(tmp_path), api)
    assert code == 1
    assert "page 2 returned exactly the records of page 1: the API seems to ignore" in out


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_churn_still_gives_every_record_once(
    sandbox: Start, tmp_path: Path, concurrency: str
) -> None:
    # The tail of a list that grows while read ends in pages of records pushed down
    # from the page before: those are not an API that ignores paging.
    api = sandbox(users=700, page_size=25, token=TOKEN, churn=4)
    project = everyone(tmp_path)
    truth = api.truth(rendered_body(project, "everyone"))
    code, out = export(project, api, "--concurrency", concurrency)
    assert code == 0, out
    ids = read_ids(project / "out" / "everyone.csv", "csv")
    assert len(ids) == len(set(ids)) and set(truth) <= set(ids)
    assert set(ids) <= set(truth) | set(api.inserted)


# -- 11.6 records that are not objects, records without ids ----------------------
def test_records_that_are_not_objects_are_refused(sandbox: Start, tmp_path: Path) -> None:
    project = everyone(tmp_path)
    before = publish_first(sandbox, project)
    api = sandbox(users=200, page_size=50, token=TOKEN, records="non-objects")
    code, out = export(project, api, "--concurrency", "1")
    assert code == 1
    assert (
        "page 1: record 10 is a number (1), not an object; the API must return a list of "
        "JSON objects" in out
    )
    assert published(project) == before


def test_records_without_an_id_are_kept_and_counted(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=200, page_size=50, token=TOKEN, records="missing-ids")
    project = everyone(tmp_path, "jsonl")
    code, out = export(project, api, "--concurrency", "1")
    assert code == 0, out
    lines = (project / "out" / "everyone.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert sum("_id" not in json.loads(line) for line in lines) == 20


def test_an_id_key_no_record_has_is_named(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, page_size=50, token=TOKEN)
    project = everyone(tmp_path, runner=runner_yaml(extra="id_key: contactId"))
    code, out = export(project, api)
    assert code == 1
    # (the first page read: where the list ends is found first, pages at once)
    assert re.search(
        r"page \d: none of its \d+ records has an id at 'contactId' \(api.id_key\)", out
    )
    assert "ignore the page number" not in out


# -- 11.12 a gzip bomb -------------------------------------------------------------
# Runs a command and prints its peak RSS in KiB last. Measured from this small parent:
# a child forked straight from pytest would count pytest's memory in its peak.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def test_gzip_bomb_fails_the_page_in_bounded_memory(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN, faults="bomb@1", bomb_mb=200)
    project = everyone(tmp_path, runner=runner_yaml(extra="max_page_mb: 2"))
    command = [sys.executable, "-m", "runner", "export", "--as-of", ANCHOR, "--concurrency", "1"]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command],
        cwd=project,
        env=cli_env(api_env(api)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out, _, peak_kib = (result.stdout + result.stderr).rstrip().rpartition("\n")
    assert result.returncode == 1, out
    assert "page 1: reply is larger than 2 MiB decompressed (api.max_page_mb)" in out
    assert "Traceback" not in out
    assert api.stats["fault:bomb"] == 1 and api.faults.count == 1  # not retried
    assert int(peak_kib) / 1024 < 100  # MB: the 200 MiB never all land in memory


# -- 11.13 a reply trickled one byte at a time ------------------------------------
def test_a_trickled_reply_is_cut_at_the_request_deadline(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN, faults="trickle@1|2", trickle_ms=100)
    project = everyone(tmp_path, runner=runner_yaml(attempts=5, read=1, total=1.5))
    start = time.monotonic()
    code, out = export(project, api, "--concurrency", "1", timeout=60)
    elapsed = time.monotonic() - start
    # two tries cut at 1.5 s each (the status line itself trickles), the third one served
    assert code == 0, out
    assert "page 1: no complete reply within 1.5s (api.timeout.total)" in out
    assert elapsed < 12
    assert api.stats["fault:trickle"] == 2


def test_a_trickled_reply_cannot_outlast_the_retry_deadline(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN, faults="trickle=1", trickle_ms=100)
    project = everyone(tmp_path, runner=runner_yaml(attempts=50, deadline=2.5, read=1, total=60))
    start = time.monotonic()
    code, out = export(project, api, "--concurrency", "1", timeout=60)
    elapsed = time.monotonic() - start
    assert code == 1
    assert "page 1: no complete reply before the page's retry deadline" in out
    assert "gave up after 50 attempts or 2.5s" in out
    # The deadline, interpreter start-up and a margin for a loaded machine: the whole
    # reply at 100 ms a byte would take hours.
    assert elapsed < 2.5 + 20
    assert published(project) == {}


# -- 13.6 one retry loop: a body that is not JSON counts as an attempt ----------------
def test_invalid_json_is_retried_within_max_attempts(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=100, token=TOKEN, faults="badjson=1")
    project = everyone(tmp_path, runner=runner_yaml(attempts=3))
    code, out = export(project, api, "--concurrency", "1")
    assert code == 1
    assert "page 1: response is not valid JSON (gave up after 3 attempts" in out
    assert api.faults.count == 3 and api.stats["fault:badjson"] == 3

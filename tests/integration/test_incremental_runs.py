"""Incremental runs day after day, against the sandbox (contacts created about ten a day):
the project-wide drift guard does not judge them, a segment's own `max_change` compares
new contacts an hour of window, a run never replaces another run's dated file (the same
as-of twice publishes the same bytes; a changed window, a lost history, a template that
names the file, or a run back in time is refused), locally and on S3."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from runner.history import open_history, runs
from runner.sandbox import Sandbox
from tests.conftest import FAST_RETRY, api_env, full_body, make_project, run_cli
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]
GUARDED = FAST_RETRY + "defaults:\n  expect: {max_change: 30%}\n"
SINCE = "2026-11-01T00:00:00Z"
DAYS = [f"2026-11-{d:02d}T00:00:00Z" for d in range(2, 7)]
SIGNUPS = """\
version: 1
name: signups
mode: incremental
filter: {{isContact: false, applicableFilters: []}}
output:
  format: jsonl
  path: {path}
  columns: [_id, createdAt]
{extra}"""


def signups(path: str = "out/signups.jsonl", extra: str = "") -> str:
    return SIGNUPS.format(path=path, extra=extra)


def export(project: Path, env: dict[str, str | None], *args: str) -> Any:
    return run_cli("export", *args, cwd=project, env=env, timeout=180)


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def api_text(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def created(api: Sandbox, start: str, end: str) -> list[str]:
    """The truth: the contacts created in [start, end)."""
    last = moment(end) - dt.timedelta(milliseconds=1)
    window = {"startAt": api_text(moment(start)), "endsAt": api_text(last)}
    return api.truth(full_body(isContact=False, applicableFilters=["createdAt"], createdAt=window))


def dated(project: Path, as_of: str) -> Path:
    stamp = api_text(moment(as_of)).replace("-", "").replace(":", "").replace(".", "")
    return project / "out" / f"signups.{stamp}.jsonl"


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["_id"] for line in path.read_text("utf-8").splitlines()]


def test_five_days_in_a_row_under_a_project_wide_guard(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=4000, seed=21)
    project = make_project(tmp_path, {"signups": signups()}, runner_yaml=GUARDED)
    bounds = [SINCE, *DAYS]
    counts = [len(created(api, a, b)) for a, b in itertools.pairwise(bounds)]
    # The days differ by more than 30 % somewhere: a guard on rows would have tripped.
    assert all(counts) and any(
        abs(Fraction(b - a, a)) > Fraction(3, 10) for a, b in itertools.pairwise(counts)
    ), counts
    for n, as_of in enumerate(DAYS):
        since = ["--since", SINCE] if n == 0 else []
        run = export(project, api_env(api), "--as-of", as_of, *since)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "guard" not in run.stderr
        if n == 2:  # the same day again (a CI retry): the same window, the same bytes
            first = dated(project, as_of).read_bytes()
            again = export(project, api_env(api), "--as-of", as_of)
            assert again.returncode == 0, again.stdout + again.stderr
            assert dated(project, as_of).read_bytes() == first
    for (start, end), count in zip(itertools.pairwise(bounds), counts, strict=True):
        assert sorted(ids_in(dated(project, end))) == sorted(created(api, start, end))
        assert len(ids_in(dated(project, end))) == count
    recorded = runs(open_history(project), "signups")
    assert [r.status for r in recorded] == ["success"] * 6
    assert [r.rows for r in recorded] == [*counts[:3], counts[2], *counts[3:]]
    assert recorded[3].window_start == recorded[2].window_start  # the repeat, same window


def test_a_segments_own_max_change_compares_new_contacts_an_hour(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=4000, seed=21)
    own = signups(extra="expect: {max_change: 60%}\n")
    project = make_project(tmp_path, {"signups": own}, runner_yaml=GUARDED)
    env = api_env(api)
    one_day, three_days, hour = DAYS[0], DAYS[3], "2026-11-05T01:00:00Z"
    day = len(created(api, SINCE, one_day))
    three = len(created(api, one_day, three_days))  # a 72 h window after a 24 h one
    first_hour = len(created(api, three_days, hour))
    # Rows grew past 60 % (a guard on rows trips), new contacts an hour did not.
    assert abs(Fraction(three, 3 * day) - 1) <= Fraction(6, 10) < Fraction(three - day, day)
    # The next hour brings contacts faster than 60 % above the 72 h window's rate.
    assert Fraction(first_hour * 72, three) - 1 > Fraction(6, 10)
    assert export(project, env, "--as-of", one_day, "--since", SINCE).returncode == 0
    run = export(project, env, "--as-of", three_days)
    assert run.returncode == 0, run.stdout + run.stderr
    tripped = export(project, env, "--as-of", hour, "--results", "r.json")
    assert tripped.returncode == 1
    (result,) = json.loads((project / "r.json").read_text("utf-8"))["results"]
    assert result["status"] == "guard"
    change = float((Fraction(first_hour * 72, three) - 1) * 100)
    assert (
        f"rows {first_hour} in 1 h vs {three} in 72 h at the last successful run" in result["error"]
    )
    assert f"{change:+.1f}% an hour, above expect.max_change 60%" in result["error"]
    assert not dated(project, hour).exists()
    accepted = export(project, env, "--as-of", hour, "--accept-change")
    assert accepted.returncode == 0 and dated(project, hour).exists()


def test_a_dated_file_is_never_replaced_by_other_bytes(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=4000, seed=21)
    other = sandbox(users=4000, seed=22)  # the same window, other contacts
    project = make_project(tmp_path, {"signups": signups()}, runner_yaml=GUARDED)
    for n, as_of in enumerate(DAYS[:3]):
        since = ["--since", SINCE] if n == 0 else []
        assert export(project, api_env(api), "--as-of", as_of, *since).returncode == 0
    files = {p.name: p.read_bytes() for p in (project / "out").iterdir()}

    changed = export(project, api_env(other), "--as-of", DAYS[2], "--results", "r.json")
    assert changed.returncode == 1
    (result,) = json.loads((project / "r.json").read_text("utf-8"))["results"]
    assert result["status"] == "failed" and not result["published"]
    assert "never replaces another run's dated file" in result["error"]
    assert result["error"] in changed.stderr
    back = export(project, api_env(api), "--as-of", DAYS[1])  # back in time
    assert back.returncode == 1 and "before the watermark" in back.stderr
    assert "Traceback" not in changed.stderr + back.stderr

    # The history lost: the run cannot know the window, but the file is still there.
    for path in (project / ".segments" / "history" / "signups").rglob("*.jsonl"):
        path.unlink()
    lost = export(project, api_env(api), "--as-of", DAYS[2])
    assert lost.returncode == 1 and "never replaces another run's dated file" in lost.stderr
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == files


def test_a_template_that_names_a_dated_file_is_a_problem(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=400, seed=21)
    copy = """\
version: 1
name: copy
filter: {isContact: false, applicableFilters: []}
output:
  format: jsonl
  path: "out/signups.{{ var('stamp', now | fmt('%Y%m%dT%H%M%S') ~ '000Z') }}.jsonl"
"""
    project = make_project(tmp_path, {"signups": signups(), "copy": copy})
    checked = run_cli("validate", "--as-of", DAYS[0], cwd=project)
    assert checked.returncode == 1
    assert "is a dated file name of segment 'signups'" in checked.stdout
    stamp = ["--var", "stamp=20261102T000000000Z"]
    checked = run_cli("validate", "--as-of", DAYS[3], *stamp, cwd=project)
    assert (
        "segments/copy.yaml:4:1: output path 'out/signups.20261102T000000000Z.jsonl'"
        in checked.stdout
    )
    (project / "segments" / "copy.yaml").rename(tmp_path / "copy.yaml")
    assert export(project, api_env(api), "--as-of", DAYS[0], "--since", SINCE).returncode == 0
    before = dated(project, DAYS[0]).read_bytes()
    (tmp_path / "copy.yaml").rename(project / "segments" / "copy.yaml")
    run = export(project, api_env(api), "copy", "--as-of", DAYS[3], *stamp)
    assert run.returncode == 1 and "is a dated file name of segment 'signups'" in run.stderr
    assert dated(project, DAYS[0]).read_bytes() == before


def test_s3_same_as_of_twice_and_a_changed_window(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api, other = sandbox(users=2000, seed=21), sandbox(users=2000, seed=22)
    project = make_project(
        tmp_path, {"signups": signups("s3://exports/feed/signups.jsonl")}, runner_yaml=GUARDED
    )
    env, client = {**api_env(api), **s3.env()}, s3.client()
    key = "feed/signups.20261103T000000000Z.jsonl"
    assert export(project, env, "--as-of", DAYS[0], "--since", SINCE).returncode == 0
    assert export(project, env, "--as-of", DAYS[1]).returncode == 0
    first = client.get_object(Bucket="exports", Key=key)["Body"].read()
    assert ids_in_bytes(first) == sorted(created(api, DAYS[0], DAYS[1]))
    again = export(project, env, "--as-of", DAYS[1])
    assert again.returncode == 0, again.stdout + again.stderr
    changed = export(project, {**env, **api_env(other)}, "--as-of", DAYS[1])
    assert changed.returncode == 1 and "never replaces another run's dated file" in changed.stderr
    assert client.get_object(Bucket="exports", Key=key)["Body"].read() == first


def ids_in_bytes(data: bytes) -> list[str]:
    return sorted(json.loads(line)["_id"] for line in data.decode("utf-8").splitlines())

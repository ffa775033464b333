"""`segments catalog`: the data the page embeds, checked against the segment files (read
with PyYAML), `segments list` and the history real exports wrote (local and on a real S3
server); what a description cannot do to the page; and failures that leave the site as
it was. What the page does with the data is tests/browser/."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cli import main
from runner.history import open_history, runs
from runner.history.record import parse_time
from tests.conftest import api_env, make_project, run_cli
from tests.integration.catalog_project import HOSTILE, OWNERS, exported_project
from tests.integration.s3servers import run_server

DATA = re.compile(rb'<script type="application/json" id="catalog-data">(.*?)</script>', re.S)


def page_data(index: Path) -> dict[str, Any]:
    found = DATA.findall(index.read_bytes())
    assert len(found) == 1
    data: dict[str, Any] = json.loads(found[0])
    return data


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield exported_project(tmp_path_factory.mktemp("catalog"))


def build(project: Path, *args: str) -> dict[str, Any]:
    assert main(["-C", str(project), "catalog", "--out", str(project / "site"), *args]) == 0
    return {s["name"]: s for s in page_data(project / "site" / "index.html")["segments"]}


def test_every_segment_with_what_its_file_says(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segments = build(project)
    capsys.readouterr()
    assert main(["-C", str(project), "list", "--format", "json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(segments) == set(listed) == set(OWNERS)
    for name, entry in segments.items():
        written = yaml.safe_load((project / "segments" / f"{name}.yaml").read_text("utf-8"))
        assert entry["owner"] == written["owner"]
        assert entry["labels"] == written["labels"]
        assert entry["description"] == written["description"]
        assert entry["destination"] == listed[name]["output"]
        assert entry["format"] == listed[name]["format"]
        assert entry["filter_text"].endswith(".")
    assert segments["flaky"]["description"] == HOSTILE


def test_runs_are_the_history_the_exports_wrote(project: Path) -> None:
    segments = build(project)
    store = open_history(project)
    for name, entry in segments.items():
        records = runs(store, name)
        assert [(r["ended"], r["status"]) for r in entry["runs"]] == [
            (rec.ended, str(rec.status)) for rec in records
        ]
        assert [r["rows"] for r in entry["runs"]] == [
            rec.rows if rec.status.value in ("success", "guard") else None for rec in records
        ]
        assert [(r.get("added"), r.get("removed")) for r in entry["runs"]] == [
            (rec.added, rec.removed) for rec in records
        ]
        details = entry["run_details"]
        assert [entry["commits"][i] if i is not None else None for i in details["commit"]] == [
            rec.git_commit for rec in records
        ]
        assert details["fingerprint"] == [rec.body_fingerprint[:12] for rec in records]
    four = segments["four-runs"]
    assert len(four["runs"]) == 4 and four["delta"] is True
    assert four["runs"][0]["added"] == four["runs"][0]["rows"] > 0  # the first delta: all new
    flaky = segments["flaky"]
    assert [r["status"] for r in flaky["runs"]] == ["success", "failed"]
    assert "HTTP 500" in flaky["run_details"]["error"]["1"]
    assert segments["never-run"]["runs"] == []


def test_freshness_as_the_freshness_command_judges_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (last,) = runs(open_history(project), "hourly", last=1)
    later = (parse_time(last.ended) + dt.timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    segments = build(project, "--as-of", later)
    shown = {name: s["freshness"] for name, s in segments.items()}
    assert shown == {
        "four-runs": "fresh",
        "flaky": "fresh",
        "hourly": "stale",
        "never-run": "never",
    }
    capsys.readouterr()
    main(["-C", str(project), "freshness", "--format", "json", "--as-of", later])
    judged = {r["name"]: r["freshness"] for r in json.loads(capsys.readouterr().out)}
    assert judged == shown
    assert segments["hourly"]["freshness_text"] == "last published 2h 0m ago, over 1h"


@pytest.mark.parametrize(
    "field",
    ["description", "owner", "searchText"],
)
def test_nothing_a_segment_says_ends_the_data_early(tmp_path: Path, field: str) -> None:
    text = json.dumps(HOSTILE)
    where = {"description": f"description: {text}\n", "owner": f"owner: {text}\n"}.get(field, "")
    search = f"  searchText: {text}\n" if field == "searchText" else ""
    segment = (
        f"version: 1\nname: x\n{where}filter:\n  isContact: false\n{search}"
        "  applicableFilters: []\noutput: {path: out/x.csv}\n"
    )
    project = make_project(tmp_path, {"x": segment})
    (entry,) = build(project).values()
    page = (project / "site" / "index.html").read_bytes()
    assert page.count(b"</script>") == 4  # the list, the two scripts, the data
    for block in (b'id="catalog-list">', b'id="catalog-data">'):
        assert b"<!--" not in page.split(block, 1)[1].split(b"</script>", 1)[0]
    said = entry["body"]["searchText"] if field == "searchText" else entry[field]
    assert said == HOSTILE


def test_s3_history_is_read_where_segments_history_reads_it(tmp_path: Path, sandbox: Any) -> None:
    segment = (
        "version: 1\nname: remote\nowner: ops@example.com\n"
        "filter: {isContact: false, applicableFilters: []}\n"
        "output: {path: s3://exports/daily/remote.csv}\n"
    )
    project = make_project(tmp_path, {"remote": segment})
    api = sandbox(users=60)
    with run_server("moto", tmp_path / "moto") as s3:
        s3.client().create_bucket(Bucket="exports")
        env = {**api_env(api), **s3.env()}
        for _ in range(2):
            assert run_cli("export", cwd=project, env=env).returncode == 0
        done = run_cli("catalog", cwd=project, env=s3.env())
        assert done.returncode == 0, done.stderr
        (entry,) = page_data(project / "catalog" / "index.html")["segments"]
        stored = runs(open_history("s3://exports", client=s3.client()), "remote")
    assert entry["history"] == "s3://exports/.segments/history/"
    assert [r["ended"] for r in entry["runs"]] == [r.ended for r in stored]
    assert [r["rows"] for r in entry["runs"]] == [60, 60]
    assert done.stdout.startswith("catalog: 1 segments, 2 runs, ")


def test_an_unreadable_history_is_shown_unknown_and_the_rest_stands(tmp_path: Path) -> None:
    segments = {
        "remote": "version: 1\nname: remote\nfilter: {applicableFilters: []}\n"
        "output: {path: s3://exports/remote.csv}\n",
        "local": "version: 1\nname: local\nfilter: {applicableFilters: []}\n"
        "output: {path: out/local.csv}\n",
    }
    project = make_project(tmp_path, segments)
    # An S3 endpoint that refuses connections, and no retries to wait for.
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = run_cli("catalog", cwd=project, env=env)
    assert done.returncode == 0
    (warning,) = done.stderr.splitlines()
    assert warning.startswith(
        "warning: remote: unknown: cannot list the run history: s3://exports/"
    )
    shown = {
        s["name"]: s["freshness"] for s in page_data(project / "catalog" / "index.html")["segments"]
    }
    assert shown == {"remote": "unknown", "local": "never"}


@pytest.mark.parametrize("blocker", ["file", "index-folder"])
def test_a_site_that_cannot_be_written_is_one_line_and_the_old_page_stays(
    tmp_path: Path, blocker: str
) -> None:
    project = make_project(
        tmp_path,
        {"x": "version: 1\nname: x\nfilter: {applicableFilters: []}\noutput: {path: o.csv}\n"},
    )
    site = project / "site"
    if blocker == "file":
        site.write_text("not a folder", "utf-8")
    else:
        (site / "index.html").mkdir(parents=True)
    done = run_cli("catalog", "--out", "site", cwd=project)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("segments: error: cannot write site/")
    assert "Traceback" not in done.stderr
    if blocker == "file":
        assert site.read_text("utf-8") == "not a folder"

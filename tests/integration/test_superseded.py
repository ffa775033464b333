"""A run leaves exactly its own files as current: whatever way the files of an output
shrink between two runs (split turned off, fewer parts, the holdout removed or its share
changed, the format, the name or the preset changed, the delta files turned off), after
the second run the destination holds what its manifest lists, that manifest, and the
user's own files, nothing else. Against the sandbox over a socket, on local disk, moto
and rclone; each listed file checked against the manifest with hashlib."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from runner.sinks.base import TEMP_PREFIX
from tests.conftest import (
    ANCHOR,
    FAST_RETRY,
    HOOKED,
    S3_SERVERS,
    api_env,
    cli_env,
    make_project,
    run_cli,
    wait_for,
)
from tests.integration.s3servers import S3Server, reset_moto, run_server
from tests.integration.test_holdout_parts import kill_9_when

Start = Callable[..., Sandbox]

# The user's own files beside the output: never the runner's to remove.
USER_FILES = {"notes.txt": b"mine\n", "aud.csv.bak": b"x\n"}
# ... also those with the name of a part, or of the plain file of a set never published
# as one file (test_a_users_files_named_like_the_runners_stay).
LOOKALIKES = {
    "aud-0099.csv": b"id\nkeep\n",
    "aud.holdout-0042.csv": b"id\nkeep too\n",
    "aud.csv": b"my own, never published\n",
}


@dataclasses.dataclass
class Place:
    """Where the outputs go: ``out/`` of the project, or ``s3://exports/daily/``."""

    kind: str
    project: Path
    server: S3Server | None = None

    def path(self, name: str) -> str:
        return f"out/{name}" if self.server is None else f"s3://exports/daily/{name}"

    def env(self) -> dict[str, str | None]:
        return {} if self.server is None else self.server.env()

    def files(self, sub: str = "") -> dict[str, bytes]:
        """Every file (object) in the folder (``sub`` of it), by name; not those below."""
        if self.server is None:
            folder = self.project / "out" / sub
            found = folder.iterdir() if folder.exists() else iter(())
            return {p.name: p.read_bytes() for p in found if not p.is_dir()}
        client, prefix = self.server.client(), f"daily/{sub}"
        listed = client.list_objects_v2(Bucket="exports", Prefix=prefix).get("Contents", [])
        keys = [i["Key"] for i in listed if "/" not in i["Key"][len(prefix) :]]
        return {
            key[len(prefix) :]: client.get_object(Bucket="exports", Key=key)["Body"].read()
            for key in keys
        }

    def put(self, name: str, data: bytes) -> None:
        if self.server is None:
            (self.project / "out").mkdir(exist_ok=True)
            (self.project / "out" / name).write_bytes(data)
        else:
            self.server.client().put_object(Bucket="exports", Key=f"daily/{name}", Body=data)


@pytest.fixture(params=["local", *S3_SERVERS])
def place(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Place]:
    project = make_project(tmp_path / "project", {}, FAST_RETRY)
    if request.param == "local":
        yield Place("local", project)
        return
    if request.param == "moto":
        server: S3Server = request.getfixturevalue("moto_server")
        reset_moto(server)
        server.client().create_bucket(Bucket="exports")
        yield Place("moto", project, server)
        return
    with run_server("rclone", tmp_path_factory.mktemp("rclone")) as server:
        server.client().create_bucket(Bucket="exports")
        yield Place("rclone", project, server)


DAY_AFTER = "2026-11-26T00:00:00Z"


def cases_by_place(cases: list[str], on_moto: set[str]) -> list[Any]:
    """(place, case) pairs: every case on a local folder; on moto's server the cases
    ``on_moto`` in `make test` and the others marked `slow` (`make test-slow`, which CI
    runs), as every case on rclone's: the S3 cases run the same publishing and removal
    code with other file sets, which the local cases check one by one."""
    pairs = []
    for case in cases:
        pairs.append(pytest.param("local", case, id=f"local-{case}"))
        moto = () if case in on_moto else (pytest.mark.slow,)
        pairs.append(pytest.param("moto", case, id=f"moto-{case}", marks=moto))
        pairs.append(pytest.param("rclone", case, id=f"rclone-{case}", marks=pytest.mark.slow))
    return pairs


def segment(path: str, output: str = "", holdout: str = "", name: str = "aud") -> str:
    text = (
        f"version: 1\nname: {name}\nfilter: {{isContact: false, applicableFilters: []}}\n"
        f"output: {{path: '{path}'{', ' + output if output else ''}}}\n"
    )
    return text + (f'holdout: {{share: "{holdout}", salt: s}}\n' if holdout else "")


def export(
    place: Place,
    api: Sandbox,
    text: str,
    as_of: str = ANCHOR,
    token: str | None = None,
    fails: bool = False,
) -> str:
    """Export with ``text`` as the segment file (and ``token``, if given); what it
    printed. It exits 0, or 1 when it ``fails``."""
    (place.project / "segments" / "aud.yaml").write_text(text, "utf-8")
    env = {**api_env(api, token), **place.env()}
    run = run_cli("export", "--as-of", as_of, cwd=place.project, env=env)
    assert run.returncode == (1 if fails else 0), run.stdout + run.stderr
    return run.stdout + run.stderr


def listed(document: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """What a manifest lists, by file name: (bytes, sha256), read as README "Split parts",
    "Audiences from audiences" and "Deltas" say the manifest lists its files."""
    found: dict[str, tuple[int, str]] = {}

    def add(entry: dict[str, Any]) -> None:
        found[posixpath.basename(entry["destination"])] = (entry["bytes"], entry["sha256"])

    for fields in (document, document.get("audience", {}).get("holdout")):
        if fields:
            for entry in fields.get("parts", [fields]):
                add(entry)
    for entry in document["history"].get("delta", {}).values():
        if isinstance(entry, dict):
            add(entry)
    return found


def check_current(place: Place, user: dict[str, bytes]) -> dict[str, bytes]:
    """The destination holds one manifest, the files it lists (their bytes as listed) and
    the user's files: nothing else. Its files, by name."""
    files = place.files()
    manifests = [n for n in files if n.endswith(".manifest.json")]
    assert len(manifests) == 1, sorted(files)
    document = json.loads(files[manifests[0]])
    expected = listed(document)
    assert sorted(files) == sorted({*expected, manifests[0], *user})
    for name, (size, sha256) in expected.items():
        assert (len(files[name]), hashlib.sha256(files[name]).hexdigest()) == (size, sha256)
    assert {n: files[n] for n in user} == user
    return files


def names_of(files: dict[str, bytes], stem: str) -> list[str]:
    return sorted(n for n in files if n.startswith(stem))


@pytest.fixture
def preset_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """klaviyo's 50 MB lowered to 6 KB: a few hundred contacts make parts."""
    from runner.spec import split

    monkeypatch.setattr(
        split, "PRESET_LIMITS", {**split.PRESET_LIMITS, "klaviyo": {"max_bytes": "6KB"}}
    )


# The case and its kind: a preset's one-part (plain) output beside a holdout set
# (share over 50 %), then the set of files shrinks in each way a segment can say.
PRESET_SECOND = {
    "split-off": ("preset: klaviyo, split: false", "80%"),
    "holdout-removed": ("preset: klaviyo", ""),
    "share-lowered": ("preset: klaviyo", "5%"),
    "preset-changed": ("preset: meta_custom_audience", "80%"),
}


@pytest.mark.parametrize(
    ("place", "second"), cases_by_place(list(PRESET_SECOND), {"split-off"}), indirect=["place"]
)
@pytest.mark.usefixtures("preset_limit")
def test_a_plain_preset_output_with_a_holdout_set_leaves_only_the_new_files(
    sandbox: Start, place: Place, second: str
) -> None:
    for name, data in USER_FILES.items():
        place.put(name, data)
    api = sandbox(users=200, seed=11)
    export(place, api, segment(place.path("aud.csv"), "preset: klaviyo", "80%"))
    first = check_current(place, USER_FILES)
    assert "aud.csv" in first and "aud.csv.manifest.json" in first  # one part: plain
    assert len(names_of(first, "aud.holdout-")) >= 2  # the holdout: a set
    output, share = PRESET_SECOND[second]
    export(place, api, segment(place.path("aud.csv"), output, share))
    now = check_current(place, USER_FILES)
    assert names_of(now, "aud.holdout-") == []  # the old holdout parts: gone


# A split output (its holdout and delta files beside it) and each way its files shrink.
SPLIT_FIRST = ("aud.csv", "columns: [_id], delta: true, split: {max_rows: 40}", "30%")
SPLIT_SECOND = {
    "fewer-parts": ("aud.csv", "columns: [_id], delta: true, split: {max_rows: 120}", "30%"),
    "split-off": ("aud.csv", "columns: [_id], delta: true", "30%"),
    "holdout-removed": ("aud.csv", "columns: [_id], delta: true, split: {max_rows: 40}", ""),
    "delta-off": ("aud.csv", "columns: [_id], split: {max_rows: 40}", "30%"),
    "format-changed": ("aud.jsonl", "format: jsonl, columns: [_id], delta: true", "30%"),
    "renamed": ("audience.csv", "columns: [_id], delta: true, split: {max_rows: 40}", "30%"),
    "parquet": ("aud.parquet", "format: parquet, columns: [_id], split: {max_rows: 500}", ""),
    "gzipped": ("aud.csv.gz", "columns: [_id], compression: gzip, delta: true", "30%"),
}


# On moto in `make test`: fewer parts, another format, compression (the rest: slow).
@pytest.mark.parametrize(
    ("place", "second"),
    cases_by_place(list(SPLIT_SECOND), {"fewer-parts", "parquet", "gzipped"}),
    indirect=["place"],
)
def test_a_split_output_whose_files_shrink_leaves_only_the_new_files(
    sandbox: Start, place: Place, second: str
) -> None:
    user = dict(USER_FILES)
    for name, data in user.items():
        place.put(name, data)
    api = sandbox(users=300, seed=12)
    name, output, share = SPLIT_FIRST
    export(place, api, segment(place.path(name), output, share))
    first = check_current(place, user)
    assert len(names_of(first, "aud-0")) >= 5 and len(names_of(first, "aud.holdout-")) >= 2
    assert "aud.added.csv" in first
    name, output, share = SPLIT_SECOND[second]
    export(place, sandbox(users=250, seed=12), segment(place.path(name), output, share))
    check_current(place, user)


@pytest.mark.parametrize("users", [60, 300])
def test_a_users_files_named_like_the_runners_stay(
    sandbox: Start, place: Place, users: int
) -> None:
    """A part's name past the set's count, a holdout part's, the plain name beside a set:
    the user's files there stay through runs whose sets grow and shrink (never listed by
    a manifest, they are not the runner's)."""
    for name, data in {**USER_FILES, **LOOKALIKES}.items():
        place.put(name, data)
    for seed, output in ((15, "split: {max_rows: 40}"), (16, "split: {max_rows: 90}")):
        api = sandbox(users=users, seed=seed)
        export(place, api, segment(place.path("aud.csv"), "columns: [_id], " + output, "30%"))
        check_current(place, {**USER_FILES, **LOOKALIKES})


def test_a_name_template_that_changes_replaces_the_old_name(sandbox: Start, place: Place) -> None:
    """A templated name changed (``{{ segment.name }}`` to a fixed one, a new folder):
    the file the old template still names goes."""
    api = sandbox(users=120, seed=13)
    export(place, api, segment(place.path("{{ segment.name }}-list.csv"), "columns: [_id]", "20%"))
    assert sorted(place.files()) == [
        "aud-list.csv",
        "aud-list.csv.manifest.json",
        "aud-list.holdout.csv",
    ]
    export(place, api, segment(place.path("lists/aud.csv"), "columns: [_id]", "20%"))
    assert place.files() == {}  # out/ (daily/) itself holds nothing now: all in lists/
    assert sorted(place.files("lists/")) == [
        "aud.csv",
        "aud.csv.manifest.json",
        "aud.holdout.csv",
    ]
    export(place, api, segment(place.path("aud.csv"), "columns: [_id]"))
    assert place.files("lists/") == {}
    check_current(place, {})


def test_dated_files_of_other_days_stay_and_one_of_the_same_day_is_replaced(
    sandbox: Start, place: Place
) -> None:
    """A path dated by ``run_date`` keeps every day's file (each run's result is its own);
    the same day's file in another format is replaced."""
    api = sandbox(users=80, seed=14)
    dated = "aud-{{ run_date }}"
    export(place, api, segment(place.path(dated + ".csv"), "columns: [_id]"))
    export(
        place, api, segment(place.path(dated + ".csv"), "columns: [_id]"), "2026-11-26T00:00:00Z"
    )
    assert sorted(place.files()) == [
        "aud-2026-11-25.csv",
        "aud-2026-11-25.csv.manifest.json",
        "aud-2026-11-26.csv",
        "aud-2026-11-26.csv.manifest.json",
    ]
    day = "2026-11-26T09:00:00Z"
    export(place, api, segment(place.path(dated + ".jsonl"), "format: jsonl, columns: [_id]"), day)
    assert sorted(place.files()) == [
        "aud-2026-11-25.csv",
        "aud-2026-11-25.csv.manifest.json",
        "aud-2026-11-26.jsonl",
        "aud-2026-11-26.jsonl.manifest.json",
    ]


def test_an_incremental_run_after_a_full_one_keeps_the_full_export(
    sandbox: Start, place: Place
) -> None:
    """A segment switched to ``mode: incremental`` writes a dated file of its window: the
    whole audience the full run published before is not its to replace, nor the reverse.
    (Found by review: the full export and its manifest were removed.)"""
    api = sandbox(users=80, seed=15)
    full = segment(place.path("aud.csv"), "columns: [_id]")
    export(place, api, full)
    whole = {n: b for n, b in place.files().items() if n.startswith("aud.csv")}
    assert sorted(whole) == ["aud.csv", "aud.csv.manifest.json"]
    export(place, api, full.replace("filter:", "mode: incremental\nfilter:"), DAY_AFTER)
    after = place.files()
    assert {n: after.get(n) for n in whole} == whole
    dated = [n for n in after if n not in whole]
    assert len(dated) == 2 and any(n.endswith(".csv.manifest.json") for n in dated), dated
    export(place, api, full, "2026-11-27T00:00:00Z")  # back to full: the window's stay
    assert all(n in place.files() for n in dated)


@pytest.mark.usefixtures("preset_limit")
def test_a_run_that_fails_leaves_the_previous_files_as_they_were(
    sandbox: Start, place: Place
) -> None:
    """Refused by the API, stopped by a guard after every page was read, or killed with
    SIGKILL: the run that would have shrunk the files removes nothing, and the previous
    files and manifest stay byte for byte."""
    for name, data in USER_FILES.items():
        place.put(name, data)
    api = sandbox(users=200, seed=11)
    export(place, api, segment(place.path("aud.csv"), "preset: klaviyo", "80%"))
    before = check_current(place, USER_FILES)
    assert len(names_of(before, "aud.holdout-")) >= 2
    off = segment(place.path("aud.csv"), "preset: klaviyo, split: false", "80%")
    said = export(place, api, off, token="not-the-token", fails=True)
    assert "401" in said or "token" in said
    assert place.files() == before
    guarded = segment(place.path("aud.jsonl"), "format: jsonl", "") + "expect: {min_rows: 5000}\n"
    said = export(place, api, guarded, fails=True)
    assert "below expect.min_rows (5000)" in said
    assert place.files() == before

    # killed with SIGKILL while it reads the pages (a slow list), before it publishes
    (place.project / "segments" / "aud.yaml").write_text(off, "utf-8")
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=4)
    kill_9_when(place.project, {**api_env(slow), **place.env()}, lambda: slow.stats["pages"] >= 5)
    after = {k: v for k, v in place.files().items() if not k.startswith(TEMP_PREFIX)}
    assert after == before


# -- two runs of one output at once ------------------------------------------------------

SPLIT = """\
version: 1
name: everyone
filter:
  applicableFilters: [lastSeenAt]
  lastSeenAt:
    startAt: "{{ now | minus(days=30) | api }}"
    endsAt: "{{ now | api }}"
  isContact: false
output:
  format: csv
  path: out/everyone.csv
  split: {max_rows: 20}
  columns: [_id]
"""
EIGHT, NINE = "2026-11-01T00:00:00Z", "2026-11-11T00:00:00Z"  # 8 and 9 parts of 20 rows


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] == "T"


def _done_or_waiting_for_a_lock(proc: subprocess.Popen[str]) -> bool:
    """``proc`` ended, or waits for an ``flock`` (a ``->`` line of /proc/locks)."""
    if proc.poll() is not None:
        return True
    waiting = [
        line.split() for line in Path("/proc/locks").read_text().splitlines() if "->" in line
    ]
    return any(fields[5] == str(proc.pid) for fields in waiting if len(fields) > 5)


@pytest.mark.parametrize(
    ("point", "before", "mine", "other"),
    [("read-earlier", EIGHT, EIGHT, NINE), ("checked-superseded", NINE, EIGHT, NINE)],
)
def test_a_run_of_the_same_output_meanwhile_leaves_exactly_the_files_listed(
    sandbox: Start, tmp_path: Path, point: str, before: str, mine: str, other: str
) -> None:
    """Run A stops where another run of the same output could publish meanwhile: once it
    read the previous result (it then cleared that one's extra parts, not the newer run's:
    a ninth part listed by no manifest, left for good), or once it checked a part it would
    remove (it then removed the newer run's ninth part, which the manifest lists). Both
    found by a review; an output's lock is now held from reading the previous result to
    clearing it, so the other run waits."""
    api = sandbox(users=600, page_size=50)
    project = make_project(tmp_path, {"everyone": SPLIT})
    out = project / "out"
    assert run_cli("export", "--as-of", before, cwd=project, env=api_env(api)).returncode == 0
    env = cli_env({**api_env(api), "SEGMENTS_TEST_STOP_AT": point})
    a = subprocess.Popen(
        [*HOOKED, "export", "--as-of", mine],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    b = None
    try:
        wait_for(lambda: _stopped(a.pid) or a.poll() is not None, 120)
        assert a.poll() is None, a.communicate()[1]
        b = subprocess.Popen(
            [sys.executable, "-m", "runner", "export", "--as-of", other],
            cwd=project,
            env=cli_env(api_env(api)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: _done_or_waiting_for_a_lock(b), 120)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    for proc in (a, b):
        assert proc is not None
        err = proc.communicate(timeout=120)[1]
        assert proc.returncode == 0, err
    manifest = json.loads((out / "everyone.csv.parts.manifest.json").read_text())
    listed = sorted(Path(p["destination"]).name for p in manifest["parts"])
    assert sorted(p.name for p in out.glob("everyone-*.csv")) == listed


def test_a_run_of_the_same_s3_output_meanwhile_leaves_exactly_the_objects_listed(
    sandbox: Start, tmp_path: Path, s3: S3Server
) -> None:
    """The same on S3, which has no lock: a lock object under the history
    (runner/history/s3_lock.py) is held from reading the previous result to removing
    what the new one supersedes. Before it, run B published its ninth part while A
    removed the earlier run's ninth (the same bytes: its check passed): B's manifest
    listed a part that was gone (README said so). (A run stopped once it read the
    previous result has its parts' uploads still open: B, starting, aborts them as a
    killed run's, and A fails, nothing published.)"""
    point, before, mine, other = "checked-superseded", NINE, EIGHT, NINE
    api = sandbox(users=600, page_size=50)
    split = SPLIT.replace("out/everyone.csv", "s3://exports/daily/everyone.csv")
    project = make_project(tmp_path, {"everyone": split})
    env = {**api_env(api), **s3.env()}
    assert run_cli("export", "--as-of", before, cwd=project, env=env).returncode == 0
    a = subprocess.Popen(
        [*HOOKED, "export", "--as-of", mine],
        cwd=project,
        env=cli_env({**env, "SEGMENTS_TEST_STOP_AT": point}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said = tmp_path / "b.err"
    try:
        wait_for(lambda: _stopped(a.pid) or a.poll() is not None, 120)
        assert a.poll() is None, a.communicate()[1]
        with said.open("w") as err:  # (B: a file, read while it runs)
            b = subprocess.Popen(
                [sys.executable, "-m", "runner", "export", "--as-of", other],
                cwd=project,
                env=cli_env(env),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        waiting = "everyone: waiting for another run publishing s3://exports/daily/everyone.csv"
        wait_for(lambda: b.poll() is not None or waiting in said.read_text(), 120)
        assert b.poll() is None, said.read_text()  # it waits for A's lock
    finally:
        os.kill(a.pid, signal.SIGCONT)
    left = a.communicate(timeout=120)[1]
    assert a.returncode == 0, left
    assert b.wait(timeout=120) == 0, said.read_text()
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="exports").get("Contents", [])]
    shown = client.get_object(Bucket="exports", Key="daily/everyone.csv.parts.manifest.json")
    listed = sorted(
        posixpath.basename(p["destination"]) for p in json.loads(shown["Body"].read())["parts"]
    )
    parts = sorted(posixpath.basename(k) for k in keys if k.startswith("daily/everyone-"))
    assert parts == listed and len(listed) == 9
    assert not [k for k in keys if "/locks/" in k]  # released

"""Preset exports from the sandbox, as a marketer runs them: headers, hashes, dropped rows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from botocore.exceptions import ClientError

from runner.sandbox import Sandbox
from runner.spec import split
from tests.conftest import (
    ANCHOR,
    FAST_RETRY,
    HOOKED,
    api_env,
    cli_env,
    make_project,
    run_cli,
    wait_for,
)
from tests.hooked import LIMITS, STOP_HOOK
from tests.integration.s3servers import S3Server
from tests.integration.test_split import stopped
from tests.unit.test_phones import meant_by, oracle

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: handoff
filter: {{isContact: false, applicableFilters: []}}
output:
  path: out/handoff.csv
  preset: {preset}
"""
# A project whose default CSV has a BOM and semicolons: a preset's file must not.
PROJECT = FAST_RETRY + "defaults:\n  output: {csv: {bom: true, delimiter: ';'}}\n"


def export(sandbox: Start, tmp_path: Path, preset: str) -> tuple[bytes, dict, dict, list, str]:
    api = sandbox(users=900, seed=21)
    project = make_project(tmp_path, {"handoff": SEGMENT.format(preset=preset)}, PROJECT)
    result = run_cli(
        "export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api)
    )
    assert result.returncode == 0, result.stderr
    data = (project / "out" / "handoff.csv").read_bytes()
    manifest = json.loads((project / "out" / "handoff.csv.manifest.json").read_text())
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    served = [orjson.loads(blob) for blob in api.population.blobs]
    return data, manifest, entry, served, result.stdout + result.stderr


def test_google_file_is_hashed_plain_utf8_with_googles_headers(
    sandbox: Start, tmp_path: Path
) -> None:
    data, manifest, entry, served, output = export(sandbox, tmp_path, "google_customer_match")
    assert data.startswith(b"Email,Phone,First Name,Last Name,Country,Zip\r\n")  # no BOM
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert manifest["preset"] == "google_customer_match"
    assert manifest["columns"] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    # A contact with neither an e-mail nor a phone libphonenumber says is valid is left out.
    phones = {c["_id"]: oracle(meant_by(c)) for c in served}
    kept = [
        c
        for c in served
        if "@" in c["profile"]["userDetails"]["contact"]["email"] or phones[c["_id"]]
    ]
    assert 0 < len(kept) < 900
    assert len(rows) == manifest["rows"] == entry["rows"] == len(kept)
    assert manifest["dropped_unmatchable"] == entry["dropped_unmatchable"] == 900 - len(kept)
    invalid = sum(1 for e164 in phones.values() if not e164)
    assert manifest["invalid_phones"] == entry["invalid_phones"] == invalid
    for row, contact in zip(rows, kept, strict=True):
        phone = phones[contact["_id"]]  # the hash of libphonenumber's E.164, or empty
        assert row["Phone"] == (hashlib.sha256(phone.encode()).hexdigest() if phone else "")
        email = contact["profile"]["userDetails"]["contact"]["email"].strip().lower()
        assert row["Email"] == (hashlib.sha256(email.encode()).hexdigest() if "@" in email else "")
        assert row["Country"] == contact["profile"]["userDetails"]["country"]
        assert len(row["First Name"]) == 64 or row["First Name"] == ""


def test_mailchimp_leaves_out_and_counts_rows_without_an_email(
    sandbox: Start, tmp_path: Path
) -> None:
    data, manifest, entry, served, output = export(sandbox, tmp_path, "mailchimp")
    assert data.startswith(b"Email Address,First Name,Last Name,Phone Number\r\n")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    without = [c for c in served if "@" not in c["profile"]["userDetails"]["contact"]["email"]]
    assert len(without) > 3
    assert manifest["dropped_unmatchable"] == entry["dropped_unmatchable"] == len(without)
    assert manifest["rows"] == len(rows) == 900 - len(without)
    assert f"{len(without)} with nothing to match on left out" in output  # progress line
    assert f"handoff: {len(without)} rows with no e-mail or phone" in output  # summary
    emails = {c["profile"]["userDetails"]["contact"]["email"].lower() for c in served}
    assert {r["Email Address"] for r in rows} <= emails
    with_email = [c for c in served if "@" in c["profile"]["userDetails"]["contact"]["email"]]
    assert [r["Phone Number"] for r in rows] == [oracle(meant_by(c)) for c in with_email]


# -- The platform's limits as split defaults ------------------------------------
# The documented limits are 50 MB and more: the tests set test-sized ones (in this process,
# or by tests/hooked.py in a child), so a few hundred contacts pass them.
KLAVIYO = """\
version: 1
name: handoff
filter: {{isContact: false, applicableFilters: []}}
output:
  path: {path}
  preset: klaviyo
{split}"""
PLAIN = ["handoff.csv", "handoff.csv.manifest.json"]
SET_MANIFEST = "handoff.csv.parts.manifest.json"


def klaviyo(split: str = "", path: str = "out/handoff.csv") -> str:
    return KLAVIYO.format(path=path, split=f"  split: {split}\n" if split else "")


def run(
    project: Path, api: Sandbox, limit: str | None = None, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``segments export`` in this process, with klaviyo's limit set to ``limit`` for the run
    (the child processes that a test kills get theirs from tests/hooked.py)."""
    with pytest.MonkeyPatch.context() as patch:
        if limit:
            limits = {**split.PRESET_LIMITS, "klaviyo": {"max_bytes": limit}}
            patch.setattr(split, "PRESET_LIMITS", limits)
        return run_cli(
            "export",
            "--as-of",
            ANCHOR,
            "--concurrency",
            "1",
            "--results",
            "r.json",
            *args,
            cwd=project,
            env={**api_env(api), **env},
            timeout=300,
        )


def files(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` but the runner's locks and temporaries, with its bytes."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".segments-")}


def test_a_small_preset_export_is_the_one_plain_file_of_before(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=600, seed=31)
    one = make_project(tmp_path / "one", {"handoff": klaviyo("false")})  # one file, as before
    assert run(one, api).returncode == 0
    default = make_project(tmp_path / "default", {"handoff": klaviyo()})
    for limit in (None, "1MB"):  # the documented 50 MB, and a test-sized limit it fits in
        done = run(default, api, limit)
        assert done.returncode == 0, done.stdout + done.stderr
        got, expected = files(default / "out"), files(one / "out")
        assert sorted(got) == PLAIN  # no handoff-0001.csv, no set manifest
        assert got["handoff.csv"] == expected["handoff.csv"]  # the same bytes
        manifest = json.loads(got["handoff.csv.manifest.json"])
        before = json.loads(expected["handoff.csv.manifest.json"])
        assert list(manifest) == list(before) and "part_count" not in manifest
        same = ("rows", "bytes", "sha256", "destination", "columns", "dropped_unmatchable")
        assert {k: manifest[k] for k in same} == {k: before[k] for k in same}
        assert manifest["sha256"] == hashlib.sha256(got["handoff.csv"]).hexdigest()
        (entry,) = json.loads((default / "r.json").read_text())["results"]
        assert entry["parts"] == 0 and entry["manifest"] == "out/handoff.csv.manifest.json"
        assert " beside out/handoff.csv (output.split)" not in done.stdout
        assert not [p for p in (default / "out").iterdir() if p.name.startswith(".segments-tmp")]
    # under --out alike
    assert run(default, api, "1MB", "--out", "try").returncode == 0
    tried = files(default / "try" / "out")
    assert sorted(tried) == PLAIN and tried["handoff.csv"] == files(one / "out")["handoff.csv"]


def test_past_the_platform_limit_a_preset_export_is_numbered_parts(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=800, seed=32)
    project = make_project(tmp_path, {"handoff": klaviyo("false")})
    one = run(project, api, "12KB")
    assert one.returncode == 0
    # split: false keeps one file past the limit, with the warning
    assert "without 'output.split: false' it is written as parts" in one.stdout + one.stderr
    whole = (project / "out" / "handoff.csv").read_bytes()
    assert len(whole) > 36_000
    (project / "segments" / "handoff.yaml").write_text(klaviyo())  # the default: split
    done = run(project, api, "12KB")
    assert done.returncode == 0, done.stdout + done.stderr
    got = files(project / "out")
    names = [f"handoff-{n:04d}.csv" for n in range(1, len(got))]
    assert sorted(got) == [*names, SET_MANIFEST]  # the plain file and its manifest gone
    header = whole[: whole.index(b"\r\n") + 2]
    assert all(got[n].startswith(header) and len(got[n]) <= 12_000 for n in names)
    assert header + b"".join(got[n][len(header) :] for n in names) == whole
    manifest = json.loads(got[SET_MANIFEST])
    assert manifest["part_count"] == len(names) >= 4
    assert [p["sha256"] for p in manifest["parts"]] == [
        hashlib.sha256(got[n]).hexdigest() for n in names
    ]
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    assert entry["parts"] == len(names) and entry["manifest"] == f"out/{SET_MANIFEST}"


def killed_at_the_manifest(project: Path, api: Sandbox, limit: str | None, **env: str) -> None:
    """A run stopped (test hook) with its files in place but not its manifest, killed -9."""
    limits = {LIMITS: json.dumps({"klaviyo": {"max_bytes": limit}})} if limit else {}
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env({**api_env(api), **limits, **env, STOP_HOOK: "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: stopped(proc))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -9


def test_switching_shapes_removes_the_other_only_after_the_new_manifest(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=800, seed=33)
    project = make_project(tmp_path, {"handoff": klaviyo()})
    folder = project / "out"
    assert run(project, api).returncode == 0
    plain = files(folder)
    assert sorted(plain) == PLAIN
    # one file -> a set (the limit passed): killed before the set's manifest, the
    # plain file and its manifest stay as they were
    killed_at_the_manifest(project, api, "12KB")
    now = files(folder)
    assert {k: now[k] for k in PLAIN} == plain and SET_MANIFEST not in now
    assert run(project, api, "12KB").returncode == 0
    parts = files(folder)
    assert SET_MANIFEST in parts and not set(PLAIN) & set(parts)  # the plain shape gone
    assert len(parts) >= 5
    # a set -> one file: killed before the plain manifest, the set stays as it was
    killed_at_the_manifest(project, api, None)
    now = files(folder)
    assert {k: now[k] for k in parts} == parts and PLAIN[1] not in now
    done = run(project, api)
    assert done.returncode == 0, done.stdout + done.stderr
    final = files(folder)
    assert sorted(final) == PLAIN  # the parts and their manifest gone
    assert final["handoff.csv"] == plain["handoff.csv"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".segments-tmp")]


def objects(s3: S3Server) -> dict[str, bytes]:
    client = s3.client()
    listed = client.list_objects_v2(Bucket="exports", Prefix="daily/").get("Contents", [])
    return {
        item["Key"].removeprefix("daily/"): client.get_object(Bucket="exports", Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
    }


def open_uploads(s3: S3Server) -> list[str]:
    try:
        reply = s3.client().list_multipart_uploads(Bucket="exports", Prefix="daily/")
    except ClientError as exc:  # rclone: NoSuchUpload when the bucket has none
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return []
        raise
    return [u["Key"] for u in reply.get("Uploads", [])]


def test_s3_one_part_is_the_plain_object_and_the_shapes_switch(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    env = {k: v for k, v in s3.env().items() if v is not None}
    api = sandbox(users=800, seed=34)
    path = "s3://exports/daily/handoff.csv"
    before = make_project(tmp_path / "one", {"handoff": klaviyo("false", path)})
    assert run(before, api, None, **env).returncode == 0  # one object, as before
    reference = objects(s3)
    s3.client().delete_objects(
        Bucket="exports", Delete={"Objects": [{"Key": f"daily/{k}"} for k in reference]}
    )
    project = make_project(tmp_path / "default", {"handoff": klaviyo(path=path)})
    assert run(project, api, None, **env).returncode == 0
    plain = objects(s3)
    assert sorted(plain) == PLAIN and plain["handoff.csv"] == reference["handoff.csv"]
    manifest = json.loads(plain["handoff.csv.manifest.json"])
    assert list(manifest) == list(json.loads(reference["handoff.csv.manifest.json"]))
    head = s3.client().head_object(Bucket="exports", Key="daily/handoff.csv")
    meta = {k.lower(): v for k, v in head["Metadata"].items()}
    assert meta["sha256"] == manifest["sha256"] and meta["rows"] == str(manifest["rows"])
    assert {"segment", "as-of"} <= set(meta) and open_uploads(s3) == []
    # one object -> a set, killed before the set's manifest: the plain object stays
    killed_at_the_manifest(project, api, "12KB", **env)
    now = objects(s3)
    assert {k: now[k] for k in PLAIN} == plain and SET_MANIFEST not in now
    assert run(project, api, "12KB", **env).returncode == 0
    parts = objects(s3)
    assert SET_MANIFEST in parts and not set(PLAIN) & set(parts) and len(parts) >= 5
    # a set -> one object, killed before its manifest: the set stays
    killed_at_the_manifest(project, api, None, **env)
    now = objects(s3)
    assert {k: now[k] for k in parts} == parts and PLAIN[1] not in now
    assert run(project, api, None, **env).returncode == 0
    final = objects(s3)
    assert sorted(final) == PLAIN and final["handoff.csv"] == plain["handoff.csv"]
    # split: false (a config change) where a set is: the set goes once the file is in
    assert run(project, api, "12KB", **env).returncode == 0
    (project / "segments" / "handoff.yaml").write_text(klaviyo("false", path))
    assert run(project, api, "12KB", **env).returncode == 0
    assert sorted(objects(s3)) == PLAIN and open_uploads(s3) == []


def test_s3_a_staged_first_part_left_open_by_kill_9_is_aborted_by_the_next_run(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    env = {k: v for k, v in s3.env().items() if v is not None}
    path = "s3://exports/daily/handoff.csv"
    project = make_project(tmp_path, {"handoff": klaviyo(path=path)})
    fast = sandbox(users=300, seed=35)
    assert run(project, fast, None, **env).returncode == 0
    before = objects(s3)
    slow = sandbox(users=3000, page_size=20, latency_ms=30, seed=36)
    limits = {LIMITS: json.dumps({"klaviyo": {"max_bytes": "12KB"}})}
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env({**api_env(slow), **limits, **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Part 1 complete and sent: its upload is open under a temporary key.
        wait_for(lambda: any(".segments-tmp-" in key for key in open_uploads(s3)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert objects(s3) == before  # no part, no temporary object; the plain file as it was
    # And one a killed run left on the plain key itself (a run of the plain file alone).
    s3.client().create_multipart_upload(Bucket="exports", Key="daily/handoff.csv")
    assert run(project, fast, None, **env).returncode == 0
    assert open_uploads(s3) == [] and sorted(objects(s3)) == PLAIN

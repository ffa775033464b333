"""The S3 destination against moto's server and rclone's S3 server, over HTTP."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from runner.sandbox import Sandbox
from tests.conftest import (
    ANCHOR,
    HOOKED,
    api_env,
    cli_env,
    closed_port,
    make_project,
    rendered_body,
    run_cli,
    wait_for,
)
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]
TOKEN = "tok-s3-SECRET"

SEGMENT = """\
version: 1
name: everyone
filter: {{isContact: false, applicableFilters: []}}
output:
  format: {fmt}
  compression: {compression}
  path: s3://exports/daily/everyone.{ext}
  s3:
    part_size_mb: 5
    metadata: {{team: crm}}
{expect}"""


def segment(fmt: str = "csv", compression: str = "none", expect: str = "") -> str:
    ext = fmt + (".gz" if compression == "gzip" else "")
    return SEGMENT.format(fmt=fmt, compression=compression, ext=ext, expect=expect)


def env(api: Sandbox, s3: S3Server, **extra: str | None) -> dict[str, str | None]:
    return {**api_env(api), **s3.env(**extra)}


def test_multipart_export_equals_local_export(sandbox: Start, s3: S3Server, tmp_path: Path) -> None:
    api = sandbox(users=34000, page_size=200, token=TOKEN, seed=3)
    project = make_project(tmp_path, {"everyone": segment()})
    run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    local = run_cli(
        "export", "--as-of", ANCHOR, "--out", "local", cwd=project, env=env(api, s3), timeout=300
    )
    assert local.returncode == 0, local.stderr
    expected = (project / "local" / "exports" / "daily" / "everyone.csv").read_bytes()
    assert len(expected) > 3 * 5 * 1024 * 1024, "the export must span more than three parts"
    client = s3.client()
    obj = client.get_object(Bucket="exports", Key="daily/everyone.csv")
    assert obj["Body"].read() == expected
    head = client.head_object(Bucket="exports", Key="daily/everyone.csv")
    meta = {k.lower(): v for k, v in head["Metadata"].items()}
    assert meta["rows"] == "34000" and meta["segment"] == "everyone" and meta["team"] == "crm"
    assert meta["sha256"] == hashlib.sha256(expected).hexdigest()
    assert head["ContentType"].startswith("text/csv")
    manifest = json.loads(
        client.get_object(Bucket="exports", Key="daily/everyone.csv.manifest.json")["Body"].read()
    )
    assert manifest["sha256"] == meta["sha256"] and manifest["rows"] == 34000
    assert manifest["destination"] == "s3://exports/daily/everyone.csv"
    assert s3.open_uploads("exports", "daily/everyone.csv") == []


def test_gzip_jsonl_single_put(sandbox: Start, s3: S3Server, tmp_path: Path) -> None:
    api = sandbox(users=300, token=TOKEN)
    project = make_project(tmp_path, {"everyone": segment("jsonl", "gzip")})
    run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3))
    assert run.returncode == 0, run.stdout + run.stderr
    body = s3.client().get_object(Bucket="exports", Key="daily/everyone.jsonl.gz")["Body"].read()
    ids = [json.loads(line)["_id"] for line in gzip.decompress(body).splitlines()]
    assert ids == api.truth(rendered_body(project, "everyone"))


def _missing(s3: S3Server, key: str) -> bool:
    try:
        s3.client().head_object(Bucket="exports", Key=key)
    except ClientError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_upload_leaves_no_object(
    sandbox: Start, s3: S3Server, tmp_path: Path, sig: int
) -> None:
    slow = sandbox(users=20000, page_size=200, latency_ms=30, token=TOKEN, seed=4)
    project = make_project(tmp_path, {"everyone": segment()})
    key = "daily/everyone.csv"
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR, "--concurrency", "1"],
        cwd=project,
        env=cli_env(env(slow, s3)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: s3.sent_parts("exports", key) > 0)  # a part is in, more on the way
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == {signal.SIGKILL: -9, signal.SIGTERM: 143}[sig]
    assert b"Traceback" not in err
    assert _missing(s3, key)
    if sig == signal.SIGTERM:
        assert s3.open_uploads("exports", key) == []  # aborted on the way out
    fast = sandbox(users=200, token=TOKEN)
    again = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(fast, s3))
    assert again.returncode == 0, again.stdout + again.stderr
    assert s3.open_uploads("exports", key) == []
    assert not _missing(s3, key)


def test_guard_failure_keeps_previous_object(sandbox: Start, s3: S3Server, tmp_path: Path) -> None:
    api = sandbox(users=150, token=TOKEN)
    project = make_project(tmp_path, {"everyone": segment()})
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3)).returncode == 0
    before = s3.client().get_object(Bucket="exports", Key="daily/everyone.csv")["Body"].read()
    (project / "segments" / "everyone.yaml").write_text(segment(expect="expect: {max_rows: 10}\n"))
    run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3))
    assert run.returncode == 1
    assert "150 rows is above expect.max_rows (10)" in run.stdout
    assert (
        s3.client().get_object(Bucket="exports", Key="daily/everyone.csv")["Body"].read() == before
    )
    assert s3.open_uploads("exports", "daily/everyone.csv") == []


# Wrong credentials only against rclone: moto accepts any credentials, rclone checks
# signatures (the `s3` fixture's servers narrowed per case, rather than a skipped case).
@pytest.mark.parametrize(
    ("s3", "change", "message"),
    [
        ("rclone", {"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "S3 rejected the credentials"),
        ("moto", "bucket", "bucket 'nope-bucket' does not exist"),
        ("rclone", "bucket", "bucket 'nope-bucket' does not exist"),
        ("moto", "endpoint", "cannot reach the S3 endpoint"),
        ("rclone", "endpoint", "cannot reach the S3 endpoint"),
    ],
    indirect=["s3"],
)
def test_s3_errors_are_one_clear_line(
    sandbox: Start, s3: S3Server, tmp_path: Path, change: object, message: str
) -> None:
    api = sandbox(users=50, token=TOKEN)
    text = segment()
    extra: dict[str, str | None] = {}
    if change == "bucket":
        text = text.replace("s3://exports/", "s3://nope-bucket/")
    elif isinstance(change, dict):
        extra = change
    project = make_project(tmp_path, {"everyone": text})
    with closed_port() as port:
        if change == "endpoint":
            extra = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3, **extra))
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert any(message in line for line in run.stdout.splitlines()), run.stdout
    assert SECRET_NOT_SHOWN(run)


def SECRET_NOT_SHOWN(run: subprocess.CompletedProcess[str]) -> bool:
    from tests.integration.s3servers import SECRET_KEY

    return SECRET_KEY not in run.stdout + run.stderr and TOKEN not in run.stdout + run.stderr


LOCAL_SEGMENT = """\
version: 1
name: nearby
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/nearby.jsonl}
"""


def test_render_and_list_show_the_s3_url(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"everyone": segment(), "nearby": LOCAL_SEGMENT})
    listed = run_cli("list", "--format", "json", cwd=project)
    assert [r["output"] for r in json.loads(listed.stdout)] == [
        "s3://exports/daily/everyone.csv",
        "out/nearby.jsonl",
    ]
    # Under --out, an s3:// path keeps its bucket as the first folder; a local path its path.
    for out, expected in [
        (
            "s3://other/try",
            ["s3://other/try/exports/daily/everyone.csv", "s3://other/try/out/nearby.jsonl"],
        ),
        ("s3://other", ["s3://other/exports/daily/everyone.csv", "s3://other/out/nearby.jsonl"]),
        ("try", ["try/exports/daily/everyone.csv", "try/out/nearby.jsonl"]),
    ]:
        for command in ("render", "list"):
            run = run_cli(command, "--format", "json", "--out", out, cwd=project)
            assert [r["output"] for r in json.loads(run.stdout)] == expected, run.stderr


def test_out_s3_prefix_reroots_s3_and_local_paths(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api = sandbox(users=70, token=TOKEN)
    project = make_project(tmp_path, {"everyone": segment(), "nearby": LOCAL_SEGMENT})
    run = run_cli(
        "export", "--as-of", ANCHOR, "--out", "s3://exports/try", cwd=project, env=env(api, s3)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    client = s3.client()
    for key in ("try/exports/daily/everyone.csv", "try/out/nearby.jsonl"):
        data = client.get_object(Bucket="exports", Key=key)["Body"].read()
        manifest = json.loads(
            client.get_object(Bucket="exports", Key=key + ".manifest.json")["Body"].read()
        )
        assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["destination"] == f"s3://exports/{key}" and manifest["rows"] == 70
    assert _missing(s3, "daily/everyone.csv")
    assert not (project / "out").exists()


def test_kill_between_the_object_and_its_manifest(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    from tests.hooked import STOP_HOOK
    from tests.integration.test_publish_integrity import finish, stopped

    project = make_project(tmp_path, {"everyone": segment()})
    old = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(sandbox(users=50), s3))
    assert old.returncode == 0, old.stdout + old.stderr
    api = sandbox(users=80, seed=2)
    proc = subprocess.Popen(
        [*HOOKED, "export", "--as-of", ANCHOR],
        cwd=project,
        env=cli_env(env(api, s3, **{STOP_HOOK: "1"})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: stopped(proc))  # the object is replaced, its manifest not written
        proc.send_signal(signal.SIGKILL)
    finally:
        finish(proc)
    client = s3.client()
    obj = client.get_object(Bucket="exports", Key="daily/everyone.csv")
    ids = [
        row["_id"] for row in csv.DictReader(obj["Body"].read().decode("utf-8-sig").splitlines())
    ]
    assert ids == api.truth(rendered_body(project, "everyone"))
    assert _missing(s3, "daily/everyone.csv.manifest.json"), "a manifest of the old object"


def test_manifest_failure_after_the_object_says_what_was_published(
    sandbox: Start, tmp_path: Path
) -> None:
    from tests.hooked import STOP_HOOK
    from tests.integration.s3servers import run_server
    from tests.integration.test_publish_integrity import finish, stopped

    project = make_project(tmp_path / "project", {"everyone": segment()})
    with run_server("rclone", tmp_path) as server:
        server.client().create_bucket(Bucket="exports")
        old = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(sandbox(users=50), server))
        assert old.returncode == 0, old.stdout + old.stderr
        api = sandbox(users=80, seed=2)
        proc = subprocess.Popen(
            [*HOOKED, "export", "--as-of", ANCHOR, "--results", "r.json"],
            cwd=project,
            env=cli_env(env(api, server, **{STOP_HOOK: "1"})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: stopped(proc))
            # rclone keeps objects as files: a folder in the manifest's place makes its PUT fail.
            blocker = tmp_path / "rclone-data" / "exports" / "daily" / "everyone.csv.manifest.json"
            blocker.mkdir()
            (blocker / "x").write_text("x")
            proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=120)
        finally:
            finish(proc)
        data = server.client().get_object(Bucket="exports", Key="daily/everyone.csv")["Body"].read()
    text = (out + err).decode()
    assert proc.returncode == 1 and "Traceback" not in text
    digest = hashlib.sha256(data).hexdigest()
    expected = (
        f"published s3://exports/daily/everyone.csv (sha256 {digest}, 80 rows) but could not "
        "write its manifest s3://exports/daily/everyone.csv.manifest.json: "
    )
    assert expected in text, text
    assert "any previous manifest was removed before the object was replaced" in text
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    assert entry["status"] == "failed" and entry["published"] is True


# moto only: rclone's S3 server keeps no encryption or storage class.
@pytest.mark.parametrize("s3", ["moto"], indirect=True)
def test_encryption_acl_and_storage_class(sandbox: Start, s3: S3Server, tmp_path: Path) -> None:
    api = sandbox(users=40, token=TOKEN)
    text = segment().replace(
        "    part_size_mb: 5\n",
        "    part_size_mb: 5\n    sse: AES256\n    acl: bucket-owner-full-control\n"
        "    storage_class: STANDARD_IA\n    content_type: text/plain\n",
    )
    project = make_project(tmp_path, {"everyone": text})
    run = run_cli("export", "--as-of", ANCHOR, cwd=project, env=env(api, s3))
    assert run.returncode == 0, run.stdout + run.stderr
    head = s3.client().head_object(Bucket="exports", Key="daily/everyone.csv")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ContentType"] == "text/plain"
    grants = s3.client().get_object_acl(Bucket="exports", Key="daily/everyone.csv")["Grants"]
    assert any(g["Permission"] == "FULL_CONTROL" for g in grants)


def test_dry_run_and_out_leave_the_bucket_alone(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    api = sandbox(users=60, token=TOKEN)
    project = make_project(tmp_path, {"everyone": segment()})
    dry = run_cli("export", "--dry-run", "--as-of", ANCHOR, cwd=project, env=env(api, s3))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry-run" in dry.stdout
    tried = run_cli("export", "--out", "try", "--as-of", ANCHOR, cwd=project, env=env(api, s3))
    assert tried.returncode == 0, tried.stdout + tried.stderr
    with (project / "try" / "exports" / "daily" / "everyone.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 60
    assert _missing(s3, "daily/everyone.csv")
    assert s3.open_uploads("exports", "daily/everyone.csv") == []

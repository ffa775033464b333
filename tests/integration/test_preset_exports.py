"""Preset exports from the sandbox, as a marketer runs them: headers, hashes, dropped rows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import orjson

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project, run_cli

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
    assert "left out" not in output
    assert data.startswith(b"Email,Phone,First Name,Last Name,Country,Zip\r\n")  # no BOM
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert manifest["preset"] == "google_customer_match"
    assert manifest["columns"] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    # Every sandbox contact has a phone with its country code: none is dropped.
    assert len(rows) == manifest["rows"] == entry["rows"] == 900
    assert manifest["dropped_unmatchable"] == entry["dropped_unmatchable"] == 0
    by_phone = {}
    for contact in served:
        phone = contact["profile"]["userDetails"]["contact"]["phone"]
        digits = phone["prefix"].lstrip("+") + phone["number"].lstrip("0")
        by_phone[hashlib.sha256(f"+{digits}".encode()).hexdigest()] = contact
    for row in rows:
        contact = by_phone[row["Phone"]]  # the hash of +<prefix><number without trunk 0>
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
    assert all(r["Phone Number"].startswith("+") for r in rows)

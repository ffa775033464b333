"""Phones, names and sizes in exports from the sandbox over a socket, as a marketer runs
them: invalid numbers left empty and counted in the summary, the manifest and the results
file; titles gone from Google's and Meta's names; a preset file smaller than its platform's
documented minimum warned about."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import phonenumbers

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, make_project, run_cli
from tests.unit.test_phones import SHAPES, meant_by, oracle

Start = Callable[..., Sandbox]

COLUMNS = """\
version: 1
name: handoff
filter: {isContact: false, applicableFilters: []}
output:
  path: out/handoff.csv
  columns:
    - {name: id, path: _id}
    - {name: phone, expr: e164(profile.userDetails.contact.phone)}
"""
PRESET = """\
version: 1
name: handoff
filter: {{isContact: false, applicableFilters: []}}
output:
  path: out/handoff.csv
  preset: {preset}
{more}"""


def rewrite(api: Sandbox, edits: list[Callable[[dict[str, Any]], str | None]]) -> dict[str, Any]:
    """Apply ``edits[i]`` to the i-th contact the sandbox serves; each returns the number
    its phone now stands for. Returns contact id -> that number, for every contact."""
    numbers: dict[str, Any] = {}
    for i, blob in enumerate(api.population.blobs):
        contact = orjson.loads(blob)
        numbers[contact["_id"]] = edits[i](contact) if i < len(edits) else meant_by(contact)
        api.population.blobs[i] = orjson.dumps(contact)
    return numbers


def shaped(shape: Any) -> Callable[[dict[str, Any]], str | None]:
    def edit(contact: dict[str, Any]) -> str | None:
        details = contact["profile"]["userDetails"]
        details["contact"]["phone"] = {"prefix": shape.prefix, "number": shape.number}
        details["country"] = shape.country
        return shape.meant  # type: ignore[no-any-return]

    return edit


def run(project: Path, api: Sandbox) -> tuple[dict[str, Any], dict[str, Any], str]:
    result = run_cli(
        "export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api)
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((project / "out" / "handoff.csv.manifest.json").read_text())
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    return manifest, entry, result.stdout + result.stderr


def rows_of(project: Path) -> list[dict[str, str]]:
    text = (project / "out" / "handoff.csv").read_text("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_invalid_phones_are_empty_and_counted_everywhere(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, seed=5)
    numbers = rewrite(api, [shaped(s) for s in SHAPES])
    project = make_project(tmp_path, {"handoff": COLUMNS})
    manifest, entry, output = run(project, api)
    rows = rows_of(project)
    assert len(rows) == 300
    expected = {row["id"]: oracle(numbers[row["id"]]) for row in rows}
    assert {row["id"]: row["phone"] for row in rows} == expected
    invalid = sum(1 for e164 in expected.values() if not e164)
    assert 0 < invalid < 300  # the sandbox's random numbers: many are not valid
    assert manifest["invalid_phones"] == entry["invalid_phones"] == invalid
    line = f"handoff: {invalid:,} phone numbers libphonenumber says are not valid were left empty"
    assert line in output
    # Whatever is written is E.164 for libphonenumber: nothing half-right.
    for row in rows:
        if row["phone"]:
            assert phonenumbers.is_valid_number(phonenumbers.parse(row["phone"]))


def test_every_preset_writes_libphonenumbers_numbers(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=200, seed=8)
    numbers = rewrite(api, [shaped(s) for s in SHAPES])
    served = [orjson.loads(blob) for blob in api.population.blobs]
    for preset, column, plus in [
        ("klaviyo", "Phone Number", True),
        ("hubspot", "Phone number", True),
        ("mailchimp", "Phone Number", True),
        ("google_customer_match", "Phone", True),
        ("meta_custom_audience", "phone", False),
        ("tiktok_custom_audience", "Phone", False),
    ]:
        segment = PRESET.format(preset=preset, more="  hash: false\n")  # plain, to compare
        project = make_project(tmp_path / preset, {"handoff": segment})
        manifest, entry, _output = run(project, api)
        got = [row[column] for row in rows_of(project)]
        email_key = "Email Address" if preset == "mailchimp" else None
        kept = []
        for contact in served:
            e164 = oracle(numbers[contact["_id"]])
            email = contact["profile"]["userDetails"]["contact"]["email"].strip()
            has_email = "@" in email
            if (email_key and has_email) or (not email_key and (has_email or e164)):
                kept.append(e164 if plus else e164.lstrip("+"))
        assert got == kept, preset
        invalid = sum(1 for c in served if not oracle(numbers[c["_id"]]))
        assert manifest["invalid_phones"] == entry["invalid_phones"] == invalid, preset


NAMES = [
    ("Dr. Jane Smith", "jane", "smith"),
    ("MRS  Amy   Lee", "amy", "lee"),
    ("Prof. Dr. Hans Müller", "hans", "müller"),
    ("Sig.ra Maria Rossi", "maria", "rossi"),
    ("Drew Barrymore", "drew", "barrymore"),
]


def test_titles_are_dropped_from_google_and_meta_names(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120, seed=3)

    def named(name: str) -> Callable[[dict[str, Any]], str | None]:
        def edit(contact: dict[str, Any]) -> str | None:
            contact["profile"]["userDetails"]["name"] = name
            contact["profile"]["userDetails"]["contact"]["email"] = "x@example.com"
            return meant_by(contact)

        return edit

    rewrite(api, [named(n) for n, _first, _last in NAMES])
    plain = "  hash: false\n"
    google = PRESET.format(preset="google_customer_match", more=plain)
    google = make_project(tmp_path / "g", {"handoff": google})
    run(google, api)
    rows = rows_of(google)[: len(NAMES)]
    assert [(r["First Name"], r["Last Name"]) for r in rows] == [(f, s) for _n, f, s in NAMES]
    meta = PRESET.format(preset="meta_custom_audience", more=plain)
    meta = make_project(tmp_path / "m", {"handoff": meta})
    run(meta, api)
    rows = rows_of(meta)[: len(NAMES)]
    assert [(r["fn"], r["ln"]) for r in rows] == [(f, s) for _n, f, s in NAMES]
    klaviyo = make_project(tmp_path / "k", {"handoff": PRESET.format(preset="klaviyo", more="")})
    run(klaviyo, api)
    assert [r["First Name"] for r in rows_of(klaviyo)[:2]] == ["Dr.", "MRS"]  # as written


def test_a_preset_file_below_its_platforms_minimum_is_warned(
    sandbox: Start, tmp_path: Path
) -> None:
    cases = [
        # preset, contacts served, minimum (None: no warning expected), where it says so
        ("tiktok_custom_audience", 300, 1000, "ads.tiktok.com/help/article/how-to-create"),
        ("google_customer_match", 60, 100, "support.google.com/google-ads/answer/7476585"),
        ("google_customer_match", 160, None, ""),
        ("klaviyo", 20, None, ""),  # a CRM takes any number of rows
    ]
    for preset, users, minimum, source in cases:
        api = sandbox(users=users, seed=4)
        project = make_project(
            tmp_path / f"{preset}-{users}", {"handoff": PRESET.format(preset=preset, more="")}
        )
        manifest, entry, output = run(project, api)
        rows = manifest["rows"]
        warnings = [  # the summary's lines (the progress line says it as it happens)
            line
            for line in output.splitlines()
            if line.startswith("warning:") and "documents as its minimum" in line
        ]
        if minimum is None:
            assert not warnings and not entry["warnings"], preset
            continue
        assert rows < minimum
        (line,) = warnings
        assert line.startswith(f"warning: handoff: {rows:,} rows is below the {minimum:,} ")
        assert source in line and preset in line
        assert any(f"below the {minimum:,}" in w for w in entry["warnings"])
        assert (project / "out" / "handoff.csv").exists()  # a warning, not a failure

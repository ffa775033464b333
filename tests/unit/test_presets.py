"""Presets: headers, normalisation and hashes against the platforms' own examples."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from runner.formats import Encoder
from runner.rows.presets import PRESETS, PresetRows
from runner.sinks import DiscardUpload
from runner.spec.segment import Column, CsvOptions, OutputSpec
from tests.conftest import ROOT, make_project, run_cli


def contact(
    email: str = "",
    prefix: str = "",
    number: str = "",
    name: str = "",
    country: str = "",
    city: str = "",
    **extra: Any,
) -> dict[str, Any]:
    details = {
        "name": name,
        "country": country,
        "city": city,
        "contact": {"email": email, "phone": {"prefix": prefix, "number": number}},
        "attributes": [{"key": k, "value": v} for k, v in extra.items()],
    }
    return {"profile": {"userDetails": details}}


def row(preset: str, record: dict[str, Any], hashed: bool | None = None) -> list[str]:
    spec = PRESETS[preset]
    rows = PresetRows(spec, spec.hash_default if hashed is None else hashed)
    return [col[0] for col in rows.columns([record])]


# -- the platforms' published examples -------------------------------------------
def test_tiktok_published_examples() -> None:
    # ads.tiktok.com/help/article/list-of-supported-ids-and-formats-for-a-customer-file:
    # "janedoe@gmail.com" hashes to d611...; the international example 374-93-828222 is
    # normalised to "37493828222", whose hash is the page's 65b7...
    jane = contact(" JaneDoe@Gmail.com ", "374", "93-828222")
    assert row("tiktok_custom_audience", jane) == [
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69",
        "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4",
    ]
    us = contact("", "1", "(657)777-0000")
    assert row("tiktok_custom_audience", us, hashed=False) == ["", "16577770000"]


def test_meta_published_example_phone_hash() -> None:
    # Meta's Conversions API example payload (same rules as customer lists: digits with
    # the country code, no '+', no leading zeros): ph 254aa248... is "12345678901".
    record = contact("", "+1", "(234) 567-8901")
    assert row("meta_custom_audience", record)[1] == (
        "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"
    )


# -- hand-computed vectors (sha256 of the normalised text, computed once with sha256sum) --
JOHN = contact(
    "  John.SMITH@Example.COM ", "+44", "07911 123456", "  John   SMITH ", "gb", "London"
)
SHA = {
    "john.smith@example.com": "8e621e3d0368631d263d07a351fa8d34fba0d17c15fbcdec11a5f58008d022a0",
    "447911123456": "40b5c38342a9c584ec707e8679b003f8c779c6aaa138c976ef94e049cc05208f",
    "+447911123456": "20b18ac9de7b3aad174961827d8e451c410af9aedfd1d699927f4b29b81aa1fa",
    "john": "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a",
    "smith": "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",
    "london": "6089854c94ca5454b76be6752c562901a985f64c9a946f62976aeab593b83161",
    "gb": "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677",
}


@pytest.mark.parametrize(
    ("preset", "hashed", "expected"),
    [
        ("meta_custom_audience", True, [SHA[k] for k in SHA if k != "+447911123456"]),
        (
            "meta_custom_audience",
            False,
            ["john.smith@example.com", "447911123456", "john", "smith", "london", "gb"],
        ),
        (
            "google_customer_match",
            True,
            [
                SHA["john.smith@example.com"],
                SHA["+447911123456"],
                SHA["john"],
                SHA["smith"],
                "GB",
                "",
            ],
        ),
        (
            "google_customer_match",
            False,
            ["john.smith@example.com", "+447911123456", "john", "smith", "GB", ""],
        ),
        ("tiktok_custom_audience", True, [SHA["john.smith@example.com"], SHA["447911123456"]]),
        ("tiktok_custom_audience", False, ["john.smith@example.com", "447911123456"]),
        ("klaviyo", False, ["john.smith@example.com", "+447911123456", "John", "SMITH", "GB"]),
        ("hubspot", False, ["john.smith@example.com", "John", "SMITH", "+447911123456", "GB"]),
        ("mailchimp", False, ["john.smith@example.com", "John", "SMITH", "+447911123456"]),
    ],
)
def test_hand_computed_vectors(preset: str, hashed: bool, expected: list[str]) -> None:
    assert row(preset, JOHN, hashed) == expected


def test_default_hashing_per_platform() -> None:
    assert {name: p.hash_default for name, p in PRESETS.items()} == {
        "meta_custom_audience": True,
        "google_customer_match": True,
        "tiktok_custom_audience": True,
        "klaviyo": False,
        "hubspot": False,
        "mailchimp": False,
    }
    assert row("google_customer_match", JOHN)[0] == SHA["john.smith@example.com"]


def test_headers_exactly_as_documented() -> None:
    assert {name: p.headers(p.hash_default) for name, p in PRESETS.items()} == {
        "meta_custom_audience": ["email", "phone", "fn", "ln", "ct", "country"],
        "google_customer_match": ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"],
        "tiktok_custom_audience": ["Email_SHA256", "Phone_SHA256"],
        "klaviyo": ["Email", "Phone Number", "First Name", "Last Name", "Country"],
        "hubspot": ["Email", "First name", "Last name", "Phone number", "Country/Region"],
        "mailchimp": ["Email Address", "First Name", "Last Name", "Phone Number"],
    }
    assert PRESETS["tiktok_custom_audience"].headers(False) == ["Email", "Phone"]


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Dr. Jane Smith", "jane", "smith"),
        ("MRS  jane   doe", "jane", "doe"),
        ("Mr Ravi Kumar", "ravi", "kumar"),
        ("Prof. Dr. Hans Müller", "hans", "müller"),
        ("Mr.John Doe", "john", "doe"),
        ("Ms. Ana de la Cruz", "ana", "de la cruz"),
        ("Sig.ra Maria Rossi", "maria", "rossi"),
        ("Frau Anna Schmidt", "anna", "schmidt"),
        ("Mme Élodie Martin", "élodie", "martin"),
        ("Sra. Lucía Pérez", "lucía", "pérez"),
        ("Shri Arjun Rao", "arjun", "rao"),
        # Not titles: a name that starts like one, given names that are also titles
        # elsewhere, a title with nothing after it.
        ("Drew Barrymore", "drew", "barrymore"),
        ("Don Draper", "don", "draper"),
        ("Dr.", "dr.", ""),
    ],
)
def test_titles_are_dropped_from_google_and_meta_names(name: str, first: str, last: str) -> None:
    record = contact("a@b.example", name=name)
    google = row("google_customer_match", record, hashed=False)
    assert google[2:4] == [first, last]
    meta = row("meta_custom_audience", record, hashed=False)
    assert meta[2:4] == ["".join(c for c in first if c.isalpha()), last.replace(" ", "")]
    # Hashed, the hash is of the name without its title.
    hashed = row("google_customer_match", record)
    assert hashed[2] == (hashlib.sha256(first.encode()).hexdigest() if first else "")
    # The CRMs keep the name as the contact wrote it (their files are read by people).
    assert row("klaviyo", record)[2] == name.split()[0]


def test_names_cities_and_emails_per_platform() -> None:
    zoe = contact(
        "Zoë.Ü+ads@Example.com", "33", "612345678", "Zoë Ångström-O'Brien", "UK", "St. Étienne"
    )
    meta = row("meta_custom_audience", zoe, hashed=False)
    assert meta == [
        "zoë.ü+ads@example.com",
        "33612345678",
        "zoë",
        "ångströmobrien",
        "stétienne",
        "gb",
    ]
    google = row("google_customer_match", zoe, hashed=False)
    assert google[2:5] == ["zoë", "ångström-o'brien", "GB"]
    assert row("tiktok_custom_audience", zoe, hashed=False)[0] == "zoë.ü@example.com"
    assert row("klaviyo", zoe)[2:] == ["Zoë", "Ångström-O'Brien", "GB"]
    assert row("klaviyo", contact("no-at-sign", "1", "4155552671"))[0] == ""
    assert row("klaviyo", contact("a@b.c", country="Germany"))[-1] == ""


def test_rows_with_nothing_to_match_are_left_out_and_counted() -> None:
    records = [
        JOHN,
        contact(name="Nobody"),  # neither e-mail nor phone
        contact("", "", "07911 123456"),  # a phone with no country code is nothing
        contact("", "44", "7911 123456"),  # phone only
        contact("only@mail.example"),  # e-mail only
    ]
    rows = PresetRows(PRESETS["klaviyo"], hashed=False)
    emails = rows.columns(records)[0]
    assert emails == ["john.smith@example.com", "", "only@mail.example"]
    assert rows.dropped == 2
    mailchimp = PresetRows(PRESETS["mailchimp"], hashed=False)
    assert mailchimp.columns(records)[0] == ["john.smith@example.com", "only@mail.example"]
    assert mailchimp.dropped == 3  # Mailchimp needs the e-mail address


def test_a_segment_adds_overrides_and_renames_columns() -> None:
    extra = (
        Column("Plan", 'attr("plan")'),
        Column("Phone Number", 'attr("mobile")'),
    )
    rows = PresetRows(PRESETS["klaviyo"], False, extra, {"Email": "Email Address"})
    assert rows.header == [
        "Email Address",
        "Phone Number",
        "First Name",
        "Last Name",
        "Country",
        "Plan",
    ]
    record = contact("a@b.example", "44", "1", plan="gold", mobile="+44 (0)7911 123456")
    assert [c[0] for c in rows.columns([record])] == [
        "a@b.example",
        "+447911123456",  # from the override, normalised all the same
        "",
        "",
        "",
        "gold",
    ]


class Keep(DiscardUpload):
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def test_csv_is_plain_utf8_comma_no_bom_whatever_the_defaults() -> None:
    sink = Keep()
    options = CsvOptions(bom=True, delimiter=";", header=False)
    spec = OutputSpec("csv", "x.csv", None, "none", options, {}, preset="google_customer_match")
    encoder = Encoder(spec, sink)
    encoder.write_page([JOHN, contact(name="Nobody")])
    encoder.finish()
    data = bytes(sink.data)
    assert data.startswith(b"Email,Phone,First Name,Last Name,Country,Zip\r\n")
    assert list(csv.reader(io.StringIO(data.decode("utf-8"))))[1][4:] == ["GB", ""]
    assert encoder.rows == 1 and encoder.dropped_unmatchable == 1


# -- validation -----------------------------------------------------------------
SEGMENT = """\
version: 1
name: handoff
filter: {{}}
output:
  path: out/handoff.csv
{output}"""


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("  preset: klaviyo\n  hash: true\n", "'output.hash' must be false, got true"),
        (
            "  preset: hubspot\n  format: xlsx\n  path: out/h.xlsx\n",
            '\'output.format\' must be "csv", got "xlsx"',
        ),
        (
            "  preset: klaviyo\n  rename: {Emial: E-mail}\n",
            "'output.rename' has invalid value \"Emial\"",
        ),
        ("  hash: false\n", "'output':"),
        ("  preset: linkedin\n", "valid choices: meta_custom_audience, google_customer_match"),
    ],
)
def test_preset_mistakes_are_validation_problems(tmp_path: Path, output: str, message: str) -> None:
    text = SEGMENT.format(output=output)
    if "path: out/h.xlsx" in output:
        text = text.replace("  path: out/handoff.csv\n", "")
    project = make_project(tmp_path, {"handoff": text})
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr
    assert "segments/handoff.yaml:" in result.stdout + result.stderr


def test_schema_and_presets_agree() -> None:
    schema = json.loads((ROOT / "schemas" / "segment.schema.json").read_text())
    output = schema["$defs"]["output"]
    assert output["properties"]["preset"]["enum"] == list(PRESETS)
    renames = {
        rule["if"]["properties"]["preset"]["const"]: rule["then"]["properties"]["rename"]
        for rule in output["allOf"]
        if "preset" in rule["if"].get("properties", {})
    }
    for name, preset in PRESETS.items():
        headers = set(preset.headers(False)) | set(preset.headers(True))
        assert set(renames[name]["propertyNames"]["enum"]) == headers


def test_a_rename_swap_is_valid_and_swaps_the_headers(tmp_path: Path) -> None:
    # Two names traded: still one name per column, so validate passes.
    rename = "  preset: hubspot\n  rename: {Email: Phone number, Phone number: Email}\n"
    project = make_project(tmp_path, {"handoff": SEGMENT.format(output=rename)})
    result = run_cli("validate", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = PresetRows(
        PRESETS["hubspot"], False, None, {"Email": "Phone number", "Phone number": "Email"}
    )
    assert rows.header == ["Phone number", "First name", "Last name", "Email", "Country/Region"]

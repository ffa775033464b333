"""`segments export` against the sandbox over a real socket: the files are the bytes the
plain way makes from the same records (csv.writer cell by cell, orjson record by
record), with windows and with page numbers. bench/same_bytes.py compares whole
exports of two checkouts the same way, XLSX and Parquet included."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from runner.cli import main
from runner.sandbox import Sandbox
from runner.spec.segment import Column
from tests.conftest import ANCHOR, FAST_RETRY, api_env, full_body, make_project
from tests.unit.test_cpu_path import csv_spec, reference_csv

Start = Callable[..., Sandbox]
SEGMENT = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: []}}
output:
  path: out/{name}.{ext}
{output}"""
COLUMN_SPECS = (
    Column("id", "_id"),
    Column("name", "profile.userDetails.name"),
    Column("email", "profile.userDetails.contact.email"),
    Column("phone", "e164(profile.userDetails.contact.phone)"),
    Column("plan", 'attr("plan")'),
    Column("tags", "profile.userDetails.tags"),
    Column("country", "profile.userDetails.country", default="=none"),
    Column("last_message", "lastMessage.text"),
)
# The same columns as the segment files write them (a JSON object is YAML too).
COLUMNS = "  columns:\n" + "".join(
    f"    - {orjson.dumps({'name': c.name, 'expr': c.source, 'default': c.default}).decode()}\n"
    for c in COLUMN_SPECS
)
OUTPUTS = {
    "columns": ("csv", COLUMNS),
    "semicolons": ("csv", "  csv: {delimiter: ';', list_separator: ', '}\n" + COLUMNS),
    "every-field": ("csv", ""),
    "raw": ("jsonl", "  format: jsonl\n"),
}


def every_record(api: Sandbox) -> list[Any]:
    """The list as the API pages it, read with http.client: page 1, 2 ... until empty."""
    parts = urlsplit(api.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    body = full_body(isContact=False, applicableFilters=[])
    headers = {"Authorization": f"Bearer {api.options.token}", "authtype": "Key"}
    records: list[Any] = []
    page = 1
    while True:
        body["page"] = page
        conn.request("POST", "/inbox/users", orjson.dumps(body), headers)
        data = orjson.loads(conn.getresponse().read())["data"]
        if not data:
            conn.close()
            return records
        records += data
        page += 1


def expected_bytes(name: str, records: list[Any]) -> bytes:
    if name == "raw":
        return b"".join(orjson.dumps(r) + b"\n" for r in records)
    delimiter, separator = (";", ", ") if name == "semicolons" else (",", "|")
    spec = csv_spec(delimiter, True, () if name == "every-field" else COLUMN_SPECS)
    spec = replace(spec, csv=replace(spec.csv, list_separator=separator))
    return reference_csv([records], spec)


@pytest.mark.parametrize("windows", ["false", "true"])
def test_exports_are_the_bytes_of_the_plain_way(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows: str
) -> None:
    api = sandbox(users=1_200, page_size=50)
    segments = {
        name: SEGMENT.format(name=name, ext=ext, output=output)
        for name, (ext, output) in OUTPUTS.items()
    }
    runner_yaml = FAST_RETRY.replace("api:\n", f"api:\n  windows: {windows}\n")
    project = make_project(tmp_path, segments, runner_yaml)
    monkeypatch.chdir(project)
    for key, value in api_env(api).items():
        monkeypatch.setenv(key, str(value))
    assert main(["export", "--as-of", ANCHOR]) == 0
    records = every_record(api)
    assert len(records) == 1_200
    for name, (ext, _) in OUTPUTS.items():
        written = (project / "out" / f"{name}.{ext}").read_bytes()
        assert written == expected_bytes(name, records), name

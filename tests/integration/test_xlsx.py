"""`format: xlsx` read back by openpyxl, a reader that is not ours."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.formats import Encoder
from runner.formats.xlsx import XlsxFormat
from runner.sandbox import Sandbox
from runner.sinks import DiscardUpload
from runner.spec.segment import Column, CsvOptions, OutputSpec
from tests.conftest import ANCHOR, api_env, cli_env, make_project, run_cli, wait_for
from tests.unit.test_phones import meant_by, oracle

if TYPE_CHECKING:
    import openpyxl

Start = Callable[..., Sandbox]

PHONES = """\
version: 1
name: phones
filter: {isContact: false, applicableFilters: []}
output:
  format: xlsx
  path: out/phones.xlsx
  columns:
    - {name: id, path: _id}
    - {name: phone, expr: e164(profile.userDetails.contact.phone)}
    - {name: number, path: profile.userDetails.contact.phone.number}
    - {name: prefix, path: profile.userDetails.contact.phone.prefix}
    - {name: name, path: profile.userDetails.name}
    - {name: text, path: lastMessage.text}
    - {name: created, path: createdAt}
    - {name: ordered_at, path: hasOrdered.lastAt}
    - {name: contact, path: isContact}
    - {name: tags, path: profile.userDetails.tags}
    - {name: tag_count, expr: count(profile.userDetails.tags)}
"""


class Sink(DiscardUpload):
    """An upload that keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def excel_text(value: str) -> str:
    """Decode the ``_xHHHH_`` escapes of ECMA-376 (ST_Xstring), as Excel and LibreOffice do
    and openpyxl does not: control characters and a literal ``_x0041_`` travel that way."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def load_workbook(source: Path | io.BytesIO) -> openpyxl.Workbook:
    """openpyxl's reading, imported on first use: a test process that runs none of these
    tests does not load it (about 0.4 s)."""
    import openpyxl

    return openpyxl.load_workbook(source)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).replace(tzinfo=None)


def test_phones_and_ids_stay_text_dates_are_dates(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=600, seed=3)
    project = make_project(tmp_path, {"phones": PHONES})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    data = (project / "out" / "phones.xlsx").read_bytes()
    manifest = json.loads((project / "out" / "phones.xlsx.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["format"] == "xlsx" and manifest["columns"][:2] == ["id", "phone"]

    book = load_workbook(io.BytesIO(data))
    (sheet,) = book.worksheets
    assert sheet.title == "contacts"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:K{manifest['rows'] + 1}"
    assert all(cell.font.b for cell in sheet[1])
    assert [c.value for c in sheet[1]] == manifest["columns"]
    served = {c["_id"]: c for c in map(orjson.loads, api.population.blobs)}
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == manifest["rows"] == 600
    plus, zeros = 0, 0
    for row in rows:
        assert all(cell.data_type != "f" for cell in row), "a formula cell"
        contact = served[row[0].value]
        phone = contact["profile"]["userDetails"]["contact"]["phone"]
        e164 = oracle(meant_by(contact))  # empty: a number libphonenumber says is not valid
        sources = [contact["_id"], e164 or None, phone["number"], phone["prefix"]]
        for cell, source in zip(row[:4], sources, strict=True):
            assert cell.value == source
            if source is not None:  # an empty cell is not written: nothing to misread
                assert cell.data_type == "s" and cell.number_format == "@"
        plus += phone["prefix"].startswith("+")
        zeros += phone["number"].startswith("0")
        name = contact["profile"]["userDetails"]["name"]
        assert excel_text(row[4].value or "") == name
        if name and name[0] in "=+-@":
            assert row[4].quotePrefix, "text that looks like a formula keeps a quote prefix"
        assert row[6].is_date and row[6].value == utc(contact["createdAt"])
        ordered = contact["hasOrdered"]["lastAt"]
        assert row[7].value == (utc(ordered) if ordered else None)
        assert row[8].data_type == "b" and row[8].value is contact["isContact"]
        assert row[9].value == ("|".join(contact["profile"]["userDetails"]["tags"]) or None)
        assert row[10].data_type == "n" and row[10].value == len(
            contact["profile"]["userDetails"]["tags"]
        )
    assert plus > 50 and zeros > 50  # the cases a CSV loses in a spreadsheet were there


def test_default_columns_are_the_csv_default(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=120)
    segment = PHONES.split("  columns:")[0].replace("phones.xlsx", "all.xlsx")
    project = make_project(tmp_path, {"phones": segment})
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(project / "out" / "all.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[0] == "_id" and header[-1] == "_extra" and "createdAt" in header
    first = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
    contact = orjson.loads(api.population.blobs[0])
    assert first["_id"] == contact["_id"]
    assert first["createdAt"] == utc(contact["createdAt"])
    assert (
        json.loads(first["profile.userDetails.attributes"])
        == (contact["profile"]["userDetails"]["attributes"])
    )
    assert first["isContact"] is contact["isContact"] and first["__v"] == 0


HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "=1+1",
    "+1",
    "-2",
    "@x",
    "+SUM(A1:A9)",
    "\tTabbed",
    "Line one\nLine two",
    "Carriage\r\nReturn",
    "bell\x07 and nul\x00",
    "_x0041_ is not A",
    "+447911123456",
    "09158665828",
    "00123",
    "1e5",
    "TRUE",
    "2026-01-01",
    "🎉 Zoë محمد 张伟",
    "x" * 32767,
]


def xlsx_of(values: list[Any], **spec: Any) -> tuple[openpyxl.Workbook, Encoder]:
    column = Column("v", "v")
    sink = Sink()
    encoder = Encoder(OutputSpec("xlsx", "x.xlsx", (column,), "none", CsvOptions(), {}), sink)
    for start in range(0, len(values), 7):
        encoder.write_page([{"v": v} for v in values[start : start + 7]])
    encoder.finish()
    return load_workbook(io.BytesIO(bytes(sink.data))), encoder


def test_hostile_strings_round_trip_as_text() -> None:
    book, encoder = xlsx_of(HOSTILE)
    cells = [row[0] for row in book.worksheets[0].iter_rows(min_row=2)]
    assert [excel_text(c.value) for c in cells] == HOSTILE
    assert all(c.data_type == "s" for c in cells)
    assert {c.value for c in cells if c.quotePrefix} == {v for v in HOSTILE if v[0] in "=+-@\t"}
    assert encoder.rows == len(HOSTILE) and encoder.format.truncated == 0


def test_past_the_cell_limit_is_cut_and_counted_lone_surrogates_replaced() -> None:
    book, encoder = xlsx_of(["y" * 40_000, "a\ud800b", "ok"])
    values = [row[0].value for row in book.worksheets[0].iter_rows(min_row=2)]
    assert values == ["y" * 32767, "a\ufffdb", "ok"]
    assert encoder.format.truncated == 1


def test_numbers_stay_exact_or_become_text() -> None:
    values = [7, -2.5, 2**53 + 1, float("nan"), True, None, {"k": [1]}, ["a", "b"]]
    book, _ = xlsx_of(values)
    cells = [row[0] for row in book.worksheets[0].iter_rows(min_row=2, max_row=9)]
    got = [(c.data_type, c.value) for c in cells]
    assert got == [
        ("n", 7),
        ("n", -2.5),
        ("s", str(2**53 + 1)),
        ("s", "nan"),
        ("b", True),
        ("n", None),
        ("s", '{"k":[1]}'),
        ("s", "a|b"),
    ]


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(text, max_size=15))
def test_any_text_round_trips(values: list[str]) -> None:
    book, _ = xlsx_of(values)
    got = [row[0].value for row in book.worksheets[0].iter_rows(min_row=2)]
    got += [None] * (len(values) - len(got))  # trailing empty cells are not rows
    assert [excel_text(v) if v is not None else "" for v in got] == values


def test_more_rows_than_a_sheet_holds_go_on_new_sheets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(XlsxFormat, "max_rows", 4)
    book, encoder = xlsx_of([f"{i:05d}" for i in range(10)])
    assert [s.title for s in book.worksheets] == ["contacts", "contacts (2)", "contacts (3)"]
    rows = [[c.value for c in row] for s in book.worksheets for row in s.iter_rows()]
    assert rows == [
        ["v"], ["00000"], ["00001"], ["00002"], ["00003"],
        ["v"], ["00004"], ["00005"], ["00006"], ["00007"],
        ["v"], ["00008"], ["00009"],
    ]  # fmt: skip
    assert [s.auto_filter.ref for s in book.worksheets] == ["A1:A5", "A1:A5", "A1:A3"]
    assert encoder.rows == 10


def test_an_empty_export_is_a_header_row() -> None:
    book, encoder = xlsx_of([])
    sheet = book.worksheets[0]
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [["v"]]
    assert encoder.rows == 0


def test_scratch_folder_is_gone_after_close_and_after_failure(tmp_path: Path) -> None:
    def scratch() -> list[Path]:
        return list(tmp_path.glob("segments-xlsx-*"))

    import tempfile

    old, tempfile.tempdir = tempfile.tempdir, str(tmp_path)
    try:
        xlsx_of(["a"])
        assert scratch() == []
        column = Column("v", "v")
        spec = OutputSpec("xlsx", "x.xlsx", (column,), "none", CsvOptions(), {})
        encoder = Encoder(spec, Sink())
        encoder.write_page([{"v": "half"}])
        assert len(scratch()) == 1
        del encoder  # an export that failed never calls finish()
        assert scratch() == []
    finally:
        tempfile.tempdir = old


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_gzip_around_a_zip_is_a_validation_problem(tmp_path: Path, fmt: str) -> None:
    segment = f"""\
version: 1
name: packed
filter: {{}}
output: {{format: {fmt}, path: out/packed.{fmt}.gz, compression: gzip}}
"""
    project = make_project(tmp_path, {"packed": segment})
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert "segments/packed.yaml:4:" in result.stdout + result.stderr
    assert '\'output.compression\' must be "none", got "gzip"' in result.stdout + result.stderr


def test_s3_object_is_the_local_file(sandbox: Start, s3: Any, tmp_path: Path) -> None:
    api = sandbox(users=300, seed=4)
    segment = PHONES.replace("out/phones.xlsx", "s3://exports/daily/phones.xlsx")
    project = make_project(tmp_path, {"phones": segment})
    env = {**api_env(api), **s3.env()}
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=env).returncode == 0
    local = run_cli("export", "--as-of", ANCHOR, "--out", "local", cwd=project, env=env)
    assert local.returncode == 0, local.stderr
    reply = s3.client().get_object(Bucket="exports", Key="daily/phones.xlsx")
    assert reply["ContentType"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    body = reply["Body"].read()
    sheet = load_workbook(io.BytesIO(body)).worksheets[0]
    local_sheet = load_workbook(project / "local" / "exports" / "daily" / "phones.xlsx")
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [
        [c.value for c in r] for r in local_sheet.worksheets[0].iter_rows()
    ]
    assert sheet.max_row == 301


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_export_leaves_no_scratch_behind(sandbox: Start, tmp_path: Path, sig: int) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    project = make_project(tmp_path / "project", {"phones": PHONES})
    slow = sandbox(users=3000, page_size=10, latency_ms=40, seed=2)
    env = cli_env({**api_env(slow), "TMPDIR": str(scratch)})
    argv = [sys.executable, "-m", "runner", "export", "--as-of", ANCHOR, "--concurrency", "1"]
    proc = subprocess.Popen(argv, cwd=project, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: slow.stats["pages"] > 5 and any(scratch.glob("segments-xlsx-*")))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    # SIGTERM is the export's to handle (143); SIGKILL ends it where it stands.
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert b"Traceback" not in err
    assert not (project / "out" / "phones.xlsx").exists()
    left = list(scratch.glob("segments-xlsx-*"))
    if sig == signal.SIGKILL:
        assert [p.name.split("-")[2] for p in left] == [str(proc.pid)]  # nothing ran to clean it
        fast = sandbox(users=50)
        rerun = run_cli(  # a process of its own: TMPDIR is read once a process
            "export",
            "--as-of",
            ANCHOR,
            cwd=project,
            env={**api_env(fast), "TMPDIR": str(scratch)},
            process=True,
        )
        assert rerun.returncode == 0, rerun.stderr
        left = list(scratch.glob("segments-xlsx-*"))
    assert left == []


# Other strings a spreadsheet turns into something else when typed or imported as CSV:
# scientific notation, ids past 15 significant digits, dates, booleans, percentages,
# fractions, times, currency and a number with a thousands separator.
REINTERPRETED = [
    "1E5", "2e-3", "12345678901234567890", "007", "2026-01-02", "01/02/2026", "TRUE",
    "false", "50%", "1/2", "12:30", "$5", "1,000", " 42", "0x1F",
]  # fmt: skip


def test_strings_a_spreadsheet_would_reinterpret_stay_text() -> None:
    book, _ = xlsx_of(REINTERPRETED)
    cells = [row[0] for row in book.worksheets[0].iter_rows(min_row=2)]
    assert [c.value for c in cells] == REINTERPRETED
    assert all(c.data_type == "s" for c in cells)

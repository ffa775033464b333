"""``output.split`` pieces: sizes, cutting a page into rows, the gzip budget, the split
encoder's dealing, preset defaults, and a local publish that fails half-way."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import DestinationError
from runner.formats.base import ByteSink
from runner.formats.split import PartFigures, SplitEncoder, gzip_budget, over_limit, split_rows
from runner.sinks.local import TEMP_PREFIX, LocalDestination
from runner.sinks.parts import PartsDestination
from runner.spec.segment import CsvOptions, OutputSpec
from runner.spec.split import SplitSpec, parse_size
from runner.spec.workspace import Workspace
from tests.conftest import ANCHOR, make_project


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("50MB", 50_000_000),
        ("1.5GB", 1_500_000_000),
        ("512KiB", 524_288),
        ("2 mib", 2_097_152),
        ("100", 100),
        (7, 7),
        ("1TB", 10**12),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["50XB", "MB", "-1", "1e6", "", True, 0, "0.4B"])
def test_not_sizes(text: Any) -> None:
    with pytest.raises(ValueError, match="is not a size|less than one byte"):
        parse_size(text)


CELL = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@settings(max_examples=300)
@given(st.lists(st.lists(CELL, min_size=1, max_size=4), min_size=1, max_size=8))
def test_a_csv_page_cut_into_rows_gives_each_row_back(rows: list[list[str]]) -> None:
    lines = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(row)
        lines.append(buffer.getvalue().encode("utf-8"))
    page = b"".join(lines)
    for told in (len(rows), None):  # told how many rows the page holds, or not
        assert [row + b"\r\n" for row in split_rows(page, b"\r\n", told)] == lines


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=200_000), st.integers(min_value=100, max_value=300_000))
def test_the_gzip_budget_keeps_even_random_bytes_under_max_bytes(data: bytes, limit: int) -> None:
    data = data[: gzip_budget(limit)]
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as fh:
        for start in range(0, len(data), 4096):
            fh.write(data[start : start + 4096])
    assert len(out.getvalue()) <= limit


class Parts:
    """An in-memory :class:`~runner.formats.split.PartSink`."""

    def __init__(self) -> None:
        self.files: list[bytearray] = []
        self.ended: list[PartFigures] = []

    def open_part(self, number: int) -> ByteSink:
        assert number == len(self.files) + 1
        self.files.append(bytearray())
        return self

    def write(self, data: bytes) -> int:
        self.files[-1] += data
        return len(data)

    def end_part(self, part: PartFigures) -> str:
        self.ended.append(part)
        return f"part-{part.number}"


def spec(fmt: str, split: SplitSpec, columns: bool = True) -> OutputSpec:
    from runner.spec.segment import Column

    cols = (Column("id", "_id"), Column("note", "note")) if columns else None
    return OutputSpec(fmt, f"x.{fmt}", cols, "none", CsvOptions(), {}, split=split)


def test_max_rows_cuts_exactly_and_every_part_has_the_header() -> None:
    parts = Parts()
    encoder = SplitEncoder(spec("csv", SplitSpec(max_rows=3)), parts)
    encoder.write_page([{"_id": str(n), "note": "a"} for n in range(7)])
    encoder.write_page([{"_id": str(n), "note": "b"} for n in range(7, 10)])
    encoder.finish()
    assert [p.rows for p in parts.ended] == [3, 3, 3, 1]
    assert all(bytes(f).startswith(b"id,note\r\n") for f in parts.files)
    assert encoder.rows == 10 and [p.destination for p in encoder.parts][-1] == "part-4"


def test_a_row_larger_than_max_bytes_goes_in_a_part_alone() -> None:
    parts = Parts()
    encoder = SplitEncoder(spec("jsonl", SplitSpec(max_bytes=100)), parts)
    page = [{"_id": "1", "note": "x"}, {"_id": "2", "note": "y" * 500}, {"_id": "3", "note": "z"}]
    encoder.write_page(page)
    encoder.finish()
    assert [p.rows for p in parts.ended] == [1, 1, 1]
    assert [len(f) > 100 for f in parts.files] == [False, True, False]
    ids = [json.loads(line)["id"] for f in parts.files for line in bytes(f).splitlines()]
    assert ids == ["1", "2", "3"]


def test_no_rows_is_one_part_with_the_header() -> None:
    parts = Parts()
    encoder = SplitEncoder(spec("csv", SplitSpec(max_rows=5)), parts)
    encoder.finish()
    assert [bytes(f) for f in parts.files] == [b"id,note\r\n"]
    assert parts.ended[0].rows == 0


SEGMENT = """\
version: 1
name: handoff
filter: {{isContact: false, applicableFilters: []}}
output:
  path: out/handoff.csv
{output}"""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("  preset: klaviyo\n  split: true\n", SplitSpec(None, 50_000_000)),
        ("  preset: hubspot\n  split: {max_rows: 10}\n", SplitSpec(10, 512_000_000)),
        ("  preset: hubspot\n  split: true\n", SplitSpec(1_048_575, 512_000_000)),
        ("  preset: google_customer_match\n  split: true\n", SplitSpec(None, 5_000_000_000)),
        ("  preset: tiktok_custom_audience\n  split: true\n", SplitSpec(None, 1_000_000_000)),
        ("  preset: meta_custom_audience\n  split: {max_rows: 9}\n", SplitSpec(9, None)),
        ("  preset: klaviyo\n  split: {max_bytes: 1MiB}\n", SplitSpec(None, 1_048_576)),
        ("  preset: klaviyo\n", SplitSpec(None, 50_000_000, plain_if_one=True)),
        ("  preset: hubspot\n", SplitSpec(1_048_575, 512_000_000, plain_if_one=True)),
        ("  preset: mailchimp\n", None),  # no documented limit: one file
        ("  preset: klaviyo\n  split: false\n", None),
        ("  split: false\n", None),
        ("  split: {max_bytes: 2KB}\n", SplitSpec(None, 2_000)),  # the project's rows default
    ],
)
def test_preset_limits_are_the_defaults_a_segment_overrides(
    tmp_path: Path, output: str, expected: SplitSpec | None
) -> None:
    runner_yaml = "version: 1\ntimezone: UTC\ndefaults:\n  output:\n    split: {max_rows: 77}\n"
    if "preset" in output or "false" in output:
        runner_yaml = "version: 1\ntimezone: UTC\n"
    project = make_project(tmp_path, {"handoff": SEGMENT.format(output=output)}, runner_yaml)
    ws = Workspace.open(project, as_of=ANCHOR, env={})
    (seg,) = ws.select(["handoff"])
    if output == "  split: {max_bytes: 2KB}\n":
        expected = SplitSpec(77, 2_000)
    assert seg.output.split == expected


def test_a_failed_manifest_rename_puts_the_previous_set_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    old = {f"t-000{n}.csv": f"old {n}".encode() for n in (1, 2, 3)}
    old["t.csv.parts.manifest.json"] = b"{}"
    for name, data in old.items():
        (folder / name).write_bytes(data)
    dest = LocalDestination.under(tmp_path, "out/t.csv")
    upload = PartsDestination(dest, SplitSpec(max_rows=5)).open("text/csv")
    for number in (1, 2):
        upload.open_part(number).write(f"new {number}".encode())
        upload.end_part(None)
    rename = os.rename

    def failing(src: Any, dst: Any) -> None:
        if Path(src).name == "manifest.json":  # the staged manifest, not the old one put back
            raise PermissionError(13, "Permission denied")
        rename(src, dst)

    monkeypatch.setattr("runner.sinks.local.parts.os.rename", failing)
    with pytest.raises(DestinationError, match="the previous files and manifest are kept"):
        upload.publish(b'{"new": true}', {})
    assert {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")} == old
    assert not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize(
    ("preset", "rows", "size", "expected"),
    [
        ("klaviyo", 10, 50_000_001, "the file has 50,000,001 bytes (the limit is 50,000,000)"),
        ("klaviyo", 10**7, 50_000_000, None),
        ("hubspot", 1_048_576, 10, "the file has 1,048,576 rows (the limit is 1,048,575)"),
        ("tiktok_custom_audience", 1, 10**9 + 1, "more than tiktok_custom_audience imports"),
        ("meta_custom_audience", 10**8, 10**11, None),  # no documented limit
        (None, 10**8, 10**11, None),
    ],
)
def test_a_preset_file_past_its_platform_limit_is_a_warning(
    preset: str | None, rows: int, size: int, expected: str | None
) -> None:
    output = OutputSpec("csv", "x.csv", None, "none", CsvOptions(), {}, preset=preset)
    warning = over_limit(output, rows, size)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning
        assert warning.endswith(
            "without 'output.split: false' it is written as parts within its limits"
        )
    split = OutputSpec(
        "csv", "x.csv", None, "none", CsvOptions(), {}, preset=preset, split=SplitSpec(max_rows=5)
    )
    assert over_limit(split, rows, size) is None  # a split export is within its own limits

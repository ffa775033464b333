"""`format: parquet` read by DuckDB, pyarrow, pandas and polars: the JSONL export's values."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runner.formats import Encoder
from runner.rows.build import EXTRA, KNOWN_FIELDS, KNOWN_KINDS
from runner.sandbox import Sandbox
from runner.sinks import DiscardUpload
from runner.spec.segment import Column, CsvOptions, OutputSpec, ParquetOptions
from tests.conftest import ANCHOR, api_env, make_project, run_cli

Start = Callable[..., Sandbox]

EVERYONE = """\
version: 1
name: everyone-{fmt}
filter: {{isContact: false, applicableFilters: []}}
output:
  format: {fmt}
  path: out/everyone.{fmt}
  parquet: {{row_group_rows: 1000}}
{columns}"""

COLUMNS = """\
  columns:
    - {name: id, path: _id}
    - {name: phone, expr: e164(profile.userDetails.contact.phone)}
    - {name: created, path: createdAt}
    - {name: tags, path: profile.userDetails.tags}
    - {name: tag_count, expr: count(profile.userDetails.tags)}
    - {name: plan, expr: attr("plan")}
    - {name: ordered, path: hasOrdered.status}
    - {name: ordered_at, path: hasOrdered.lastAt, default: never}
    - {name: first_platform, expr: first(platform)}
    - {name: phone_object, path: profile.userDetails.contact.phone}
"""


def export_both(
    sandbox: Start, tmp_path: Path, columns: str = "", users: int = 2600
) -> tuple[list[dict[str, Any]], Path, dict[str, Any]]:
    api = sandbox(users=users, seed=11, page_size=50)
    segments = {
        f"everyone-{fmt}": EVERYONE.format(fmt=fmt, columns=columns) for fmt in ("jsonl", "parquet")
    }
    project = make_project(tmp_path, segments)
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    lines = (project / "out" / "everyone.jsonl").read_text("utf-8").splitlines()
    path = project / "out" / "everyone.parquet"
    manifest = json.loads((project / "out" / "everyone.parquet.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    return [json.loads(line) for line in lines], path, manifest


def dig(record: Any, path: str) -> Any:
    for part in path.split("."):
        record = record.get(part) if isinstance(record, dict) else None
    return record


def when(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC) if text else None


def expected(record: dict[str, Any], field: str) -> Any:
    value = dig(record, field)
    kind = KNOWN_KINDS[field]
    if kind == "timestamp":
        return when(value)
    if kind == "json":
        return None if value is None else json.dumps(value, separators=(",", ":"))
    return value


def test_raw_records_get_the_flattened_schema_and_the_jsonl_values(
    sandbox: Start, tmp_path: Path
) -> None:
    records, path, manifest = export_both(sandbox, tmp_path)
    table = pq.read_table(path)
    assert table.column_names == [*KNOWN_FIELDS, EXTRA] == manifest["columns"]
    assert table.schema.field("createdAt").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("platform").type == pa.list_(pa.string())
    assert table.schema.field("isContact").type == pa.bool_()
    assert table.schema.field("__v").type == pa.int64()
    rows = table.to_pylist()
    assert len(rows) == len(records) == manifest["rows"] == 2600
    for row, record in zip(rows, records, strict=True):
        for field in KNOWN_FIELDS:
            got = row[field]
            if KNOWN_KINDS[field] == "json" and got is not None:
                got = json.dumps(json.loads(got), separators=(",", ":"))
            assert got == expected(record, field), field
        assert row[EXTRA] is None
    # Row groups were written as pages arrived: 1000 rows each, then the rest.
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 600]


def test_duckdb_pandas_polars_read_it_with_no_options(sandbox: Start, tmp_path: Path) -> None:
    records, path, _ = export_both(sandbox, tmp_path, users=700)
    ids = [r["_id"] for r in records]
    # Imported here: three readers only this test uses (about 0.7 s a test process).
    import duckdb
    import pandas as pd
    import polars as pl

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    types = dict(
        con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()[i][:2] for i in range(34)
    )
    assert types["createdAt"] == "TIMESTAMP WITH TIME ZONE"
    assert types["profile.userDetails.tags"] == "VARCHAR[]"
    assert types["isSubscriber"] == "BOOLEAN" and types["__v"] == "BIGINT"
    got = con.execute(
        f'SELECT _id, "lastSeenAt", "profile.userDetails.tags", "hasOrdered.status" FROM \'{path}\''
    ).fetchall()
    assert [g[0] for g in got] == ids
    for (_, seen, tags, ordered), record in zip(got, records, strict=True):
        assert seen == when(record["lastSeenAt"])
        assert tags == record["profile"]["userDetails"]["tags"]
        assert ordered is record["hasOrdered"]["status"]

    frame = pd.read_parquet(path)
    assert str(frame["createdAt"].dtype) == "datetime64[ms, UTC]"
    assert frame["_id"].tolist() == ids
    assert frame["createdAt"].iloc[0].to_pydatetime() == when(records[0]["createdAt"])

    polars = pl.read_parquet(path)
    assert polars.schema["createdAt"] == pl.Datetime("ms", "UTC")
    assert polars.schema["platform"] == pl.List(pl.String)
    assert polars["_id"].to_list() == ids


def test_columns_are_typed_from_their_expressions(sandbox: Start, tmp_path: Path) -> None:
    records, path, _ = export_both(sandbox, tmp_path, columns=COLUMNS, users=400)
    table = pq.read_table(path)
    assert [str(t) for t in table.schema.types] == [
        "string",
        "string",
        "timestamp[ms, tz=UTC]",
        "list<element: string>",
        "int64",
        "string",
        "bool",
        "string",  # a default makes a date column text: "never" is not a date
        "string",
        "string",  # an object left nested: JSON text
    ]
    for row, record in zip(table.to_pylist(), records, strict=True):
        assert row["id"] == record["id"] and row["phone"] == record["phone"]
        assert row["created"] == when(record["created"])
        assert row["tags"] == record["tags"] and row["tag_count"] == record["tag_count"]
        assert row["plan"] == record["plan"] and row["ordered"] is record["ordered"]
        assert row["ordered_at"] == record["ordered_at"]
        assert row["first_platform"] == record["first_platform"]
        assert json.loads(row["phone_object"]) == record["phone_object"]


class Keep(DiscardUpload):
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def test_values_that_do_not_fit_their_type_become_null() -> None:
    names = ["isContact", "__v", "createdAt", "platform", "profile.userDetails.name"]
    columns = tuple(Column(n, n) for n in names)
    sink = Keep()
    spec = OutputSpec("parquet", "x", columns, "none", CsvOptions(), {}, parquet=ParquetOptions())
    encoder = Encoder(spec, sink)
    good = {
        "isContact": True,
        "__v": 3,
        "createdAt": "2026-01-02T03:04:05.678+05:30",
        "platform": ["WHATSAPP"],
        "profile": {"userDetails": {"name": "Asha"}},
    }
    bad = {
        "isContact": "yes",
        "__v": 2.5,
        "createdAt": "last tuesday",
        "platform": ["X", 7],
        "profile": {"userDetails": {"name": 42}},
    }
    encoder.write_page([good, bad, {}, {"__v": 2**70}])
    encoder.finish()
    rows = pq.read_table(io.BytesIO(bytes(sink.data))).to_pylist()
    assert rows[0] == {
        "isContact": True,
        "__v": 3,
        "createdAt": dt.datetime(2026, 1, 1, 21, 34, 5, 678000, tzinfo=dt.UTC),
        "platform": ["WHATSAPP"],
        "profile.userDetails.name": "Asha",
    }
    assert rows[1] == {
        "isContact": None,
        "__v": None,
        "createdAt": None,
        "platform": ["X", "7"],
        "profile.userDetails.name": "42",
    }
    assert rows[2] == rows[3] == dict.fromkeys(names)  # nothing, and an int past int64
    assert encoder.rows == 4 and encoder.size == len(sink.data)


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_compression_option(compression: str) -> None:
    column = Column("v", "v")
    sink = Keep()
    options = ParquetOptions(compression=compression)
    spec = OutputSpec("parquet", "x", (column,), "none", CsvOptions(), {}, parquet=options)
    encoder = Encoder(spec, sink)
    encoder.write_page([{"v": "abc" * 50}] * 100)
    encoder.finish()
    meta = pq.ParquetFile(io.BytesIO(bytes(sink.data))).metadata
    assert meta.row_group(0).column(0).compression == (
        "UNCOMPRESSED" if compression == "none" else "ZSTD"
    )


def test_s3_object_is_the_local_file_byte_for_byte(sandbox: Start, s3: Any, tmp_path: Path) -> None:
    api = sandbox(users=500, seed=2)
    segment = EVERYONE.format(fmt="parquet", columns="").replace(
        "out/everyone.parquet", "s3://exports/daily/everyone.parquet"
    )
    project = make_project(tmp_path, {"everyone": segment})
    env = {**api_env(api), **s3.env()}
    assert run_cli("export", "--as-of", ANCHOR, cwd=project, env=env).returncode == 0
    local = run_cli("export", "--as-of", ANCHOR, "--out", "local", cwd=project, env=env)
    assert local.returncode == 0, local.stderr
    reply = s3.client().get_object(Bucket="exports", Key="daily/everyone.parquet")
    assert reply["ContentType"] == "application/vnd.apache.parquet"
    body = reply["Body"].read()
    assert body == (project / "local" / "exports" / "daily" / "everyone.parquet").read_bytes()
    assert pq.read_table(io.BytesIO(body)).num_rows == 500

"""A real spreadsheet opens our files: LibreOffice Calc, headless.

Run by ``make test-readers`` only (it needs ``soffice`` from the system packages:
``apt-get install -y --no-install-recommends libreoffice-calc-nogui``); ``make test``
deselects the ``readers`` marker.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from runner.formats import Encoder
from runner.sandbox import Sandbox
from runner.spec.segment import Column, CsvOptions, OutputSpec
from tests.conftest import ANCHOR, api_env, make_project, run_cli
from tests.integration.test_xlsx import HOSTILE, PHONES
from tests.unit.test_phones import meant_by, oracle

pytestmark = [
    pytest.mark.readers,
    pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed"),
]
Start = Callable[..., Sandbox]
UTF8_COMMA = "44,34,76,1"  # field separator ',', text quote '"', UTF-8, from line 1


def calc_to_csv(source: Path, tmp_path: Path) -> list[list[str]]:
    """What Calc shows, saved as CSV: ``soffice --headless --convert-to csv``."""
    out = tmp_path / "converted"
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            f"--infilter=CSV:{UTF8_COMMA}",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{UTF8_COMMA}",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    text = (out / (source.stem + ".csv")).read_text("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_calc_shows_phones_and_ids_as_text_and_csv_would_not(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=300, seed=3)
    as_csv = PHONES.replace("format: xlsx", "format: csv").replace("phones.xlsx", "phones.csv")
    project = make_project(
        tmp_path,
        {"phones": PHONES, "phones-csv": as_csv.replace("name: phones", "name: phones-csv")},
    )
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stderr
    served = {c["_id"]: c for c in map(orjson.loads, api.population.blobs)}

    header, *rows = calc_to_csv(project / "out" / "phones.xlsx", tmp_path)
    assert header[:4] == ["id", "phone", "number", "prefix"] and len(rows) == 300
    for row in rows:
        contact = served[row[0]]
        phone = contact["profile"]["userDetails"]["contact"]["phone"]
        assert row[1] == oracle(meant_by(contact))  # libphonenumber's E.164, or empty
        assert row[2] == phone["number"] and row[3] == phone["prefix"]
        assert row[4] == contact["profile"]["userDetails"]["name"].replace("\r\n", "\n")
        assert row[6] == contact["createdAt"][:19].replace("T", " ")  # a date, shown in UTC

    # The same columns as CSV, opened the same way: Calc reads the phones as numbers.
    _, *csv_rows = calc_to_csv(project / "out" / "phones.csv", tmp_path)
    valid = [i for i, row in enumerate(rows) if row[1]]
    assert len(valid) > 50 and all(row[1].startswith("+") for row in rows if row[1])
    assert all(not csv_rows[i][1].startswith("+") for i in valid)
    assert any(
        not r[2].startswith("0") for r, x in zip(csv_rows, rows, strict=True) if x[2][:1] == "0"
    )


class FileSink:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb")

    def write(self, data: bytes) -> int:
        return self.fh.write(data)


def test_calc_keeps_hostile_strings_as_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.xlsx"
    sink = FileSink(path)
    column = Column("v", "v")
    encoder = Encoder(OutputSpec("xlsx", "x.xlsx", (column,), "none", CsvOptions(), {}), sink)
    encoder.write_page([{"v": v} for v in HOSTILE])
    encoder.finish()
    sink.fh.close()
    header, *rows = calc_to_csv(path, tmp_path)
    assert header == ["v"]
    # Calc's CSV writes a cell's line breaks as LF: what Calc holds is the same text.
    assert [r[0] for r in rows] == [v.replace("\r\n", "\n") for v in HOSTILE]

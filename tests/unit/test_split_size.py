"""The XLSX/Parquet part-size estimate (runner.formats.split_size) on figures."""

from __future__ import annotations

from runner.formats.split import PartFigures
from runner.formats.split_size import PROBE, PackedSize, oversized


def packed(max_bytes: int, empty: int) -> PackedSize:
    size = PackedSize.__new__(PackedSize)
    size.max_bytes, size.empty, size.ratio, size.per_row, size.raw0 = max_bytes, empty, 1.0, 0, 0
    return size


def test_the_first_part_probes_then_halves_towards_the_limit_on_the_raw_bytes() -> None:
    size = packed(10_000, 1_000)
    size.start(200)
    assert size.rows_to_write(200, 0, 500) == PROBE  # nothing known yet
    # 4 rows of 100 raw bytes: room 10,000 - 1,000 - 400 = 8,600, 86 rows fit, half go
    assert size.rows_to_write(600, 4, 500) == 43
    assert size.rows_to_write(200 + 100 * 85, 85, 500) == 2  # 500 left: 5 fit
    assert size.rows_to_write(200 + 100 * 89, 89, 500) == 0  # 100 left: one row, full


def test_later_parts_use_the_last_ratio_with_a_margin() -> None:
    size = packed(10_000, 1_000)
    size.start(0)
    size.finished(raw=20_000, rows=200, size=5_000)  # (5,000 - 1,000) / 20,000 = 0.2
    assert round(size.ratio, 3) == 0.22
    size.start(0)
    # room 9,000 / (100 x 0.22) = 409 rows fit: half of them
    assert size.rows_to_write(0, 0, 1_000) == 204


def test_a_row_that_cannot_fit_goes_alone_and_is_named() -> None:
    size = packed(2_000, 5_000)  # below an empty part
    size.start(0)
    assert size.rows_to_write(0, 0, 10) == 1
    assert size.rows_to_write(50, 1, 10) == 0
    parts = [PartFigures(1, 1, 5_100, "x"), PartFigures(2, 1, 1_900, "y")]
    text = oversized(parts, 2_000, 5_000)
    assert text == (
        "1 part larger than output.split.max_bytes (2,000): part 1 (5,100 bytes, "
        "1 row); a part with no rows is already 5,000 bytes in this format"
    )
    assert oversized(parts[1:], 2_000, 5_000) is None
    assert oversized(parts, None, 5_000) is None

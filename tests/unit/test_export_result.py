"""ExportResult.paged, the per-page step, against dataclasses.replace as the oracle."""

from __future__ import annotations

import dataclasses

from runner.history import RunStatus
from runner.run.record import ExportResult


def test_paged_is_replace_and_leaves_the_record_it_came_from() -> None:
    before = ExportResult(
        "seg", status=RunStatus.SUCCESS, rows=3, pages=2, retries=4, warnings=("w",)
    ).warned("x")
    after = before.paged(pages=3, rows=150, duplicates=2, held_out=7)
    expected = dataclasses.replace(before, pages=3, rows=150, duplicates=2, held_out=7)
    assert after == expected and type(after) is ExportResult
    assert after.as_json() == expected.as_json()
    assert (before.pages, before.rows, before.duplicates, before.held_out) == (2, 3, 0, 0)
    assert hash(after) == hash(expected)

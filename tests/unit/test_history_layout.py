"""The names every history store uses: segment folders and snapshot references."""

from __future__ import annotations

import doctest

import pytest

from runner.errors import HistoryError
from runner.history import layout
from runner.history.layout import (
    is_snapshot_name,
    segment_folder,
    snapshot_ref,
    split_snapshot_ref,
)

RUN_ID = "20261125T000312.041Z-3f9c0a1b7d2e"


def test_docstring_examples_hold() -> None:
    failed, attempted = doctest.testmod(layout)
    assert attempted >= 1 and failed == 0


def test_a_reference_splits_back_into_its_segment_and_name() -> None:
    assert split_snapshot_ref(snapshot_ref("vip", RUN_ID)) == ("vip", f"{RUN_ID}.ids.gz")


@pytest.mark.parametrize(
    "ref",
    ["vip/../../secret", "vip/x.ids.gz/more", "vip/.x.ids.gz.123.tmp", "vip/x.json", "vip", ""],
)
def test_what_is_not_a_reference_is_refused(ref: str) -> None:
    with pytest.raises(HistoryError, match="is not a snapshot reference of this history"):
        split_snapshot_ref(ref)


@pytest.mark.parametrize(
    ("name", "expected"),
    [(f"{RUN_ID}.ids.gz", True), (f".{RUN_ID}.ids.gz.42.tmp", False), ("runs.jsonl", False)],
)
def test_temporaries_are_not_snapshots(name: str, expected: bool) -> None:
    assert is_snapshot_name(name) is expected


@pytest.mark.parametrize("name", ["..", "Vip", "a/b", "", "-vip"])
def test_a_segment_folder_is_a_segment_name(name: str) -> None:
    with pytest.raises(ValueError, match="is not lowercase-kebab-case"):
        segment_folder(name)
    assert segment_folder("vip-2") == "vip-2"

"""What a manifest lists as its result's files (runner.run.supersede.listed): read from
manifests the runner wrote, and nothing from one it did not."""

from __future__ import annotations

from typing import Any

import pytest

from runner.run.supersede import Listed, listed


def entry(name: str, size: int = 5, sha: str = "ab") -> dict[str, Any]:
    return {"destination": f"s3://b/daily/{name}", "bytes": size, "sha256": sha}


def test_parts_the_holdout_set_and_the_delta_files_are_listed() -> None:
    document = {
        **entry("v.csv", 12, "all"),
        "parts": [{"number": 1, **entry("v-0001.csv")}, {"number": 2, **entry("v-0002.csv")}],
        "audience": {
            "holdout": {**entry("v.holdout.csv", 9), "parts": [entry("v.holdout-0001.csv")]}
        },
        "history": {"delta": {"against": None, "added": entry("v.added.csv", 3), "without_id": 0}},
    }
    assert listed(document) == [
        Listed("v-0001.csv", 5, "ab"),
        Listed("v-0002.csv", 5, "ab"),
        Listed("v.holdout-0001.csv", 5, "ab"),
        Listed("v.added.csv", 3, "ab"),
    ]


BAD = [
    [],
    "text",
    {"destination": "out/v.csv", "bytes": 3},  # no sha256
    {"destination": "out/v.csv", "bytes": True, "sha256": "ab"},  # a bool is no size
    {"destination": "out/..", "bytes": 3, "sha256": "ab"},
    {"destination": "", "bytes": 3, "sha256": "ab"},
    {**entry("v.csv"), "parts": [{"number": 1}]},
    {**entry("v.csv"), "audience": {"holdout": {"destination": "x"}}},
    {**entry("v.csv"), "history": {"delta": {"added": {"bytes": 1}}}},
]


@pytest.mark.parametrize("document", BAD, ids=range(len(BAD)))
def test_a_document_the_runner_did_not_write_lists_nothing(document: Any) -> None:
    assert listed(document) == []

"""`make bench` (bench.run) as steps that can be chosen and sized, each timed, against real
sandbox and export processes; and bench.compare's two checkouts taking turns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from bench import compare, run
from bench.common import SandboxProcess
from tests.conftest import ROOT


class CountedSandbox(SandboxProcess):
    """The bench's sandbox process, each start counted by its number of contacts."""

    started: ClassVar[list[int]] = []

    def __init__(
        self, users: int, latency_ms: float = 0, page_size: int = 50, extra: Sequence[str] = ()
    ) -> None:
        CountedSandbox.started.append(users)
        super().__init__(users, latency_ms, page_size, extra)


def test_chosen_steps_run_in_order_timed_with_one_big_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "SandboxProcess", CountedSandbox)
    CountedSandbox.started = []
    target = tmp_path / "results.json"
    env = {"BENCH_ONLY": "xlsx, memory", "BENCH_BIG": "2_000", "BENCH_RUNS": "1"}

    assert run.main(env, target) == 0

    figures = json.loads(target.read_text())
    assert list(figures["steps"]) == ["memory", "xlsx"]  # the bench's order, not the list's
    assert all(t["seconds"] > 0 and t["cpu"] > 0 for t in figures["steps"].values())
    # The memory and xlsx steps share one sandbox of the big size; 10,000 has its own.
    assert sorted(CountedSandbox.started) == [2_000, 10_000]
    assert figures["memory_exclude_2000"]["exclude"]["rows"] == 0
    assert figures["memory_exclude_2000"]["only"]["rows"] == 2_000
    assert figures["memory_xlsx_2000"]["rows"] == 2_000
    assert figures["settings"] == {"only": ["memory", "xlsx"], "big": 2_000, "runs": 1}
    printed = capsys.readouterr().out
    assert "bench: memory took " in printed and "bench: xlsx took " in printed
    assert "| total " in printed and "peak memory, 2,000 contacts (xlsx)" in printed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BENCH_ONLY": "memroy"}, "BENCH_ONLY: unknown step 'memroy' (did you mean 'memory'?"),
        ({"BENCH_ONLY": "zero,shape"}, "unknown step 'shape' (did you mean 'shapes'?"),
        ({"BENCH_ONLY": "everything"}, "unknown step 'everything' (the steps: zero, latency,"),
        ({"BENCH_BIG": "1e6"}, "BENCH_BIG: '1e6' is not a whole number of at least 1"),
        ({"BENCH_RUNS": "0"}, "BENCH_RUNS: '0' is not a whole number of at least 1"),
    ],
)
def test_a_setting_it_cannot_use_is_a_usage_error_before_anything_runs(
    env: dict[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(env, tmp_path / "results.json") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "results.json").exists()


def test_compare_runs_each_side_with_its_own_code_taking_turns(tmp_path: Path) -> None:
    """Both sides against one sandbox; a side whose runner fails names its tree."""
    broken = tmp_path / "broken"
    (broken / "runner").mkdir(parents=True)
    (broken / "runner" / "__init__.py").write_text("")
    (broken / "runner" / "__main__.py").write_text("raise SystemExit(3)\n")
    out: dict[str, object] = {}

    rows = compare.memory(tmp_path / "same", {"before": ROOT, "after": ROOT}, out, 2_000, 2)

    got = out["memory 2000"]
    assert isinstance(got, dict)
    assert [len(got["before"]), len(got["after"])] == [2, 2]
    assert all(run["MB"] > 20 for side in got.values() for run in side)
    assert [r[:2] for r in rows] == [
        ["peak memory, 2,000 contacts (csv)", f] for f in ("MB", "s", "CPU s")
    ]
    assert [name for name, _ in compare.sides({"before": broken, "after": ROOT}, 1)] == [
        "after",
        "before",
    ]
    with pytest.raises(RuntimeError, match=f"with {broken} failed \\(3\\)"):
        compare.memory(tmp_path / "broken-side", {"before": broken, "after": ROOT}, {}, 2_000, 1)

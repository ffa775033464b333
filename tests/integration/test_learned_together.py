"""Runs against different APIs that end at once each keep what auto concurrency learned
(runner.fetch.learned): the file is read, changed and written again under a lock. A
review (2026-12-07) found it rewritten without one: one run's entry could be lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runner.fetch.concurrency import Learned
from runner.fetch.learned import recall

KEEPER = """
import sys
from pathlib import Path
from runner.fetch.concurrency import Learned
from runner.fetch.learned import keep
folder, n = Path(sys.argv[1]), int(sys.argv[2])
for i in range(40):
    keep(folder, f"https://api{n}.example.com/inbox/users", Learned(3 + i % 5, 9))
"""


def test_six_processes_keeping_at_once_lose_no_entry(tmp_path: Path) -> None:
    folder = tmp_path / ".segments"
    runs = [subprocess.Popen([sys.executable, "-c", KEEPER, str(folder), str(n)]) for n in range(6)]
    assert [run.wait(timeout=120) for run in runs] == [0] * 6
    kept = [recall(folder, f"https://api{n}.example.com/inbox/users") for n in range(6)]
    assert kept == [Learned(3 + 39 % 5, 9)] * 6
    assert sorted(p.name for p in folder.iterdir()) == ["concurrency.json", "concurrency.lock"]

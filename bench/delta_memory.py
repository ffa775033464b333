"""Memory and time a delta costs: the previous snapshot loaded, N ids tracked, the new
snapshot written and the removed ids read back.

.venv/bin/python -m bench.delta_memory [N]    (default 1,000,000)

Each measurement runs in a fresh process so peak RSS (ru_maxrss) is its own: the
same pages of N records (24-hex ids, 10% of them new since the previous run)
are read once without a tracker (baseline) and once through a DeltaTracker; the
figure is the difference of the two peaks. tracemalloc's peak (Python
allocations only) is shown beside it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from runner.history.delta import DeltaTracker
from runner.history.snapshot import SnapshotBase

PAGE = 500
LIMIT_MB = 60


def pages(n: int, offset: int) -> Iterator[list[dict[str, str]]]:
    """N records with ids offset..offset+N, 500 to a page, made as they are read."""
    for start in range(offset, offset + n, PAGE):
        yield [
            {"_id": f"{i * 2654435761 % 2**96:024x}", "email": f"user{i}@example.com"}
            for i in range(start, min(start + PAGE, offset + n))
        ]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_base(n: int, folder: Path) -> dict[str, float]:
    with DeltaTracker("_id", None, folder) as delta:
        for page in pages(n, 0):
            delta.page(page)
        summary = delta.finish()
        target = folder / "base.ids.gz"
        summary.snapshot.replace(target)
    return {"snapshot_mb": target.stat().st_size / 1e6}


def baseline(n: int, folder: Path) -> dict[str, float]:
    count = sum(len(page) for page in pages(n, n // 10))
    assert count == n
    return {"peak_mb": peak_mb()}


def tracked(n: int, folder: Path, trace: bool = False) -> dict[str, float]:
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    base = SnapshotBase((folder / "base.ids.gz").open("rb"), "_id")
    loaded = time.perf_counter()
    with DeltaTracker("_id", base, folder) as delta:
        added = sum(len(delta.page(page)) for page in pages(n, n // 10))
        paged = time.perf_counter()
        summary = delta.finish()
        removed = sum(len(ids) for ids in delta.removed())
    done = time.perf_counter()
    assert added == summary.added == n // 10 and removed == summary.removed == n // 10
    result = {
        "peak_mb": peak_mb(),
        "load_s": loaded - start,
        "pages_ns_per_id": (paged - loaded) / n * 1e9,
        "finish_s": done - paged,
    }
    if trace:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    return result


def child(step: str, n: int, folder: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.delta_memory", "--step", step, str(n), str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--step"]:
        step, n, folder = args[1], int(args[2]), Path(args[3])
        steps = {"base": make_base, "baseline": baseline, "tracked": tracked}
        if step == "traced":
            print(json.dumps(tracked(n, folder, trace=True)))
        else:
            print(json.dumps(steps[step](n, folder)))
        return 0
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = child("base", n, folder)
        plain = child("baseline", n, folder)
        delta = child("tracked", n, folder)
        traced = child("traced", n, folder)
    extra = delta["peak_mb"] - plain["peak_mb"]
    print(
        f"{n:,} ids: +{extra:.1f} MB peak RSS with a delta (limit {LIMIT_MB} MB; "
        f"{plain['peak_mb']:.1f} -> {delta['peak_mb']:.1f} MB), tracemalloc peak "
        f"{traced['tracemalloc_peak_mb']:.1f} MB; snapshot {base['snapshot_mb']:.1f} MB gzip; "
        f"load {delta['load_s']:.2f}s, {delta['pages_ns_per_id']:.0f} ns/id while paging, "
        f"finish + removed {delta['finish_s']:.2f}s"
    )
    return 0 if extra <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())

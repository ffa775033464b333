"""Memory and time `segments overlap` costs for two audiences of N ids each.

.venv/bin/python -m bench.overlap_memory [N]    (default 1,000,000)

Two id snapshots of N ids that share half are written as the exports write them
(DeltaTracker.finish). Each measurement runs in a fresh process so its peak RSS
(ru_maxrss) is its own: the baseline imports the same modules and opens nothing;
the measured step loads both snapshots as digest arrays and merges them. The
figure is the difference of the two peaks; Arrow's own peak allocation is shown
beside it. For scale: a Python set of N 24-hex id strings alone takes about
N x 109 bytes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from runner.history.delta import DeltaTracker
from runner.history.overlap import Pair, load_digests, shared

PAGE = 500


def pages(first: int, n: int) -> Iterator[list[dict[str, str]]]:
    for start in range(first, first + n, PAGE):
        yield [
            {"_id": f"{i * 2654435761 % 2**96:024x}"}
            for i in range(start, min(start + PAGE, first + n))
        ]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make(n: int, folder: Path) -> dict[str, float]:
    sizes = {}
    for name, first in (("a", 0), ("b", n // 2)):
        with DeltaTracker("_id", None, folder) as delta:
            for page in pages(first, n):
                delta.page(page)
            target = folder / f"{name}.ids.gz"
            delta.finish().snapshot.replace(target)
            sizes[f"{name}_mb"] = target.stat().st_size / 1e6
    return sizes


def baseline(n: int, folder: Path) -> dict[str, float]:
    return {"peak_mb": peak_mb()}


def measured(n: int, folder: Path) -> dict[str, float]:
    start = time.perf_counter()
    loaded = []
    for name in ("a", "b"):
        with (folder / f"{name}.ids.gz").open("rb") as file:
            loaded.append(load_digests(file, "_id", name))
    read = time.perf_counter()
    common = shared(*loaded)
    done = time.perf_counter()
    pair = Pair("a", "b", len(loaded[0]), len(loaded[1]), common)
    assert pair.shared == n - n // 2, pair
    return {
        "peak_mb": peak_mb(),
        "arrow_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
        "load_s": read - start,
        "merge_s": done - read,
        "jaccard": pair.jaccard,
    }


def child(step: str, n: int, folder: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.overlap_memory", "--step", step, str(n), str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--step"]:
        steps = {"make": make, "baseline": baseline, "measured": measured}
        print(json.dumps(steps[args[1]](int(args[2]), Path(args[3]))))
        return 0
    n = int(args[0]) if args else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = child("make", n, folder)
        plain = child("baseline", n, folder)
        got = child("measured", n, folder)
    extra = got["peak_mb"] - plain["peak_mb"]
    print(
        f"2 x {n:,} ids (half shared): +{extra:.1f} MB peak RSS to load both and merge "
        f"({plain['peak_mb']:.1f} -> {got['peak_mb']:.1f} MB; Arrow peak "
        f"{got['arrow_peak_mb']:.1f} MB); snapshots {sizes['a_mb']:.1f} + {sizes['b_mb']:.1f} MB "
        f"gzip; load {got['load_s']:.2f}s, merge {got['merge_s']:.2f}s; "
        f"Jaccard {got['jaccard']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

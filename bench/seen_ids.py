"""Memory and speed of the seen-id table (the only structure that grows with an export).

.venv/bin/python -m bench.seen_ids [N ...]

For each N: bytes per id (tracemalloc, after N fresh 24-hex ids) and the peak
during growth, then ns per add and per duplicate check (without tracemalloc).
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from runner.fetch.records import SeenIds


def main() -> int:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000, 700_000, 1_000_000]
    for n in sizes:
        ids = [f"{i:024x}" for i in range(n)]
        tracemalloc.start()
        seen = SeenIds()
        for key in ids:
            seen.add(key)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ids = [f"{i:024x}" for i in range(n)]  # fresh strings: hashes not cached
        seen = SeenIds()
        start = time.perf_counter()
        for key in ids:
            seen.add(key)
        add = (time.perf_counter() - start) / n
        start = time.perf_counter()
        again = sum(1 for key in ids if not seen.add(key))
        check = (time.perf_counter() - start) / n
        assert again == n and len(seen) == n
        print(
            f"{n:>9,} ids: {current / n:5.1f} bytes/id ({current / 1e6:.1f} MB, "
            f"peak {peak / 1e6:.1f} MB); add {add * 1e9:.0f} ns, duplicate {check * 1e9:.0f} ns"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fastest plain client of the sandbox: the yardstick for the export's own CPU.

.venv/bin/python -m bench.bare_loop URL [TOKEN]

One keep-alive ``http.client`` connection posts page 1, 2, 3 ... and parses each reply
with ``orjson`` until the first empty ``data``; it keeps nothing and writes nothing.
At zero latency it is bound by its own CPU and the server's, so an export's records
per second over this loop's is the share of the time the export spends on the wire
rather than on its own work (bench/cpu.py reports that ratio).
"""

from __future__ import annotations

import http.client
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from bench.common import TOKEN
from runner.spec.schema import filter_defaults

BODY = {"isContact": False, "applicableFilters": []}  # bench/run.py's segments' filter


@dataclass(frozen=True)
class LoopRun:
    records: int
    seconds: float  # wall clock, first request to last reply
    cpu: float  # this process's CPU over the same span

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def bare_loop(url: str, token: str, path: str = "/inbox/users") -> LoopRun:
    """Page through ``url`` once; the records read, the time and CPU it took."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    body = {**filter_defaults(), **BODY, "isExport": "none"}
    headers = {
        "Authorization": f"Bearer {token}",
        "authtype": "Key",
        "Content-Type": "application/json",
    }
    records, page = 0, 1
    start, cpu = time.perf_counter(), time.process_time()
    try:
        while True:
            body["page"] = page
            conn.request("POST", path, body=orjson.dumps(body), headers=headers)
            data = orjson.loads(conn.getresponse().read())["data"]
            if not data:
                break
            records += len(data)
            page += 1
    finally:
        conn.close()
    return LoopRun(records, time.perf_counter() - start, time.process_time() - cpu)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    run = bare_loop(argv[0], argv[1] if len(argv) > 1 else TOKEN)
    rate = f"{run.rate:,.0f} rec/s"
    print(f"{run.records:,} records in {run.seconds:.2f} s ({rate}), CPU {run.cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The least an export can do at zero latency, against the bare loop: the floor under
issue 23's CPU targets.

.venv/bin/python -m bench.floor [CONTACTS] [RUNS]

Starts one sandbox (zero latency, default 100,000 contacts) and, RUNS times (default 3)
taking turns: the bare loop (bench/bare_loop.py: post, read, decode), then the same loop
that also writes each page as JSON lines to a file with its SHA-256 (what any JSONL
export must add: one ``orjson.dumps`` a record, the hash, the write). The second's
records per second over the first's bounds what ``segments export`` to JSONL can reach
on this machine, before de-duplication, the as-of cut, the id snapshot, the manifest
and the pipelining of requests (which the bare loop does not do either).
"""

from __future__ import annotations

import hashlib
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.bare_loop import BODY, bare_loop
from bench.common import TOKEN, SandboxProcess
from runner.spec.schema import filter_defaults


def writing_loop(url: str, out: Path) -> tuple[int, float, float]:
    """bench.bare_loop's loop, each page also written as JSON lines with its SHA-256:
    records, seconds, CPU seconds."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    body = {**filter_defaults(), **BODY, "isExport": "none"}
    headers = {"Authorization": f"Bearer {TOKEN}", "authtype": "Key"}
    headers["Content-Type"] = "application/json"
    records, page, digest = 0, 1, hashlib.sha256()
    dumps, line = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    start, cpu = time.perf_counter(), time.process_time()
    with out.open("wb") as file:
        while True:
            body["page"] = page
            conn.request("POST", "/inbox/users", body=orjson.dumps(body), headers=headers)
            data = orjson.loads(conn.getresponse().read())["data"]
            if not data:
                break
            chunk = b"".join([dumps(r, option=line) for r in data])
            digest.update(chunk)
            file.write(chunk)
            records += len(data)
            page += 1
    conn.close()
    return records, time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str]) -> int:
    users = int(argv[0]) if argv else 100_000
    runs = int(argv[1]) if len(argv) > 1 else 3
    api = SandboxProcess(users)
    ratios, cpus = [], []
    try:
        bare_loop(api.url, TOKEN)  # warm the sandbox's filter cache
        with tempfile.TemporaryDirectory(prefix="segments-floor-") as tmp:
            for _ in range(runs):
                bare = bare_loop(api.url, TOKEN)
                records, seconds, cpu = writing_loop(api.url, Path(tmp) / "out.jsonl")
                ratios.append((records / seconds) / bare.rate)
                cpus.append((cpu, bare.cpu))
                print(
                    f"bare {bare.seconds:.2f} s (CPU {bare.cpu:.2f}), writing {seconds:.2f} s "
                    f"(CPU {cpu:.2f}): {ratios[-1]:.2f}"
                )
    finally:
        api.stop()
    print(f"writing loop over the bare loop: median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

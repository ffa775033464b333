"""CPU per record of the export's own work, without the network: de-duplication and
encoding of sandbox-shaped pages (the `make bench` CSV columns, and JSONL).

.venv/bin/python -m bench.encoder [RECORDS]

Best of 15 rounds, each over pages of contacts of its own (a cache of what an earlier
round saw, such as phone numbers', must not make a round cheaper than a run), so it
measures our code, not the VM.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import sys
import time

import orjson
import yaml

from bench.common import CSV_SEGMENT
from runner.fetch.records import Deduplicator
from runner.formats import Encoder
from runner.sandbox.data import make_contact
from runner.sinks import DiscardUpload
from runner.spec.segment import Column, CsvOptions, OutputSpec

PAGE = 50


def spec(fmt: str) -> OutputSpec:
    columns = None
    if fmt == "csv":
        columns = tuple(
            Column(c["name"], src)
            for c in yaml.safe_load(CSV_SEGMENT)["output"]["columns"]
            for src in [c.get("expr") or c["path"]]
        )
    return OutputSpec(fmt, "x", columns, "none", CsvOptions(), {})


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rng = random.Random(1)
    anchor = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    rounds = []
    for _ in range(15):
        contacts = [make_contact(rng, anchor, "bench") for _ in range(n)]
        rounds.append([orjson.dumps(contacts[i : i + PAGE]) for i in range(0, n, PAGE)])
    for fmt in ("csv", "jsonl"):
        best = float("inf")
        for raw in rounds:
            pages = [orjson.loads(r) for r in raw]
            encoder = Encoder(spec(fmt), DiscardUpload())
            dedupe = Deduplicator("_id")
            # An export holds one page at a time: the collector must not walk all the
            # parsed pages here (that swung the figure by +-15 % between runs).
            gc.freeze()
            start = time.process_time()
            for page in pages:
                encoder.write_page(dedupe.filter(page))
            encoder.finish()
            best = min(best, time.process_time() - start)
            gc.unfreeze()
        print(f"{fmt:5s} {best / n * 1e6:5.2f} us CPU per record (dedupe + encode + sha256)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

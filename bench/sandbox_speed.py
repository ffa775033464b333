"""Pages per second the sandbox serves to a plain http.client loop (keep-alive, one core).

.venv/bin/python -m bench.sandbox_speed [USERS] [PAGES]
"""

from __future__ import annotations

import http.client
import sys
import time

import orjson

from runner.sandbox import Sandbox, SandboxOptions
from runner.spec.schema import filter_defaults


def main() -> int:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    pages = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with Sandbox(SandboxOptions(users=users, page_size=50)) as api:
        body = {**filter_defaults(), "isExport": "none", "tags": ["vip"], "isContact": False}
        host, port = api.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port))
        headers = {**api.headers, "Content-Type": "application/json"}
        served = 0
        start = time.perf_counter()
        for i in range(pages):
            body["page"] = i % 40 + 1  # a simple filter, paged over and over
            conn.request("POST", "/inbox/users", body=orjson.dumps(body), headers=headers)
            served += len(conn.getresponse().read()) > 0
        elapsed = time.perf_counter() - start
    print(f"{served / elapsed:,.0f} pages/s ({users:,} contacts, {pages} pages, tags filter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

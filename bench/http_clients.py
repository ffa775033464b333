"""CPU per page of each HTTP client the runner could use, against the sandbox.

.venv/bin/python -m bench.http_clients [PAGES]

At zero latency the bare loop is bound by its own CPU, not the sandbox's: this is
why the runner posts pages with urllib3 directly rather than requests.Session.
Prints the client's CPU time (process time, so waiting for the server is not
counted) per 50-contact page, best of 3 rounds.
"""

from __future__ import annotations

import http.client
import sys
import time
from collections.abc import Callable

import orjson
import requests
import urllib3

from bench.common import TOKEN, SandboxProcess
from runner.spec.schema import filter_defaults


def main() -> int:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    api = SandboxProcess(20_000)
    try:
        url = api.url + "/inbox/users"
        body = {**filter_defaults(), "isContact": False, "applicableFilters": [], "page": 1}
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "authtype": "Key",
            "Content-Type": "application/json",
        }
        session = requests.Session()
        quiet = requests.Session()
        quiet.trust_env = False
        pool = urllib3.PoolManager(retries=False)
        parts = urllib3.util.parse_url(url)
        conn = http.client.HTTPConnection(parts.host or "", parts.port)

        def raw_http(data: bytes) -> bytes:
            conn.request("POST", parts.path or "/", body=data, headers=headers)
            return conn.getresponse().read()

        clients: dict[str, Callable[[bytes], bytes]] = {
            "requests.Session.post": lambda data: session.post(
                url, data=data, headers=headers
            ).content,
            "requests, trust_env off": lambda data: quiet.post(
                url, data=data, headers=headers
            ).content,
            "urllib3 PoolManager.urlopen (the runner)": lambda data: pool.urlopen(
                "POST", url, body=data, headers=headers, redirect=False
            ).data,
            "http.client": raw_http,
        }
        best = dict.fromkeys(clients, float("inf"))
        for _ in range(3):
            for name, post in clients.items():
                start = time.process_time()
                for page in range(1, pages + 1):
                    body["page"] = page % 350 + 1
                    post(orjson.dumps(body))
                best[name] = min(best[name], (time.process_time() - start) / pages)
        data = post(orjson.dumps(body))
        start = time.process_time()
        for _ in range(pages):
            orjson.loads(data)
        parse = (time.process_time() - start) / pages
        for name, seconds in best.items():
            print(f"{name:42s} {seconds * 1e3:.3f} ms CPU per page")
        print(f"{'(orjson.loads of one page)':42s} {parse * 1e3:.3f} ms CPU per page")
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Why auto concurrency climbs or stops: one fetch, every request and every decision
(`python -m bench.conc_trace [options]`; `--help` lists them).

Each request: when it went out and came back (seconds from the start), its page, how
deep it was (pages skipped), the requests on the wire as it went out, the limit then,
its status. Each decision of :class:`~runner.fetch.concurrency.Adaptive`: the round's
median reply time and depth, the baseline it was judged against, and the new limit.
Then a summary: requests, 429s, the most on the wire, seconds at each limit.

Against the project's sandbox in another process (`--users`, `--shape`, `--ties`,
`--latency-ms`, `--skip-cost-us`, `--capacity`), or any API already running
(`--url URL`, with `--token` and `--body JSON`): an API stand-in run by hand.
Not part of `make bench`: it explains the offset-cost and capacity columns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

import orjson

from bench.common import TOKEN, SandboxProcess
from bench.traced import Traced
from runner.fetch.concurrency import Adaptive
from runner.fetch.fetcher import PageFetcher
from runner.fetch.transport import UrllibTransport
from runner.spec import schema
from runner.spec.project import ApiSettings


def watch(slots: Adaptive, started: float, out: list[str]) -> None:
    """Note every decision of ``slots`` (its rules' methods wrapped on the instance)."""
    decide = slots._decide

    def traced_decide(now: float) -> None:
        r = slots._round
        latency, depth, before = r.latency, r.depth, slots.limit
        cost = slots._cost.slope()
        decide(now)
        baseline = slots._fastest.judge(latency, depth, cost, before).seconds  # its own is in
        out.append(
            f"{now - started:7.3f} round {r.number:3d} at {before:2d}: median "
            f"{latency * 1000:6.1f} ms, depth {depth:4d}, cost {cost * 1000:.2f} ms/page, "
            f"x{latency / baseline:.2f} of baseline, {len(r.replies)}+{len(r.fresh)} new, "
            f"full {r.full!s:5} -> {slots.limit}"
        )

    for name in ("_found", "_cut", "_witnessed"):
        method = getattr(slots, name)

        def traced(*args: Any, _method: Any = method, _name: str = name, **kw: Any) -> None:
            before = slots.limit
            _method(*args, **kw)
            out.append(
                f"{args[0] - started:7.3f} {_name[1:]} {args[1:] if _name != '_found' else args[1]}"
                f": {before} -> {slots.limit} (ceiling {slots.ceiling})"
            )

        setattr(slots, name, traced)
    slots._decide = traced_decide  # type: ignore[method-assign]


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.conc_trace", description=__doc__)
    p.add_argument("--url", help="an API already running (else a sandbox is started)")
    p.add_argument("--body", default="{}", help="JSON merged into the request body")
    p.add_argument("--token", default=TOKEN)
    p.add_argument("--users", type=int, default=8000)
    p.add_argument("--shape", default="uniform")
    p.add_argument("--latency-ms", type=float, default=20)
    p.add_argument("--skip-cost-us", type=float, default=10)
    p.add_argument("--capacity", type=int, default=0)
    p.add_argument("--concurrency", default="auto")
    p.add_argument("--windows", choices=["on", "off"], default="on")
    p.add_argument("--cap", type=int, default=ApiSettings().max_concurrency, help="auto's most")
    p.add_argument("-v", action="store_true", help="every request, not only the decisions")
    return p.parse_args(argv)


def fetcher_for(args: argparse.Namespace, url: str) -> tuple[PageFetcher, Traced]:
    settings = ApiSettings(
        base_url=url.removesuffix("/inbox/users"),
        concurrency=args.concurrency,
        windows=args.windows == "on",
        max_pages=1_000_000,
        max_concurrency=args.cap,
    )
    body = {**schema.filter_defaults(), "page": 1, "isExport": "none"}
    if args.url is None:
        body.update(isContact=False, applicableFilters=[])
    body.update(orjson.loads(args.body))
    headers = {
        **settings.headers,
        "Authorization": f"Bearer {args.token}",
        "Content-Type": "application/json",
    }
    traced = Traced(UrllibTransport(settings, headers, settings.max_concurrency + 1))
    fetcher = PageFetcher(
        settings, args.token, body, transport=traced, as_of=dt.datetime.now(dt.UTC)
    )
    return fetcher, traced


def main(argv: list[str]) -> int:
    args = options(argv)
    api = None
    if args.url is None:
        extra = ["--shape", args.shape, "--skip-cost-us", str(args.skip_cost_us)]
        extra += ["--capacity", str(args.capacity)]
        api = SandboxProcess(args.users, args.latency_ms, extra=extra)
    try:
        fetcher, traced = fetcher_for(args, api.url if api else args.url)
        decisions: list[str] = []
        if isinstance(fetcher.in_flight, Adaptive):
            slots = fetcher.in_flight
            traced.tag = lambda: getattr(slots._local, "ticket", None)
            watch(fetcher.in_flight, time.monotonic(), decisions)
        traced.started = time.monotonic()
        usage = time.process_time()
        rows = sum(len(page.records) for page in fetcher.pages())
        seconds = time.monotonic() - traced.started
        cpu = time.process_time() - usage
        fetcher.close()
    finally:
        counts = api.stop() if api else {}
    report(traced, decisions, args.v)
    most = max((r.tag.active for r in traced.log if r.tag), default=0)
    print(
        f"{rows:,} rows in {seconds:.2f} s ({cpu:.2f} s CPU), {len(traced.log)} requests, "
        f"{sum(1 for r in traced.log if r.status == 429)} turned away, most on the "
        f"wire {most}, settled {fetcher.settled}, {fetcher.windows} windows "
        f"{fetcher.read_as or fetcher.note} {counts}"
    )
    return 0


def report(traced: Traced, decisions: list[str], verbose: bool) -> None:
    lines: list[tuple[float, str]] = []
    for line in decisions:
        lines.append((float(line.split()[0]), "  " + line))
    if verbose:
        for r in traced.log:
            began, ended, status, label, ticket = r.began, r.ended, r.status, r.label, r.tag
            where = (
                f"depth {ticket.depth:4d}, {ticket.active:2d} on the wire, limit {ticket.limit:2d}"
                if ticket
                else ""
            )
            lines.append(
                (
                    began,
                    f"{began:7.3f} {ended:7.3f} {(ended - began) * 1000:6.1f} ms {status} "
                    f"{label:10} {where}",
                )
            )
    for _, line in sorted(lines):
        print(line)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

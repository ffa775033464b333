"""The sandbox's own options: how it pages (wrongly, slowly, or turning requests away
when busy) and the shape of its data. Checked as argparse reads them (:mod:`runner.cli.args`)."""

from __future__ import annotations

import argparse

from runner.cli.values import number, text, whole


def percent(value: str) -> float:
    """``2%`` (or ``2``) as the share 0.02, from 0 to 100 %."""
    return number(0, 100)(value.strip().removesuffix("%")) / 100


def sandbox_data(p: argparse.ArgumentParser) -> None:
    """When the contacts were created (the sandbox checks the name: a usage error)."""
    p.add_argument(
        "--shape",
        type=text,
        default="uniform",
        metavar="SHAPE",
        help="uniform, stale:14d (newest contact 14 days old), imports, growth, sparse, "
        "weekly (one batch a week), past",
    )
    p.add_argument(
        "--missing-created",
        type=percent,
        default=0.0,
        metavar="PCT",
        help="share of contacts without createdAt, e.g. 2%% (listed after the dated ones)",
    )
    p.add_argument("--missing-form", choices=["absent", "null", "empty"], default="absent")
    p.add_argument("--missing-at", choices=["end", "start"], default="end")


def sandbox_paging(p: argparse.ArgumentParser) -> None:
    """How the sandbox pages: wrongly, slowly, or turning requests away when busy."""
    p.add_argument("--ignore-page", action="store_true", help="misbehave: always serve page 1")
    p.add_argument(
        "--skip-cost-us",
        type=number(0, 10_000),
        default=0.0,
        metavar="X",
        help="page N waits (N-1) x page size x X microseconds, as a database skipping rows",
    )
    p.add_argument(
        "--capacity",
        type=whole(0, 10_000),
        default=0,
        metavar="N",
        help="serve at most N requests at once, answer more with 429 (0: no limit)",
    )

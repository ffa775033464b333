"""The guards, between writing and publishing: nothing is published past one.

``expect.min_rows`` and ``max_rows`` bound the published rows; ``expect.max_change``
compares the whole audience (the rows and a holdout's) with the last successful run
(:mod:`runner.history.guard` holds the rules); an incremental run never replaces another
run's dated file. Each trip is a :class:`~runner.errors.GuardError` (the dated file's, a
:class:`~runner.errors.DestinationError`).
"""

from __future__ import annotations

from runner.errors import DestinationError, GuardError
from runner.history.guard import (
    Baseline,
    RateBaseline,
    check_drift,
    check_rate,
    parse_max_change,
    window_ms,
)
from runner.run.plan import Plan
from runner.run.rows import Written
from runner.sinks.base import published_sha256


def check_guards(
    plan: Plan, written: Written, held_out: int, *, accept_change: bool, dry_run: bool
) -> bool:
    """Raise at the first guard ``written`` trips; True when ``--accept-change`` let a
    tripped ``expect.max_change`` through (the manifest and the history say so)."""
    _check_rows(plan, written.rows)
    accepted = _check_change(plan, written.rows + held_out, accept_change)
    if plan.window is not None and not dry_run:
        _keep_dated(plan, written.sha256)
    return accepted


def _check_rows(plan: Plan, rows: int) -> None:
    low, high = plan.seg.min_rows, plan.seg.max_rows
    why = f"below expect.min_rows ({low})" if low is not None and rows < low else ""
    if high is not None and rows > high:
        why = f"above expect.max_rows ({high})"
    if why:
        raise GuardError(f"{rows} rows is {why}; the previous file is kept")


def _check_change(plan: Plan, rows: int, accept_change: bool) -> bool:
    if plan.seg.max_change is None:
        return False
    limit = parse_max_change(plan.seg.max_change)
    window = plan.window
    if window is None:
        drift = check_drift(rows, Baseline.of(plan.previous), limit)
    else:  # new contacts an hour of window, not rows (runner.history.guard)
        span = window_ms(window.created_at["startAt"], window.created_at["endsAt"])
        drift = check_rate(rows, span, RateBaseline.of(plan.previous), limit)
    if not drift.tripped:
        return False
    if not accept_change:
        raise GuardError(
            f"{drift.message}; the previous file is kept (--accept-change publishes this run)"
        )
    return True


def _keep_dated(plan: Plan, sha256: str) -> None:
    """A dated file is one run's window: a run at the same as-of (which repeats that
    window) may publish the same bytes again, never others (a changed window, or a
    file that another output's template named the same)."""
    published = published_sha256(plan.destination)
    if published is not None and published != sha256:
        raise DestinationError(
            f"{plan.destination.display} holds another run's contacts (sha256 "
            f"{published[:12]}, this run's {sha256[:12]}): an incremental run never "
            "replaces another run's dated file; nothing was published"
        )

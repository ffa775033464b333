"""Relative dates at fixed instants: month ends, DST changes, leap days."""

from __future__ import annotations

import pytest

from runner.errors import TemplateError, UsageError
from runner.templating import Clock, TemplateContext, render_string


def r(template: str, as_of: str, tz: str = "UTC", **variables: str) -> str:
    return render_string(template, TemplateContext(Clock.parse(as_of, tz), variables))


@pytest.mark.parametrize(
    ("template", "as_of", "tz", "expected"),
    [
        # last 7 days
        (
            "{{ now | minus(days=7) | api }}",
            "2026-11-25T10:00:00Z",
            "UTC",
            "2026-11-18T10:00:00.000Z",
        ),
        # month end: one month before 31 March is the last day of February
        (
            "{{ now | minus(months=1) | api }}",
            "2026-03-31T12:00:00Z",
            "UTC",
            "2026-02-28T12:00:00.000Z",
        ),
        (
            "{{ now | minus(months=1) | end_of('month') | api }}",
            "2026-03-31T12:00:00Z",
            "UTC",
            "2026-02-28T23:59:59.999Z",
        ),
        # leap day
        (
            "{{ now | minus(months=1) | end_of('month') | api }}",
            "2028-03-01T00:30:00Z",
            "UTC",
            "2028-02-29T23:59:59.999Z",
        ),
        (
            "{{ now | minus(years=1) | api }}",
            "2028-02-29T10:00:00Z",
            "UTC",
            "2027-02-28T10:00:00.000Z",
        ),
        ("{{ now | plus(days=1) | fmt('%Y-%m-%d') }}", "2028-02-28T10:00:00Z", "UTC", "2028-02-29"),
        # DST, Europe/London springs forward on 2026-03-29: a calendar day keeps the wall time,
        (
            "{{ now | minus(days=2) | api }}",
            "2026-03-30T09:00:00+01:00",
            "Europe/London",
            "2026-03-28T09:00:00.000Z",
        ),
        # ... while hours are elapsed time,
        (
            "{{ now | minus(hours=48) | api }}",
            "2026-03-30T09:00:00+01:00",
            "Europe/London",
            "2026-03-28T08:00:00.000Z",
        ),
        # ... and the day of the change is 23 hours long.
        (
            "{{ now | minus(days=1) | start_of('day') | api }}",
            "2026-03-30T09:00:00+01:00",
            "Europe/London",
            "2026-03-29T00:00:00.000Z",
        ),
        (
            "{{ now | minus(days=1) | end_of('day') | api }}",
            "2026-03-30T09:00:00+01:00",
            "Europe/London",
            "2026-03-29T22:59:59.999Z",
        ),
        # autumn: 2026-10-25 is 25 hours long in London
        (
            "{{ now | end_of('day') | api }}",
            "2026-10-25T12:00:00Z",
            "Europe/London",
            "2026-10-25T23:59:59.999Z",
        ),
        (
            "{{ now | start_of('day') | api }}",
            "2026-10-25T12:00:00Z",
            "Europe/London",
            "2026-10-24T23:00:00.000Z",
        ),
        # previous calendar month in Asia/Kolkata
        (
            "{{ now | in_tz('Asia/Kolkata') | minus(months=1) | start_of('month') | api }}",
            "2026-11-25T10:00:00Z",
            "UTC",
            "2026-09-30T18:30:00.000Z",
        ),
        (
            "{{ now | in_tz('Asia/Kolkata') | minus(months=1) | end_of('month') | api }}",
            "2026-11-25T10:00:00Z",
            "UTC",
            "2026-10-31T18:29:59.999Z",
        ),
        # ISO weeks start on Monday; 2026-11-25 is a Wednesday
        (
            "{{ now | start_of('week') | fmt('%Y-%m-%d %A') }}",
            "2026-11-25T10:00:00Z",
            "UTC",
            "2026-11-23 Monday",
        ),
        (
            "{{ now | start_of('year') | api }}",
            "2026-11-25T10:00:00Z",
            "Asia/Kolkata",
            "2025-12-31T18:30:00.000Z",
        ),
        # a date-only --as-of is midnight in the project time zone
        ("{{ now | api }}", "2026-07-01", "Europe/London", "2026-06-30T23:00:00.000Z"),
        ("{{ run_date }}-{{ segment.name | default('x') }}", "2026-07-01", "UTC", "2026-07-01-x"),
    ],
)
def test_golden_dates(template: str, as_of: str, tz: str, expected: str) -> None:
    assert r(template, as_of, tz) == expected


def test_var_reads_command_line_values_and_defaults() -> None:
    assert r("{{ var('campaign', 'none') }}", "2026-01-01") == "none"
    assert r("{{ var('campaign', 'none') }}", "2026-01-01", campaign="bf") == "bf"
    with pytest.raises(TemplateError, match="--var campaign=VALUE"):
        r("{{ var('campaign') }}", "2026-01-01")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ''.__class__ }}", "unsafe"),
        ("{{ now.__class__.__init__.__globals__ }}", "unsafe"),
        ("{{ cycler.__init__.__globals__.os }}", "unsafe"),
        ("{{ 'a' * 100000000 }}", "repeats a value"),
        ("{{ 99 ** 99 ** 99 }}", "too large"),
        ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
        ("{{ nope }}", "undefined"),
        ("{{ now | start_of('fortnight') }}", "unit must be one of"),
        ("{{ now | plus(decades=1) }}", "unknown unit"),
        ("{{ now | in_tz('Mars/Olympus') }}", "unknown time zone"),
        ("{{ 'x' | api }}", "needs a date-time"),
        ("{{ now | api", "syntax error"),
    ],
)
def test_template_errors_are_readable(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        r(template, "2026-11-25T10:00:00Z")


def test_bad_as_of_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ISO-8601"):
        Clock.parse("yesterday", "UTC")
    with pytest.raises(UsageError, match="IANA"):
        Clock.parse(None, "Europe/Lundon")


def test_one_clock_per_run() -> None:
    clock = Clock.parse(None, "UTC")
    first = render_string("{{ now | api }}", clock)
    assert render_string("{{ now | api }}", clock) == first

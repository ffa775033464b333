"""Relative dates at fixed instants: month ends, DST changes, leap days."""

from __future__ import annotations

import datetime as dt
import doctest
import re

import pytest

from runner.errors import TemplateError, UsageError
from runner.spec import template_guard, templating
from runner.spec.templating import Clock, TemplateContext, render_string
from tests.conftest import ROOT, wait_for


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
        ("{{ cycler.__init__.__globals__.os }}", "'cycler' is not allowed"),
        ("{{ 'a' * 100000000 }}", "'\\*' would make a string of 100000000 characters"),
        ("{{ 99 ** 99 ** 99 }}", "too large"),
        ("{% for i in range(10**9) %}x{% endfor %}", "'{% for %}' statements are not allowed"),
        ("{% if true %}x{% endif %}", "'{% if %}' statements are not allowed"),
        ("{% set x = 1 %}", "'{% set %}' statements are not allowed"),
        ("{{ now.replace(year=1) }}", "calling 'replace' is not allowed"),
        ("{{ 'x' | center(9) }}", "filter 'center' is not allowed in a template; available: api"),
        ("{{ 'x' is divisibleby(3) }}", "test 'divisibleby' is not allowed"),
        ("{{ [1] * 3 }}", "'\\*' on a list is not allowed"),
        ("{{ 'a' ~ 1e400 }}", "number inf is out of range"),
        ("{{ now | plus(days=1e300) }}", "days=1e\\+300 is out of range"),
        ("{{ now | plus(days='nan') }}", "days='nan': expected a number"),
        ("{{ now | plus(days=true) }}", "days=True: expected a number"),
        ("{{ now | fmt('%Y' * 200) }}", "pattern of at most 256 characters"),
        ("{{ 'x' | join }}", "filter 'join' needs a list"),
        (
            "{{ now | plus(years=7973) | end_of('year') }}",
            "template failed: year 10000 is out of range",
        ),
        ("{{ '\udc80' }}", "lone surrogate '\\\\udc80'"),
        ("{{ nope }}", "undefined"),
        ("{{ now | start_of('fortnight') }}", "unit must be one of"),
        ("{{ now | plus(decades=1) }}", "unknown unit"),
        ("{{ now | in_tz('Mars/Olympus') }}", "unknown time zone"),
        ("{{ 'x' | api }}", "needs a date-time"),
        ("{{ now | api", "syntax error"),
        ("{{ now | api }" + "x" * 5000, "longer than 4096 characters"),
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
    """``now`` is the instant the run's clock was read, however long the run takes."""
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = Clock.parse(None, "UTC")
    first = render_string("{{ now | api }}", clock)
    assert first == templating.to_api(clock.now) and clock.now >= before
    wait_for(lambda: dt.datetime.now(dt.UTC).replace(microsecond=0) > clock.now, timeout=5)
    assert render_string("{{ now | api }}", clock) == first  # the wall clock has moved on


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ segment.name | upper }}-{{ segment.labels | join('+') }}", "VIP-a+b"),
        ("{{ segment.name | replace('i', 'I') | length }}", "3"),
        ("{{ var('x', ' a ') | trim }}{{ var('y') | default('?') }}", "a7"),
        ("{{ 'x' if segment.labels | length > 1 else 'y' }}", "x"),
        ("{{ 'yes' if var('y') is defined and 'a' in segment.labels }}", "yes"),
        ("{% raw %}{{ kept }}{% endraw %}{# a comment #}", "{{ kept }}"),
        ("{{ (2 ** 10) * 3 - 1 }}/{{ 7 // 2 }}/{{ 7 % 4 }}/{{ 'a' * 3 }}", "3071/3/3/aaa"),
    ],
)
def test_expressions_and_text_filters_still_work(template: str, expected: str) -> None:
    ctx = TemplateContext(
        Clock.parse("2026-11-25", "UTC"), {"y": "7"}, {"name": "vip", "labels": ["a", "b"]}
    )
    assert render_string(template, ctx) == expected


def test_readme_relative_date_examples_render() -> None:
    # Every template the README documents must keep rendering under the guard.
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("### Relative dates", 1)[1].split("\n### ", 1)[0]
    templates = [
        t.replace("\\|", "|") for t in re.findall(r"`[a-zA-Z]*:? ?\"?(\{\{.*?\}\})", section)
    ]
    assert len(templates) >= 7
    for template in templates:
        out = r(template, "2026-11-25T10:00:00Z", "Europe/London", campaign="bf")
        assert out == "bf" or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out), out


def test_var_with_a_lone_surrogate_is_a_problem() -> None:
    with pytest.raises(TemplateError, match="--var campaign has a lone surrogate"):
        r("{{ var('campaign') }}", "2026-01-01", campaign="\udc80")


def test_oversized_segment_is_reported_when_used() -> None:
    ctx = TemplateContext(
        Clock.parse("2026-01-01", "UTC"), {}, {"name": "x", "labels": ["l"] * 2000}
    )
    assert render_string("{{ run_date }}", ctx) == "2026-01-01"
    with pytest.raises(TemplateError, match="'segment' is not available: its name and labels"):
        render_string("{{ segment.name }}", ctx)


def test_as_of_out_of_range_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="out of range in time zone 'UTC'"):
        Clock.parse("0001-01-01T00:00:00+01:00", "UTC")


def test_elapsed_hours_from_the_second_of_two_equal_wall_times() -> None:
    # New York 2026-11-01 01:30 happens twice; an hour after the second (-05, 06:30Z) is 07:30Z.
    assert r(
        "{{ now | plus(hours=1) | api }}", "2026-11-01T01:30:00-05:00", "America/New_York"
    ) == ("2026-11-01T07:30:00.000Z")


@pytest.mark.parametrize("module", [templating, template_guard])
def test_docstring_examples_hold(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted >= 1 and failed == 0

"""start_of / end_of on the days DST skips or repeats time, in several zones.

Each expected instant is worked out by hand from the zone's rules (tzdata), as
the comment above it says: a local day starts at its first instant that exists
(local midnight, the first of two midnights in a fold, or the end of the gap
when midnight is skipped) and ends one millisecond before the next local day
starts. Instants are given in UTC (``api``) so an offset mistake cannot hide.
"""

from __future__ import annotations

import pytest

from runner.spec.templating import Clock, render_string


def at(as_of: str, tz: str, expression: str) -> str:
    return render_string(f"{{{{ now | {expression} | api }}}}", Clock.parse(as_of, tz))


GOLDEN = [
    # America/Santiago, 2026-09-06: clocks jump from 00:00 -04 to 01:00 -03
    # (Rule Chile Sep Sun>=2 4:00u), so the day starts at 01:00 -03 = 04:00Z ...
    (
        "America/Santiago",
        "2026-09-06T12:00:00-03:00",
        "start_of('day')",
        "2026-09-06T04:00:00.000Z",
    ),
    # ... and ends before 2026-09-07 00:00 -03 = 03:00Z (a 23-hour day), not at 03:59:59.999Z.
    ("America/Santiago", "2026-09-06T12:00:00-03:00", "end_of('day')", "2026-09-07T02:59:59.999Z"),
    # the day before ends where the gap begins: 00:00 -04 = 04:00Z.
    ("America/Santiago", "2026-09-05T12:00:00-04:00", "end_of('day')", "2026-09-06T03:59:59.999Z"),
    # 2026-04-05 00:00 -03 goes back to 04-04 23:00 -04 (Apr Sun>=2 3:00u): April 4 has
    # 25 hours, from 00:00 -03 = 03:00Z to 04-05 00:00 -04 = 04:00Z.
    (
        "America/Santiago",
        "2026-04-04T23:30:00-04:00",
        "start_of('day')",
        "2026-04-04T03:00:00.000Z",
    ),
    ("America/Santiago", "2026-04-04T23:30:00-03:00", "end_of('day')", "2026-04-05T03:59:59.999Z"),
    # 2026-09-06 is a Sunday: its ISO week started Monday 08-31 00:00 -04 = 04:00Z and ends
    # before Monday 09-07 00:00 -03 = 03:00Z.
    (
        "America/Santiago",
        "2026-09-06T12:00:00-03:00",
        "start_of('week')",
        "2026-08-31T04:00:00.000Z",
    ),
    ("America/Santiago", "2026-09-06T12:00:00-03:00", "end_of('week')", "2026-09-07T02:59:59.999Z"),
    # America/Sao_Paulo (DST until 2019): 2018-11-04 00:00 -03 jumped to 01:00 -02.
    (
        "America/Sao_Paulo",
        "2018-11-04T12:00:00-02:00",
        "start_of('day')",
        "2018-11-04T03:00:00.000Z",
    ),
    # ... next day 11-05 00:00 -02 = 02:00Z
    ("America/Sao_Paulo", "2018-11-04T12:00:00-02:00", "end_of('day')", "2018-11-05T01:59:59.999Z"),
    ("America/Sao_Paulo", "2018-11-03T12:00:00-03:00", "end_of('day')", "2018-11-04T02:59:59.999Z"),
    # week of Sunday 11-04: Monday 10-29 00:00 -03 = 03:00Z to Monday 11-05 00:00 -02 = 02:00Z
    (
        "America/Sao_Paulo",
        "2018-11-04T12:00:00-02:00",
        "start_of('week')",
        "2018-10-29T03:00:00.000Z",
    ),
    (
        "America/Sao_Paulo",
        "2018-11-04T12:00:00-02:00",
        "end_of('week')",
        "2018-11-05T01:59:59.999Z",
    ),
    # November 2018: 11-01 00:00 -03 = 03:00Z to 12-01 00:00 -02 = 02:00Z
    (
        "America/Sao_Paulo",
        "2018-11-04T12:00:00-02:00",
        "start_of('month')",
        "2018-11-01T03:00:00.000Z",
    ),
    (
        "America/Sao_Paulo",
        "2018-11-04T12:00:00-02:00",
        "end_of('month')",
        "2018-12-01T01:59:59.999Z",
    ),
    # 2019-02-17 00:00 -02 went back to 02-16 23:00 -03: Feb 16 is 25 hours long.
    (
        "America/Sao_Paulo",
        "2019-02-16T23:30:00-03:00",
        "start_of('day')",
        "2019-02-16T02:00:00.000Z",
    ),
    ("America/Sao_Paulo", "2019-02-16T23:30:00-02:00", "end_of('day')", "2019-02-17T02:59:59.999Z"),
    # Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; midnight exists both days.
    ("Europe/Berlin", "2026-03-29T12:00:00+02:00", "start_of('day')", "2026-03-28T23:00:00.000Z"),
    ("Europe/Berlin", "2026-03-29T12:00:00+02:00", "end_of('day')", "2026-03-29T21:59:59.999Z"),
    # March: 03-01 00:00 +01 to 04-01 00:00 +02
    ("Europe/Berlin", "2026-03-29T12:00:00+02:00", "start_of('month')", "2026-02-28T23:00:00.000Z"),
    ("Europe/Berlin", "2026-03-29T12:00:00+02:00", "end_of('month')", "2026-03-31T21:59:59.999Z"),
    # 2026-10-25 03:00 CEST -> 02:00 CET, 25 hours: 00:00 +02 to 10-26 00:00 +01.
    # 02:30 second time (+01) is still that day.
    ("Europe/Berlin", "2026-10-25T02:30:00+01:00", "start_of('day')", "2026-10-24T22:00:00.000Z"),
    ("Europe/Berlin", "2026-10-25T02:30:00+02:00", "end_of('day')", "2026-10-25T22:59:59.999Z"),
    # week of Sunday 10-25: Monday 10-19 00:00 +02 to Monday 10-26 00:00 +01
    ("Europe/Berlin", "2026-10-25T12:00:00+01:00", "start_of('week')", "2026-10-18T22:00:00.000Z"),
    ("Europe/Berlin", "2026-10-25T12:00:00+01:00", "end_of('week')", "2026-10-25T22:59:59.999Z"),
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (23 hours).
    (
        "America/New_York",
        "2026-03-08T12:00:00-04:00",
        "start_of('day')",
        "2026-03-08T05:00:00.000Z",
    ),
    ("America/New_York", "2026-03-08T12:00:00-04:00", "end_of('day')", "2026-03-09T03:59:59.999Z"),
    # March: 03-01 00:00 -05 to 04-01 00:00 -04
    (
        "America/New_York",
        "2026-03-08T12:00:00-04:00",
        "end_of('month')",
        "2026-04-01T03:59:59.999Z",
    ),
    # 2026-11-01 02:00 EDT -> 01:00 EST (25 hours); 01:30 the second time is -05.
    (
        "America/New_York",
        "2026-11-01T01:30:00-05:00",
        "start_of('day')",
        "2026-11-01T04:00:00.000Z",
    ),
    ("America/New_York", "2026-11-01T01:30:00-04:00", "end_of('day')", "2026-11-02T04:59:59.999Z"),
    # November: 11-01 00:00 -04 to 12-01 00:00 -05
    (
        "America/New_York",
        "2026-11-15T12:00:00-05:00",
        "start_of('month')",
        "2026-11-01T04:00:00.000Z",
    ),
    (
        "America/New_York",
        "2026-11-15T12:00:00-05:00",
        "end_of('month')",
        "2026-12-01T04:59:59.999Z",
    ),
    # Australia/Lord_Howe moves 30 minutes: 2026-10-04 02:00 +10:30 -> 02:30 +11 (23.5 h):
    # 00:00 +10:30 = 10-03 13:30Z to 10-05 00:00 +11 = 10-04 13:00Z.
    (
        "Australia/Lord_Howe",
        "2026-10-04T12:00:00+11:00",
        "start_of('day')",
        "2026-10-03T13:30:00.000Z",
    ),
    (
        "Australia/Lord_Howe",
        "2026-10-04T12:00:00+11:00",
        "end_of('day')",
        "2026-10-04T12:59:59.999Z",
    ),
    # 2026-04-05 02:00 +11 -> 01:30 +10:30 (24.5 h): 00:00 +11 = 04-04 13:00Z to
    # 04-06 00:00 +10:30 = 04-05 13:30Z.
    (
        "Australia/Lord_Howe",
        "2026-04-05T01:45:00+10:30",
        "start_of('day')",
        "2026-04-04T13:00:00.000Z",
    ),
    (
        "Australia/Lord_Howe",
        "2026-04-05T01:45:00+11:00",
        "end_of('day')",
        "2026-04-05T13:29:59.999Z",
    ),
    # Asia/Beirut skips midnight: 2026-03-29 (last Sunday) 00:00 +02 -> 01:00 +03; the day
    # starts at 01:00 +03 = 03-28 22:00Z and ends before 03-30 00:00 +03 = 03-29 21:00Z.
    ("Asia/Beirut", "2026-03-29T12:00:00+03:00", "start_of('day')", "2026-03-28T22:00:00.000Z"),
    ("Asia/Beirut", "2026-03-29T12:00:00+03:00", "end_of('day')", "2026-03-29T20:59:59.999Z"),
    ("Asia/Beirut", "2026-03-28T12:00:00+02:00", "end_of('day')", "2026-03-28T21:59:59.999Z"),
    # 2026-10-25 00:00 +03 -> 10-24 23:00 +02: Oct 24 runs 00:00 +03 to 10-25 00:00 +02.
    ("Asia/Beirut", "2026-10-24T23:30:00+02:00", "start_of('day')", "2026-10-23T21:00:00.000Z"),
    ("Asia/Beirut", "2026-10-24T23:30:00+03:00", "end_of('day')", "2026-10-24T21:59:59.999Z"),
    # America/Havana repeats midnight on Sunday 2026-11-01 (01:00 CDT -> 00:00 CST): the day
    # and the month start at the first midnight, 00:00 -04 = 04:00Z, even from 00:30 -05 ...
    ("America/Havana", "2026-11-01T00:30:00-05:00", "start_of('day')", "2026-11-01T04:00:00.000Z"),
    (
        "America/Havana",
        "2026-11-01T00:30:00-05:00",
        "start_of('month')",
        "2026-11-01T04:00:00.000Z",
    ),
    # ... October ends just before it, and Nov 1 (25 h) ends before 11-02 00:00 -05.
    ("America/Havana", "2026-10-31T12:00:00-04:00", "end_of('month')", "2026-11-01T03:59:59.999Z"),
    ("America/Havana", "2026-11-01T00:30:00-04:00", "end_of('day')", "2026-11-02T04:59:59.999Z"),
    # and skips it on Sunday 2026-03-08 (00:00 CST -> 01:00 CDT): 01:00 -04 = 05:00Z.
    ("America/Havana", "2026-03-08T12:00:00-04:00", "start_of('day')", "2026-03-08T05:00:00.000Z"),
    ("America/Havana", "2026-03-08T12:00:00-04:00", "end_of('day')", "2026-03-09T03:59:59.999Z"),
    # America/Asuncion skipped midnight of the first of a month: 2017-10-01 00:00 -04 ->
    # 01:00 -03, so October starts at 04:00Z and September ends just before it.
    (
        "America/Asuncion",
        "2017-10-15T12:00:00-03:00",
        "start_of('month')",
        "2017-10-01T04:00:00.000Z",
    ),
    (
        "America/Asuncion",
        "2017-09-15T12:00:00-04:00",
        "end_of('month')",
        "2017-10-01T03:59:59.999Z",
    ),
    # September 2017 began in standard time: 09-01 00:00 -04 = 04:00Z
    (
        "America/Asuncion",
        "2017-09-15T12:00:00-04:00",
        "start_of('month')",
        "2017-09-01T04:00:00.000Z",
    ),
    # Asia/Tehran skipped midnight of a Monday: 2021-03-22 00:00 +03:30 -> 01:00 +04:30, so
    # that ISO week starts at 01:00 +04:30 = 03-21 20:30Z and the week before ends there.
    ("Asia/Tehran", "2021-03-24T12:00:00+04:30", "start_of('week')", "2021-03-21T20:30:00.000Z"),
    ("Asia/Tehran", "2021-03-17T12:00:00+03:30", "end_of('week')", "2021-03-21T20:29:59.999Z"),
    # Pacific/Apia skipped all of 2011-12-30 (-10 -> +14): Dec 29 ends when Dec 31 begins,
    # at 12-31 00:00 +14 = 12-30 10:00Z.
    ("Pacific/Apia", "2011-12-29T12:00:00-10:00", "end_of('day')", "2011-12-30T09:59:59.999Z"),
    ("Pacific/Apia", "2011-12-31T12:00:00+14:00", "start_of('day')", "2011-12-30T10:00:00.000Z"),
    # December 2011 there: 12-01 00:00 -10 = 10:00Z to 2012-01-01 00:00 +14 = 12-31 10:00Z
    ("Pacific/Apia", "2011-12-29T12:00:00-10:00", "end_of('month')", "2011-12-31T09:59:59.999Z"),
    ("Pacific/Apia", "2011-12-31T12:00:00+14:00", "start_of('month')", "2011-12-01T10:00:00.000Z"),
]


@pytest.mark.parametrize(("tz", "as_of", "expression", "expected"), GOLDEN)
def test_day_week_month_bounds_across_dst(
    tz: str, as_of: str, expression: str, expected: str
) -> None:
    assert at(as_of, tz, expression) == expected


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        ("America/Santiago", "2026-09-06"),
        ("America/Santiago", "2026-04-04"),
        ("Australia/Lord_Howe", "2026-10-04"),
        ("Asia/Beirut", "2026-03-29"),
        ("America/Havana", "2026-11-01"),
    ],
)
def test_days_tile_without_gaps_or_overlaps(tz: str, day: str) -> None:
    # end_of('day') + 1 ms is the next day's start_of('day'), as local days tile time.
    end = at(f"{day}T12:00:00", tz, "end_of('day') | plus(seconds=0.001)")
    assert end == at(f"{day}T12:00:00", tz, "plus(days=1) | start_of('day')")


def test_end_of_day_is_in_the_same_local_day() -> None:
    # The Santiago gap day read back in its own zone: 23:59:59.999 -03, not 00:59 the next day.
    clock = Clock.parse("2026-09-06T12:00:00-03:00", "America/Santiago")
    assert render_string("{{ now | end_of('day') | fmt('%Y-%m-%d %H:%M:%S %z') }}", clock) == (
        "2026-09-06 23:59:59 -0300"
    )

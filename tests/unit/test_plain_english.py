"""The filter in plain English (runner.catalog.plain), over bodies rendered from real
segment files by the loader (so dates are what a run would send), and over bodies a
newer API or runner could produce (unknown fields are named, never dropped)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.catalog.plain import describe, filter_text
from tests.conftest import full_body, make_project, rendered_body

RUN = "2026-11-25T09:00:00Z"
AT = dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC)
BOT = "64f1a2b3c4d5e6f7a8b9c0d1"
BOT2 = "64f1a2b3c4d5e6f7a8b9c0d2"


def told(tmp_path: Path, filter_yaml: str, as_of: str = RUN) -> list[str]:
    """The clauses for a segment whose ``filter:`` is ``filter_yaml``, rendered at ``as_of``."""
    text = f"version: 1\nname: s\nfilter:\n{filter_yaml}output: {{path: out/s.csv}}\n"
    project = make_project(tmp_path, {"s": text})
    body = rendered_body(project, "s", as_of)
    return describe(body, dt.datetime.fromisoformat(as_of.replace("Z", "+00:00")))


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("now | minus(days=7)", "now", "last seen in the 7 days before the run"),
        ("now | minus(hours=36)", "now", "last seen in the 1 day 12 hours before the run"),
        ("now | minus(days=1)", "now", "last seen in the day before the run"),
        (
            "now | minus(minutes=90)",
            "now",
            "last seen from 2026-11-25 07:30 UTC (1 hour 30 minutes before the run) to the run",
        ),
        (
            "now | minus(days=30)",
            "now | minus(days=1)",
            "last seen from 30 days before the run to 1 day before the run",
        ),
        ("now | start_of('day')", "now", "last seen in the 9 hours before the run"),
        (
            "now | start_of('month')",
            "now | plus(days=2)",
            "last seen from 2026-11-01 00:00 UTC (24 days 9 hours before the run) "
            "to 2 days after the run",
        ),
    ],
)
def test_an_applied_range_is_told_relative_to_the_run(
    tmp_path: Path, start: str, end: str, said: str
) -> None:
    filter_yaml = (
        "  applicableFilters: [lastSeenAt]\n"
        f'  lastSeenAt: {{startAt: "{{{{ {start} | api }}}}", endsAt: "{{{{ {end} | api }}}}"}}\n'
    )
    assert told(tmp_path, filter_yaml)[1:] == [said]


def test_a_range_whose_offset_is_not_whole_hours_gives_the_date_too(tmp_path: Path) -> None:
    filter_yaml = (
        "  applicableFilters: [createdAt]\n"
        '  createdAt: {startAt: "{{ now | start_of(\'day\') | api }}", endsAt: ""}\n'
    )
    clauses = told(tmp_path, filter_yaml, "2026-11-25T09:30:00Z")
    assert clauses[1:] == ["created since 2026-11-25 00:00 UTC (9 hours 30 minutes before the run)"]


@pytest.mark.parametrize(
    ("rng", "said"),
    [
        (
            {"startAt": "2026-11-01T00:00:00.000Z", "endsAt": ""},
            "created since 2026-11-01 00:00 UTC (24 days 9 hours before the run)",
        ),
        (
            {"startAt": "2026-11-18T09:00:00.000Z", "endsAt": ""},
            "created since 7 days before the run",
        ),
        (
            {"startAt": "", "endsAt": "2026-11-25T10:00:00.000Z"},
            "created until 2026-11-25 10:00 UTC (1 hour after the run)",
        ),
        ({"startAt": "", "endsAt": ""}, "created at any time (the range is empty)"),
    ],
)
def test_open_and_empty_ranges(rng: dict[str, str], said: str) -> None:
    body = full_body(applicableFilters=["createdAt"], createdAt=rng)
    assert describe(body, AT)[1:] == [said]


def test_who_each_list_and_each_channel(tmp_path: Path) -> None:
    filter_yaml = (
        "  isContact: false\n"
        "  searchText: 'ana'\n"
        "  tags: [vip, gold]\n"
        "  status: [OPEN, ONHOLD, DEPENDANCY]\n"
        f"  _botWhatsapp: ['{BOT}']\n"
        f"  _botWebsite: ['{BOT}', '{BOT2}']\n"
        f"  _agentAssigned: ['{BOT2}']\n"
        "  lastMessageBy: [user, bot]\n"
        "  applicableFilters: []\n"
    )
    assert told(tmp_path, filter_yaml) == [
        "Chat users (not only contacts)",
        'matching "ana" in name, email or phone',
        "tagged vip or gold",
        "whose chat is open, on hold or waiting on a dependency",
        f"assigned to agent {BOT2}",
        "whose last message came from the contact or a bot",
        f"on Website bot {BOT} or {BOT2} or WhatsApp bot {BOT}",
    ]


@pytest.mark.parametrize(
    ("toggles", "said"),
    [
        ("isOnline: true", "online now"),
        ("isOnline: false", "offline now"),
        ("userInteracted: false", "who have never interacted"),
        ("isLiveChatActive: true", "in an active live chat"),
        ("isSubscriber: true", "subscribed"),
        ("ctwaNewUsers: true", "new from click-to-WhatsApp ads"),
        ("hasOrdered: {status: true}", "who have ordered"),
    ],
)
def test_a_toggle_is_told_only_when_applied(tmp_path: Path, toggles: str, said: str) -> None:
    name = toggles.split(":")[0]
    filter_yaml = f"  applicableFilters: [{name}]\n  {toggles}\n"
    assert told(tmp_path, filter_yaml)[1:] == [said]


def test_the_default_body_is_contacts_who_have_interacted() -> None:
    assert filter_text(full_body(), AT) == "Contacts who have interacted."


def test_what_the_api_ignores_is_said_to_be_ignored() -> None:
    body = full_body(
        applicableFilters=[],
        lastSeenAt={"startAt": "2026-11-18T00:00:00.000Z", "endsAt": ""},
        isOnline=True,
    )
    assert describe(body, AT) == [
        "Contacts",
        "the lastSeenAt range is ignored (applicableFilters does not name it)",
    ]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"loyaltyTier": ["gold"]}, 'unknown field loyaltyTier = ["gold"] (sent as written)'),
        ({"isBlocked": False}, "unknown field isBlocked = false (sent as written)"),
        (
            {"applicableFilters": ["isVerified"]},
            'applicableFilters names "isVerified", which this catalog does not know',
        ),
    ],
)
def test_unknown_fields_are_named_not_dropped(extra: dict[str, object], said: str) -> None:
    clauses = describe(full_body(**extra), AT)
    assert said in clauses
    assert filter_text(full_body(**extra), AT).endswith(said + ".")


def test_without_a_run_time_dates_are_absolute() -> None:
    body = full_body(
        applicableFilters=["createdAt"],
        createdAt={"startAt": "2026-11-18T00:00:00.000Z", "endsAt": "2026-11-25T00:00:00.000Z"},
    )
    assert describe(body)[1:] == ["created from 2026-11-18 00:00 UTC to 2026-11-25 00:00 UTC"]

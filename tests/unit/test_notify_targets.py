"""``notify:`` targets are typed and checked at load: apprise is the oracle for which
schemes exist and which it can use on this machine."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from apprise.manager_plugins import NotificationManager

from runner.spec.notify import CLEAR_TEXT, NotifyTarget, url_problem
from runner.spec.project import load_project
from runner.spec.segment import load_segment
from runner.spec.templating import Clock

with warnings.catch_warnings():  # apprise's plugin loading imports deprecated modules
    warnings.simplefilter("ignore", DeprecationWarning)
    MANAGER = NotificationManager()
    KNOWN = set(MANAGER.schemas(include_disabled=True))
    USABLE = set(MANAGER.schemas(include_disabled=False))


def test_every_scheme_apprise_can_use_here_passes() -> None:
    passing = sorted(USABLE - set(CLEAR_TEXT) - {"file"})
    assert len(passing) > 100
    problems = {
        s: url_problem(f"{s}://user:pw@hooks.example.com/a/b/c", "FLOWMATIX_TOKEN") for s in passing
    }
    assert {s: p for s, p in problems.items() if p} == {}


def test_every_scheme_apprise_has_disabled_here_is_a_problem() -> None:
    disabled = sorted(KNOWN - USABLE)
    assert disabled, "this machine's apprise disables desktop notifiers (dbus, windows, macosx)"
    for scheme in disabled:
        why = url_problem(f"{scheme}://hooks.example.com/x", "FLOWMATIX_TOKEN")
        assert why is not None and f"apprise cannot send {scheme}://" in why


@pytest.mark.parametrize(
    ("scheme", "nearest"),
    [("slakc", "slack"), ("discrod", "discord"), ("mailtoo", "mailto"), ("qqqzzz", None)],
)
def test_a_scheme_apprise_does_not_know_is_a_problem_with_the_nearest(
    scheme: str, nearest: str | None
) -> None:
    assert scheme not in KNOWN and (nearest is None or nearest in USABLE)
    why = url_problem(f"{scheme}://a/b/c", "FLOWMATIX_TOKEN")
    assert why is not None and f"scheme {scheme}:// is not one apprise knows" in why
    assert ("did you mean" in why) == (nearest is not None)
    if nearest:
        assert f"(did you mean '{nearest}'?)" in why


@pytest.mark.parametrize("scheme", ["http", "https", "htpps", "htps", "HTTPS"])
def test_a_web_url_points_to_apprises_webhook_schemes(scheme: str) -> None:
    assert scheme.lower() not in KNOWN
    why = url_problem(f"{scheme}://hooks.example.com/x", "FLOWMATIX_TOKEN")
    assert why == (
        f"{scheme.lower()}:// is not an apprise scheme: a generic webhook is "
        "jsons://host/path (or forms://, xmls://)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "jsons://${TOKEN_HERE}@hooks.example.com/x",
        "jsons://user:${TOKEN_HERE}@hooks.example.com/x",
        "jsons://hooks.example.com/${TOKEN_HERE}",
        "jsons://hooks.example.com/x?key=${TOKEN_HERE}&b=1",
        "jsons://hooks.example.com/x#${TOKEN_HERE}",
        "slack://${TOKEN_HERE}/B/C",
        "${TOKEN_HERE}",
        "jsons://hooks.example.com/pre${TOKEN_HERE}post",
    ],
)
def test_the_token_variable_in_any_position_is_a_problem(url: str) -> None:
    why = url_problem(url.replace("TOKEN_HERE", "MY_KEY"), "MY_KEY")
    assert why is not None and "puts the API token (${MY_KEY})" in why
    assert (
        url_problem(url.replace("TOKEN_HERE", "SLACK_SECRET"), "MY_KEY") is None
        or "json" not in url
    )


def test_targets_are_typed_at_load(tmp_path: Path) -> None:
    (tmp_path / "segments").mkdir()
    (tmp_path / "runner.yaml").write_text(
        "version: 1\nnotify_timeout: 2.5\ncatalog_url: https://c.example/{segment}.html\n"
        "notify:\n  - url: ' jsons://h.example/p '\n  - {url: 'jsons://h.example/q', on: [success]}\n"
    )
    project, problems = load_project(tmp_path, env={})
    assert problems == []
    assert project.notify == (
        NotifyTarget("jsons://h.example/p", frozenset({"failure", "guard"})),
        NotifyTarget("jsons://h.example/q", frozenset({"success"})),
    )
    assert (project.notify_timeout, project.catalog_url) == (
        2.5,
        "https://c.example/{segment}.html",
    )
    clock = Clock.parse("2026-11-25T00:00:00Z", "UTC")
    for name, extra, expected in [
        ("inherits", "", project.notify),
        (
            "own",
            "notify: [{url: 'jsons://o.example/x', on: [guard]}]\n",
            (NotifyTarget("jsons://o.example/x", frozenset({"guard"})),),
        ),
        ("none", "notify: []\n", ()),
    ]:
        file = tmp_path / "segments" / f"{name}.yaml"
        file.write_text(f"version: 1\nname: {name}\nfilter: {{}}\n{extra}")
        loaded = load_segment(file, project, clock, {})
        assert loaded.problems == [] and loaded.segment is not None
        assert loaded.segment.notify == expected


BLOCKED = """\
import json, sys
from pathlib import Path
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "apprise":
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Absent())
from runner.spec.project import load_project
project, problems = load_project(Path(sys.argv[1]), env={})
print(json.dumps([p.message for p in problems]))
assert "apprise" not in sys.modules
"""


def test_without_apprise_the_other_checks_still_run(tmp_path: Path) -> None:
    """Airflow's scheduler parses the DAG (and runner.yaml) where apprise is not installed:
    loading does not fail; what needs no apprise is still checked."""
    import json
    import subprocess
    import sys

    (tmp_path / "runner.yaml").write_text(
        "version: 1\nnotify:\n  - url: 'slakc://a/b/c'\n"
        "  - url: 'jsons://h.example/${FLOWMATIX_TOKEN}'\n  - url: 'json://h.example/x'\n"
        "  - url: 'https://h.example/x'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)
    assert [m.split("'")[1] for m in messages] == [
        "notify[1].url",
        "notify[2].url",
        "notify[3].url",
    ]
    assert "API token" in messages[0] and "unencrypted" in messages[1]
    assert "jsons://host/path" in messages[2]

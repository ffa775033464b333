"""What is wrong with a composition is a validate problem at file:line:col (unknown
names with did-you-mean, cycles, a share out of range), and nothing is requested for
it; render and diff show the composition."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project, run_cli

Start = Callable[..., Sandbox]


def seg(name: str, extra: str = "") -> str:
    return (
        f"version: 1\nname: {name}\nfilter: {{isContact: false, applicableFilters: []}}\n"
        f"output: {{path: out/{name}.csv}}\n{extra}"
    )


def problems(project: Path) -> list[str]:
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1, result.stdout
    return result.stdout.splitlines()[:-1]  # the verdict is the last line


def test_unknown_names_are_problems_with_the_nearest_name(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "ordered": seg("ordered"),
            "open-chats": seg("open-chats"),
            "vip": seg(
                "vip",
                "exclude: [orderd, ordered]\nonly:\n  - {segment: open-chat, from: run}\n"
                "  - segment: nobody-like-this\n",
            ),
        },
    )
    assert problems(project) == [
        "segments/vip.yaml:5:11: exclude: no segment is named 'orderd' (did you mean 'ordered'?)",
        "segments/vip.yaml:7:5: only: no segment is named 'open-chat' (did you mean 'open-chats'?)",
        "segments/vip.yaml:8:5: only: no segment is named 'nobody-like-this' "
        "(segments: open-chats, ordered)",
    ]


def test_cycles_of_any_length_are_problems_where_they_close(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "self": seg("self", "exclude: [self]\n"),
            "a": seg("a", "exclude: [b]\n"),
            "b": seg("b", "only: [a]\n"),
            "x": seg("x", "only: [y]\n"),
            "y": seg("y", "exclude: [ok, z]\n"),
            "z": seg("z", "exclude:\n  - segment: x\n"),
            "ok": seg("ok"),
            # a published snapshot is fixed: reading one's own last ids is no cycle
            "fixed": seg("fixed", "exclude: [{segment: fixed, from: last-published}]\n"),
        },
    )
    why = "a segment cannot be computed from itself (from: last-published reads its last published ids instead)"
    assert problems(project) == [
        f"segments/a.yaml:5:11: exclude: 'b' makes a cycle (a -> b -> a): {why}",
        f"segments/b.yaml:5:8: only: 'a' makes a cycle (b -> a -> b): {why}",
        f"segments/self.yaml:5:11: exclude: 'self' makes a cycle (self -> self): {why}",
        f"segments/x.yaml:5:8: only: 'y' makes a cycle (x -> y -> z -> x): {why}",
        f"segments/y.yaml:5:15: exclude: 'z' makes a cycle (y -> z -> x -> y): {why}",
        f"segments/z.yaml:6:5: exclude: 'x' makes a cycle (z -> x -> y -> z): {why}",
    ]


def test_holdout_shares_and_files_are_checked(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "none": seg("none", "holdout: {share: 0%, salt: a}\n"),
            "all": seg("all", "holdout: {share: 100 %, salt: a}\n"),
            "words": seg("words", "holdout: {share: ten percent, salt: a}\n"),
            "nosalt": seg("nosalt", "holdout: {share: 5%}\n"),
            "beside": seg("beside", "holdout: {share: 5%, salt: a}\n"),
            "clash": seg("clash").replace("out/clash.csv", "out/beside.holdout.csv"),
        },
    )
    found = problems(project)
    assert found[0].startswith("segments/all.yaml:5:18: holdout.share '100 %' must be above 0%")
    assert found[1].startswith("segments/clash.yaml:4:1: output path 'out/beside.holdout.csv' ")
    assert "collides with segment 'beside'" in found[1]
    assert found[2].startswith("segments/none.yaml:5:18: holdout.share '0%' must be above 0%")
    assert found[3] == "segments/nosalt.yaml:5:10: missing required key 'salt' in holdout"
    assert found[4] == (
        "segments/words.yaml:5:18: 'holdout.share' has invalid value \"ten percent\": "
        "expected a percentage such as '10%' (above 0, below 100)"
    )
    assert len(found) == 5


def test_an_export_of_a_cycle_sends_no_request(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=200)
    project = make_project(
        tmp_path, {"a": seg("a", "exclude: [b]\n"), "b": seg("b", "only: [a]\n")}, FAST_RETRY
    )
    result = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 1
    assert "segments/a.yaml:5:11: exclude: 'b' makes a cycle" in result.stderr
    assert api.stats["pages"] == 0
    assert not (project / "out").exists()


def test_render_shows_the_composition(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        {
            "ordered": seg("ordered"),
            "open": seg("open"),
            "vip": seg(
                "vip",
                "exclude: [ordered]\nonly: [{segment: open, from: last-published}]\n"
                'holdout: {share: 12.5%, salt: "q4-2026"}\n',
            ),
        },
    )
    text = run_cli("render", "vip", "--as-of", ANCHOR, cwd=project)
    assert text.returncode == 0, text.stderr
    assert text.stdout.endswith(
        "}\n# exclude: ordered\n# only: open (last-published)\n"
        "# holdout: 12.5% (salt 'q4-2026')\n"
    )
    (item,) = json.loads(run_cli("render", "vip", "--format", "json", cwd=project).stdout)
    assert item["exclude"] == ["ordered"] and item["only"] == ["open (last-published)"]
    assert item["holdout"] == {"share": "12.5%", "salt": "q4-2026"}
    (plain,) = json.loads(run_cli("render", "open", "--format", "json", cwd=project).stdout)
    assert not {"exclude", "only", "holdout"} & set(plain)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_diff_shows_a_changed_composition(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, {"ordered": seg("ordered"), "open": seg("open"), "vip": seg("vip")}
    )
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "initial")
    vip = project / "segments" / "vip.yaml"
    vip.write_text(seg("vip", "exclude: [ordered]\nholdout: {share: 10%, salt: a}\n"))
    result = run_cli("diff", "main", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "+# exclude: ordered\n+# holdout: 10% (salt 'a')\n" in result.stdout
    assert "ordered" not in result.stdout.split("exclude")[0]  # ordered itself: unchanged
    vip.write_text(seg("vip", "exclude: [open]\nholdout: {share: 10%, salt: b}\n"))
    git(project, "commit", "-qam", "compose")
    vip.write_text(seg("vip", "exclude: [open]\nholdout: {share: 10%, salt: c}\n"))
    changed = run_cli("diff", "main", "--format", "json", cwd=project)
    (change,) = json.loads(changed.stdout)
    assert change["name"] == "vip"
    assert "-# holdout: 10% (salt 'b')\n+# holdout: 10% (salt 'c')" in change["body_diff"]

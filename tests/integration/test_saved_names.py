"""Flowmatix segments by name (issue 28, item 4): `filter.segments: ["name:VIP list"]`
resolved through the sandbox's `GET /inbox/segments` over a socket, once per run; the
export equals the one with the ids typed; a name that is unknown, shared by two saved
segments or cannot be looked up is refused at the list item's file:line:col with no
request to /inbox/users. The oracle for which id a name means is the sandbox's own list
(runner.sandbox.saved.SAVED), read here independently of the runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sandbox.saved import SAVED
from tests.conftest import api_env, full_body, make_project, run_cli
from tests.integration.test_review import git

Start = Callable[..., Sandbox]
TOKEN = "tok-Names-SECRET-4471"
LISTING = "GET /inbox/segments"

SEGMENT = """\
version: 1
name: {name}
filter:
  isContact: false
  applicableFilters: []
  segments:
{items}
output:
  format: jsonl
  path: out/{name}.jsonl
  columns: [_id, segments]
"""


def segment(name: str, *items: str) -> str:
    return SEGMENT.format(name=name, items="".join(f"    - {json.dumps(i)}\n" for i in items))


def ids_of(name: str) -> list[str]:
    return [s["_id"] for s in SAVED if s["segmentName"] == name]


def cli(project: Path, api: Sandbox, *args: str, token: str | None = None) -> object:
    return run_cli(*args, cwd=project, env=api_env(api, token))


@pytest.mark.parametrize(
    "names",
    [["VIP list"], ["Newsletter subscribers", "Black Friday 2025"], ["VIP list", "Churn risk"]],
    ids=["one", "two", "with-an-id-typed-too"],
)
def test_names_resolve_and_export_what_the_typed_ids_export(
    sandbox: Start, tmp_path: Path, names: list[str]
) -> None:
    api = sandbox(users=600, seed=3)
    typed = [ids_of(n)[0] for n in names]
    # "Churn risk" is shared by two saved segments: that one is written as its id
    by_name = [f"name:{n}" if len(ids_of(n)) == 1 else ids_of(n)[0] for n in names]
    project = make_project(
        tmp_path, {"named": segment("named", *by_name), "typed": segment("typed", *typed)}
    )
    done = cli(project, api, "export")
    assert done.returncode == 0, done.stdout + done.stderr
    named = (project / "out" / "named.jsonl").read_bytes()
    assert named == (project / "out" / "typed.jsonl").read_bytes()
    rows = [json.loads(line) for line in named.splitlines()]
    assert len(rows) > 50 and all(set(r["segments"]) & set(typed) for r in rows)
    assert api.stats[LISTING] == 1, "the saved segments are read once per run"


def test_render_shows_the_ids_and_the_names_they_came_from(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=50)
    names = ["Q4: lapsed buyers", "高价值客户", "Clientes São Paulo", "VIP list"]
    project = make_project(
        tmp_path,
        {
            "odd": segment("odd", *[f"name:{n}" for n in names[:3]]),
            "vip": segment("vip", "name:VIP list", ids_of("VIP list")[0]),
        },
    )
    done = cli(project, api, "render", "--format", "json")
    assert done.returncode == 0, done.stderr
    shown = {item["name"]: item for item in json.loads(done.stdout)}
    odd = shown["odd"]
    assert odd["body"]["segments"] == [ids_of(n)[0] for n in names[:3]]
    assert odd["saved_segments"] == [{"name": n, "id": ids_of(n)[0]} for n in names[:3]]
    assert shown["vip"]["body"]["segments"] == ids_of("VIP list"), "one id, sent once"
    text = cli(project, api, "render", "odd")
    assert f"# name:高价值客户 is {ids_of('高价值客户')[0]}\n" in text.stdout
    assert api.stats[LISTING] == 2 and api.stats["requests"] == 0, "render pages nothing"


def test_no_listing_when_no_segment_names_one(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=50)
    project = make_project(tmp_path, {"typed": segment("typed", ids_of("VIP list")[0])})
    assert cli(project, api, "export").returncode == 0
    assert cli(project, api, "render").returncode == 0
    assert api.stats[LISTING] == 0


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("VIP lst", "names no saved Flowmatix segment (did you mean 'VIP list'?)"),
        ("vip list", "names no saved Flowmatix segment (did you mean 'VIP list'?)"),
        (
            "Newsleter subscriber",
            "names no saved Flowmatix segment (did you mean 'Newsletter subscribers'?)",
        ),
        ("Loyal regulars", "names no saved Flowmatix segment; the account's: 'Black Friday 2025'"),
        ("Churn risk", f"names 2 saved Flowmatix segments ({', '.join(ids_of('Churn risk'))})"),
    ],
    ids=["typo", "case", "two-typos", "far", "shared"],
)
def test_a_wrong_name_is_refused_where_it_is_written_with_no_export_request(
    sandbox: Start, tmp_path: Path, written: str, said: str
) -> None:
    api = sandbox(users=200)
    project = make_project(
        tmp_path,
        {
            "bad": segment("bad", "name:VIP list", f"name:{written}"),
            "good": segment("good", "name:VIP list"),
        },
    )
    lone = cli(project, api, "export", "bad")
    where = f"segments/bad.yaml:8:7: 'filter.segments[1]' \"name:{written}\" "
    assert lone.returncode == 1
    assert where + said in lone.stderr, lone.stderr
    assert "Traceback" not in lone.stderr and "no segments selected" not in lone.stderr
    assert not (project / "out").exists()
    assert api.stats["requests"] == 0 and api.stats["pages"] == 0
    both = cli(project, api, "export")  # the good one still runs; the run fails
    assert both.returncode == 1 and where + said in both.stderr
    assert (project / "out" / "good.jsonl").exists() and not (
        project / "out" / "bad.jsonl"
    ).exists()
    rendered = cli(project, api, "render", "bad")
    assert rendered.returncode == 1 and where + said in rendered.stderr
    assert rendered.stdout == ""
    assert api.stats[LISTING] == 3, "once per command"


@pytest.mark.parametrize("command", ["export", "render"])
def test_names_that_cannot_be_looked_up_are_problems_with_no_export_request(
    sandbox: Start, tmp_path: Path, command: str
) -> None:
    api = sandbox(users=200)
    project = make_project(tmp_path, {"vip": segment("vip", "name:VIP list", "name:Churn risk")})
    refused = cli(project, api, command, token=TOKEN)  # the API refuses this token
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    for line, index in ((7, 0), (8, 1)):
        first = f"segments/vip.yaml:{line}:7: 'filter.segments[{index}]' "
        hit = [x for x in lines if x.startswith(first)]
        assert (
            hit and "cannot be resolved: GET /inbox/segments: the API refused the token" in hit[0]
        )
    assert TOKEN not in refused.stdout + refused.stderr
    assert api.stats["requests"] == 0 and api.stats[LISTING] == 0
    assert api.stats["unauthorized"] == 1, "one try for the whole run"
    gone = run_cli(command, cwd=project, env={"FLOWMATIX_TOKEN": None})
    assert gone.returncode == 1
    assert (
        "segments/vip.yaml:7:7: 'filter.segments[0]' \"name:VIP list\" cannot be resolved: "
        "environment variable FLOWMATIX_TOKEN is not set" in gone.stderr
    )


def test_validate_checks_the_form_offline(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=50)
    project = make_project(
        tmp_path,
        {
            "misspelt": segment("misspelt", "name:VIP lst"),  # only the API knows the names
            "blank": segment("blank", "name: "),
            "bare": segment("bare", "VIP list"),
        },
    )
    done = cli(project, api, "validate")
    assert done.returncode == 1
    expected = "has invalid value {}: expected 24-hex platform segment id, or name: and a saved"
    assert (
        f"segments/blank.yaml:7:7: 'filter.segments[0]' {expected.format(json.dumps('name: '))}"
        in done.stdout
    )
    assert (
        f"segments/bare.yaml:7:7: 'filter.segments[0]' {expected.format(json.dumps('VIP list'))}"
        in done.stdout
    )
    assert "misspelt.yaml" not in done.stdout
    assert sum(api.stats.values()) == 0, "validate asks the API nothing"


def test_diff_count_resolves_names_before_counting(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=600, seed=4)
    project = make_project(tmp_path, {"vip": segment("vip", ids_of("VIP list")[0])})
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "typed ids")
    both = [ids_of("VIP list")[0], ids_of("Newsletter subscribers")[0]]
    wanted = len(api.truth(full_body(isContact=False, applicableFilters=[], segments=both)))
    alone = len(api.truth(full_body(isContact=False, applicableFilters=[], segments=both[:1])))
    edited = segment("vip", ids_of("VIP list")[0], "name:Newsletter subscribers")
    (project / "segments" / "vip.yaml").write_text(edited, "utf-8")
    counted = cli(project, api, "diff", "main", "--count")
    assert counted.returncode == 0, counted.stderr
    assert f"changed: vip (segments/vip.yaml): {alone:,} -> {wanted:,} contacts" in counted.stdout
    assert alone < wanted and api.stats[LISTING] == 1
    pages = api.stats["pages"]
    (project / "segments" / "vip.yaml").write_text(edited.replace("Newsletter", "Newsleter"))
    refused = cli(project, api, "diff", "main", "--count")
    assert refused.returncode == 1
    assert (
        "segments/vip.yaml:8:7: 'filter.segments[1]' \"name:Newsleter subscribers\" names no "
        "saved Flowmatix segment (did you mean 'Newsletter subscribers'?)" in refused.stderr
    )
    assert api.stats["pages"] == pages, "nothing counted: the name is checked first"


def test_the_python_api_never_sends_an_unresolved_name(sandbox: Start, tmp_path: Path) -> None:
    from runner.fetch.saved import resolve_names
    from runner.run import ExportOptions, export
    from runner.spec.workspace import Workspace

    api = sandbox(users=300)
    project = make_project(tmp_path, {"vip": segment("vip", "name:VIP list")})
    env = {"FLOWMATIX_API_URL": api.url, "FLOWMATIX_TOKEN": api.options.token}
    ws = Workspace.open(project, env=env)
    (raw,) = export(ws.select(["vip"]), ws, ExportOptions(), env=env)
    assert raw.status == "failed" and "names saved segments that were not resolved" in raw.error
    assert api.stats["requests"] == 0
    ready, problems = resolve_names(ws.select(["vip"]), ws.project.api, env)
    assert problems == []
    (done,) = export(ready, ws, ExportOptions(), env=env)
    assert done.status == "success" and done.rows > 0 and api.stats[LISTING] == 1


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        ("env401@1", "GET /inbox/segments: the API refused the token (HTTP 200, code 401)"),
        (
            "envfalse@1",
            'GET /inbox/segments: the reply says it failed (HTTP 200, "success": false)',
        ),
        ("envnosuccess@1", 'GET /inbox/segments: the reply says it failed (HTTP 200, no "success"'),
    ],
    ids=["code-401-in-a-200", "success-false", "empty-without-success"],
)
def test_the_listing_is_judged_by_the_envelope_rules(
    sandbox: Start, tmp_path: Path, faults: str, said: str
) -> None:
    api = sandbox(users=200, faults=faults)
    project = make_project(tmp_path, {"vip": segment("vip", "name:VIP list")})
    done = cli(project, api, "export")
    assert done.returncode == 1
    assert (
        "segments/vip.yaml:7:7: 'filter.segments[0]' \"name:VIP list\" cannot be resolved: " + said
        in done.stderr
    ), done.stderr
    assert api.stats["requests"] == 0 and api.stats[LISTING] == 0


@pytest.mark.parametrize("faults", ["env500@1|2", "env429@1", "500@1|2", "html@1"])
def test_a_listing_that_failed_for_a_while_is_asked_again(
    sandbox: Start, tmp_path: Path, faults: str
) -> None:
    api = sandbox(users=200, faults=faults)
    project = make_project(tmp_path, {"vip": segment("vip", "name:VIP list")})
    done = cli(project, api, "export")
    assert done.returncode == 0, done.stderr
    assert api.stats[LISTING] == 1 and api.stats["pages"] > 0
    assert sum(v for k, v in api.stats.items() if k.startswith("fault:")) == faults.count("|") + 1


VIP = "name:VIP list"


@pytest.mark.parametrize(
    ("listed", "shown"),
    [
        ({"_id": "VIPLIST"}, '_id "VIPLIST"'),
        ({"_id": "66B0C1D2E3F4A5B6C7D8E900"}, '_id "66B0C1D2E3F4A5B6C7D8E900"'),
        ({"_id": "66b0c1d2e3f4a5b6c7d8e90"}, '_id "66b0c1d2e3f4a5b6c7d8e90"'),
        ({"_id": 12345}, "_id 12345"),
        ({"_id": None}, "no _id"),
        ({}, "no _id"),
    ],
    ids=["word", "upper-hex", "23-hex", "number", "null", "missing"],
)
def test_a_listed_id_that_is_not_24_hex_is_refused_like_a_typed_one(
    sandbox: Start, tmp_path: Path, listed: dict[str, object], shown: str
) -> None:
    """The listing is not trusted: an id a name resolves to passes the check a typed id
    passes, else nothing is asked and nothing published (was: sent, 0 rows, exit 0)."""
    entry = {**listed, "segmentName": "VIP list"}
    api = sandbox(users=200, saved=json.dumps([entry]))
    project = make_project(tmp_path, {"vip": segment("vip", VIP)})
    done = cli(project, api, "export")
    assert done.returncode == 1, done.stdout
    said = (
        "segments/vip.yaml:7:7: 'filter.segments[0]' \"name:VIP list\" names a saved Flowmatix "
        f"segment listed with {shown} (GET /inbox/segments), expected a 24-hex platform "
        "segment id"
    )
    assert said in done.stderr, done.stderr
    assert api.stats["requests"] == 0 and not (project / "out").exists()
    if isinstance(listed.get("_id"), str):  # the same id typed: validate refuses it too
        typed = make_project(tmp_path / "typed", {"vip": segment("vip", str(listed["_id"]))})
        checked = run_cli("validate", cwd=typed)
        assert checked.returncode == 1 and "expected 24-hex platform segment id" in checked.stdout


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ([{"_id": SAVED[0]["_id"], "name": "VIP list"}], "1 entry (objects with keys _id, name)"),
        (["VIP list", 7], "2 entries (int, str values)"),
        ({"_id": SAVED[0]["_id"], "segmentName": "VIP list"}, "'data' is an object (keys: _id,"),
    ],
    ids=["name-under-another-key", "not-objects", "data-an-object"],
)
def test_a_listing_with_nothing_named_says_what_it_held(
    sandbox: Start, tmp_path: Path, data: object, said: str
) -> None:
    """Not "the account has none", and no advice to set api.records_path (which is the
    contacts' list)."""
    api = sandbox(users=200, saved=json.dumps(data))
    project = make_project(tmp_path, {"vip": segment("vip", VIP)})
    done = cli(project, api, "export")
    assert done.returncode == 1
    where = "segments/vip.yaml:7:7: 'filter.segments[0]' \"name:VIP list\" cannot be resolved: "
    assert where in done.stderr and said in done.stderr, done.stderr
    assert "has none" not in done.stderr and "records_path" not in done.stderr
    assert api.stats["requests"] == 0


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("VIP lst", "names no saved Flowmatix segment (did you mean 'VIP list'"),
        ("Churn risk", "names 2 saved Flowmatix segments"),
        ("Nobody", "names no saved Flowmatix segment; the account's: "),
    ],
    ids=["typo", "shared", "unknown"],
)
def test_a_reference_whose_name_failed_in_this_run_says_why(
    sandbox: Start, tmp_path: Path, written: str, said: str
) -> None:
    """Was "export it in the same run" for a segment exported in that very run."""
    api = sandbox(users=200)
    excluding = segment("vip-not-typo", "name:VIP list") + "exclude: [typo]\n"
    project = make_project(
        tmp_path, {"typo": segment("typo", f"name:{written}"), "vip-not-typo": excluding}
    )
    done = cli(project, api, "export", "typo", "vip-not-typo")
    assert done.returncode == 1
    why = f"segment 'typo' cannot be computed: 'filter.segments[0]' \"name:{written}\" {said}"
    assert f"vip-not-typo: FAILED: {why}" in done.stderr, done.stderr
    assert "export it in the same run" not in done.stdout + done.stderr
    assert not list(project.glob("out/*.jsonl")) and api.stats["requests"] == 0

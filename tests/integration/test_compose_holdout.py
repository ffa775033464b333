"""Holdout groups against the sandbox over a socket: the two files are the audience,
never a contact in both, the share within sampling error, the same contacts on the
next run, another draw with a new salt; both counts in the manifest and history."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from runner.run.route import held_back
from runner.sandbox import Sandbox
from runner.spec.compose import Holdout
from tests.conftest import ANCHOR, FAST_RETRY, api_env, full_body, make_project, run_cli
from tests.integration.s3servers import S3Server

Start = Callable[..., Sandbox]

EVERYONE = """\
version: 1
name: everyone
filter: {{isContact: false, applicableFilters: []}}
output: {{path: out/everyone.csv, columns: [_id]}}
holdout: {{share: "{share}", salt: "{salt}"}}
{extra}"""
ALL = """\
version: 1
name: all
filter: {isContact: false, applicableFilters: []}
output: {path: out/all.csv, columns: [_id]}
"""


def csv_ids(path: Path) -> list[str]:
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))
    return [row["_id"] for row in rows]


def write(project: Path, share: str, salt: str, extra: str = "") -> None:
    text = EVERYONE.format(share=share, salt=salt, extra=extra)
    (project / "segments" / "everyone.yaml").write_text(text, "utf-8")


def run(project: Path, api: Sandbox, *names: str) -> None:
    result = run_cli("export", *names, "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert result.returncode == 0, result.stdout + result.stderr


def within(count: int, n: int, p: float, sigmas: float = 5) -> bool:
    """``count`` of ``n`` draws is within ``sigmas`` standard deviations of ``n * p``."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


@pytest.mark.slow
def test_holdout_splits_100000_contacts_the_same_way_each_run(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=100_000, seed=4)
    project = make_project(tmp_path, {"all": ALL}, FAST_RETRY)
    write(project, "10%", "q4-2026")
    run(project, api)
    audience = csv_ids(project / "out" / "all.csv")
    assert len(audience) == 100_000
    main, held = (
        csv_ids(project / "out" / "everyone.csv"),
        csv_ids(project / "out" / "everyone.holdout.csv"),
    )
    # together the audience, each contact once, never in both files
    assert sorted(main + held) == sorted(audience)
    assert not set(main) & set(held)
    assert within(len(held), 100_000, 0.10)
    # the order of the audience is kept on each side
    place = {key: i for i, key in enumerate(audience)}
    assert main == sorted(main, key=place.__getitem__)
    assert held == sorted(held, key=place.__getitem__)

    run(project, api, "everyone")  # the same salt: the same contacts held back
    assert csv_ids(project / "out" / "everyone.holdout.csv") == held
    assert csv_ids(project / "out" / "everyone.csv") == main

    write(project, "10%", "q1-2027")  # a new salt draws again, independently
    run(project, api, "everyone")
    redrawn = csv_ids(project / "out" / "everyone.holdout.csv")
    assert within(len(redrawn), 100_000, 0.10)
    assert within(len(set(redrawn) & set(held)), 100_000, 0.01)  # 10 % of 10 %
    assert sorted(redrawn + csv_ids(project / "out" / "everyone.csv")) == sorted(audience)

    write(project, "25%", "q1-2027")  # a larger share with that salt holds back more
    run(project, api, "everyone")
    larger = csv_ids(project / "out" / "everyone.holdout.csv")
    assert within(len(larger), 100_000, 0.25) and set(redrawn) <= set(larger)


def test_manifest_history_and_results_count_both_files(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=1500, seed=2)
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "30%", "s")
    result = run_cli(
        "export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api)
    )
    assert result.returncode == 0, result.stderr
    main = csv_ids(project / "out" / "everyone.csv")
    held = csv_ids(project / "out" / "everyone.holdout.csv")
    manifest = json.loads((project / "out" / "everyone.csv.manifest.json").read_text())
    assert manifest["rows"] == len(main)
    holdout = manifest["audience"]["holdout"]
    assert holdout["rows"] == len(held) and manifest["audience"]["audience_rows"] == 1500
    assert holdout["destination"] == "out/everyone.holdout.csv"
    assert holdout["share"] == "30%" and holdout["salt"] == "s"
    data = (project / "out" / "everyone.holdout.csv").read_bytes()
    assert holdout["sha256"] == hashlib.sha256(data).hexdigest() and holdout["bytes"] == len(data)
    (entry,) = json.loads((project / "r.json").read_text())["results"]
    assert entry["rows"] == len(main) and entry["held_out"] == len(held)
    history = run_cli("history", "everyone", "--format", "json", cwd=project)
    (record,) = json.loads(history.stdout)
    assert record["rows"] == len(main) and record["held_out"] == len(held)


def test_the_drift_guard_compares_the_whole_audience(sandbox: Start, tmp_path: Path) -> None:
    """From 10 % to 60 % held back: the file shrinks by more than half, the audience not
    at all, and the guard (max_change 20 %) lets it through; a real change still trips."""
    api = sandbox(users=1200, seed=8)
    project = make_project(tmp_path, {}, FAST_RETRY)
    guard = "expect: {max_change: 20%}\n"
    write(project, "10%", "g", guard)
    run(project, api)
    before = len(csv_ids(project / "out" / "everyone.csv"))
    write(project, "60%", "g", guard)
    run(project, api)
    after = len(csv_ids(project / "out" / "everyone.csv"))
    assert after < 0.5 * before  # the published file changed by more than 20 %
    # a narrower audience (every other status left out) does trip it
    narrower = EVERYONE.format(share="60%", salt="g", extra=guard).replace(
        "applicableFilters: []}", "applicableFilters: [], status: [OPEN]}"
    )
    (project / "segments" / "everyone.yaml").write_text(narrower, "utf-8")
    tripped = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert tripped.returncode == 1 and "max_change" in tripped.stdout + tripped.stderr
    assert len(csv_ids(project / "out" / "everyone.csv")) == after  # the previous file kept


# The readers are imported where used: a test process that runs none of these tests does
# not load them (openpyxl alone is about 0.4 s).
def read_xlsx(path: Path) -> list[list[Any]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def read_parquet(path: Path) -> list[list[Any]]:
    import duckdb

    con = duckdb.connect()
    table = con.execute(f"select * from read_parquet('{path}')")
    names = [d[0] for d in table.description]
    return [names, *[list(row) for row in table.fetchall()]]


def read_csv(path: Path) -> list[list[Any]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


COLUMNS = "columns: [_id, profile.userDetails.name, status]"


@pytest.mark.parametrize(
    ("fmt", "output", "read"),
    [
        ("csv", "preset: meta_custom_audience", read_csv),
        ("xlsx", COLUMNS, read_xlsx),
        ("parquet", COLUMNS, read_parquet),
    ],
    ids=["csv-preset", "xlsx", "parquet"],
)
def test_the_holdout_file_has_the_outputs_format_columns_and_preset(
    sandbox: Start, tmp_path: Path, fmt: str, output: str, read: Callable[[Path], list[list[Any]]]
) -> None:
    api = sandbox(users=800, seed=6)
    segment = f"""\
version: 1
name: ads
filter: {{isContact: false, applicableFilters: []}}
output: {{path: out/ads.{fmt}, format: {fmt}, {output}}}
holdout: {{share: 40%, salt: lift}}
"""
    plain = segment.replace("name: ads", "name: plain").replace("out/ads.", "out/plain.")
    plain = plain.replace("holdout: {share: 40%, salt: lift}\n", "")
    project = make_project(tmp_path, {"ads": segment, "plain": plain}, FAST_RETRY)
    run(project, api)
    main = read(project / "out" / f"ads.{fmt}")
    held = read(project / "out" / f"ads.holdout.{fmt}")
    whole = read(project / "out" / f"plain.{fmt}")
    assert main[0] == held[0] == whole[0]  # one header: the preset's, or the columns
    assert len(held) > 100 and len(main) > 100
    # every row of the plain export is in exactly one of the two files
    assert sorted(map(tuple, main[1:] + held[1:]), key=repr) == sorted(
        map(tuple, whole[1:]), key=repr
    )


def test_a_failed_run_leaves_both_previous_files(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=600, seed=1)
    project = make_project(tmp_path, {}, FAST_RETRY)
    write(project, "20%", "x")
    run(project, api)
    files = [project / "out" / n for n in ("everyone.csv", "everyone.holdout.csv")]
    before = [f.read_bytes() for f in files]
    write(project, "50%", "x", "expect: {max_rows: 10}\n")
    failed = run_cli("export", "--as-of", ANCHOR, cwd=project, env=api_env(api))
    assert failed.returncode == 1
    assert [f.read_bytes() for f in files] == before
    assert sorted(p.name for p in (project / "out").iterdir()) == [
        "everyone.csv",
        "everyone.csv.manifest.json",
        "everyone.holdout.csv",
    ]


def test_s3_holdout_and_last_published_from_an_s3_history(
    sandbox: Start, s3: S3Server, tmp_path: Path
) -> None:
    """The holdout object beside the output on S3 (moto and rclone), and an exclusion
    that reads another segment's last published ids from the history in the bucket."""
    api = sandbox(users=700, seed=15)
    everyone = EVERYONE.format(share="25%", salt="s3", extra="").replace(
        "out/everyone.csv", "s3://exports/daily/everyone.csv"
    )
    vip = ALL.replace("name: all", "name: vip").replace("out/all.csv", "s3://exports/vip.csv")
    vip = vip.replace("applicableFilters: []}", "applicableFilters: [], tags: [vip]}")
    rest = everyone.replace("name: everyone", "name: rest").replace("daily/everyone", "rest")
    rest = rest.replace(
        'holdout: {share: "25%", salt: "s3"}', "exclude: [{segment: vip, from: last-published}]"
    )
    project = make_project(tmp_path, {"everyone": everyone, "vip": vip, "rest": rest}, FAST_RETRY)
    env = {**api_env(api), **s3.env()}
    first = run_cli("export", "everyone", "vip", "--as-of", ANCHOR, cwd=project, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    after = run_cli("export", "rest", "--as-of", ANCHOR, cwd=project, env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    client = s3.client()

    def ids_of(key: str) -> list[str]:
        body = client.get_object(Bucket="exports", Key=key)["Body"].read().decode()
        return [row["_id"] for row in csv.DictReader(io.StringIO(body, newline=""))]

    main, held = ids_of("daily/everyone.csv"), ids_of("daily/everyone.holdout.csv")
    audience = api.truth(full_body(isContact=False, applicableFilters=[]))
    assert sorted(main + held) == sorted(audience) and not set(main) & set(held)
    assert within(len(held), len(audience), 0.25)
    manifest = json.loads(
        client.get_object(Bucket="exports", Key="daily/everyone.csv.manifest.json")["Body"].read()
    )
    assert (
        manifest["audience"]["holdout"]["destination"] == "s3://exports/daily/everyone.holdout.csv"
    )
    vip_ids = set(ids_of("vip.csv"))
    assert 0 < len(vip_ids) < len(audience)
    assert ids_of("rest.csv") == [i for i in audience if i not in vip_ids]
    assert s3.open_uploads("exports", "daily/everyone.holdout.csv") == []


REFERS = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: []}}
output: {{path: out/{name}.csv, columns: [_id]}}
{key}: [{ref}]
"""
LAST = "{segment: everyone, from: last-published}"


def test_a_fetched_reference_is_the_whole_audience_last_published_only_the_file(
    sandbox: Start, tmp_path: Path
) -> None:
    """The two meanings of "without its holdout", each said in the manifest's reference
    entry: fetched (or its export in the run), the audience with who it holds back;
    from last-published, only the ids it published."""
    api = sandbox(users=1500, seed=5)
    refs = {
        "not-fetched": ("exclude", "everyone"),
        "not-published": ("exclude", LAST),
        "in-fetched": ("only", "everyone"),
        "in-published": ("only", LAST),
    }
    project = make_project(
        tmp_path,
        {n: REFERS.format(name=n, key=k, ref=r) for n, (k, r) in refs.items()} | {"all": ALL},
        FAST_RETRY,
    )
    write(project, "30%", "s")
    run(project, api, "all", "everyone")
    audience = csv_ids(project / "out" / "all.csv")
    held = set(csv_ids(project / "out" / "everyone.holdout.csv"))
    assert 0 < len(held) < len(audience)
    run(project, api, *refs)
    got = {name: csv_ids(project / "out" / f"{name}.csv") for name in refs}
    assert got["not-fetched"] == [] and got["in-fetched"] == audience
    assert got["not-published"] == [i for i in audience if i in held]
    assert got["in-published"] == [i for i in audience if i not in held]
    for name, (_key, ref) in refs.items():
        manifest = json.loads((project / "out" / f"{name}.csv.manifest.json").read_text())
        (source,) = manifest["audience"]["sources"]
        assert source["ids"] == ("published" if ref == LAST else "audience"), name
    run(project, api, "everyone", "not-fetched")  # read from its export in the run
    manifest = json.loads((project / "out" / "not-fetched.csv.manifest.json").read_text())
    (source,) = manifest["audience"]["sources"]
    assert (source["via"], source["ids"]) == ("its export", "audience")
    assert csv_ids(project / "out" / "not-fetched.csv") == []


def readme_draw(contact_id: Any, salt: str, share: Fraction) -> bool:
    """README's holdout recipe, with hashlib and json as the oracle."""
    key = salt.encode()
    if len(key) > 64:
        key = hashlib.blake2b(key, digest_size=64).digest()
    if isinstance(contact_id, str):
        text = json.dumps(contact_id, ensure_ascii=False)
    elif isinstance(contact_id, int) or (isinstance(contact_id, float) and contact_id.is_integer()):
        text = str(int(contact_id))
    else:
        text = json.dumps(contact_id, sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * 2**64


@pytest.mark.parametrize(
    "salt",
    ["q4-2026", "k" * 64, "é" * 40, "sélection 🎯 " * 6],
    ids=["short", "64-bytes", "80-bytes", "non-ascii-long"],
)
def test_readme_holdout_recipe_reproduces_the_holdout_file(
    sandbox: Start, tmp_path: Path, salt: str
) -> None:
    """A reader with the README and hashlib finds exactly the held-back contacts."""
    api = sandbox(users=1200, seed=6)
    project = make_project(tmp_path, {"all": ALL}, FAST_RETRY)
    write(project, "12.5%", salt.replace('"', '\\"'))
    run(project, api)
    audience = csv_ids(project / "out" / "all.csv")
    held = csv_ids(project / "out" / "everyone.holdout.csv")
    assert held == [i for i in audience if readme_draw(i, salt, Fraction(1, 8))]
    assert 0 < len(held) < len(audience)


@pytest.mark.parametrize(
    "contact_id",
    [7, 7.0, -12, 10**20, 2.5, "6", "006", "Zoë 🎯", "a\u2028b\nc\x7f", {"b": 1, "a": [True]}],
)
def test_the_draw_of_any_kind_of_id_is_the_readmes(contact_id: Any) -> None:
    """Ids that are not 24-hex strings: integers, integral floats, other scripts, control
    characters, objects."""
    for salt in ("s", "x" * 65):
        for share in (Fraction(1, 2), Fraction(9, 10), Fraction(1, 10)):
            holdout = Holdout(share, salt, "")
            assert held_back(contact_id, holdout) == readme_draw(contact_id, salt, share)

"""`segments overlap` (issue 28, item 3): each pair's shared contacts and Jaccard index
from the id snapshots the segments last published, equal to the figures computed here
from the exported files themselves (CSV read by the csv module, JSON Lines, Parquet read
by pyarrow), against the sandbox over a socket."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import pyarrow.parquet as pq

from runner.history import open_history
from runner.sandbox import Sandbox
from tests.conftest import api_env, full_body, make_project, run_cli
from tests.integration.test_review import git

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: [], {filter}}}
output:
  format: {fmt}
  path: out/{name}.{fmt}
  columns: [_id, profile.userDetails.name]
{extra}"""

SEGMENTS = {  # tags overlap: a contact has several; "nobody" matches no one
    "vip": ("tags: [vip]", "csv"),
    "gold": ("tags: [gold, vip]", "jsonl"),
    "leads": ("tags: [lead]", "parquet"),
    "vip-again": ("tags: [vip]", "csv"),
    "nobody": ('searchText: "no such contact anywhere"', "csv"),
}


def segment(name: str, where: str, fmt: str, extra: str = "") -> str:
    return SEGMENT.format(name=name, filter=where, fmt=fmt, extra=extra)


def file_ids(path: Path) -> set[str]:
    if path.suffix == ".parquet":
        return set(pq.read_table(path).column("_id").to_pylist())
    if path.suffix == ".jsonl":
        return {json.loads(line)["_id"] for line in path.read_text("utf-8").splitlines()}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["_id"] for row in csv.DictReader(fh)}


def overlap(project: Path, *args: str) -> dict[str, object]:
    done = run_cli("overlap", "--format", "json", *args, cwd=project, env={})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_overlap_equals_the_figures_of_the_exported_files(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=1200, seed=21)
    files = {name: segment(name, where, fmt) for name, (where, fmt) in SEGMENTS.items()}
    project = make_project(tmp_path, files)
    done = run_cli("export", cwd=project, env=api_env(api))
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {name: file_ids(project / "out" / f"{name}.{fmt}") for name, (_, fmt) in SEGMENTS.items()}
    assert all(ids[n] for n in ("vip", "gold", "leads")) and not ids["nobody"]
    found = overlap(project)
    assert sorted(s["name"] for s in found["segments"]) == sorted(SEGMENTS)  # type: ignore[index]
    assert {s["name"]: s["ids"] for s in found["segments"]} == {  # type: ignore[index]
        n: len(v) for n, v in ids.items()
    }
    pairs = {frozenset((p["a"], p["b"])): p for p in found["pairs"]}  # type: ignore[index]
    assert set(pairs) == {frozenset(pair) for pair in combinations(SEGMENTS, 2)}
    for got in pairs.values():
        a, b = ids[got["a"]], ids[got["b"]]
        assert (got["shared"], got["a_ids"], got["b_ids"]) == (len(a & b), len(a), len(b))
        assert got["jaccard"] == (len(a & b) / len(a | b) if a | b else 0.0)
    gold = pairs[frozenset(("gold", "vip"))]
    assert 0 < gold["shared"] == len(ids["vip"]) < len(ids["gold"])
    assert pairs[frozenset(("vip", "vip-again"))]["jaccard"] == 1.0
    assert 0 < pairs[frozenset(("leads", "vip"))]["jaccard"] < 1
    text = run_cli("overlap", "vip", "leads", cwd=project, env={})
    assert text.returncode == 0, text.stderr
    shared = len(ids["leads"] & ids["vip"])
    jaccard = shared / len(ids["leads"] | ids["vip"])
    row = (
        f"leads  vip  {len(ids['leads']):,}  {len(ids['vip']):,}  {shared:,}   {jaccard:.4f}"
    ).split()
    assert row in [line.split() for line in text.stdout.splitlines()], text.stdout


def test_overlap_reads_the_latest_snapshot_and_names_segments_without_one(
    sandbox: Start, tmp_path: Path
) -> None:
    incremental = segment("signups", "tags: [lead]", "jsonl", "mode: incremental\n")
    project = make_project(
        tmp_path,
        {
            "vip": segment("vip", "tags: [vip]", "csv"),
            "leads": segment("leads", "tags: [lead]", "csv"),
            "signups": incremental,
            "never": segment("never", "tags: [gold]", "csv"),
        },
    )
    first = sandbox(users=400, seed=2)
    for name in ("vip", "leads", "signups"):
        assert run_cli("export", name, cwd=project, env=api_env(first)).returncode == 0
    later = sandbox(users=900, seed=2)  # more contacts: the latest snapshot is another
    assert run_cli("export", "vip", cwd=project, env=api_env(later)).returncode == 0
    vip, leads = file_ids(project / "out" / "vip.csv"), file_ids(project / "out" / "leads.csv")
    found = overlap(project)
    (pair,) = found["pairs"]  # type: ignore[index]
    assert (pair["a"], pair["b"], pair["shared"]) == ("leads", "vip", len(vip & leads))
    assert pair["b_ids"] == len(vip) and len(vip) > 100
    missing = {s["name"]: s["missing"] for s in found["segments"] if s["missing"]}  # type: ignore[index]
    assert set(missing) == {"never", "signups"}
    assert missing["never"].startswith("no successful run in ")
    assert "kept no id snapshot (mode: incremental)" in missing["signups"]
    text = run_cli("overlap", cwd=project, env={})
    assert "no snapshot: never: no successful run in " in text.stdout
    assert "no snapshot: signups: its last successful run (" in text.stdout


def test_a_damaged_snapshot_fails_the_command_and_says_which(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=300)
    project = make_project(
        tmp_path,
        {
            "vip": segment("vip", "tags: [vip]", "csv"),
            "leads": segment("leads", "tags: [lead]", "csv"),
        },
    )
    assert run_cli("export", cwd=project, env=api_env(api)).returncode == 0
    store = open_history(project)
    (ref,) = store.snapshots("vip")
    path = project / ".segments" / "history" / "vip" / "snapshots" / ref.split("/")[1]
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join([lines[0], *reversed(lines[1:])])))  # out of order
    done = run_cli("overlap", cwd=project, env={})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"no snapshot: vip: snapshot {ref} is out of order at id 2; it is damaged" in done.stdout
    path.write_bytes(path.read_bytes()[:-9])  # cut short
    cut = run_cli("overlap", cwd=project, env={})
    assert cut.returncode == 1 and f"snapshot {ref} cannot be read (" in cut.stdout


def test_diff_count_shows_how_a_change_moves_the_overlap(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=900, seed=8)
    project = make_project(
        tmp_path,
        {
            "vip": segment("vip", "tags: [vip]", "csv"),
            "leads": segment("leads", "tags: [lead]", "jsonl"),
            "gold": segment("gold", "tags: [gold]", "parquet"),
        },
    )
    (project / ".gitignore").write_text("out/\n.segments/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "three segments")
    assert run_cli("export", cwd=project, env=api_env(api)).returncode == 0
    ids = {
        name: file_ids(project / "out" / f"{name}.{fmt}")
        for name, fmt in (("vip", "csv"), ("leads", "jsonl"), ("gold", "parquet"))
    }
    edited = segment("vip", "tags: [vip, lead]", "csv")
    (project / "segments" / "vip.yaml").write_text(edited, "utf-8")
    after = set(api.truth(full_body(isContact=False, applicableFilters=[], tags=["vip", "lead"])))
    done = run_cli("diff", "main", "--count", "--format", "json", cwd=project, env=api_env(api))
    assert done.returncode == 0, done.stderr
    (change,) = json.loads(done.stdout)
    assert (change["count_before"], change["count_after"]) == (len(ids["vip"]), len(after))
    moves = {m["segment"]: m for m in change["overlap"]}
    assert set(moves) == {"leads", "gold"}
    for name in ("leads", "gold"):
        old, new = ids["vip"] & ids[name], after & ids[name]
        assert moves[name]["shared_before"] == len(old)
        assert moves[name]["shared_after"] == len(new)
        assert moves[name]["jaccard_before"] == len(old) / len(ids["vip"] | ids[name])
        assert moves[name]["jaccard_after"] == len(new) / len(after | ids[name])
    assert moves["leads"]["shared_after"] == len(ids["leads"]) > moves["leads"]["shared_before"]
    text = run_cli("diff", "main", "--count", cwd=project, env=api_env(api))
    leads = moves["leads"]
    line = (
        f"  overlap with leads: {leads['shared_before']:,} -> {leads['shared_after']:,} shared, "
        f"Jaccard {leads['jaccard_before']:.4f} -> {leads['jaccard_after']:.4f}"
    )
    assert line in text.stdout.splitlines(), text.stdout

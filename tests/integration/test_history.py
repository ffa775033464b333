"""The run history stores, against real processes: concurrent writers in separate
processes, writers killed with SIGKILL mid-append, and S3 on moto and rclone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.errors import HistoryError, SnapshotGone
from runner.history import (
    RunRecord,
    RunStatus,
    last_success,
    new_run_id,
    open_history,
    open_snapshot_of,
    prune_snapshots,
    runs,
    watermark,
)
from runner.history.local import RUNS_FILE, LocalHistory
from runner.history.record import utc_now
from runner.history.s3 import Conditional, S3History
from tests.conftest import ROOT, cli_env, wait_for

# A writer process: appends COUNT entries to the store at ROOT, printing each index.
WRITER = """
import sys
from runner.history import RunRecord, new_run_id, open_history
from runner.history.record import utc_now
root, segment, count, tag, pad = sys.argv[1:6]
store = open_history(root)
for i in range(int(count)):
    ended = utc_now()
    store.append(RunRecord(run_id=new_run_id(ended), segment=segment, status="success",
                           ended=ended, rows=i, destination=f"{tag}/{i}", error="x" * int(pad)))
    print(i, flush=True)
"""


def writer(
    root: str, segment: str, count: int, tag: str, pad: int = 0, env: dict[str, Any] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, root, segment, str(count), tag, str(pad)],
        cwd=ROOT,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait for a writer (closing its pipes); it must have succeeded."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err


def kill_after(proc: subprocess.Popen[str], lines: int) -> None:
    """SIGKILL a writer once it has printed ``lines`` lines (appended that many entries)."""
    assert proc.stdout is not None
    for _ in range(lines):
        assert proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def entry(
    segment: str = "vip",
    status: str = "success",
    ended: str = "2026-11-25T00:00:00.000Z",
    **fields: Any,
) -> RunRecord:
    return RunRecord(
        run_id=new_run_id(ended), segment=segment, status=RunStatus(status), ended=ended, **fields
    )


def check_queries(store: Any) -> None:
    """The queries every store answers the same way."""
    store.append(
        entry(
            ended="2026-11-23T00:00:00.000Z",
            rows=10,
            as_of="2026-11-23T00:00:00+00:00",
            watermark="2026-11-23T00:00:00.000Z",
        )
    )
    store.append(entry(status="guard", ended="2026-11-24T00:00:00.000Z", rows=3))
    store.append(
        entry(ended="2026-11-24T12:00:00.000Z", rows=11, watermark="2026-11-24T12:00:00.000Z")
    )
    store.append(entry(status="failed", ended="2026-11-25T00:00:00.000Z", error="HTTP 500"))
    store.append(entry(segment="other", ended="2026-11-25T00:00:00.000Z", rows=1))
    assert [r.status for r in runs(store, "vip")] == ["success", "guard", "success", "failed"]
    assert [r.ended[:10] for r in runs(store, "vip", last=2)] == ["2026-11-24", "2026-11-25"]
    assert runs(store, "vip", last=0) == []
    best = last_success(store, "vip")
    assert best is not None and best.rows == 11
    assert watermark(store, "vip") == "2026-11-24T12:00:00.000Z"
    assert last_success(store, "nobody") is None and runs(store, "nobody") == []
    assert store.segments() == ["other", "vip"]


def check_snapshots(store: Any, tmp_path: Path) -> None:
    source = tmp_path / "ids.gz"
    refs, records = [], []
    for day in range(1, 5):
        source.write_bytes(b"snapshot %d" % day)
        ended = f"2026-11-0{day}T00:00:00.000Z"
        run_id = new_run_id(ended)
        ref = store.put_snapshot("vip", run_id, source)
        refs.append(ref)
        records.append(
            RunRecord(
                run_id=run_id, segment="vip", status=RunStatus.SUCCESS, ended=ended, snapshot=ref
            )
        )
        store.append(records[-1])
    with store.open_snapshot(refs[2]) as file:
        assert file.read() == b"snapshot 3"
    in_flight = store.put_snapshot("vip", new_run_id("2026-11-09T00:00:00.000Z"), source)
    # a run that stored its snapshot before the two kept ones and has not recorded itself
    # yet (it waits for its publish lock): its name sorts before theirs, it is not stale
    waiting = store.put_snapshot("vip", new_run_id("2026-11-02T12:00:00.000Z"), source)
    # what a run killed between storing and recording left, a day older than those kept
    orphan = store.put_snapshot("vip", new_run_id("2026-11-01T12:00:00.000Z"), source)
    assert prune_snapshots(store, "vip", keep=2) == [refs[0], orphan, refs[1]]
    assert store.snapshots("vip") == [waiting, *refs[2:], in_flight]
    with pytest.raises(SnapshotGone):
        store.open_snapshot(refs[0])
    # a reader that read the history before the prune gets the newest run's snapshot
    run, file = open_snapshot_of(store, "vip", records[0])
    with file:
        assert (run, file.read()) == (records[3], b"snapshot 4")
    store.discard_snapshot(refs[3])
    with pytest.raises(SnapshotGone, match="is gone"):
        open_snapshot_of(store, "vip", records[3])
    with pytest.raises(HistoryError, match="is not a snapshot reference"):
        store.open_snapshot("vip/../../secret")
    for ref in (in_flight, waiting):
        store.discard_snapshot(ref)
    assert store.snapshots("vip") == refs[2:3]


# -- local ----------------------------------------------------------------------------


def test_local_queries_and_snapshots(tmp_path: Path) -> None:
    store = open_history(tmp_path / "out")
    assert isinstance(store, LocalHistory) and store.where == str(
        tmp_path / "out/.segments/history"
    )
    check_queries(store)
    check_snapshots(open_history(tmp_path / "snap"), tmp_path)
    lines = (tmp_path / "out/.segments/history/vip" / RUNS_FILE).read_bytes().splitlines()
    assert len(lines) == 4 and all(line.startswith(b'{"v":1,') for line in lines)


def test_concurrent_local_writers_lose_nothing(tmp_path: Path) -> None:
    root = str(tmp_path)
    procs = [writer(root, "vip", 40, f"w{n}", pad=5000) for n in range(4)]
    store = open_history(tmp_path)
    seen = 0
    while any(p.poll() is None for p in procs):  # a reader alongside never fails
        count = len(runs(store, "vip"))
        assert count >= seen
        seen = count
    for proc in procs:
        finish(proc)
    found = runs(store, "vip")
    assert len(found) == 160 and len({r.run_id for r in found}) == 160
    assert sorted(r.destination for r in found) == sorted(
        f"w{n}/{i}" for n in range(4) for i in range(40)
    )
    data = (tmp_path / ".segments/history/vip" / RUNS_FILE).read_bytes()
    assert data.count(b"\n") == 160 and data.endswith(b"\n")


def test_kill_9_mid_append_leaves_a_readable_history(tmp_path: Path) -> None:
    root = str(tmp_path)
    path = tmp_path / ".segments/history/vip" / RUNS_FILE
    for attempt in range(3):  # big lines, so some kills land inside a write
        proc = writer(root, "vip", 100_000, f"k{attempt}", pad=2_000_000)
        kill_after(proc, 2 + attempt)
        store = open_history(tmp_path)
        before = runs(store, "vip")
        complete = path.read_bytes().count(b"\n")
        assert len(before) == complete  # every whole line reads; a torn tail is skipped
        store.append(entry(rows=-1))
        data = path.read_bytes()
        assert data.endswith(b"\n") and data.count(b"\n") == complete + 1
        assert len(runs(store, "vip")) == complete + 1


def test_a_torn_tail_is_skipped_by_readers_and_cut_by_the_next_writer(tmp_path: Path) -> None:
    store = LocalHistory(tmp_path)
    store.append(entry(rows=1, ended="2026-11-21T00:00:00.000Z"))
    path = tmp_path / "vip" / RUNS_FILE
    whole = entry(rows=2, ended="2026-11-22T00:00:00.000Z").to_json() + b"\n"
    with path.open("ab") as file:  # what a writer killed inside its write leaves
        file.write(whole[: len(whole) // 2])
    assert [r.rows for r in runs(store, "vip")] == [1]
    store.append(entry(rows=3, ended="2026-11-23T00:00:00.000Z"))
    assert [r.rows for r in runs(store, "vip")] == [1, 3]
    assert path.read_bytes().count(b"\n") == 2
    with path.open("ab") as file:  # a damaged whole line is skipped, not fatal
        file.write(b'{"v":1,"garbage\n')
    store.append(entry(rows=4, ended="2026-11-24T00:00:00.000Z"))
    assert [r.rows for r in runs(store, "vip")] == [1, 3, 4]


def test_a_writer_waits_for_the_lock_then_says_who_holds_it(tmp_path: Path) -> None:
    store = LocalHistory(tmp_path, lock_wait=0.3)
    store.append(entry(rows=1, ended="2026-11-21T00:00:00.000Z"))
    path = tmp_path / "vip" / RUNS_FILE
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time\nf=open(sys.argv[1],'ab')\nfcntl.flock(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(600)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(HistoryError, match=r"stayed locked by another run for 0.3s"):
            store.append(entry(rows=2, ended="2026-11-22T00:00:00.000Z"))
    finally:
        holder.kill()
        holder.communicate()
    store.append(
        entry(rows=3, ended="2026-11-23T00:00:00.000Z")
    )  # the kernel dropped the lock with the process
    assert [r.rows for r in runs(store, "vip")] == [1, 3]


def test_an_unwritable_history_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the folder should be")
    store = LocalHistory(tmp_path / "blocked")
    with pytest.raises(
        HistoryError,
        match=r"^cannot write the run history .*blocked/vip/runs.jsonl: Not a directory$",
    ):
        store.append(entry())


# -- S3: moto and rclone ----------------------------------------------------------------


def s3_store(s3: Any, prefix: str = "s3://exports/team") -> S3History:
    store = open_history(prefix, s3.client())
    assert isinstance(store, S3History)
    return store


def test_s3_detects_what_the_server_does_with_conditional_writes(s3: Any) -> None:
    store = s3_store(s3)
    expected = {"moto": Conditional.SUPPORTED, "rclone": Conditional.IGNORED}[s3.kind]
    assert store.conditional is expected
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="exports").get("Contents", [])]
    assert not [k for k in keys if ".probe" in k]  # the probe object is removed


def test_s3_queries_and_snapshots(s3: Any, tmp_path: Path) -> None:
    store = s3_store(s3)
    assert store.where == "s3://exports/team/.segments/history/"
    check_queries(store)
    check_snapshots(s3_store(s3, "s3://exports/snap"), tmp_path)
    keys = sorted(
        o["Key"]
        for o in s3.client().list_objects_v2(Bucket="exports", Prefix="team/").get("Contents", [])
    )
    assert len(keys) == 5 and keys[0].startswith("team/.segments/history/other/runs/2026")
    assert keys[-1].endswith(".failed.json")


def test_s3_a_taken_key_never_loses_an_entry(s3: Any) -> None:
    store = s3_store(s3)
    first = entry(rows=1)
    clash = RunRecord.from_json(first.to_json().replace(b'"rows":1', b'"rows":2'))
    assert clash.run_id == first.run_id
    store.append(first)
    stored = store.append(clash)
    assert stored.run_id != first.run_id and stored.rows == 2
    assert sorted(r.rows for r in runs(store, "vip")) == [1, 2]
    again = store.append(first)  # the same entry again (a retried PUT): stored once
    assert again == first
    assert sorted(r.rows for r in runs(store, "vip")) == [1, 2]


def test_s3_skips_what_is_not_an_entry(s3: Any) -> None:
    store = s3_store(s3)
    store.append(entry(rows=1))
    s3.client().put_object(
        Bucket="exports",
        Key="team/.segments/history/vip/runs/20991231T000000.000Z-000000000000.success.json",
        Body=b"{broken",
    )
    assert [r.rows for r in runs(store, "vip")] == [1]
    assert last_success(store, "vip") is not None


def test_s3_concurrent_writers_in_processes_lose_nothing(s3: Any) -> None:
    env = s3.env()
    procs = [writer("s3://exports/team", "vip", 15, f"w{n}", env=env) for n in range(4)]
    for proc in procs:
        finish(proc)
    found = runs(s3_store(s3), "vip")
    assert sorted(r.destination for r in found) == sorted(
        f"w{n}/{i}" for n in range(4) for i in range(15)
    )


def test_s3_kill_9_mid_run_leaves_a_readable_history(s3: Any) -> None:
    proc = writer("s3://exports/team", "vip", 10_000, "k", pad=200_000, env=s3.env())
    kill_after(proc, 3)
    store = s3_store(s3)
    count = len(runs(store, "vip"))
    assert count >= 3
    store.append(entry(rows=-1))
    assert len(runs(store, "vip")) == count + 1


def test_s3_missing_bucket_is_one_line(s3: Any) -> None:
    store = s3_store(s3, "s3://no-such-bucket/x")
    with pytest.raises(
        HistoryError,
        match=r"^cannot write the run history: s3://no-such-bucket/x/.segments/history/.probe/[0-9a-f]+: bucket 'no-such-bucket' does not exist$",
    ):
        store.append(entry())


SNAPSHOTTER = """
import sys
from pathlib import Path
from runner.history import new_run_id
from runner.history.local import LocalHistory
from runner.history.record import utc_now
LocalHistory(Path(sys.argv[1])).put_snapshot("vip", new_run_id(utc_now()), Path(sys.argv[2]))
"""


def test_a_run_killed_while_storing_its_snapshot_leaves_nothing_the_next_one_keeps(
    tmp_path: Path,
) -> None:
    # A review (2026-12-07): a run killed inside put_snapshot left its temporary in
    # snapshots/ for ever. The next snapshot stored there removes it (nobody holds its
    # flock); a live writer's stays.
    folder = tmp_path / "vip" / "snapshots"

    def writing(name: str) -> tuple[subprocess.Popen[bytes], Any]:
        fifo = tmp_path / name
        os.mkfifo(fifo)
        child = subprocess.Popen(
            [sys.executable, "-c", SNAPSHOTTER, str(tmp_path), str(fifo)], env=cli_env()
        )
        fds: list[int] = []

        def reading() -> bool:  # (the child opens the pipe: not before, or open blocks)
            assert child.poll() is None, "the snapshot writer ended early"
            with contextlib.suppress(OSError):
                fds.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return bool(fds)

        wait_for(reading)
        os.set_blocking(fds[0], True)
        feed = os.fdopen(fds[0], "wb")
        feed.write(b"\x1f\x8b" * 10)
        feed.flush()
        return child, feed

    def temporaries() -> set[str]:
        return {p.name for p in folder.glob(".segments-tmp-*")} if folder.exists() else set()

    killed, feed = writing("one")
    wait_for(lambda: len(temporaries()) == 1)
    left = temporaries()
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    feed.close()
    assert temporaries() == left  # what the killed run leaves
    live, still = writing("two")  # it stores its own: the leftover goes, its own appears
    wait_for(lambda: len(temporaries()) == 1 and temporaries() != left)
    mine = temporaries()
    source = tmp_path / "ids.gz"
    source.write_bytes(b"\x1f\x8b")
    ref = LocalHistory(tmp_path).put_snapshot("vip", new_run_id(utc_now()), source)
    assert temporaries() == mine  # a live writer's stays
    still.close()
    assert live.wait(timeout=30) == 0 and temporaries() == set()
    assert len(LocalHistory(tmp_path).snapshots("vip")) == 2 and ref.startswith("vip/")

"""One publisher of an S3 output at a time (runner/history/s3_lock.py), against moto's
and rclone's servers (rclone ignores ``If-None-Match``: the lock is looked at before
and after it is written): a second run waits, and says so once; a killed run's lock is
taken over once stale; the lock object goes once released."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from runner.history.s3 import S3History
from runner.history.s3_lock import STALE, publish_lock
from runner.locations import S3Location
from tests.conftest import cli_env, wait_for
from tests.integration.s3servers import S3Server

TARGET = "s3://exports/daily/everyone.csv"


def store(s3: S3Server) -> S3History:
    return S3History(S3Location.parse("s3://exports/daily/.segments/history"), s3.client())


def locks(s3: S3Server) -> list[str]:
    listed = s3.client().list_objects_v2(Bucket="exports", Prefix="daily/").get("Contents", [])
    return [o["Key"] for o in listed if "/locks/" in o["Key"]]


def test_a_second_publisher_waits_for_the_first_and_says_so_once(s3: S3Server) -> None:
    history, said, order = store(s3), list[str](), list[str]()
    first_in, let_go = threading.Event(), threading.Event()

    def first() -> None:
        with publish_lock(history.claim, TARGET):
            order.append("first in")
            first_in.set()
            let_go.wait(60)
            order.append("first out")

    def second() -> None:
        with publish_lock(history.claim, TARGET, said.append):
            order.append("second in")

    one = threading.Thread(target=first)
    one.start()
    assert first_in.wait(60) and len(locks(s3)) == 1
    two = threading.Thread(target=second)
    two.start()
    wait_for(lambda: bool(said))
    assert order == ["first in"]  # it waits
    let_go.set()
    one.join(60)
    two.join(60)
    assert order == ["first in", "first out", "second in"]
    assert len(said) == 1 and said[0].startswith(f"waiting for another run publishing {TARGET}")
    assert locks(s3) == []


def test_a_killed_runs_lock_is_taken_over_once_stale(s3: S3Server) -> None:
    history, said = store(s3), list[str]()
    with publish_lock(history.claim, TARGET):
        (key,) = locks(s3)
    taken = dt.datetime.now(dt.UTC) - STALE - dt.timedelta(minutes=1)
    stamp = taken.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = orjson.dumps({"run": "killed", "target": TARGET, "taken": stamp})
    s3.client().put_object(Bucket="exports", Key=key, Body=body)
    with publish_lock(history.claim, TARGET, said.append):
        held = s3.client().get_object(Bucket="exports", Key=key)["Body"].read()
        assert orjson.loads(held)["run"] != "killed"
    assert said == [] and locks(s3) == []


def test_a_lock_that_says_nothing_is_taken_over_once_stale_from_when_it_was_seen(
    s3: S3Server,
) -> None:
    history, said, clock = store(s3), list[str](), [dt.datetime.now(dt.UTC)]
    with publish_lock(history.claim, TARGET):
        (key,) = locks(s3)
    s3.client().put_object(Bucket="exports", Key=key, Body=b"not json")

    def later(_: Any) -> None:  # each wait: the clock moves on a minute
        clock[0] += dt.timedelta(minutes=1)

    with publish_lock(history.claim, TARGET, said.append, now=lambda: clock[0], sleep=later):
        minutes = (clock[0] - dt.datetime.now(dt.UTC)).total_seconds() / 60
    assert len(said) == 1 and 15 <= minutes <= 17 and locks(s3) == []


HOLDER = """
import sys, time
from pathlib import Path
from runner.history.s3 import S3History
from runner.history.s3_lock import publish_lock
from runner.locations import S3Location
from runner.sinks.s3.session import new_session
history = S3History(S3Location.parse(sys.argv[1]), new_session().client("s3"))
with publish_lock(history.claim, sys.argv[2]):
    Path(sys.argv[3]).write_text("held")
    time.sleep(600)
"""


def test_a_lock_whose_holder_on_this_host_was_killed_is_taken_over_at_once(
    s3: S3Server, tmp_path: Path
) -> None:
    # A run killed while it published left its lock: the next run waited 15 minutes
    # (a test that kills a run at its manifest found it). Its process is gone: at once.
    held = tmp_path / "held"
    where = "s3://exports/daily/.segments/history"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, where, TARGET, str(held)], env=cli_env(s3.env())
    )
    wait_for(lambda: held.exists() or holder.poll() is not None)
    assert holder.poll() is None and len(locks(s3)) == 1
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    said: list[str] = []
    with publish_lock(store(s3).claim, TARGET, said.append):
        assert len(locks(s3)) == 1
    assert said == [] and locks(s3) == []

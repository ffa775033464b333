"""An output's lock: taken again by the thread that holds it, it is held on (an export
holds it from reading its output's previous result to clearing it, and publishing inside
takes it again); another thread, or process, waits for it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from runner.sinks.local.locks import target_lock


@dataclass(frozen=True)
class Target:
    target: Path
    lock: Path


def test_the_holder_takes_it_again_and_another_thread_waits_for_the_last_release(
    tmp_path: Path,
) -> None:
    dest = Target(tmp_path / "out.csv", tmp_path / "locks" / "out.csv")
    got = threading.Event()

    def other() -> None:
        with target_lock(dest):
            got.set()

    with target_lock(dest):
        with target_lock(dest):  # (on a second descriptor, flock would wait for itself)
            thread = threading.Thread(target=other)
            thread.start()
            assert not got.wait(0.2)  # the other thread waits
        assert not got.wait(0.2)  # still held: the outer hold
    assert got.wait(10)
    thread.join(10)
    with target_lock(dest):  # released for good: taken at once
        pass

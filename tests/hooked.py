"""``segments`` in a child process, with test hooks injected (runner itself reads none).

Run as ``python tests/hooked.py ARGS...`` (the tests' :func:`tests.conftest.hooked_cmd`).
The hooks are chosen by the environment of this launcher only:

- ``SEGMENTS_TEST_STOP_BEFORE_MANIFEST``: the run stops itself (SIGSTOP) once its data is
  in place and before its manifest is, so a test can kill it exactly there;
- ``SEGMENTS_TEST_PRESET_LIMITS``: JSON ``{preset: limits}`` replacing those platforms'
  documented limits, so a few hundred rows pass a limit of 50 MB;
- ``SEGMENTS_TEST_STOP_AT``: the run stops itself (SIGSTOP) once, ``read-earlier``: having
  read its output's previous result, ``checked-superseded``: having checked the first file
  it would remove (its sha256; an S3 object: before its check and removal), so a test can
  let another run go meanwhile;
- ``SEGMENTS_TEST_SNAPSHOT_DAYS_AGO``: the run's id snapshot is named that many days in
  the past (as if it stored it and then waited that long for its publish lock).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from typing import Any

from runner.cli.main import main
from runner.history.record import utc_text
from runner.run import deltas, supersede
from runner.sinks import local
from runner.sinks.local import target
from runner.sinks.s3 import target as s3_target
from runner.spec import split

STOP_HOOK = "SEGMENTS_TEST_STOP_BEFORE_MANIFEST"
LIMITS = "SEGMENTS_TEST_PRESET_LIMITS"
DAYS_AGO = "SEGMENTS_TEST_SNAPSHOT_DAYS_AGO"
STOP_AT = "SEGMENTS_TEST_STOP_AT"


def _stop() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


def _stop_at(point: str) -> None:
    """Stop once, at ``point`` (see the module docstring)."""
    stopped: list[bool] = []

    def once() -> None:
        if not stopped:
            stopped.append(True)
            _stop()

    if point == "read-earlier":
        read = supersede.Earlier.read

        def read_then_stop(*args: Any) -> supersede.Earlier:
            found = read(*args)
            once()
            return found

        supersede.Earlier.read = read_then_stop  # type: ignore[method-assign,assignment]
    elif point == "checked-superseded":
        published_into = target.LocalTarget.published_into

        def checked_then_stop(self: target.LocalTarget, digest: Any) -> bool:
            found = published_into(self, digest)
            once()
            return found

        target.LocalTarget.published_into = checked_then_stop  # type: ignore[method-assign]
        remove = s3_target.S3Target.remove_published  # (S3: its check and removal, at once)

        def stop_then_remove(self: s3_target.S3Target, size: int, sha256: str) -> bool:
            once()
            return remove(self, size, sha256)

        s3_target.S3Target.remove_published = stop_then_remove  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get(STOP_HOOK):
        local.BEFORE_MANIFEST.append(_stop)
    if os.environ.get(LIMITS):
        split.PRESET_LIMITS = {**split.PRESET_LIMITS, **json.loads(os.environ[LIMITS])}
    if point := os.environ.get(STOP_AT):
        _stop_at(point)
    if days := os.environ.get(DAYS_AGO):
        ago = dt.timedelta(days=float(days))
        vars(deltas)["utc_now"] = lambda: utc_text(dt.datetime.now(dt.UTC) - ago)
    sys.exit(main(sys.argv[1:]))

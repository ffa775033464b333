"""``segments`` in a child process, with test hooks injected (runner itself reads none).

Run as ``python tests/hooked.py ARGS...`` (the tests' :func:`tests.conftest.hooked_cmd`).
The hooks are chosen by the environment of this launcher only:

- ``SEGMENTS_TEST_STOP_BEFORE_MANIFEST``: the run stops itself (SIGSTOP) once its data is
  in place and before its manifest is, so a test can kill it exactly there;
- ``SEGMENTS_TEST_PRESET_LIMITS``: JSON ``{preset: limits}`` replacing those platforms'
  documented limits, so a few hundred rows pass a limit of 50 MB.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from runner.cli.main import main
from runner.sinks import local
from runner.spec import split

STOP_HOOK = "SEGMENTS_TEST_STOP_BEFORE_MANIFEST"
LIMITS = "SEGMENTS_TEST_PRESET_LIMITS"


def _stop() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


if __name__ == "__main__":
    if os.environ.get(STOP_HOOK):
        local.BEFORE_MANIFEST.append(_stop)
    if os.environ.get(LIMITS):
        split.PRESET_LIMITS = {**split.PRESET_LIMITS, **json.loads(os.environ[LIMITS])}
    sys.exit(main(sys.argv[1:]))

"""One export task's run, without Airflow: ``segments export NAME --results FILE`` as a child
process, and what its typed result means for the task.

The runner is a child process so it may live in its own virtual environment (pyarrow and
boto3 never meet Airflow's pins) and so a task's memory goes when its export ends. Its
``--results`` file, not its output, says how the segment ended
(:class:`runner.history.RunStatus`): the exit code also counts problems in *other* segment
files, which must not fail this one.

What the task does with a result (:meth:`Finished.verdict`):

- ``success`` (or ``dry-run``): the task succeeds; the result is its XCom;
- ``guard``: the task fails and is not retried (the same rows would meet the same guard;
  ``--accept-change`` publishes past it once);
- ``failed``, ``interrupted``, or no result after a crash or a kill: the task fails and may
  be retried once (pages were already retried inside the runner);
- no result and exit 1 or 2 (a file with problems, a bad option): fails without a retry.
"""

from __future__ import annotations

import enum
import json
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAIL_LINES = 20  # of the runner's output, quoted when there is no result to explain a failure
RETRYABLE = frozenset({"failed", "interrupted"})
DONE = frozenset({"success", "dry-run"})
NOT_RETRIED_CODES = frozenset({1, 2})  # problems in a file, a usage error: the same next time


class Verdict(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # fail this try; Airflow may run the task once more
    FAIL = "fail"  # fail the task now, whatever retries are left


@dataclass(frozen=True)
class ExportCall:
    """How one task calls the runner."""

    segment: str
    project: Path
    concurrency: int
    segments_bin: str | None = None  # None: the `segments` beside this Python, else on PATH
    out: str | None = None  # --out DIR or s3://prefix
    as_of: str | None = None
    extra_args: Sequence[str] = ()

    def argv(self, results: Path) -> list[str]:
        command = [find_segments(self.segments_bin), "-C", str(self.project), "export"]
        command += [self.segment, "--results", str(results), "--progress", "log"]
        command += ["--concurrency", str(self.concurrency)]
        command += ["--out", self.out] if self.out else []
        command += ["--as-of", self.as_of] if self.as_of else []
        return [*command, *self.extra_args]


@dataclass(frozen=True)
class Finished:
    """What one run of the runner left: its exit code, its result, its last lines."""

    segment: str
    returncode: int
    result: dict[str, Any] | None
    tail: Sequence[str] = field(default_factory=tuple)

    def xcom(self) -> dict[str, Any] | None:
        """The figures downstream tasks read: rows, status, destination, manifest..."""
        if self.result is None:
            return None
        keys = ("segment", "status", "rows", "destination", "manifest", "sha256", "pages")
        return {k: self.result.get(k) for k in (*keys, "seconds", "error", "published")}

    def verdict(self) -> tuple[Verdict, str]:
        """What the task does, and the one line that says why."""
        if self.result is None:
            last = " | ".join(self.tail[-3:]) or "no output"
            told = f"segments exited {self.returncode} without a result for {self.segment}"
            if self.returncode in NOT_RETRIED_CODES:
                return Verdict.FAIL, f"{told} (not retried: the same input fails again): {last}"
            return Verdict.RETRY, f"{told}: {last}"
        status = str(self.result.get("status"))
        error = self.result.get("error") or status
        if status in DONE:
            return Verdict.OK, f"{self.segment}: {status}, {self.result.get('rows', 0):,} rows"
        if status == "guard":
            return Verdict.FAIL, (
                f"{self.segment}: drift guard stopped the export, the previous file is kept "
                f"(not retried: a retry meets the same guard; `segments export "
                f"{self.segment} --accept-change` publishes past it once): {error}"
            )
        if status in RETRYABLE:
            return Verdict.RETRY, f"{self.segment}: {status}: {error}"
        return Verdict.FAIL, f"{self.segment}: {status}: {error}"


def find_segments(given: str | None) -> str:
    """The runner's executable: ``given``, else the one installed beside this Python."""
    if given:
        return given
    beside = shutil.which("segments", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("segments")
    if found is None:
        raise FileNotFoundError(
            "no `segments` executable beside this Python or on PATH: install segment-runner "
            "here, or pass segments_bin= the path of the one in the runner's own environment"
        )
    return found


def run_export(call: ExportCall, log: Callable[[str], None]) -> Finished:
    """Run the export, passing each line of its output to ``log``; stop it if we are stopped."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with tempfile.TemporaryDirectory(prefix="segments-airflow-") as folder:
        results = Path(folder) / "results.json"
        with subprocess.Popen(
            call.argv(results),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            try:
                for line in process.stdout or ():
                    tail.append(line.rstrip("\n"))
                    log(tail[-1])
            except BaseException:  # the task is stopped: SIGTERM leaves nothing half-done
                process.terminate()
                raise
        return Finished(
            call.segment, process.returncode, _result(results, call.segment), tuple(tail)
        )


def _result(path: Path, segment: str) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    found = [r for r in document.get("results", []) if r.get("segment") == segment]
    return dict(found[0]) if found else None

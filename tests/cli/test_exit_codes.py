"""Exit codes, decided in one place (runner.cli.main), as a user's shell sees them:
0 ok, 1 problems / failed / OS failure, 2 usage, 130 Ctrl-C, 143 SIGTERM; never a traceback
for a user's mistake or an OS failure."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, NoReturn

import pytest

import runner.cli.commands
from runner.errors import ExitCode, FetchError, Terminated, UsageError
from runner.sandbox import Sandbox
from tests.conftest import (
    ANCHOR,
    ROOT,
    api_env,
    cli_env,
    make_project,
    run_cli,
    sigint_default,
    wait_for,
)

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
filter:
  isContact: false
  applicableFilters: []
output:
  format: csv
  path: out/{name}.csv
"""


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "USAGE": 2,
        "INTERRUPTED": 130,
        "TERMINATED": 143,
    }
    readme = (ROOT / "README.md").read_text("utf-8")
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 130 |", "| 143 |"):
        assert code in readme


@pytest.mark.parametrize(
    ("args", "code", "stderr_end"),
    [
        (["--version"], 0, ""),
        (["--help"], 0, ""),
        ([], 2, "error: the following arguments are required: COMMAND\n"),
        (
            ["nosuch"],
            2,
            "(choose from 'validate', 'render', 'list', 'export', 'history', 'overlap', 'freshness', "
            "'catalog', 'diff', 'init', 'sandbox')\n",
        ),
        (["export", "--bogus"], 2, "segments: error: unrecognized arguments: --bogus\n"),
        (["render", "--format", "xml"], 2, "invalid choice: 'xml' (choose from 'text', 'json')\n"),
        (["list", "no-such-segment"], 2, "segments: error: no segment matches 'no-such-segment'\n"),
        (
            ["freshness", "--format", "xml"],
            2,
            "invalid choice: 'xml' (choose from 'text', 'json')\n",
        ),
        (["freshness", "no-such-segment"], 2, "no segment matches 'no-such-segment'\n"),
        (
            ["catalog", "--exports", ""],
            2,
            "--exports: is empty: give a folder or an s3://BUCKET[/PREFIX]\n",
        ),
        (
            ["catalog", "label:nosuch"],
            2,
            "segments: error: no segment has the label 'nosuch' (in use: none)\n",
        ),
    ],
)
def test_usage_errors_exit_2_and_help_exits_0(
    tmp_path: Path, args: list[str], code: int, stderr_end: str
) -> None:
    make_project(tmp_path, {"everyone": SEGMENT.format(name="everyone")})
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert result.stderr.endswith(stderr_end)
    assert "Traceback" not in result.stderr


def test_full_disk_behind_stdout_is_one_line(tmp_path: Path) -> None:
    make_project(tmp_path, {"everyone": SEGMENT.format(name="everyone")})
    with open("/dev/full", "w") as full:  # every write: ENOSPC, as a full disk gives
        for command in (["list"], ["render", "--as-of", ANCHOR]):
            done = subprocess.run(
                [sys.executable, "-m", "runner", *command],
                cwd=tmp_path,
                env=cli_env(),
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
            assert (done.returncode, done.stderr) == (
                1,
                "segments: error: standard output: No space left on device\n",
            )


@pytest.mark.parametrize("segments", [1, 200])  # output written at exit, or mid-command
def test_reader_gone_is_quiet(tmp_path: Path, segments: int) -> None:
    make_project(tmp_path, {f"s{i:03}": SEGMENT.format(name=f"s{i:03}") for i in range(segments)})
    read_end, write_end = os.pipe()
    os.close(read_end)  # `segments render | head -0`: nobody reads
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runner", "render", "--as-of", ANCHOR, "--format", "json"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


RAISE = """\
import sys
import runner.cli.commands
from runner.errors import *

def fail(*args, **kwargs):
    raise {exc}

runner.cli.commands.list_segments = fail
from runner.cli.main import main
sys.exit(main(["list"]))
"""

MAPPING: list[tuple[BaseException, int, str]] = [
    (UsageError("no such thing"), 2, "segments: error: no such thing"),
    (FetchError("page 3: HTTP 500"), 1, "segments: error: page 3: HTTP 500"),
    (
        OSError(28, "No space left on device", "out/x.csv"),
        1,
        "segments: error: out/x.csv: No space left on device",
    ),
    (
        OSError(18, "Invalid cross-device link", "a", None, "b"),
        1,
        "segments: error: a -> b: Invalid cross-device link",
    ),
    (
        PermissionError(13, "Permission denied", "bad\nname"),
        1,
        "segments: error: 'bad\\nname': Permission denied",
    ),
    (
        RecursionError("maximum recursion depth exceeded"),
        1,
        "segments: error: RecursionError: maximum recursion depth exceeded",
    ),
    (MemoryError(), 1, "segments: error: MemoryError"),
    (
        UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed"),
        1,
        "segments: error: UnicodeEncodeError: 'utf-8' codec can't encode character '\\udcff' "
        "in position 0: surrogates not allowed",
    ),
    (
        OverflowError("date value out of range"),
        1,
        "segments: error: OverflowError: date value out of range",
    ),
    (KeyboardInterrupt(), 130, "segments: interrupted"),
    (Terminated(), 143, "segments: terminated"),
]


@pytest.mark.parametrize(
    ("exc", "code", "line"), MAPPING, ids=[type(m[0]).__name__ for m in MAPPING]
)
def test_each_outcome_maps_to_one_code_and_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exc: BaseException, code: int, line: str
) -> None:
    """In this process: main() is where an outcome becomes a code and a line, and the
    entry point only exits with what it returns (the signal tests below run the real one)."""

    def fail(*args: object, **kwargs: object) -> NoReturn:
        raise exc

    monkeypatch.setattr(runner.cli.commands, "list_segments", fail)
    done = run_cli("list", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (code, line + "\n")


def test_programming_errors_keep_their_traceback(tmp_path: Path) -> None:
    """Only user input and OS failures are one line; a bug shows where it is."""
    done = subprocess.run(
        [sys.executable, "-c", RAISE.format(exc="TypeError('a bug')")],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and done.stderr.endswith("TypeError: a bug\n")
    deep = RAISE.format(exc="RecursionError('deep')")
    done = subprocess.run(
        [sys.executable, "-c", deep],
        env=cli_env({"SEGMENTS_TRACEBACK": "1"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" in done.stderr and done.stderr.endswith("RecursionError: deep\n")


def _pages_shown(progress: bytearray) -> int:
    return max((int(n) for n in re.findall(rb"everyone: page (\d+),", progress)), default=0)


def _drain(stream: IO[bytes], into: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(4096), b""):  # type: ignore[attr-defined]
        into.extend(chunk)


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_signal_mid_export_exits_with_its_code(
    sandbox: Start, tmp_path: Path, sig: int, code: int, word: str
) -> None:
    """The run stops with the signal's code; what ran is still summed up (``interrupted``,
    then ``skipped`` for the segments it never reached), on stdout and in --results."""
    slow = sandbox(users=3000, page_size=10, latency_ms=40)
    segments = {name: SEGMENT.format(name=name) for name in ("everyone", "later")}
    project = make_project(tmp_path, segments)
    command = ["export", "--as-of", ANCHOR, "--concurrency", "1", "--progress", "live"]
    summary = tmp_path / "summary.txt"
    with summary.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", *command, "--results", "results.json"],
            cwd=project,
            env=cli_env(api_env(slow)),
            stdout=stdout,
            stderr=subprocess.PIPE,
            preexec_fn=sigint_default,
        )
    err = bytearray()
    assert proc.stderr is not None
    reader = threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)
    reader.start()
    try:
        wait_for(lambda: _pages_shown(err) >= 2)  # the run is really under way
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=10)
        proc.stderr.close()
    assert proc.returncode == code
    text = err.decode()
    assert "Traceback" not in text
    assert re.search(
        r"everyone: INTERRUPTED after [\d,]+ rows?, \d+ pages?, [^\n]*\n"
        f"segments: {word}; nothing was published for the unfinished segment\n$",
        text,
    ), text[-500:]
    results = json.loads((project / "results.json").read_text("utf-8"))
    assert [(r["segment"], r["status"], r["error"]) for r in results["results"]] == [
        ("everyone", "interrupted", "interrupted"),
        ("later", "skipped", ""),
    ]
    assert results["success"] is False and results["results"][0]["pages"] >= 2
    shown = summary.read_text("utf-8").splitlines()
    assert [line.split()[-1] for line in shown[1:3]] == ["interrupted", "skipped"]
    assert shown[-1] == "0 of 2 segments exported, 1 interrupted, 1 skipped"
    out = project / "out"
    assert not out.exists() or list(out.iterdir()) == []  # nothing half-written, no temporary

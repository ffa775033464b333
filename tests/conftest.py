from __future__ import annotations

import gc
import gzip
import hashlib
import importlib.util
import io
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox, SandboxOptions
from runner.sandbox.dataset import Dataset, Recipe, build

ROOT = Path(__file__).resolve().parent.parent
# tests/airflow needs Apache Airflow, which the development environment leaves out (its
# pins clash with ours): where it is absent, that folder is not collected at all, and
# `make test-airflow` runs it in .venv-airflow.
collect_ignore = [] if importlib.util.find_spec("airflow") else ["airflow"]
CASES = ROOT / "tests" / "cases"


# runner.yaml for exports against the sandbox that say `windows: true|false` (%s):
# fast retries, a read timeout long enough for a deep page on a loaded machine.
# One segment of every contact, its ids only: the export tests of fetching share it.
EVERYONE_IDS = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {path: out/everyone.csv, columns: [{name: _id, path: _id}]}
"""
WINDOWS_RUNNER = """\
version: 1
api:
  retry: {max_attempts: 12, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.05}
  timeout: {connect: 2, read: 10}
  windows: %s
timezone: UTC
"""


def file_text(path: Path) -> str:
    """A written file's text as a leak check must read it: gzip (the id snapshots,
    ``.gz`` outputs) decompressed first, other bytes decoded with replacement."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def cli_env(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """The test's environment plus ``env``; a None value removes that variable."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWMATIX_", "AWS_"))}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def sigint_default() -> None:
    """``preexec_fn`` of a child a test sends SIGINT: Ctrl-C at its default, as a terminal
    starts a program. A child inherits an ignored SIGINT (a shell starts a job run with
    ``&`` so, and ``make`` or CI may run the suite there), and Python then leaves it
    ignored: the signal under test would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ``segments`` with test hooks injected (tests/hooked.py): for runs a test stops or sizes.
HOOKED = [sys.executable, str(ROOT / "tests" / "hooked.py")]


def run_cli(
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str | None] | None = None,
    timeout: float = 120,
    hooked: bool = False,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``segments ARGS`` as a user would and return its exit code and output.

    In this process (``runner.cli.main`` with this environment, folder, stdout and
    stderr) unless a process boundary is what the test is about: ``process=True`` runs
    ``python -m runner`` in a child (signals, a real stdout, start-up), ``hooked=True``
    tests/hooked.py (test hooks injected). Output reads as ``text=True`` would read it.
    """
    if hooked or process:
        return subprocess.run(
            [*(HOOKED if hooked else [sys.executable, "-m", "runner"]), *args],
            cwd=cwd,
            env=cli_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return _in_process(list(args), cwd, cli_env(env))


def _in_process(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    from runner.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    streams = [io.TextIOWrapper(b, encoding="utf-8", errors="surrogateescape") for b in (out, err)]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdout, sys.stderr
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdout, sys.stderr = streams
    try:
        code = main(args)
    finally:
        for stream in streams:
            stream.flush()
        sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    text = [_universal(b.getvalue().decode("utf-8", "surrogateescape")) for b in (out, err)]
    return subprocess.CompletedProcess(["segments", *args], int(code), text[0], text[1])


@contextmanager
def collector_held() -> Iterator[None]:
    """No garbage collection inside: for a test that counts the Python calls a piece of
    code makes (``sys.setprofile``). A collection that falls inside runs finalizers of
    other tests' objects (a socket's, a generator's): calls the code did not make (7
    counted where 6 is the bound, once, in a fresh clone's ``make test``)."""
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _universal(text: str) -> str:
    """What ``text=True`` gives for these bytes: line ends read as newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with a segments/ directory."""
    (tmp_path / "segments").mkdir()
    return tmp_path


ANCHOR = "2026-11-25T00:00:00Z"


class BuiltOnce:
    """Each sandbox's contacts built once a test run (:mod:`runner.sandbox.dataset`):
    what a recipe built is kept as a file that every test process of the run reads
    again (about 10 us a contact, where building takes 80 to 150). Each server gets
    contacts of its own, read from the file: a test may change them, as churn does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, recipe: Recipe) -> Dataset:
        path = self.folder / f"{hashlib.sha256(repr(recipe).encode()).hexdigest()}.pickle"
        try:
            data: Dataset = pickle.loads(path.read_bytes())  # files this run wrote
        except FileNotFoundError:
            data = build(recipe)
            written = path.with_name(f"{path.name}.{os.getpid()}")  # whole, then renamed
            written.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(written, path)
        return data


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> BuiltOnce:
    """A folder of the run's, shared by its test processes (pytest-xdist gives each a
    base folder inside the run's)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "sandbox-contacts"
    folder.mkdir(exist_ok=True)
    return BuiltOnce(folder)


@pytest.fixture
def sandbox(built_once: BuiltOnce) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on 127.0.0.1 and a free port; all are stopped after the test.

    ``api = sandbox(users=500, faults="429=0.2")``; ``api.truth(body)`` is the ground truth.
    """
    started: list[Sandbox] = []

    def start(**options: object) -> Sandbox:
        opts = SandboxOptions(**{"anchor": ANCHOR, **options})  # type: ignore[arg-type]
        api = Sandbox(opts, built_once).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


def api_env(api: Sandbox, token: str | None = None) -> dict[str, str | None]:
    """What the CLI needs to reach ``api``: its URL and a token (the sandbox's own unless
    given)."""
    return {
        "FLOWMATIX_API_URL": api.url,
        "FLOWMATIX_TOKEN": api.options.token if token is None else token,
    }


def export_ok(
    project: Path, api: Sandbox, *options: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``segments export`` of ``project`` against ``api`` at :data:`ANCHOR`, which must
    succeed: its output and its ``--results`` entry (the first segment's)."""
    done = run_cli(
        "export", "--as-of", ANCHOR, "--results", "results.json", *options,
        cwd=project, env=api_env(api),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads((project / "results.json").read_text())["results"][0]


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound for the block, never listening,
    so no other test (or xdist worker) can start a server on it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class RunsList:
    """The run's own list, told from the others a stand-in is asked for: the ``createdAt``
    range of the first request it sees (the first window's, or page numbers' own list).
    Call it under the stand-in's lock."""

    def __init__(self) -> None:
        self.range: Any = ...  # (not seen yet)

    def __call__(self, body: dict[str, Any]) -> bool:
        if self.range is ...:
            self.range = body.get("createdAt")
        return bool(body.get("createdAt") == self.range)


def full_body(**fields: object) -> dict[str, object]:
    from runner.spec.schema import filter_defaults

    return {**filter_defaults(), "page": 1, "isExport": "none", **fields}


FAST_RETRY = """\
version: 1
api:
  retry: {max_attempts: 12, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.02, deadline: 60}
  timeout: {connect: 2, read: 2}
timezone: UTC
"""


def make_project(root: Path, segments: dict[str, str], runner_yaml: str = FAST_RETRY) -> Path:
    """A project folder with runner.yaml (fast retries) and the given segment files."""
    (root / "segments").mkdir(parents=True, exist_ok=True)
    (root / "runner.yaml").write_text(runner_yaml, "utf-8")
    for name, text in segments.items():
        (root / "segments" / f"{name}.yaml").write_text(text, "utf-8")
    return root


def rendered_body(project: Path, name: str, as_of: str = ANCHOR) -> dict[str, object]:
    from runner.spec.workspace import Workspace

    ws = Workspace.open(project, as_of=as_of, env={})
    (seg,) = ws.select([name])
    return dict(seg.body)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One moto server per test process: starting one costs about 0.7 s of CPU (it
    imports moto, Flask and botocore), paid some forty times a run before."""
    from tests.integration.s3servers import run_server

    with run_server("moto", tmp_path_factory.mktemp("moto")) as server:
        yield server


# The S3 servers a test runs against: rclone's runs are `slow` (see :func:`s3`).
S3_SERVERS = ["moto", pytest.param("rclone", marks=pytest.mark.slow)]


@pytest.fixture(params=S3_SERVERS)
def s3(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """A real S3-compatible server on 127.0.0.1 and a free port, with bucket 'exports'
    and nothing else: moto's is shared by the tests of one process and emptied before
    each (its documented reset: every bucket, object and open multipart upload goes);
    rclone's is started for each test (it keeps open uploads in memory, and a Go
    binary starts in milliseconds). Each test runs against both; rclone's runs are
    `slow` (`make test-slow`, CI): the second server, 12 % of `make test`'s CPU. The
    tests of what only rclone does (credentials, a folder in an object's place) name
    it themselves and stay in `make test`."""
    from tests.integration.s3servers import reset_moto, run_server

    if request.param == "moto":
        server = request.getfixturevalue("moto_server")
        reset_moto(server)
        server.client().create_bucket(Bucket="exports")
        yield server
        return
    with run_server(request.param, tmp_path_factory.mktemp(request.param)) as server:
        server.client().create_bucket(Bucket="exports")
        yield server

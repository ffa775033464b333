"""Notifications through apprise to a webhook server started by the test: what arrives,
what never does (the token, the URL), and that a failing or hanging hook is only a warning."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runner.history.record import RunRecord, RunStatus, new_run_id
from runner.run.notify import ci_link, describe_url, expand, notify_run
from runner.spec.notify import NotifyTarget

TOKEN = "tok-Zq9-VERY-SECRET-123"
SECRET_PATH = "hooks/T0KEN-IN-PATH-42"


@dataclass
class Hook:
    """A webhook server: /ok/... answers 200, /fail/... 500, /hang/... never answers,
    /trickle/... answers a byte every 0.2 s."""

    port: int
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, mode: str, path: str = SECRET_PATH) -> str:
        return f"json://127.0.0.1:{self.port}/{mode}/{path}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mode = self.path.split("/")[1]
            if mode == "hang":  # accepts, reads the request, never answers
                state.release.wait(60)
                return
            if mode == "trickle":  # answers one byte at a time: no read ever times out
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 1000:
                    if state.release.wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                return
            state.received.append((self.path, json.loads(body)))
            self.send_response(500 if mode == "fail" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def record(status: str, **fields: Any) -> RunRecord:
    ended = "2026-11-25T00:03:00.000Z"
    return RunRecord(
        run_id=new_run_id(ended),
        segment="vip-daily",
        status=RunStatus(status),
        ended=ended,
        destination="exports/vip-daily.csv",
        **fields,
    )


PREVIOUS = record("success", rows=1000, as_of="2026-11-24T00:00:00+00:00")
GITHUB = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/segments",
    "GITHUB_RUN_ID": "4242",
}


def scrub(text: str) -> str:
    """The caller's redaction function (the export passes its token redactor)."""
    return text.replace(TOKEN, "***")


def send(
    targets: list[NotifyTarget],
    rec: RunRecord,
    env: dict[str, str] | None = None,
    timeout: float = 5,
) -> list[str]:
    return notify_run(targets, rec, PREVIOUS, env=env or GITHUB, redact=scrub, timeout=timeout)


def test_a_failure_arrives_with_the_fields_and_without_the_token(hook: Hook) -> None:
    failed = record("failed", error=f"401 from the API: bad header 'Bearer {TOKEN}'")
    warnings = send([NotifyTarget(hook.url("ok"))], failed)
    assert warnings == []
    ((path, payload),) = hook.received
    assert path == f"/ok/{SECRET_PATH}"
    assert payload["type"] == "failure"
    assert payload["title"] == "segments: vip-daily failed"
    text = payload["message"]
    assert "segment: vip-daily" in text and "status: failed" in text
    assert "error: 401 from the API: bad header 'Bearer ***'" in text
    assert "run: https://github.com/acme/segments/actions/runs/4242" in text
    assert TOKEN[:8] not in json.dumps(payload)


def test_a_guard_trip_gives_both_numbers_and_the_change(hook: Hook) -> None:
    message = "rows 480 vs 1000 at the last successful run (2026-11-24T00:00Z): -52.0%, above expect.max_change 30%"
    guarded = record("guard", rows=480, error=message)
    assert (
        send(
            [NotifyTarget(hook.url("ok"), frozenset({"guard"}))],
            guarded,
            {"CI_JOB_URL": "https://gitlab.example/acme/-/jobs/7"},
        )
        == []
    )
    ((_, payload),) = hook.received
    assert payload["type"] == "warning"
    lines = payload["message"].splitlines()
    assert "rows: 480 now, 1,000 at the last successful run (2026-11-24T00:00Z)" in lines
    assert "change: -520 rows, -52.0%" in lines
    assert f"error: {message}" in lines
    assert "run: https://gitlab.example/acme/-/jobs/7" in lines


@pytest.mark.parametrize(
    ("rows", "before", "expected"),
    [
        (
            1300,
            1000,
            [
                "rows: 1,300 now, 1,000 at the last successful run (2026-11-24T00:00Z)",
                "change: +300 rows, +30.0%",
            ],
        ),
        (
            7,
            0,
            [
                "rows: 7 now, 0 at the last successful run (2026-11-24T00:00Z)",
                "change: +7 rows, up from none",
            ],
        ),
        (
            0,
            0,
            ["rows: 0 now, 0 at the last successful run (2026-11-24T00:00Z)", "change: no change"],
        ),
        (25, None, ["rows: 25 (no successful run before to compare with)"]),
    ],
)
def test_the_numbers_before_and_now_in_every_shape(
    hook: Hook, rows: int, before: int | None, expected: list[str]
) -> None:
    previous = (
        None
        if before is None
        else record("success", rows=before, as_of="2026-11-24T00:00:00+00:00")
    )
    target = NotifyTarget(hook.url("ok"), frozenset({"guard", "success"}))
    assert (
        notify_run([target], record("guard", rows=rows, error="g"), previous, env={}, redact=scrub)
        == []
    )
    lines = hook.received[0][1]["message"].splitlines()
    assert [line for line in lines if line.startswith(("rows:", "change:"))] == expected


def test_a_delta_run_says_what_was_added_and_removed_and_links_the_catalog(hook: Hook) -> None:
    target = NotifyTarget(hook.url("ok"), frozenset({"success"}))
    done = record("success", rows=1012, added=15, removed=3)
    catalog = "https://acme.github.io/segments/vip-daily.html"
    assert notify_run([target], done, PREVIOUS, env={}, redact=scrub, catalog=catalog) == []
    lines = hook.received[0][1]["message"].splitlines()
    assert "delta: +15 added, -3 removed" in lines
    assert f"catalog: {catalog}" in lines
    hook.received.clear()
    # Without deltas (added/removed unknown) there is no delta line, and no catalog line
    # without a catalog.
    assert notify_run([target], record("success", rows=5), PREVIOUS, env={}, redact=scrub) == []
    lines = hook.received[0][1]["message"].splitlines()
    assert not [line for line in lines if line.startswith(("delta:", "catalog:"))]


def test_each_target_gets_only_the_events_it_asked_for(hook: Hook) -> None:
    targets = [
        NotifyTarget(hook.url("ok", "a")),  # failure and guard by default
        NotifyTarget(hook.url("ok", "b"), frozenset({"success"})),
        NotifyTarget(hook.url("ok", "c"), frozenset(["failure", "guard", "success"])),
    ]
    assert send(targets, record("success", rows=990)) == []
    assert sorted(p for p, _ in hook.received) == ["/ok/b", "/ok/c"]
    assert "change: -10 rows, -1.0%" in hook.received[0][1]["message"]
    hook.received.clear()
    assert send(targets, record("interrupted", error="interrupted")) == []
    assert sorted(p for p, _ in hook.received) == ["/ok/a", "/ok/c"]


def test_urls_come_from_the_environment_and_a_missing_one_is_a_warning(hook: Hook) -> None:
    target = NotifyTarget("json://127.0.0.1:${HOOK_PORT}/ok/${HOOK_PATH}")
    env = {**GITHUB, "HOOK_PORT": str(hook.port), "HOOK_PATH": "from-env"}
    assert send([target], record("failed", error="boom"), env) == []
    assert [p for p, _ in hook.received] == ["/ok/from-env"]
    warnings = send([target], record("failed", error="boom"), {"HOOK_PORT": str(hook.port)})
    assert warnings == [
        "notification 1 (json://127.0.0.1:"
        + str(hook.port)
        + "): ${HOOK_PATH} is not set; not sent"
    ]
    assert len(hook.received) == 1


def test_a_500_is_a_warning_naming_only_scheme_and_host(hook: Hook) -> None:
    warnings = send(
        [NotifyTarget(hook.url("fail")), NotifyTarget(hook.url("ok"))], record("failed", error="x")
    )
    assert len(hook.received) == 2  # the second target still got its message
    (warning,) = warnings
    assert warning.startswith(
        f"notification 1 (json://127.0.0.1:{hook.port}) on failure: not delivered ("
    )
    assert "500" in warning
    assert "T0KEN-IN-PATH" not in warning and "hooks" not in warning


def test_a_hanging_hook_is_given_up_at_the_deadline(hook: Hook) -> None:
    started = time.monotonic()
    targets = [NotifyTarget(hook.url("hang")), NotifyTarget(hook.url("ok"))]
    warnings = send(targets, record("failed", error="x"), timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"took {elapsed:.1f}s"
    assert warnings == [
        f"notification 1 (json://127.0.0.1:{hook.port}) on failure: no answer within 1s; gave up"
    ]
    assert [p for p, _ in hook.received] == [f"/ok/{SECRET_PATH}"]


def test_a_hook_that_answers_too_slowly_is_left_behind(hook: Hook) -> None:
    """Each read gets a byte in time, so no socket timeout fires: the deadline does."""
    started = time.monotonic()
    targets = [NotifyTarget(hook.url("trickle")), NotifyTarget(hook.url("ok"))]
    warnings = send(targets, record("guard", rows=1, error="guard"), timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"took {elapsed:.1f}s"
    label = f"json://127.0.0.1:{hook.port}"
    assert warnings == [f"notification 1 ({label}) on guard: no answer within 1s; gave up"]
    assert [p for p, _ in hook.received] == [f"/ok/{SECRET_PATH}"]  # the other one still went


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_six_targets_that_never_answer_take_one_deadline_not_six(hook: Hook, mode: str) -> None:
    """Targets are sent to in parallel under one deadline: six hanging webhooks (real
    sockets, real servers) and one that answers take the deadline plus a small margin.
    (4 s: at 2 s the one that answers missed the deadline once on a doubly loaded 2-core
    machine; six deadlines would be 24 s.)"""
    deadline = 4.0
    targets = [NotifyTarget(hook.url(mode, f"hooks/SECRET-{n}")) for n in range(6)]
    targets.append(NotifyTarget(hook.url("ok")))
    started = time.monotonic()
    warnings = send(targets, record("failed", error="x"), timeout=deadline)
    elapsed = time.monotonic() - started
    assert deadline <= elapsed < deadline + 1.5, f"took {elapsed:.2f}s"
    label = f"json://127.0.0.1:{hook.port}"
    assert warnings == [
        f"notification {n} ({label}) on failure: no answer within 4s; gave up" for n in range(1, 7)
    ]
    assert "SECRET" not in " ".join(warnings)
    assert [p for p, _ in hook.received] == [f"/ok/{SECRET_PATH}"]


def test_failures_of_parallel_targets_stay_with_their_own_target(hook: Hook) -> None:
    """apprise logs a failure's detail; each target's line gets its own, not a neighbour's."""
    targets = [
        NotifyTarget(hook.url("fail", "a")),
        NotifyTarget(hook.url("ok", "b")),
        NotifyTarget("json://127.0.0.1:1/refused"),  # nothing listens on port 1
        NotifyTarget(hook.url("fail", "c")),
    ]
    warnings = send(targets, record("failed", error="x"), timeout=5)
    assert len(warnings) == 3
    first, refused, last = warnings
    assert first.startswith(
        f"notification 1 (json://127.0.0.1:{hook.port}) on failure: not delivered ("
    )
    assert "500" in first and "500" in last and last.startswith("notification 4 ")
    assert refused.startswith("notification 3 (json://127.0.0.1:1) on failure: not delivered (")
    assert "500" not in refused and "onnection" in refused


def test_a_url_apprise_cannot_use_never_shows_its_secret_parts(hook: Hook) -> None:
    targets = [
        NotifyTarget("nosuchscheme://secret-host-part/abc"),
        NotifyTarget("slack://TOKENA-secret/TOKENB/TOKENC"),
    ]
    warnings = send(targets, record("failed", error="x"))
    assert (
        warnings[0]
        == "notification 1 (nosuchscheme://…): apprise does not understand this URL; not sent"
    )
    assert "secret" not in " ".join(warnings) and "TOKEN" not in " ".join(warnings)


def test_nothing_is_printed_by_apprise(hook: Hook, capfd: pytest.CaptureFixture[str]) -> None:
    send(
        [NotifyTarget(hook.url("fail")), NotifyTarget("nosuchscheme://secret-host-part/abc")],
        record("failed", error="x"),
    )
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_helpers() -> None:
    assert expand("a${X}b${Y}", {"X": "1"}) == ("a1b", ["Y"])
    assert (
        describe_url("json://user:pw@hooks.example.com:8443/x") == "json://hooks.example.com:8443"
    )
    assert describe_url("discord://1234/secret") == "discord://…"
    assert ci_link({}) is None
    assert (
        ci_link({**GITHUB, "GITHUB_SERVER_URL": "https://ghe.example/"})
        == "https://ghe.example/acme/segments/actions/runs/4242"
    )

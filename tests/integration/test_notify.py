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
from runner.run.notify import NotifyTarget, ci_link, describe_url, expand, notify_run

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
    text = payload["message"]
    assert "rows: 480" in text
    assert "change: rows 480 vs 1000 at the last successful run (2026-11-24T00:00Z): -52.0%" in text
    assert f"error: {message}" in text
    assert "run: https://gitlab.example/acme/-/jobs/7" in text


def test_each_target_gets_only_the_events_it_asked_for(hook: Hook) -> None:
    targets = [
        NotifyTarget(hook.url("ok", "a")),  # failure and guard by default
        NotifyTarget(hook.url("ok", "b"), frozenset({"success"})),
        NotifyTarget(hook.url("ok", "c"), frozenset(["failure", "guard", "success"])),
    ]
    assert send(targets, record("success", rows=990)) == []
    assert sorted(p for p, _ in hook.received) == ["/ok/b", "/ok/c"]
    assert (
        "change: rows 990 vs 1000 at the last successful run (2026-11-24T00:00Z): -1.0%"
        in hook.received[0][1]["message"]
    )
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


def test_a_hanging_hook_is_given_up_after_the_timeout(hook: Hook) -> None:
    started = time.monotonic()
    targets = [NotifyTarget(hook.url("hang")), NotifyTarget(hook.url("ok"))]
    warnings = send(targets, record("failed", error="x"), timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"took {elapsed:.1f}s"
    (warning,) = warnings
    assert warning == (
        f"notification 1 (json://127.0.0.1:{hook.port}) on failure: not delivered "
        "(A Connection error occurred sending JSON notification to 127.0.0.1.)"
    )
    assert [p for p, _ in hook.received] == [f"/ok/{SECRET_PATH}"]


def test_a_hook_that_answers_too_slowly_is_left_behind(hook: Hook) -> None:
    """Each read gets a byte in time, so no socket timeout fires: the deadline does."""
    started = time.monotonic()
    targets = [NotifyTarget(hook.url("trickle")), NotifyTarget(hook.url("ok"))]
    warnings = send(targets, record("guard", rows=1, error="guard"), timeout=1)
    elapsed = time.monotonic() - started
    assert 2 < elapsed < 5, f"took {elapsed:.1f}s"
    label = f"json://127.0.0.1:{hook.port}"
    assert warnings == [
        f"notification 1 ({label}) on guard: no answer within 1s; gave up",
        f"notification 2 ({label}) on guard: not sent: an earlier notification took all the time",
    ]


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


def test_target_parsing_names_the_key_the_value_and_the_choices() -> None:
    assert NotifyTarget.parse({"url": " json://h/p ", "on": ["success"]}) == NotifyTarget(
        "json://h/p", frozenset({"success"})
    )
    assert NotifyTarget.parse("json://h/p").on == frozenset({"failure", "guard"})
    with pytest.raises(
        ValueError, match=r"^notify\[1\]\.on: 'fail' is not one of failure, guard, success, stale$"
    ):
        NotifyTarget.parse({"url": "json://h/p", "on": ["fail"]}, "notify[1]")
    with pytest.raises(ValueError, match=r"unknown key 'onn'"):
        NotifyTarget.parse({"url": "json://h/p", "onn": ["failure"]})
    with pytest.raises(ValueError, match=r"\.url: expected an apprise URL"):
        NotifyTarget.parse({"on": ["failure"]})


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

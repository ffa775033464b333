"""Notifications: one message per finished run, to the URLs listed under ``notify:``.

The targets arrive typed and checked (:mod:`runner.spec.notify`): ``url`` in apprise's
syntax (``slack://…``, ``discord://…``, ``mailto://…``, ``jsons://host/path`` for a
generic webhook and 100 more: https://github.com/caronc/apprise/wiki), ``on`` any of
``failure``, ``guard``, ``success``, and ``stale`` (``segments freshness`` found the
segment's last published export too old). URLs are secrets: write ``${SLACK_WEBHOOK}`` and
the variable's value is used; no URL is ever printed (a problem names the target by
number, scheme and host only).

Sending never changes a run's result, and never holds it up for long: every target
is sent to at once, each in its own thread, and the call returns by one deadline
(``notify_timeout`` in runner.yaml, 15 s by default) however many targets there are;
whatever has not answered by then, failed or raised becomes one warning line. The
message passes through the caller's redaction function, so the API token cannot
leave in an error line.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from runner.history.freshness import Judgement
from runner.history.guard import percent, short_time
from runner.history.record import RunRecord, RunStatus
from runner.spec.notify import VARIABLE, NotifyTarget
from runner.spec.project import NOTIFY_TIMEOUT

EVENT_OF = {
    RunStatus.SUCCESS: "success",
    RunStatus.GUARD: "guard",
    RunStatus.FAILED: "failure",
    RunStatus.INTERRUPTED: "failure",
}


def expand(url: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``url`` with each ``${NAME}`` replaced from ``env``; the names that are not set."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            missing.append(name)
            return ""
        return env[name]

    return VARIABLE.sub(value, url), missing


def describe_url(url: str) -> str:
    """What may be shown of a target URL: the scheme, and the host when it is a host name
    (in ``slack://TokenA/…`` the "host" is a secret, so it is hidden)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unreadable URL"
    if not parts.scheme:
        return "a URL without a scheme"
    if host == "localhost" or "." in host:
        return f"{parts.scheme}://{host}{port}"
    return f"{parts.scheme}://…"


def ci_link(env: Mapping[str, str]) -> str | None:
    """The CI run this process belongs to (GitHub Actions or GitLab CI), or None."""
    server, repo, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return env.get("CI_JOB_URL") or None


def catalog_link(template: str | None, segment: str) -> str | None:
    """The segment's page in the published catalog (``catalog_url``), or None."""
    return template.replace("{segment}", segment) if template else None


def message(
    record: RunRecord,
    previous: RunRecord | None,
    link: str | None,
    catalog: str | None = None,
) -> tuple[str, str]:
    """The title and body of the notification for ``record``: what a person acting on
    it wants first (the numbers now and before, what was added and removed), then where."""
    title = f"segments: {record.segment} {record.status}"
    lines = [f"segment: {record.segment}", f"status: {record.status}"]
    if record.status in (RunStatus.SUCCESS, RunStatus.GUARD):
        lines += _counts(record, previous)
    if record.error:
        lines.append(f"error: {record.error}")
    if record.destination:
        lines.append(f"destination: {record.destination}")
    if catalog:
        lines.append(f"catalog: {catalog}")
    if link:
        lines.append(f"run: {link}")
    return title, "\n".join(lines)


def _counts(record: RunRecord, previous: RunRecord | None) -> list[str]:
    """``rows: 480 now, 1,000 at the last successful run (…)``, the change, the delta."""
    if previous is None:
        lines = [f"rows: {record.rows:,} (no successful run before to compare with)"]
    else:
        when = short_time(previous.as_of or previous.ended)
        lines = [
            f"rows: {record.rows:,} now, {previous.rows:,} at the last successful run ({when})"
        ]
        diff = record.rows - previous.rows
        if previous.rows:
            lines.append(f"change: {diff:+,} rows, {percent(Fraction(diff, previous.rows))}")
        else:
            lines.append(
                "change: no change" if diff == 0 else f"change: {diff:+,} rows, up from none"
            )
    if record.added is not None and record.removed is not None:
        lines.append(f"delta: +{record.added:,} added, -{record.removed:,} removed")
    return lines


def stale_message(
    segment: str, judgement: Judgement, newest: RunRecord | None, link: str | None
) -> tuple[str, str]:
    """The title and body of the ``stale`` notification: how old the last published
    export is against ``expect.fresh_within``, and how the newest run ended."""
    title = f"segments: {segment} {judgement.state}"
    lines = [f"segment: {segment}", f"freshness: {judgement.state}", judgement.describe()]
    if newest is not None and not newest.ok:
        lines.append(f"last run: {newest.status} at {newest.ended}")
        if newest.error:
            lines.append(f"error: {newest.error}")
    if link:
        lines.append(f"run: {link}")
    return title, "\n".join(lines)


def notify_run(
    targets: Sequence[NotifyTarget],
    record: RunRecord,
    previous: RunRecord | None,
    *,
    env: Mapping[str, str],
    redact: Callable[[str], str],
    timeout: float = NOTIFY_TIMEOUT,
    catalog: str | None = None,
) -> list[str]:
    """Send ``record``'s notification to the targets that asked for its event.

    Returns the warnings (one line each, no URL); never raises for a target's sake.
    ``previous``: the last successful run before this one, for the change.
    ``timeout``: seconds all the targets together may take (they are sent to in
    parallel); the call returns within about that, whatever the targets do.
    ``catalog``: the segment's catalog page, linked in the message.
    """
    event = EVENT_OF[record.status]
    if not any(event in t.on for t in targets):
        return []
    title, body = message(record, previous, ci_link(env), catalog)
    return send(targets, event, (title, body), env=env, redact=redact, timeout=timeout)


def send(
    targets: Sequence[NotifyTarget],
    event: str,
    text: tuple[str, str],
    *,
    env: Mapping[str, str],
    redact: Callable[[str], str],
    timeout: float = NOTIFY_TIMEOUT,
) -> list[str]:
    """Send the message ``text`` (title, body) to the targets that asked for ``event``,
    all at once, within ``timeout`` seconds together; the warnings, as :func:`notify_run`
    returns them."""
    deadline = time.monotonic() + timeout
    chosen = [(n, t) for n, t in enumerate(targets, 1) if event in t.on]
    if not chosen:
        return []
    title, body = (redact(part) for part in text)
    problems: list[str] = []
    sends: list[_Send] = []
    for number, target in chosen:
        url, missing = expand(target.url, env)
        label = f"notification {number} ({describe_url(url)})"
        if missing:
            problems.append(f"{label}: ${{{missing[0]}}} is not set; not sent")
            continue
        try:
            service = _prepare(url, timeout)
        except Exception as exc:
            problems.append(f"{label}: cannot be prepared ({type(exc).__name__}); not sent")
            continue
        if service is None:
            problems.append(f"{label}: apprise does not understand this URL; not sent")
            continue
        sends.append(_Send(label, url, service))
    kind = {"success": "success", "failure": "failure"}.get(event, "warning")
    for send in sends:  # daemon threads: one that never gets an answer is left behind
        threading.Thread(target=send.deliver, args=(title, body, kind), daemon=True).start()
    for send in sends:
        send.done.wait(max(0.0, deadline - time.monotonic()))
    for send in sends:
        problem = send.problem(timeout)
        if problem:
            problems.append(f"{send.label} on {event}: {redact(problem)}")
    return problems


@dataclasses.dataclass
class _Send:
    label: str
    url: str
    service: Any
    outcome: str | None = None  # '' delivered, else why not; None: not finished
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    def deliver(self, title: str, body: str, kind: str) -> None:
        """Send, in this thread; apprise's warnings meanwhile are this target's detail."""
        lines = _COLLECTOR.start()
        try:
            if self.service.notify(body=body, title=title, notify_type=kind):
                self.outcome = ""
            else:
                detail = _hide(lines[-1], self.url) if lines else "no detail given"
                self.outcome = f"not delivered ({detail})"
        except Exception as exc:
            self.outcome = f"not delivered ({type(exc).__name__})"
        finally:
            _COLLECTOR.stop()
            self.done.set()

    def problem(self, timeout: float) -> str:
        if self.outcome is None:
            return f"no answer within {timeout:g}s; gave up"
        return self.outcome


class _Collector(logging.Handler):
    """Apprise's warnings, kept per delivering thread (they can quote URLs: they go
    nowhere else). A plugin logs in the thread that sends, so a line belongs to the
    target that thread delivers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._lines: dict[int, list[str]] = {}

    def start(self) -> list[str]:
        lines: list[str] = []
        self._lines[threading.get_ident()] = lines
        return lines

    def stop(self) -> None:
        self._lines.pop(threading.get_ident(), None)

    def emit(self, record: logging.LogRecord) -> None:
        lines = self._lines.get(threading.get_ident())
        if lines is not None:
            lines.append(record.getMessage())


_COLLECTOR = _Collector()


def _quiet_apprise() -> None:
    log = logging.getLogger("apprise")
    if _COLLECTOR not in log.handlers:
        log.addHandler(_COLLECTOR)
        log.propagate = False
        log.setLevel(logging.WARNING)


def _hide(text: str, url: str) -> str:
    """``text`` without the URL or any of its parts longer than three characters."""
    parts = urlsplit(url)
    pieces = {url, parts.netloc, parts.path, parts.query, parts.username, parts.password}
    pieces.update(parts.path.split("/"))
    for piece in sorted((p for p in pieces if p and len(p) > 3), key=len, reverse=True):
        text = text.replace(piece, "***")
    return " ".join(text.split())


def _prepare(url: str, timeout: float) -> Any:
    """Apprise's service object for ``url``, or None when apprise does not know it."""
    import apprise

    _quiet_apprise()
    with warnings.catch_warnings():  # its plugin loading imports deprecated modules
        warnings.simplefilter("ignore", DeprecationWarning)
        service = apprise.Apprise.instantiate(url)
    if service is not None:  # past the deadline, so the deadline decides; then the thread ends
        service.socket_connect_timeout = service.socket_read_timeout = timeout + 1
    return service

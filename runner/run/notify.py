"""Notifications: one message per finished run, to the URLs listed under ``notify:``.

Each target is ``{url, on}``: ``url`` in apprise's syntax (``slack://…``,
``msteams://…``, ``mailto://…``, ``json://host/path`` for a generic webhook and
100 more: https://github.com/caronc/apprise/wiki), ``on`` any of ``failure``,
``guard``, ``success`` (``failure`` and ``guard`` when left out), and ``stale``:
``segments freshness`` found the segment's last published export too old. URLs are
secrets: write ``${SLACK_WEBHOOK}`` and the variable's value is used; no URL is
ever printed (a problem names the target by number, scheme and host only).

Sending never changes a run's result: every target is tried at once, each in
its own thread, and whatever has not answered after ``timeout`` seconds, fails,
or raises becomes a warning. The message passes through the caller's redaction
function, so the API token cannot leave in an error line.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runner.history.freshness import Judgement
from runner.history.guard import Baseline, describe_change
from runner.history.record import RunRecord, RunStatus

EVENTS = ("failure", "guard", "success", "stale")  # stale: `segments freshness` found it
DEFAULT_ON = frozenset({"failure", "guard"})
TIMEOUT = 10.0
EVENT_OF = {
    RunStatus.SUCCESS: "success",
    RunStatus.GUARD: "guard",
    RunStatus.FAILED: "failure",
    RunStatus.INTERRUPTED: "failure",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class NotifyTarget:
    """One entry of ``notify:``; ``url`` may hold ``${VARIABLE}`` references."""

    url: str
    on: frozenset[str] = DEFAULT_ON

    @classmethod
    def parse(cls, item: Any, where: str = "notify[0]") -> NotifyTarget:
        """An entry as read from YAML; ValueError naming the key, the value and the choices."""
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping with 'url' and 'on'")
        unknown = sorted(set(item) - {"url", "on"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; expected 'url' and 'on'")
        url = item.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ValueError(f"{where}.url: expected an apprise URL such as json://host/path")
        on = item.get("on", sorted(DEFAULT_ON))
        on = [on] if isinstance(on, str) else on
        if not isinstance(on, list) or not on:
            raise ValueError(f"{where}.on: expected a list of {', '.join(EVENTS)}")
        for event in on:
            if event not in EVENTS:
                raise ValueError(f"{where}.on: {event!r} is not one of {', '.join(EVENTS)}")
        return cls(url.strip(), frozenset(on))


def expand(url: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """``url`` with each ``${NAME}`` replaced from ``env``; the names that are not set."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            missing.append(name)
            return ""
        return env[name]

    return _VARIABLE.sub(value, url), missing


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


def message(record: RunRecord, previous: RunRecord | None, link: str | None) -> tuple[str, str]:
    """The title and body of the notification for ``record``."""
    title = f"segments: {record.segment} {record.status}"
    lines = [f"segment: {record.segment}", f"status: {record.status}"]
    if record.status in (RunStatus.SUCCESS, RunStatus.GUARD):
        lines.append(f"rows: {record.rows}")
        lines.append("change: " + describe_change(record.rows, Baseline.of(previous)))
    if record.error:
        lines.append(f"error: {record.error}")
    if record.destination:
        lines.append(f"destination: {record.destination}")
    if link:
        lines.append(f"run: {link}")
    return title, "\n".join(lines)


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
    timeout: float = TIMEOUT,
) -> list[str]:
    """Send ``record``'s notification to the targets that asked for its event.

    Returns the warnings (one line each, no URL); never raises for a target's sake.
    ``previous``: the last successful run before this one, for the change.
    ``timeout``: seconds each target may take; the call returns within
    ``targets * timeout + 1`` seconds, whatever the targets do.
    """
    event = EVENT_OF[record.status]
    if not any(event in t.on for t in targets):
        return []
    title, body = message(record, previous, ci_link(env))
    return send(targets, event, (title, body), env=env, redact=redact, timeout=timeout)


def send(
    targets: Sequence[NotifyTarget],
    event: str,
    text: tuple[str, str],
    *,
    env: Mapping[str, str],
    redact: Callable[[str], str],
    timeout: float = TIMEOUT,
) -> list[str]:
    """Send the message ``text`` (title, body) to the targets that asked for ``event``;
    the warnings, as :func:`notify_run` returns them."""
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
    if sends:
        # One at a time, in one daemon thread: apprise logs through one shared logger,
        # so only then does a failure's detail belong to its target; a target that
        # never answers is left behind when the time is up.
        kind = {"success": "success", "failure": "failure"}.get(event, "warning")
        worker = threading.Thread(target=_deliver_all, args=(sends, title, body, kind), daemon=True)
        worker.start()
        worker.join(len(sends) * timeout + 1.0)
        for send in sends:
            problem = send.problem(timeout)
            if problem:
                problems.append(f"{send.label} on {event}: {redact(problem)}")
    return problems


@dataclass
class _Send:
    label: str
    url: str
    service: Any
    started: bool = False
    outcome: str | None = None  # '' delivered, else why not; None: not finished

    def problem(self, timeout: float) -> str:
        if self.outcome is not None:
            return self.outcome
        if self.started:
            return f"no answer within {timeout:g}s; gave up"
        return "not sent: an earlier notification took all the time"


class _Collector(logging.Handler):
    """Apprise's warnings during the current delivery (they can quote URLs: they go
    nowhere else)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        lines = self.lines
        if lines is not None:
            lines.append(record.getMessage())


_COLLECTOR = _Collector()
_ONE_AT_A_TIME = threading.Lock()  # the collector serves one delivery at a time


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
    if service is not None:
        service.socket_connect_timeout = service.socket_read_timeout = timeout
    return service


def _deliver_all(sends: list[_Send], title: str, body: str, kind: str) -> None:
    import apprise

    with _ONE_AT_A_TIME:
        for send in sends:
            send.started = True
            lines: list[str] = []
            _COLLECTOR.lines = lines
            try:
                sender = apprise.Apprise()
                sender.add(send.service)
                if sender.notify(body=body, title=title, notify_type=kind):
                    send.outcome = ""
                else:
                    detail = _hide(lines[-1], send.url) if lines else "no detail given"
                    send.outcome = f"not delivered ({detail})"
            except Exception as exc:
                send.outcome = f"not delivered ({type(exc).__name__})"
            finally:
                _COLLECTOR.lines = None

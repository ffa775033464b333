"""``notify:`` targets, typed and checked when the file is loaded (not at 3 a.m.).

A target is ``{url, on}``: ``url`` in apprise's syntax, ``on`` any of ``failure``,
``guard``, ``success``. ``validate`` reports, as ``file:line:col`` problems, what
would otherwise only warn during a scheduled export, when nobody reads the log:

- a scheme apprise does not know (``slakc://``, ``http://``, no scheme at all), with
  the nearest one it knows;
- a target that cannot tell anybody from here: ``file://`` (apprise writes no
  notification to a file) and the services whose plugin apprise has disabled on this
  machine (desktop pop-ups such as ``dbus://`` or ``windows://``, ``mqtt://`` without
  its library);
- a URL that would carry a secret of the runner's to a third party: ``${VAR}`` of the
  API token (whatever ``api.token_env`` names, and ``FLOWMATIX_TOKEN``) or of the S3
  credentials, in any part of the URL;
- the message and the URL's own secrets sent in clear text: ``json://``, ``form://``
  or ``xml://`` to a host other than this machine (use ``jsons://`` and so on).

A URL whose scheme or host comes from a ``${VARIABLE}`` is checked for what can be
read from its text; the rest is checked when it is expanded, during the export. Where
apprise is not installed (an Airflow scheduler parsing the DAG, the runner in its own
environment), whether apprise knows a scheme is not checked: that process sends nothing.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runner.problems import Problem, did_you_mean
from runner.spec.loader import Document, Path_, dotted

EVENTS = ("failure", "guard", "success", "stale")  # stale: `segments freshness` found it
DEFAULT_ON = frozenset({"failure", "guard"})
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_TOKEN_ENV = "FLOWMATIX_TOKEN"  # the token's usual home, whatever api.token_env says
# The runner's own credentials besides the API token (boto3 reads them): no
# notification service needs them, and a URL would hand them to one.
RUNNER_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# apprise's generic webhooks over plain HTTP, and their TLS twins.
CLEAR_TEXT = {"json": "jsons", "form": "forms", "xml": "xmls"}
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_WEB = ("http", "https")  # what people write for a webhook; apprise's is json(s)://
_SCHEME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9+.-]*)://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # the schema refuses these: said once, there


@dataclass(frozen=True)
class NotifyTarget:
    """One entry of ``notify:``; ``url`` may hold ``${VARIABLE}`` references."""

    url: str
    on: frozenset[str] = DEFAULT_ON

    @classmethod
    def of(cls, item: Any) -> NotifyTarget:
        """An entry the schema accepted: a mapping with ``url`` and perhaps ``on``."""
        return cls(str(item["url"]).strip(), frozenset(item.get("on", DEFAULT_ON)))


def notify_targets(items: Any) -> tuple[NotifyTarget, ...]:
    """The typed targets of a ``notify:`` list the schema accepted (``()`` for none)."""
    return tuple(NotifyTarget.of(item) for item in items or ())


@functools.cache
def schemes() -> tuple[frozenset[str], frozenset[str]] | None:
    """(every scheme apprise knows, those it can use on this machine); None where apprise
    is not installed (an Airflow scheduler parsing the DAG, with the runner elsewhere)."""
    try:
        from apprise import manager_plugins
    except ImportError:
        return None
    plugins: Any = manager_plugins  # untyped
    with warnings.catch_warnings():  # its plugin loading imports deprecated modules
        warnings.simplefilter("ignore", DeprecationWarning)
        manager = plugins.NotificationManager()
        known = frozenset(s.lower() for s in manager.schemas(include_disabled=True))
        usable = frozenset(s.lower() for s in manager.schemas(include_disabled=False))
    return known, usable


def url_problem(url: str, token_env: str) -> str | None:
    """Why ``url`` cannot be a notification target (see the module docstring), or None."""
    for name in VARIABLE.findall(url):
        if name in (token_env, DEFAULT_TOKEN_ENV):
            return (
                f"puts the API token (${{{name}}}) into a notification URL: "
                "the service would receive it; a webhook carries its own secret in another "
                "variable"
            )
        if name in RUNNER_SECRETS:
            return (
                f"puts the runner's S3 credential ${{{name}}} into a notification URL: "
                "the service would receive it; use the webhook's own secret"
            )
    match = _SCHEME.match(url)
    if match is None:
        if url.startswith("${"):
            return None  # the whole URL comes from the environment
        return "has no scheme: expected an apprise URL such as jsons://host/path or slack://..."
    scheme = match.group(1).lower()
    if "${" in scheme:
        return None
    if scheme == "file":
        return (
            "file:// is not a notification service: apprise writes no message to a file, "
            "so nobody would hear of a failed run; use a webhook, chat or mail URL"
        )
    if scheme in CLEAR_TEXT:
        host = _host(url)
        if host is not None and host not in LOOPBACK and "${" not in host:
            return (
                f"{scheme}:// sends the message (and any secret in the URL) unencrypted to "
                f"{host}: use {CLEAR_TEXT[scheme]}:// (plain {scheme}:// is for this machine "
                "only: localhost, 127.0.0.1, ::1)"
            )
    return _scheme_problem(scheme)


def _scheme_problem(scheme: str) -> str | None:
    """Whether apprise knows ``scheme`` and can use it here (nothing to say without it)."""
    found = schemes()
    known, usable = found if found is not None else (frozenset(), frozenset())
    if scheme in _WEB or (found is not None and scheme not in known and did_you_mean(scheme, _WEB)):
        return (
            f"{scheme}:// is not an apprise scheme: a generic webhook is "
            "jsons://host/path (or forms://, xmls://)"
        )
    if found is None:
        return None
    if scheme not in known:
        hint = did_you_mean(scheme, sorted(known))
        return (
            f"scheme {scheme}:// is not one apprise knows{hint}: see "
            "https://github.com/caronc/apprise/wiki for the services and their URLs"
        )
    if scheme not in usable:
        return (
            f"apprise cannot send {scheme}:// from this machine (its plugin is disabled: a "
            "desktop notifier or a missing library), so a run here would tell nobody"
        )
    return None


def check(doc: Document, where: Path_, items: Any, token_env: str) -> list[Problem]:
    """The problems of the ``notify:`` list at ``where`` in ``doc`` (entries of a wrong
    shape are the schema's to report)."""
    problems: list[Problem] = []
    for number, item in enumerate(items if isinstance(items, list) else []):
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.strip() or _CONTROL.search(url):
            continue
        why = url_problem(url.strip(), token_env)
        if why:
            path = (*where, number, "url")
            problems.append(doc.problem(path, f"'{dotted(path)}' {why}"))
    return problems


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None

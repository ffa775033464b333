"""The project file ``runner.yaml``: API, time zone, output root and defaults.

A project without ``runner.yaml`` works on the defaults. A ``runner.yaml``
with any problem is never half-used: :func:`load_project` returns every
problem, and no command that depends on the file runs (see
:meth:`runner.spec.workspace.Workspace.open`). The environment variable
``FLOWMATIX_API_URL`` overrides ``api.base_url`` (the sandbox prints it).
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from runner.errors import ConfigError
from runner.locations import STATE_DIR, public_url
from runner.problems import Problem, did_you_mean
from runner.spec import schema
from runner.spec.contact import UNCHECKED, source_problem
from runner.spec.expressions import ExprError, PathRef, parse_expr
from runner.spec.files import display_path
from runner.spec.loader import Document, dotted, load_file
from runner.spec.modes import mode_problem
from runner.spec.notify import NotifyTarget, notify_targets
from runner.spec.notify import check as check_notify
from runner.spec.templating import syntax_problem

PROJECT_FILE = "runner.yaml"
API_URL_ENV = "FLOWMATIX_API_URL"
# Headers the runner sets itself: a value in runner.yaml would clash with (or leak) them.
RESERVED_HEADERS = (
    "authorization",
    "content-type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "transfer-encoding",
    "host",
    "connection",
)
MIN_RATE = 1 / 3600  # one request an hour
NOTIFY_TIMEOUT = 15.0  # seconds, for all of a run's notifications together


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    deadline: float = 600.0


@dataclass(frozen=True)
class ApiSettings:
    base_url: str = "https://api.v7.flowmatix.ai"
    path: str = "/inbox/users"
    token_env: str = "FLOWMATIX_TOKEN"
    headers: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"authtype": "Key"})
    )
    records_path: str = "data"
    id_key: str = "_id"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    request_timeout: float = 120.0  # one request, first byte sent to last byte read
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int | Literal["auto"] = "auto"  # a number fixes it (runner.fetch.concurrency)
    max_concurrency: int = 16  # the most "auto" goes to
    windows: bool = True  # long lists read as closed createdAt windows (runner.fetch.windows)
    rate_limit: float = 0.0
    max_pages: int = 100_000
    max_page_bytes: int = 64 * 1024 * 1024  # decompressed

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.path


@dataclass(frozen=True)
class Project:
    root: Path
    api: ApiSettings = field(default_factory=ApiSettings)
    timezone: str = "UTC"
    output_root: Path = Path(".")
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    output_defaults: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    expect_defaults: Mapping[str, Any] = field(default_factory=dict)  # defaults.expect
    notify: tuple[NotifyTarget, ...] = ()
    notify_timeout: float = NOTIFY_TIMEOUT
    catalog_url: str | None = None  # a segment's catalog page; {segment} is its name

    @property
    def segments_dir(self) -> Path:
        return self.root / "segments"

    @property
    def local_root(self) -> Path:
        return (self.root / self.output_root).resolve()


def _pick(data: Mapping[str, Any], key: str, default: Any) -> Any:
    value = data.get(key, default)
    return default if value is None else value


def _concurrency(value: Any) -> int | Literal["auto"]:
    return "auto" if value == "auto" else int(value)


def load_project(root: Path, env: Mapping[str, str] | None = None) -> tuple[Project, list[Problem]]:
    """Read ``root/runner.yaml`` if present; return the project and any problems.

    With problems, the project returned holds only the defaults: callers must
    not run anything on it (the settings the user wrote were not understood).
    """
    env = os.environ if env is None else env
    _check_url_env(env)
    path = root / PROJECT_FILE
    if not os.path.lexists(path):
        return _project(root, {}, env, None), _misnamed(root)
    display = display_path(path)
    doc, problems = load_file(
        path, display, expected=f"a mapping of settings (or delete {PROJECT_FILE} for the defaults)"
    )
    if problems:  # what the loader refused (bytes, shapes) is all there is to say
        return _project(root, {}, env, display), problems
    if doc is not None and not isinstance(doc.data, dict):
        problems.append(doc.problem((), f"{PROJECT_FILE} must be a mapping of settings"))
    elif doc is not None:
        problems += schema.check(doc, schema.RUNNER_SCHEMA)
        problems += _check_values(doc, root)
    if doc is None or problems:
        return _project(root, {}, env, display), sorted(set(problems))
    return _project(root, doc.data, env, display), []


def _check_url_env(env: Mapping[str, str]) -> None:
    """``FLOWMATIX_API_URL`` overrides ``api.base_url``: the same rules, one line if broken."""
    url = env.get(API_URL_ENV)
    if not url:
        return
    why = (
        None if url.startswith(("http://", "https://")) else "is not an http:// or https:// URL"
    ) or url_problem(url)
    if why:
        try:
            shown = public_url(url)
        except ValueError:  # unparseable: drop anything up to an '@' (a password)
            shown = url.rpartition("@")[2]
        raise ConfigError(f"{API_URL_ENV} {schema.show(shown)} {why}")


def _misnamed(root: Path) -> list[Problem]:
    """A project file under a near-miss name would be silently ignored: say so."""
    try:
        names = [p.name for p in root.iterdir() if p.name.lower() in ("runner.yml", "runner.yaml")]
    except OSError:
        return []
    return [
        Problem(name, 1, 1, f"the project file must be named {PROJECT_FILE}: {name} is not read")
        for name in sorted(names)
    ]


def _project(
    root: Path, data: Mapping[str, Any], env: Mapping[str, str], display: str | None
) -> Project:
    api = data.get("api", {})
    retry = api.get("retry", {})
    timeout = api.get("timeout", {})
    base = ApiSettings()
    headers = dict(base.headers) if "headers" not in api else dict(api["headers"])
    policy = RetryPolicy()
    settings = ApiSettings(
        base_url=env.get(API_URL_ENV) or _pick(api, "base_url", base.base_url),
        path=_pick(api, "path", base.path),
        token_env=_pick(api, "token_env", base.token_env),
        headers=MappingProxyType(headers),
        records_path=_pick(api, "records_path", base.records_path),
        id_key=_pick(api, "id_key", base.id_key),
        connect_timeout=float(_pick(timeout, "connect", base.connect_timeout)),
        read_timeout=float(_pick(timeout, "read", base.read_timeout)),
        request_timeout=float(_pick(timeout, "total", base.request_timeout)),
        retry=RetryPolicy(
            max_attempts=int(_pick(retry, "max_attempts", policy.max_attempts)),
            backoff_initial=float(_pick(retry, "backoff_initial", policy.backoff_initial)),
            backoff_max=float(_pick(retry, "backoff_max", policy.backoff_max)),
            retry_after_cap=float(_pick(retry, "retry_after_cap", policy.retry_after_cap)),
            deadline=float(_pick(retry, "deadline", policy.deadline)),
        ),
        concurrency=_concurrency(_pick(api, "concurrency", base.concurrency)),
        max_concurrency=int(_pick(api, "max_concurrency", base.max_concurrency)),
        windows=bool(_pick(api, "windows", base.windows)),
        rate_limit=float(_pick(api, "rate_limit", base.rate_limit)),
        max_pages=int(_pick(api, "max_pages", base.max_pages)),
        max_page_bytes=int(float(_pick(api, "max_page_mb", 64)) * 1024 * 1024),
    )
    s3 = data.get("s3", {})
    return Project(
        root=root,
        api=settings,
        timezone=_pick(data, "timezone", "UTC"),
        output_root=Path(_pick(data, "output_root", ".")),
        s3_endpoint_url=s3.get("endpoint_url"),
        s3_region=s3.get("region"),
        output_defaults=data.get("defaults", {}).get("output", {}),
        file=display,
        expect_defaults=data.get("defaults", {}).get("expect", {}),
        notify=notify_targets(data.get("notify")),
        notify_timeout=float(_pick(data, "notify_timeout", NOTIFY_TIMEOUT)),
        catalog_url=data.get("catalog_url"),
    )


def _check_values(doc: Document, root: Path) -> list[Problem]:
    """What the schema cannot say; each check skips a value of the wrong type (the
    schema reports that)."""
    data: dict[str, Any] = doc.data
    api: dict[str, Any] = data["api"] if isinstance(data.get("api"), dict) else {}
    problems: list[Problem] = []
    tz = data.get("timezone")
    if isinstance(tz, str):
        why = timezone_problem(tz)
        if why:
            problems.append(doc.problem(("timezone",), f"'timezone' {why}"))
    headers = api.get("headers")
    for name in headers if isinstance(headers, dict) else {}:
        if name.lower() in RESERVED_HEADERS:
            problems.append(
                doc.problem(
                    ("api", "headers", name),
                    f"'api.headers' must not set {name!r}: the runner sets it "
                    f"(the token comes from the variable named by api.token_env); remove it",
                    key=True,
                )
            )
    rate = api.get("rate_limit")
    if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 < rate < MIN_RATE:
        problems.append(
            doc.problem(
                ("api", "rate_limit"),
                f"'api.rate_limit' is {rate:g} requests per second, more than an hour between "
                f"requests: use 0 for no limit or at least {MIN_RATE:.6f} (one an hour)",
            )
        )
    s3 = data["s3"] if isinstance(data.get("s3"), dict) else {}
    for where, url in (
        (("api", "base_url"), api.get("base_url")),
        (("s3", "endpoint_url"), s3.get("endpoint_url")),
    ):
        why = url_problem(url) if isinstance(url, str) else None
        if why:
            problems.append(doc.problem(where, f"'{'.'.join(where)}' {schema.show(url)}: {why}"))
    defaults = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    output = defaults["output"] if isinstance(defaults.get("output"), dict) else {}
    why = mode_problem(output["mode"]) if "mode" in output else None
    if why:
        problems.append(doc.problem(("defaults", "output", "mode"), f"'defaults.{why[1:]}"))
    token_env = api.get("token_env")
    token_env = token_env if isinstance(token_env, str) else ApiSettings.token_env
    problems += check_notify(doc, ("notify",), data.get("notify"), token_env)
    catalog = data.get("catalog_url")
    why = catalog_url_problem(catalog) if isinstance(catalog, str) else None
    if why:
        problems.append(
            doc.problem(("catalog_url",), f"'catalog_url' {schema.show(catalog)}: {why}")
        )
    problems += _parsed_values(doc, api)
    out = data.get("output_root")
    if isinstance(out, str):
        why = output_root_problem(root, out)
        if why:
            problems.append(doc.problem(("output_root",), f"'output_root' {out!r} {why}"))
    return problems


def _parsed_values(doc: Document, api: Mapping[str, Any]) -> list[Problem]:
    """Values a parser reads later (the id path, the default columns and output path):
    parsed now, so a bad one is a problem in runner.yaml, not a traceback or a problem
    pinned on whichever segment happens to use the default."""
    problems: list[Problem] = []
    id_key = api.get("id_key")
    parts = id_key.split(".") if isinstance(id_key, str) else [""]
    why = id_key_problem(id_key) if isinstance(id_key, str) and all(parts) else None
    if why:
        problems.append(doc.problem(("api", "id_key"), f"'api.id_key' {schema.show(id_key)} {why}"))
    defaults = doc.data.get("defaults")
    output = defaults.get("output") if isinstance(defaults, dict) else None
    if not isinstance(output, dict):
        return problems
    columns = output.get("columns")
    for i, item in enumerate(columns if isinstance(columns, list) else ()):
        source = item if isinstance(item, str) else item.get("expr") or item.get("path")
        if not isinstance(source, str):
            continue  # the schema says what is wrong
        unchecked = isinstance(item, dict) and item.get(UNCHECKED) is True
        why = source_problem(source, unchecked=unchecked)
        where: tuple[str | int, ...] = ("defaults", "output", "columns", i)
        if isinstance(item, dict):
            where = (*where, "expr" if "expr" in item else "path")
        if why:
            problems.append(doc.problem(where, f"'{dotted(where)}': {why}"))
    path = output.get("path")
    why = syntax_problem(path) if isinstance(path, str) else None
    if why:
        where = ("defaults", "output", "path")
        problems.append(doc.problem(where, f"'defaults.output.path': {why}"))
    return problems


def id_key_problem(text: str) -> str | None:
    """Why ``api.id_key`` is not a dotted path into a record, or None.

    >>> id_key_problem("_id") is None, id_key_problem("attr(")
    (True, 'is not a dotted path such as _id or profile.userId: empty expression')
    """
    try:
        node = parse_expr(text)
    except ExprError as exc:
        return f"is not a dotted path such as _id or profile.userId: {exc}"
    except (RecursionError, MemoryError):
        return "is not a dotted path such as _id or profile.userId: it is nested too deeply"
    if not isinstance(node, PathRef):
        return "is an expression: it must be a dotted path such as _id or profile.userId"
    return None


def url_problem(url: str) -> str | None:
    """What makes an http(s) URL unusable (a port out of range, a broken IPv6 host), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a usable URL: {exc}"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "port 0 is not a port a server listens on"
    return None


def catalog_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a segment's catalog link (a broken URL, a placeholder
    other than ``{segment}``), or None."""
    for name in re.findall(r"\{([^{}]*)\}", url):
        if name != "segment":
            return f"{{{name}}} is not a placeholder: the only one is {{segment}}"
    return url_problem(url.replace("{segment}", "segment"))


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, with the nearest name, or None."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        return None
    hint = did_you_mean(name, sorted(zoneinfo.available_timezones()))
    shown = schema.show(name)
    return (
        f"has invalid value {shown}{hint}: expected an IANA time zone such as "
        "'UTC', 'Europe/London' or 'Asia/Kolkata'"
    )


def output_root_problem(root: Path, text: str) -> str | None:
    """Why local outputs may not go under ``text`` (relative to ``root``), or None."""
    try:
        folder = (root / text).resolve()
        project = root.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        return f"cannot be resolved: {exc}"
    git = project / ".git"
    if folder == git or folder.is_relative_to(git):
        return "is inside the project's .git folder: exports would overwrite git's own files"
    if STATE_DIR in Path(text).parts or any(p.name == STATE_DIR for p in (folder, *folder.parents)):
        return f"is inside a {STATE_DIR} folder, where the runner keeps its run history"
    segments = project / "segments"
    if folder == segments or folder.is_relative_to(segments):
        return "is inside the segments folder: exports would land among the segment files"
    if folder.exists() and not folder.is_dir():
        return "is an existing file, not a folder"
    return None

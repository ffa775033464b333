"""The project file ``runner.yaml``: API, time zone, output root and defaults.

A project without ``runner.yaml`` works on the defaults. The environment
variable ``FLOWMATIX_API_URL`` overrides ``api.base_url`` (the sandbox prints it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runner import schema
from runner.errors import UsageError
from runner.loader import load_yaml
from runner.problems import Problem
from runner.templating import zone

PROJECT_FILE = "runner.yaml"
API_URL_ENV = "FLOWMATIX_API_URL"


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
    concurrency: int = 4
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
    raw: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None

    @property
    def segments_dir(self) -> Path:
        return self.root / "segments"

    @property
    def local_root(self) -> Path:
        return (self.root / self.output_root).resolve()


def _pick(data: Mapping[str, Any], key: str, default: Any) -> Any:
    value = data.get(key, default)
    return default if value is None else value


def load_project(root: Path, env: Mapping[str, str] | None = None) -> tuple[Project, list[Problem]]:
    """Read ``root/runner.yaml`` if present; return the project and any problems."""
    env = os.environ if env is None else env
    path = root / PROJECT_FILE
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    display = os.path.relpath(path) if path.exists() else None
    if path.exists():
        doc, problems = load_yaml(path.read_text("utf-8"), str(display))
        if doc is not None:
            if not isinstance(doc.data, dict):
                problems.append(doc.problem((), "runner.yaml must be a mapping of settings"))
            else:
                problems += schema.check(doc, schema.RUNNER_SCHEMA)
                if not problems:
                    data = doc.data
                    try:
                        zone(str(data.get("timezone", "UTC")))
                    except UsageError as exc:
                        problems.append(doc.problem(("timezone",), str(exc)))
    api = data.get("api", {})
    retry = api.get("retry", {})
    timeout = api.get("timeout", {})
    base = ApiSettings()
    headers = dict(base.headers) if "headers" not in api else dict(api["headers"])
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
        retry=RetryPolicy(**{k: retry[k] for k in RetryPolicy.__dataclass_fields__ if k in retry}),
        concurrency=int(_pick(api, "concurrency", base.concurrency)),
        rate_limit=float(_pick(api, "rate_limit", base.rate_limit)),
        max_pages=int(_pick(api, "max_pages", base.max_pages)),
        max_page_bytes=int(float(_pick(api, "max_page_mb", 64)) * 1024 * 1024),
    )
    s3 = data.get("s3", {})
    project = Project(
        root=root,
        api=settings,
        timezone=_pick(data, "timezone", "UTC"),
        output_root=Path(_pick(data, "output_root", ".")),
        s3_endpoint_url=s3.get("endpoint_url"),
        s3_region=s3.get("region"),
        output_defaults=data.get("defaults", {}).get("output", {}),
        raw=data,
        file=display,
    )
    return project, problems

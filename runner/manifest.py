"""The manifest written next to each export: what was asked, what came back, and its hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson


def git_blob_id(path: Path) -> str | None:
    """The git blob id of ``path``'s content when it lies in a git work tree."""
    resolved = path.resolve()
    if not any((parent / ".git").exists() for parent in resolved.parents):
        return None
    try:
        data = resolved.read_bytes()
    except OSError:
        return None
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def manifest_bytes(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields, option=orjson.OPT_INDENT_2) + b"\n"

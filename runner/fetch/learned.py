"""What auto concurrency learned of each API, kept for the next run against it.

A server that serves N requests at once turns the next one away with 429 and a
``Retry-After`` of a second or more; a run that finds N by trying pays that wait, and
on a short run the wait is most of the run (README "Benchmarks"). So the ceiling a
run met, and the limit below it, are kept in ``.segments/concurrency.json`` under the
project, by API address (without credentials), and the next run with
``api.concurrency: auto`` starts there (:class:`~runner.fetch.concurrency.Learned`); a
run that met no limit forgets what was kept (the limit was lifted, or never was).
Only numbers and addresses are kept, never a token. A file that cannot be read or
written is as if there were none: it only saves time.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> keep(folder, "https://u:p@api.example.com/inbox/users", Learned(6, 7))
>>> recall(folder, "https://api.example.com/inbox/users")
Learned(limit=6, ceiling=7)
>>> "u:p" in (folder / FILE).read_text()
False
>>> keep(folder, "https://api.example.com/inbox/users", None)  # met no limit
>>> recall(folder, "https://api.example.com/inbox/users") is None
True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from runner.fetch.concurrency import Learned
from runner.locations import public_url

FILE = "concurrency.json"
LOCK = "concurrency.lock"
KEEP = 50  # APIs remembered, the most recent


def recall(folder: Path, url: str) -> Learned | None:
    """What the last run against ``url`` learned, or None."""
    try:
        entry = _read(folder)[_key(url)]
        limit, ceiling = entry["limit"], entry["ceiling"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not (_count(limit) and _count(ceiling) and limit < ceiling):
        return None
    return Learned(limit, ceiling)


def keep(folder: Path, url: str, learned: Learned | None) -> None:
    """Keep ``learned`` for the next run against ``url`` (None: forget what was kept);
    the file is written whole or not at all, one run at a time (runs against other APIs
    that end together each keep theirs: read, changed and written under a lock)."""
    with contextlib.suppress(OSError, ValueError, TypeError), _locked(folder):
        try:
            known = _read(folder)
        except (OSError, ValueError):
            known = {}
        if known.pop(_key(url), None) is None and learned is None:
            return  # nothing kept, nothing to keep
        if learned is not None:
            known[_key(url)] = {"limit": learned.limit, "ceiling": learned.ceiling}
        kept = dict(list(known.items())[-KEEP:])
        fd, temp = tempfile.mkstemp(prefix=".segments-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(kept, option=orjson.OPT_INDENT_2))
            os.replace(temp, folder / FILE)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """The file's lock (``concurrency.lock`` beside it), held while it is read and
    written again."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (the lock goes with it)


def _key(url: str) -> str:
    """The API's address without credentials, query or fragment."""
    parts = urlsplit(public_url(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _read(folder: Path) -> dict[str, Any]:
    path = folder / FILE
    if not path.is_file() or path.stat().st_size > 1 << 20:
        return {}
    data = orjson.loads(path.read_bytes())
    return data if isinstance(data, dict) else {}


def _count(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 10_000

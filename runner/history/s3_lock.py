"""One publisher of an S3 output at a time, among the runs that share its history.

A local output is published under its own ``flock`` (:mod:`runner.sinks.local.locks`),
held from reading the previous result to removing what the new one supersedes. S3 has
no lock: two runs of one split output at once could leave a part no manifest lists,
or remove a part the newer manifest lists. So a run takes a lock object first,
``<history>/locks/<sha256 of the output's URL>.lock``, written without replacing
another's (:class:`~runner.history.s3_claim.KeyClaim`: ``If-None-Match: *`` where the
server honours it, else looked at before and after the PUT), and removes it once done.

A run that finds it held waits, and says so once. A lock whose holder ran on this host
(the same boot and PID namespace) and is gone is taken over at once (a run killed while
it published: the next scheduled run does not wait); one older than :data:`STALE` is
taken over whoever held it (publishing holds it for seconds: the copies and the
manifest, never the download). Its body names the run, its process and when it was
taken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from runner.history.s3_claim import KeyClaim

STALE = dt.timedelta(minutes=15)  # a lock held this long is a killed run's: taken over
FIRST_WAIT, LAST_WAIT = 0.05, 2.0  # seconds between looks, doubling


@contextlib.contextmanager
def publish_lock(
    claim: KeyClaim,
    target: str,
    said: Callable[[str], None] = lambda _: None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Held while ``target`` (an output's URL, without credentials) is published.
    ``said`` is told once, in a line, that the run waits for another. Raises botocore's
    errors (the caller names the store)."""
    objects = claim.objects
    key = objects.key(f"locks/{hashlib.sha256(target.encode()).hexdigest()[:32]}.lock")
    mine = {"run": secrets.token_hex(8), "target": target, "taken": _text(now()), **_process()}
    body = orjson.dumps(mine)
    wait, told, first = FIRST_WAIT, False, now()
    while not claim.put(key, body):
        if (data := objects.read(key)) is None:
            continue  # released meanwhile
        held = _taken(data) or first  # (a body that says nothing: from when it was seen)
        if now() - held > STALE or _gone(data):
            objects.delete(key)  # a killed run's
            continue
        if not told:
            said(f"waiting for another run publishing {target} (its lock: since {_text(held)})")
            told = True
        sleep(wait)
        wait = min(LAST_WAIT, wait * 2)
    try:
        yield
    finally:
        with contextlib.suppress(BotoCoreError, ClientError):  # left: taken over when stale
            if objects.read(key) == body:
                objects.delete(key)


def _text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _process() -> dict[str, object]:
    """This process, as another run on this host can tell it is gone: host, boot, PID
    namespace and PID."""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return {"host": socket.gethostname(), "boot": boot, "pid": os.getpid(), "ns": _ns()}
    return {}


def _ns() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


def _gone(data: bytes) -> bool:
    """Whether the lock ``data`` was taken by a process of this host that is gone."""
    here = _process()
    try:
        held = orjson.loads(data)
        same = here and all(held.get(k) == here[k] for k in ("host", "boot", "ns"))
        pid = held["pid"]
        if not same or type(pid) is not int or pid <= 0:
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (ValueError, TypeError, KeyError, AttributeError, OSError):
        return False
    return False


def _taken(data: bytes) -> dt.datetime | None:
    """When the lock ``data`` was taken; None when its body does not say."""
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        return dt.datetime.fromisoformat(orjson.loads(data)["taken"].replace("Z", "+00:00"))
    return None

"""One run of one segment, as the history keeps it.

A :class:`RunRecord` is written once, when a run ends, and never changed. Its
``run_id`` sorts by the moment the run ended (``20261125T000312.041Z-3f9c0a1b7d2e``:
UTC to the millisecond, then 48 random bits), so every store lists runs in the
order they finished, which is the order their files were published.

>>> rec = RunRecord(run_id=new_run_id("2026-11-25T00:03:12.041Z"), segment="vip",
...                 status=RunStatus.SUCCESS, ended="2026-11-25T00:03:12.041Z", rows=10)
>>> rec.run_id[:19], RunRecord.from_json(rec.to_json()) == rec
('20261125T000312.041', True)
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import hashlib
import os
import re
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

FORMAT_VERSION = 1
SEGMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{12}$")


class RunStatus(StrEnum):
    """How one segment's run ended: the same word in the history, the results file
    (``status``), the summary and the progress log.

    - ``success``: published.
    - ``failed``: an error kept the previous file (``error`` says which; a manifest
      that could not be written after the file was published is ``failed`` too,
      with ``published`` true in the results).
    - ``guard``: the rows were fetched, but ``expect.min_rows``, ``max_rows`` or
      ``max_change`` kept the previous file.
    - ``interrupted``: Ctrl-C or SIGTERM stopped it; nothing was published.
    - ``dry-run``: ``--dry-run`` fetched every page and wrote nothing.
    - ``skipped``: never started (``--fail-fast`` after a segment that did not
      finish, or an interrupt during an earlier segment).

    The history records the first four (:data:`RECORDED`); a dry run or a
    skipped segment leaves no entry.
    """

    SUCCESS = "success"
    FAILED = "failed"
    GUARD = "guard"
    INTERRUPTED = "interrupted"
    DRY_RUN = "dry-run"
    SKIPPED = "skipped"


RECORDED = frozenset({RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.GUARD, RunStatus.INTERRUPTED})


def utc_now() -> str:
    """Now, as ISO-8601 UTC with milliseconds and ``Z``."""
    return utc_text(dt.datetime.now(dt.UTC))


def utc_text(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 instant (``Z`` or an offset) as an aware datetime; ValueError if not one."""
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (end it with Z or an offset)")
    return moment


def new_run_id(ended: str) -> str:
    """A unique id that sorts by ``ended`` (an ISO instant)."""
    stamp = parse_time(ended).astimezone(dt.UTC)
    return (
        stamp.strftime("%Y%m%dT%H%M%S.")
        + f"{stamp.microsecond // 1000:03d}Z-"
        + (secrets.token_hex(6))
    )


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """sha256 of the request body as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def git_commit(folder: Path, env: Mapping[str, str] | None = None) -> str | None:
    """The commit checked out in ``folder`` (CI's own variable first), or None outside git."""
    env = os.environ if env is None else env
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA"):
        if re.fullmatch(r"[0-9a-f]{40}", env.get(name, "")):
            return env[name]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


@dataclass(frozen=True)
class RunRecord:
    """What one run did. Times are ISO-8601; ``as_of`` is the run's frozen clock.

    ``watermark`` (incremental runs that published): contacts created before it are
    exported; the next run starts there. ``snapshot``: the store's reference to the
    ids this run published (delta segments). ``accepted_change``: ``--accept-change``
    let this run publish past ``expect.max_change``.
    """

    run_id: str
    segment: str
    status: RunStatus
    ended: str
    as_of: str = ""
    started: str = ""
    seconds: float = 0.0
    rows: int = 0
    pages: int = 0
    duplicates: int = 0
    retries: int = 0
    bytes: int = 0
    sha256: str = ""
    destination: str = ""
    body_fingerprint: str = ""
    runner_version: str = ""
    git_commit: str | None = None
    accepted_change: bool = False
    error: str = ""
    mode: str = "full"
    watermark: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    snapshot: str | None = None
    added: int | None = None
    removed: int | None = None
    held_out: int | None = None  # holdout: the held-back rows (the audience is rows + these)
    # The output path this run wrote (rendered; dated when incremental) and as written:
    # the next run replaces this run's result when the template still renders to it.
    output_path: str | None = None
    output_template: str | None = None

    def __post_init__(self) -> None:
        if not SEGMENT_NAME.match(self.segment):
            raise ValueError(f"segment name {self.segment!r} is not lowercase-kebab-case")
        if not RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} is not one made by new_run_id")
        object.__setattr__(self, "status", RunStatus(self.status))
        if self.status not in RECORDED:
            raise ValueError(f"status {self.status}: the history records no such run")
        if "\n" in self.error or "\r" in self.error:
            object.__setattr__(self, "error", " ".join(self.error.split()))

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {"v": FORMAT_VERSION, **asdict(self), "status": str(self.status)}

    def to_json(self) -> builtins.bytes:
        """One line of JSON (no newline inside: error lines are made one line)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: builtins.bytes | str) -> RunRecord:
        """Parse what :meth:`to_json` wrote; keys a later version added are ignored.

        Raises ValueError for anything else (not JSON, a missing or mistyped field).
        """
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError("a run record is a JSON object")
        # Records of one run shape share their keys and value types: checked once a shape.
        shape = (tuple(raw), tuple(map(type, raw.values())))
        if shape in _CHECKED_SHAPES:
            return cls(**raw)
        known = _field_kinds()
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in known:
                continue
            annotation, kinds = known[name]
            # JSON values come as exact types: bool never passes for int, as it should.
            if type(value) not in kinds:
                raise ValueError(f"{name}: {value!r} is not {annotation}")
            values[name] = value
        try:
            record = cls(**values)
        except TypeError as exc:  # a required field is missing
            raise ValueError(str(exc)) from exc
        if len(values) == len(raw) and len(_CHECKED_SHAPES) < 256:
            _CHECKED_SHAPES.add(shape)  # every key known, every type right, none missing
        return record


_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "RunStatus": (str,),
    "float": (int, float),
    "int": (int,),
    "bool": (bool,),
    "str | None": (str, type(None)),
    "int | None": (int, type(None)),
}


# Key and type sequences of records that passed every check (see RunRecord.from_json).
_CHECKED_SHAPES: set[tuple[tuple[str, ...], tuple[type, ...]]] = set()


@functools.cache
def _field_kinds() -> dict[str, tuple[str, tuple[type, ...]]]:
    """Each field's annotation and the JSON types it accepts, worked out once: a
    catalog reads 182,500 records."""
    return {f.name: (str(f.type), _TYPES[str(f.type)]) for f in fields(RunRecord)}

"""Where a segment may write: output path rules, checked when a segment is loaded.

An output path is a relative local path (under ``output_root``) or
``s3://bucket/key``. It must name a data file that belongs to nobody else, so
a reviewed segment can never overwrite the project or another run's files:

- printable text only (no control character, no lone surrogate), S3's bucket and
  key rules for ``s3://`` (:mod:`runner.locations`);
- a file, not a folder (no trailing ``/``, ``.`` or ``..``), never inside ``.git``;
- not a name the runner uses itself: ``.segments-*`` (temporaries and locks),
  ``*.manifest.json`` (the manifest beside every output) and anything in a
  ``.segments`` folder (the run history and id snapshots), also when reached
  through a symlink or ``..``;
- the extension of its format (``.csv``/``.tsv``, ``.jsonl``/``.ndjson``, ``.xlsx``,
  ``.parquet``), plus ``.gz`` exactly when ``compression: gzip`` (so
  ``runner.yaml``, ``Makefile`` or a git hook can never be a target);
- resolved (symlinks followed) under the output root, and not the project
  folder, ``runner.yaml``, the ``segments/`` folder, ``.git`` or an existing folder;
- different from every other segment's output, and not a folder of one
  (:mod:`runner.spec.crosscheck`).

>>> path_problem("exports/vip.csv", "csv", "none") is None
True
>>> path_problem("runner.yaml", "csv", "none")
"ends in '.yaml': a csv output must end in .csv or .tsv (a data file, never a project file)"
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING

from runner.locations import S3_SCHEME, STATE_DIR, S3Location
from runner.spec.loader import surrogate_problem

if TYPE_CHECKING:
    from runner.spec.project import Project

RESERVED_PREFIX = ".segments-"  # the sinks' temporaries and locks
STATE_PROBLEM = (
    f"is inside a {STATE_DIR} folder, the runner's own state (run history, id snapshots): "
    "never an output"
)
MANIFEST_SUFFIX = ".manifest.json"
EXTENSIONS = {
    "csv": (".csv", ".tsv"),
    "jsonl": (".jsonl", ".ndjson"),
    "xlsx": (".xlsx",),
    "parquet": (".parquet",),
}
# Control characters, line separators and the bidi controls that make a name read
# differently from what it is (U+202E "right-to-left override").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_NAME_BYTES = 255  # NAME_MAX of common file systems


def path_problem(text: str, fmt: str, compression: str) -> str | None:
    """Why ``text`` is not an acceptable output path, from its text alone, or None."""
    bad = surrogate_problem(text)
    if bad:
        return bad
    control = _CONTROL.search(text)
    if control:
        return (
            f"contains the control character {ascii(control.group())[1:-1]}: "
            "file and object names must be printable on one line"
        )
    if text.startswith(S3_SCHEME):
        try:
            key = S3Location.parse(text).key
        except ValueError as exc:
            return str(exc)
        return _name_problem(key, fmt, compression, local=False)
    if "://" in text:
        return f"unsupported scheme in {text!r}: use a relative local path or s3://bucket/key"
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        return "local output paths must be relative to the output root, not absolute"
    if "\\" in text:
        return "use '/' to separate folders in output paths"
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        return "the output path escapes the output root with '..'"
    return _name_problem(text, fmt, compression)


def _name_problem(path: str, fmt: str, compression: str, *, local: bool = True) -> str | None:
    parts = path.split("/")
    name = parts[-1]
    if name in ("", ".", ".."):
        end = "/" if path.endswith("/") else name
        return f"must name a file, not a folder (it ends in {end!r})"
    if "" in parts:
        return "has an empty folder name ('//')"
    longest = max(parts, key=lambda part: len(part.encode("utf-8")))
    if local and len(longest.encode("utf-8")) > MAX_NAME_BYTES:
        return (
            f"has a name of {len(longest.encode('utf-8'))} bytes; file systems allow at most "
            f"{MAX_NAME_BYTES} per file or folder name"
        )
    if any(part.casefold() == ".git" for part in parts):
        return "is inside a .git folder: git's own files are never an output"
    if any(part.casefold() == STATE_DIR for part in parts):
        return STATE_PROBLEM
    if name.startswith(RESERVED_PREFIX):
        return f"names starting with {RESERVED_PREFIX!r} are the runner's temporary and lock files"
    if name.endswith(MANIFEST_SUFFIX):
        return f"names ending in {MANIFEST_SUFFIX!r} are the manifests written beside each output"
    allowed = EXTENSIONS.get(fmt, ())
    gz = compression == "gzip"
    stem = name[: -len(".gz")] if gz and name.endswith(".gz") else name
    if gz and stem == name:
        return f"a gzip-compressed output ends in .gz (such as {_example(fmt, gz)})"
    if not gz and name.endswith(".gz"):
        return "ends in .gz but 'output.compression' is not gzip"
    if allowed and not stem.endswith(allowed):
        suffix = posixpath.splitext(stem)[1]
        kind = f"ends in {suffix!r}" if suffix else "has no extension"
        endings = " or ".join(allowed)
        return f"{kind}: a {fmt} output must end in {endings} (a data file, never a project file)"
    return None


def _example(fmt: str, gz: bool) -> str:
    return "exports/name" + EXTENSIONS.get(fmt, (".csv",))[0] + (".gz" if gz else "")


def tagged_path(path: str, tag: str) -> str:
    """``path`` with ``.tag`` before its extension (and ``.gz``): where ``output.delta``
    puts ``added`` and ``removed`` beside the output.

    >>> tagged_path("exports/vip.csv.gz", "added"), tagged_path("s3://b/vip.jsonl", "removed")
    ('exports/vip.added.csv.gz', 's3://b/vip.removed.jsonl')
    """
    head, name = posixpath.split(path)
    gz = ".gz" if name.endswith(".gz") else ""
    stem, ext = posixpath.splitext(name[: len(name) - len(gz)])
    return f"{head}/{stem}.{tag}{ext}{gz}" if head else f"{stem}.{tag}{ext}{gz}"


DELTA_TAGS = ("added", "removed")
PART_DIGITS = 4  # name-0001.csv
# More would sort wrongly in a shell glob (name-10000 before name-1001): refused.
MAX_PARTS = 10**PART_DIGITS - 1


def _stem_ext(name: str) -> tuple[str, str]:
    gz = ".gz" if name.endswith(".gz") else ""
    stem, ext = posixpath.splitext(name[: len(name) - len(gz)])
    return stem, ext + gz


def part_path(path: str, number: int) -> str:
    """Where part ``number`` (from 1) of a split output goes: ``-NNNN`` before the extension.

    >>> part_path("exports/vip.csv.gz", 1), part_path("s3://b/k/vip.jsonl", 12)
    ('exports/vip-0001.csv.gz', 's3://b/k/vip-0012.jsonl')
    """
    head, name = posixpath.split(path)
    stem, ext = _stem_ext(name)
    part = f"{stem}-{number:0{PART_DIGITS}d}{ext}"
    return f"{head}/{part}" if head else part


def part_number(name: str, base: str) -> int | None:
    """The part number when the file name ``name`` is a part of the output named ``base``
    (both without folders), else None: what a split output claims and cleans.

    >>> part_number("vip-0003.csv", "vip.csv"), part_number("vip-3.csv", "vip.csv")
    (3, None)
    """
    stem, ext = _stem_ext(base)
    digits = r"-([0-9]{" + str(PART_DIGITS) + ",})"
    match = re.fullmatch(re.escape(stem) + digits + re.escape(ext), name)
    if match is None or (len(match.group(1)) > PART_DIGITS and match.group(1)[0] == "0"):
        return None
    number = int(match.group(1))
    return number if number >= 1 else None


def claims_part(path: str, split_output: str) -> bool:
    """Whether ``path`` lands on a part of ``split_output`` (same folder, ``name-NNNN.ext``)."""
    head, name = posixpath.split(path)
    base_head, base = posixpath.split(split_output)
    return (
        posixpath.normpath(head or ".") == posixpath.normpath(base_head or ".")
        and part_number(name, base) is not None
    )


# The as-of in UTC to the millisecond, as an incremental run's dated file has it
# (runner.run.plan.stamp): out/signups.20261125T000000000Z.jsonl
DATED_STAMP = r"[0-9]{8}T[0-9]{9}Z"


def claims_dated(path: str, incremental_output: str) -> bool:
    """Whether ``path`` lands on a dated file of the incremental output ``incremental_output``.

    >>> claims_dated("out/s.20261125T000000000Z.csv", "out/s.csv")
    True
    >>> claims_dated("out/s.csv", "out/s.csv"), claims_dated("a/s.20261125T000000000Z.csv", "s.csv")
    (False, False)
    """
    head, name = posixpath.split(path)
    base_head, base = posixpath.split(incremental_output)
    stem, ext = _stem_ext(base)
    dated = re.fullmatch(re.escape(stem) + r"\." + DATED_STAMP + re.escape(ext), name)
    return dated is not None and posixpath.normpath(head or ".") == posixpath.normpath(
        base_head or "."
    )


def resolved_target(project: Project, text: str) -> Path:
    """The file a local output path lands on, symlinks followed."""
    return (project.local_root / text).resolve()


def local_problem(project: Project, text: str) -> str | None:
    """Why the local path ``text`` would land on something that is not an output, or None."""
    try:
        target = resolved_target(project, text)
        root = project.root.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        return f"cannot be resolved: {exc}"
    base = project.local_root
    if not target.is_relative_to(base):
        return f"resolves to {target}, outside the output root {base} (through a symlink)"
    git = root / ".git"
    if target in (root, base) or target.is_dir():
        return "is an existing folder, not a file"
    if target == git or target.is_relative_to(git):
        return "resolves inside the project's .git folder"
    state = base / STATE_DIR
    if target == state or target.is_relative_to(state):
        return f"resolves to {target}, inside {state}, the runner's own state: never an output"
    if target == root / "runner.yaml":
        return "would overwrite the project file runner.yaml"
    segments = project.segments_dir.resolve()
    if target.is_relative_to(segments):
        return "would write into the segments folder"
    return None

"""Where CI gets segment-runner from: one pinned requirement line, never a bare name.

``segments init`` writes the line into ``ci/requirements.txt`` from where the
running ``segments`` was installed, as pip recorded it in ``direct_url.json``
(PEP 610): a VCS URL and its commit, an archive URL and its hash, or a local
folder; with no record, the package came from an index and the line is
``segment-runner==VERSION``. ``--runner-source SPEC`` overrides it verbatim, once it
is one line, names segment-runner (PEP 503 names: ``Segment_Runner`` is the same) and
pins something that cannot move: ``==VERSION``, a full commit sha, a ``#sha256=``.

>>> from_direct_url({"url": "https://github.com/acme/segment-runner",
...     "vcs_info": {"vcs": "git", "commit_id": "4f3c2b1a"}}, "0.1.0").line
'segment-runner @ git+https://github.com/acme/segment-runner@4f3c2b1a'
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import url2pathname

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from runner.errors import UsageError
from runner.locations import public_url

DIST = "segment-runner"
UNPINNED_LINE = (
    "NOT PINNED: segments init could not tell where segment-runner came from,"
    " replace this line with a pinned source as the comments above show"
)
_OPTION_HINT = (
    "segment-runner==VERSION, segment-runner @ git+https://...@<40-hex commit sha>, "
    "or segment-runner @ <wheel or sdist URL>#sha256=<64-hex digest>"
)
_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class InstallSource:
    """The requirement line CI installs, where it came from, and what to tell the user."""

    line: str
    origin: str
    warning: str = ""
    pinned: bool = True


def explicit(spec: str) -> InstallSource:
    """``--runner-source SPEC``: kept verbatim once it is one line, names segment-runner
    and pins it so it cannot move; anything else is a :class:`UsageError` saying why.

    >>> explicit("Segment_Runner==0.1.0").line
    'Segment_Runner==0.1.0'
    >>> explicit("segment-runner @ git+https://example.com/s.git@HEAD")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    runner.errors.UsageError: --runner-source '...@HEAD' is not pinned: 'HEAD' can move; ...
    """
    bad = next((char for char in spec if _separates(char) or _is_control(char)), None)
    if bad is not None:
        kind = (
            "a line separator, after which pip would read a line of its own"
            if _separates(bad)
            else "a control character, which has no place in a requirement"
        )
        raise UsageError(
            f"--runner-source takes one line: it holds U+{ord(bad):04X}, {kind}; "
            f"give {_OPTION_HINT}"
        )
    text = spec.strip()
    if text.startswith("-"):
        raise UsageError(f"--runner-source takes a requirement, not a pip option: {_OPTION_HINT}")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot be read"
        hint = f"name it: {DIST} @ URL" if "://" in text else f"give {_OPTION_HINT}"
        raise UsageError(
            f"--runner-source {text!r} is not a requirement naming {DIST} ({first}); {hint}"
        ) from exc
    if canonicalize_name(requirement.name) != DIST:
        raise UsageError(
            f"--runner-source {text!r} installs {requirement.name!r}, not {DIST}: CI must "
            f"install segment-runner itself ({_OPTION_HINT})"
        )
    if requirement.marker is not None:
        raise UsageError(
            f"--runner-source {text!r} has an environment marker: where it is false, CI "
            f"would install no segment-runner at all; drop '; {requirement.marker}'"
        )
    why = _movable(requirement)
    if why:
        raise UsageError(f"--runner-source {text!r} is not pinned: {why}")
    return InstallSource(text, "--runner-source")


def _separates(char: str) -> bool:
    """What ``str.splitlines()`` splits on (pip, or a later tool, may too)."""
    return len(f"a{char}b".splitlines()) > 1


def _is_control(char: str) -> bool:
    """C0/C1 controls, and format characters (bidi overrides) that hide text from a reviewer."""
    return unicodedata.category(char) in ("Cc", "Cf")


def _movable(requirement: Requirement) -> str:
    """Why ``requirement`` could install something else tomorrow ("" when it cannot)."""
    if requirement.url is None:
        pins = list(requirement.specifier)
        if len(pins) == 1 and pins[0].operator in ("==", "===") and "*" not in pins[0].version:
            return ""
        return "a range or a bare name moves with every release; give segment-runner==VERSION"
    url = urlsplit(requirement.url)
    if "+" in url.scheme:  # a VCS URL: git+https://...@<rev>
        _, at, rev = url.path.rpartition("@")
        if at and _COMMIT.fullmatch(rev):
            return ""
        shown = f"{rev!r} can move" if at else "no @<commit> in the URL"
        return f"{shown}; give the full 40-hex commit sha after @"
    digests = parse_qs(url.fragment).get("sha256", [])
    if len(digests) == 1 and _SHA256.fullmatch(digests[0]):
        return ""
    return "a wheel or sdist URL pins only with #sha256=<its 64-hex digest>"


def detect() -> InstallSource:
    """The line for the segment-runner that is running now."""
    dist = _running_distribution()
    if dist is None:
        return InstallSource(
            UNPINNED_LINE,
            "nowhere: this segment-runner was not installed by pip",
            "cannot tell where segment-runner was installed from, so ci/requirements.txt "
            "fails CI until you pin it: run segments init again with --runner-source "
            "(a git+https://...@<sha> URL, a wheel URL or segment-runner==VERSION)",
            pinned=False,
        )
    record = dist.read_text("direct_url.json")
    if record is None:
        return from_direct_url(None, dist.version)
    return from_direct_url(json.loads(record), dist.version)


def from_direct_url(record: dict[str, Any] | None, version: str) -> InstallSource:
    """The line for a PEP 610 ``direct_url.json`` record (None: installed from an index)."""
    if record is None:
        return InstallSource(
            f"{DIST}=={version}",
            f"a package index (version {version})",
            "pinned to segment-runner==" + version + " from a package index: if that index "
            "is not PyPI, add --index-url URL as the first line of ci/requirements.txt",
        )
    url = public_url(str(record.get("url", "")))
    subdirectory = record.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    local = urlsplit(url).scheme == "file"
    warning = (
        f"pinned to the local path {url2pathname(urlsplit(url).path)}, which only this "
        "machine has: CI needs --runner-source with a git+https://...@<sha> or wheel URL"
        if local
        else ""
    )
    if "vcs_info" in record:
        vcs = record["vcs_info"]
        commit = vcs.get("commit_id", "")
        line = f"{DIST} @ {vcs.get('vcs', 'git')}+{url}@{commit}{fragment}"
        return InstallSource(line, f"{url} at commit {commit}", warning)
    if "archive_info" in record:
        hashes = record["archive_info"].get("hashes") or {}
        digest = f"#sha256={hashes['sha256']}" if "sha256" in hashes and not fragment else ""
        return InstallSource(f"{DIST} @ {url}{digest or fragment}", url, warning)
    return InstallSource(f"{DIST} @ {url}{fragment}", f"the folder {url}", warning)


def _running_distribution() -> metadata.Distribution | None:
    """The installed segment-runner that holds the ``runner`` package being run, if any.

    Only what an installer recorded counts (an INSTALLER file, PEP 376): the
    ``.egg-info`` folder a build leaves in a source tree describes no install.
    """
    here = (Path(__file__).resolve().parent.parent / "__init__.py").resolve()
    for dist in metadata.distributions(name=DIST):
        if dist.read_text("INSTALLER") is not None and _holds(dist, here):
            return dist
    return None


def _holds(dist: metadata.Distribution, module: Path) -> bool:
    record = dist.read_text("direct_url.json")
    data = json.loads(record) if record else {}
    if data.get("dir_info", {}).get("editable"):
        folder = Path(url2pathname(urlsplit(str(data.get("url", ""))).path))
        sub = data.get("subdirectory") or ""
        return (folder / sub / "runner" / "__init__.py").resolve() == module
    located = Path(str(dist.locate_file("runner/__init__.py")))
    return located.exists() and located.resolve() == module

"""Where CI gets segment-runner from: one pinned requirement line, never a bare name.

``segments init`` writes the line into ``ci/requirements.txt`` from where the
running ``segments`` was installed, as pip recorded it in ``direct_url.json``
(PEP 610): a VCS URL and its commit, an archive URL and its hash, or a local
folder; with no record, the package came from an index and the line is
``segment-runner==VERSION``. ``--runner-source SPEC`` overrides it verbatim.

>>> from_direct_url({"url": "https://github.com/acme/segment-runner",
...     "vcs_info": {"vcs": "git", "commit_id": "4f3c2b1a"}}, "0.1.0").line
'segment-runner @ git+https://github.com/acme/segment-runner@4f3c2b1a'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from runner.errors import UsageError
from runner.locations import public_url

DIST = "segment-runner"
UNPINNED_LINE = (
    "NOT PINNED: segments init could not tell where segment-runner came from,"
    " replace this line with a pinned source as the comments above show"
)
_PINNED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._ -]*\])?\s*===?\s*[^\s*,;]+")
_OPTION_HINT = "a git+https://...@<tag or sha> URL, a wheel URL, a path, or NAME==VERSION"


@dataclass(frozen=True)
class InstallSource:
    """The requirement line CI installs, where it came from, and what to tell the user."""

    line: str
    origin: str
    warning: str = ""
    pinned: bool = True


def explicit(spec: str) -> InstallSource:
    """``--runner-source SPEC``: kept verbatim once it is one line and pinned."""
    text = spec.strip()
    if not text or "\n" in spec or "\r" in spec:
        raise UsageError(f"--runner-source takes one line: {_OPTION_HINT}")
    if text.startswith("-"):
        raise UsageError(f"--runner-source takes a requirement, not a pip option: {_OPTION_HINT}")
    _, at, url = text.partition(" @ ")
    target = url.strip() if at else text
    if "://" in target or target.startswith(("/", ".", "~")):
        scheme, _, _ = target.partition("://")
        if "+" in scheme and "@" not in urlsplit(target).path:
            raise UsageError(
                f"--runner-source {text!r} is not pinned: add @<tag or commit sha> to the URL"
            )
        return InstallSource(text, "--runner-source")
    if not _PINNED_NAME.fullmatch(text):
        raise UsageError(f"--runner-source {text!r} is not pinned: give {_OPTION_HINT}")
    return InstallSource(text, "--runner-source")


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

"""Local disk: files published atomically under a lock, beside their manifests.

- :mod:`~runner.sinks.local.target`: where an output goes (file, manifest, lock, mode).
- :mod:`~runner.sinks.local.destination`: :class:`LocalDestination` and its upload.
- :mod:`~runner.sinks.local.files`: exclusive temporaries, staging folders and their
  clean-up (also the run history's and the catalog's way of writing a file whole).
- :mod:`~runner.sinks.local.parts`: a split output's parts, published as one set.
- :mod:`~runner.sinks.local.group`: a file published as another's companion.
- :mod:`~runner.sinks.local.locks`, :mod:`~runner.sinks.local.private`: the
  publisher's lock of a target, and files created with an exact mode.
"""

from __future__ import annotations

from runner.sinks.base import BEFORE_MANIFEST, MANIFEST_SUFFIX, TEMP_PREFIX
from runner.sinks.local.destination import LocalDestination, LocalUpload
from runner.sinks.local.files import (
    Staging,
    Temporary,
    clean_stale_temporaries,
    file_problem,
    fsync_dir,
    reason,
    write_atomically,
)
from runner.sinks.local.target import LocalTarget

__all__ = [
    "BEFORE_MANIFEST",
    "MANIFEST_SUFFIX",
    "TEMP_PREFIX",
    "LocalDestination",
    "LocalTarget",
    "LocalUpload",
    "Staging",
    "Temporary",
    "clean_stale_temporaries",
    "file_problem",
    "fsync_dir",
    "reason",
    "write_atomically",
]

"""New files readable by their owner only (0600), as :func:`tempfile.mkstemp` makes the
temporary a single-file export is renamed from, or with ``output.mode``: split parts and
their manifest get the same mode as one file and its manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

PRIVATE_MODE = 0o600


def create_private(path: Path, mode: int = PRIVATE_MODE) -> BinaryIO:
    """``path`` created (it must not exist, like ``open("xb")``) with ``mode`` exactly
    (created 0600, then changed: the umask does not take bits away from what was asked)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, PRIVATE_MODE)
    if mode != PRIVATE_MODE:
        os.fchmod(fd, mode)
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes, mode: int = PRIVATE_MODE) -> None:
    """``data`` as the new file ``path`` (``mode``, 0600 by default), synced to disk."""
    with create_private(path, mode) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())

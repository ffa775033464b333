"""New files readable by their owner only (0600), as :func:`tempfile.mkstemp` makes the
temporary a single-file export is renamed from: split parts and their manifest get the
same mode as one file and its manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

PRIVATE_MODE = 0o600


def create_private(path: Path) -> BinaryIO:
    """``path`` created (it must not exist, like ``open("xb")``) with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, PRIVATE_MODE), "wb")


def write_private(path: Path, data: bytes) -> None:
    """``data`` as the new file ``path`` (mode 0600), synced to disk."""
    with create_private(path) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())

"""Reading a user's file: a regular file of at most ``MAX_BYTES`` in UTF-8, or why not.

>>> read_text(Path("/dev/zero"), "zero.yaml")[1][0].message
'not a regular file (a character device): only regular files are read'
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runner.problems import Problem

MAX_BYTES = 1024 * 1024  # 1 MiB: a segment or runner.yaml is a few hundred bytes


def display_path(path: Path) -> str:
    """``path`` as problems name it: relative to the working folder when it can be."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` in ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def read_text(path: Path, file: str) -> tuple[str | None, list[Problem]]:
    """The UTF-8 text of the regular file ``path``, at most ``MAX_BYTES`` long.

    A FIFO, a device (``/dev/zero``) or a folder is refused without reading it:
    the file is opened non-blocking and checked with ``fstat`` before any read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        try:  # a socket cannot be opened at all: say what it is
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            return None, [_not_regular(file, mode)]
        return None, [Problem(file, 1, 1, f"cannot read the file: {exc.strerror}")]
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, [_not_regular(file, info.st_mode)]
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, [Problem(file, 1, 1, f"cannot read the file: {exc.strerror}")]
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        return None, [Problem(file, 1, 1, f"file is larger than {MAX_BYTES} bytes (1 MiB)")]
    return _decode(b"".join(chunks), file)


def _not_regular(file: str, mode: int) -> Problem:
    return Problem(file, 1, 1, f"not a regular file ({_kind(mode)}): only regular files are read")


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _decode(data: bytes, file: str) -> tuple[str | None, list[Problem]]:
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, col = line_col(good, len(good))
        byte = data[exc.start]
        return None, [
            Problem(
                file,
                line,
                col,
                f"file is not UTF-8 text: byte 0x{byte:02X} cannot be decoded ({exc.reason}); "
                "save the file as UTF-8",
            )
        ]

"""``output.mode``: the permissions of the local files an export writes.

0600 by default (the files hold personal data); a hand-off folder read by another user
or a pickup job can ask for more, within limits that keep the files data, and theirs:

- a quoted octal string, ``"0640"`` or ``"640"`` (YAML reads an unquoted ``0640`` as the
  number 416, and ``640`` as six hundred and forty: both are refused with the fix);
- the owner reads and writes (the runner replaces its own files);
- no execute bits (data files are not programs), no set-id or sticky bits;
- not writable by others (anyone on the machine could change what is handed on).
  Group-writable is allowed: a shared hand-off group may need it.

>>> parse_mode("0640")
416
>>> mode_problem("0640") is None
True
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MODE = 0o600
_OCTAL = re.compile(r"^0?[0-7]{3}$")
_FIX = 'write for example "0640"'


def parse_mode(text: str | None) -> int:
    """The mode of a value :func:`mode_problem` accepted (None: the default)."""
    return DEFAULT_MODE if text is None else int(text, 8)


def mode_problem(value: Any) -> str | None:
    """Why ``value`` cannot be ``output.mode``, or None."""
    shown = f"'output.mode' {json.dumps(value)}"
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None  # the schema says what type it must be
    if isinstance(value, int):
        return (
            f"{shown} is a number: YAML reads an unquoted 0640 as octal (416) and 640 as "
            f"decimal; quote the mode, {_FIX}"
        )
    if not _OCTAL.match(value):
        return f"{shown} is not an octal mode of three digits 0-7: {_FIX}"
    mode = int(value, 8)
    if mode & 0o111:
        bits = f"0{mode & 0o111:03o}"
        return f"{shown} has execute bits ({bits} of it): data files are not programs; {_FIX}"
    if mode & 0o002:
        return f"{shown} lets every user on the machine change the files: {_FIX}"
    if mode & 0o600 != 0o600:
        why = "takes reading or writing away from the owner, whose runs replace the files"
        return f"{shown} {why}: {_FIX}"
    return None

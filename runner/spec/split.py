"""``output.split``: numbered parts of at most ``max_rows`` rows and ``max_bytes`` bytes.

A size is a number of bytes or a text such as ``50MB``, ``1.5GB`` or ``512KiB``:
KB, MB, GB and TB count in thousands (what platforms' help pages mean, and never
more than the binary reading), KiB, MiB, GiB and TiB in 1024s.

>>> parse_size("50MB"), parse_size("1.5 GB"), parse_size("512KiB"), parse_size(100)
(50000000, 1500000000, 524288, 100)

A preset with documented limits (:data:`PRESET_LIMITS`, each platform's limits on one
import file) splits at them by default: an export that fits in one part is published
as the one plain file, a larger one as numbered parts (:attr:`SplitSpec.plain_if_one`).
``split: true`` splits at those limits always as numbered parts; a mapping overrides
them key by key; ``false`` (or no ``split`` and no such preset) writes one file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]I?B|B)?\s*", re.IGNORECASE)
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
SIZE_HELP = "a size such as 50MB, 1.5GB, 512KiB or a number of bytes"


def parse_size(value: int | str) -> int:
    """A size in bytes; ValueError (naming what is accepted) if ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {SIZE_HELP}")
    if isinstance(value, int):
        number = Decimal(value)
    else:
        match = _SIZE.fullmatch(value)
        if match is None:
            raise ValueError(f"{value!r} is not {SIZE_HELP}")
        try:
            number = Decimal(match.group(1)) * _UNITS[(match.group(2) or "").upper()]
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits digits only
            raise ValueError(f"{value!r} is not {SIZE_HELP}") from exc
    size = int(number)  # a fraction of a byte is cut
    if size < 1:
        raise ValueError(f"{value!r} is less than one byte")
    return size


@dataclass(frozen=True)
class SplitSpec:
    """Limits on each part; None: no limit of that kind (at least one is set).

    ``plain_if_one``: the preset's default limits (no ``split`` in the segment): an
    export that fits in one part is published under the plain name, as one file.
    """

    max_rows: int | None = None
    max_bytes: int | None = None
    plain_if_one: bool = False

    def plain(self, parts: int) -> bool:
        """Whether an export written as ``parts`` parts is published as one plain file."""
        return self.plain_if_one and parts == 1


# Each platform's documented limit on one import file (README "Split parts" cites the
# pages). Meta and Mailchimp document none for a file upload: no default.
PRESET_LIMITS: Mapping[str, Mapping[str, Any]] = {
    "google_customer_match": {"max_bytes": "5GB"},
    "tiktok_custom_audience": {"max_bytes": "1GB"},
    "klaviyo": {"max_bytes": "50MB"},
    "hubspot": {"max_rows": 1_048_575, "max_bytes": "512MB"},
}


def preset_limits(preset: str | None) -> dict[str, Any]:
    """The documented limits of ``preset``'s platform ({} when it documents none)."""
    return dict(PRESET_LIMITS.get(preset or "", {}))


def effective_split(preset: str | None, own: Any) -> dict[str, Any] | None:
    """The limits a segment's ``split`` means (checked with :func:`split_problem`):
    nothing the preset's limits, one plain file when the export fits in one part
    (``plain_if_one``); ``true`` the preset's limits, a mapping the preset's limits
    overridden key by key; ``false``, or nothing without a preset's limits, no split."""
    defaults = preset_limits(preset)
    if own is None:
        return {**defaults, "plain_if_one": True} if defaults else None
    if own is False:
        return None
    return defaults if own is True else {**defaults, **own}


def split_problem(preset: str | None, own: Any) -> tuple[str, str] | None:
    """(key, message) for a ``split`` the schema accepts but that means nothing, or None."""
    if own is None or own is False:
        return None  # a preset's own limits are valid
    raw = effective_split(preset, own)
    if not raw:  # true without a preset's limits, or an empty mapping
        return "", _NO_LIMITS if own is True else "'output.split' needs max_rows, max_bytes or both"
    for key in ("max_rows", "max_bytes"):
        if isinstance(raw.get(key), float):  # the JSON Schema's "integer" admits 1.0 and 1e5
            whole = f"it must be a whole number{_HINT[key]}"
            return key, f"'output.split.{key}' is {raw[key]!r}: {whole}"
    if "max_bytes" in raw:
        try:
            parse_size(raw["max_bytes"])
        except ValueError as exc:
            return "max_bytes", f"'output.split.max_bytes' {exc}"
    return None


_HINT = {"max_rows": " such as 100000", "max_bytes": f", or {SIZE_HELP}"}
_NO_LIMITS = (
    "'output.split: true' splits at the preset's platform limits, but "
    "there is no preset with documented limits: give max_rows, max_bytes or both"
)


def split_spec(raw: Mapping[str, Any] | None) -> SplitSpec | None:
    """The checked ``split`` (see :func:`split_problem`) as a typed value."""
    if not raw:
        return None
    size = raw.get("max_bytes")
    plain = bool(raw.get("plain_if_one", False))
    return SplitSpec(raw.get("max_rows"), None if size is None else parse_size(size), plain)

"""What an export is asked to do: :class:`ExportOptions` (the command line's flags, typed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from runner.sinks import OutputRoot, as_output_root


@dataclass(frozen=True)
class ExportOptions:
    """``out`` is parsed once (text from Python callers is parsed here, UsageError if bad)."""

    out: OutputRoot | None = None
    concurrency: int | None = None
    max_pages: int | None = None
    dry_run: bool = False
    fail_fast: bool = False
    accept_change: bool = False  # publish past expect.max_change, once (recorded)
    since: str | None = None  # where the first incremental run starts (like --as-of)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", as_output_root(self.out))

    def as_args(self) -> dict[str, Any]:
        """The options as plain JSON values, for the results file."""
        return {**asdict(self), "out": None if self.out is None else str(self.out)}

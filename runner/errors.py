"""Every exception the runner raises on purpose.

The tree (catch the narrowest one that fits)::

    RunnerError                 base: a message a person can act on, no traceback
    ├── UsageError              bad command-line input (exit 2)
    ├── ConfigError             runner.yaml or a segment file cannot be used
    │   └── ProjectFileError    runner.yaml has problems: nothing that needs it runs
    ├── TemplateError           a Jinja template failed to render
    ├── FetchError              the API could not give us every page
    │   ├── AuthError           401/403/400: retrying will not help
    │   └── PagingError         the API ignored the page number, or a bad envelope
    ├── GuardError              expect.min_rows / max_rows not met
    ├── HistoryError            the run history cannot be read or written
    │   └── SnapshotError       an id snapshot is damaged or keyed differently
    └── DestinationError        the file or object could not be written
        ├── PathEscapeError     an output path tried to leave its root
        └── ManifestError       the data was published, its manifest was not

    Terminated (BaseException)  SIGTERM during an export, like KeyboardInterrupt

Library errors (requests, botocore, jinja2, yaml) are converted at the
boundary with ``raise ... from exc`` so the cause stays in ``__cause__``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from runner.problems import counted

if TYPE_CHECKING:
    from runner.problems import Problem


class ExitCode(IntEnum):
    """What the process exits with; only ``runner.cli.main`` picks one."""

    OK = 0  # everything valid / exported
    FAILED = 1  # problems found in a file, a segment failed, or an OS failure
    USAGE = 2  # bad command-line input: option, selector, --as-of, git ref, project folder
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM


class RunnerError(Exception):
    """Base class: ``str(exc)`` is the one line shown to the user (exit 1)."""


class UsageError(RunnerError):
    """Bad command-line input (exit 2)."""


class ConfigError(RunnerError):
    pass


class ProjectFileError(ConfigError):
    """``runner.yaml`` has problems, so no command that depends on it runs (exit 1).

    ``str(exc)`` is a summary line, then one ``file:line:col: message`` line each.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "".join(f"\n{p}" for p in problems)
        count = counted(len(problems), "problem")
        super().__init__(f"{problems[0].file} has {count}; nothing was run{lines}")


class TemplateError(RunnerError):
    pass


class FetchError(RunnerError):
    pass


class AuthError(FetchError):
    pass


class PagingError(FetchError):
    pass


class GuardError(RunnerError):
    pass


class DestinationError(RunnerError):
    pass


class PathEscapeError(DestinationError):
    pass


class ManifestError(DestinationError):
    """The data is published but its manifest is not; the message says what is on disk."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` runs (abort, clean up)."""


class HistoryError(RunnerError):
    """The run history (or an id snapshot kept with it) cannot be read or written."""


class SnapshotGone(HistoryError):
    """An id snapshot a run entry references is not in the history (pruned, or removed)."""


class SnapshotError(HistoryError):
    """An id snapshot is damaged, or was keyed by another ``api.id_key``."""

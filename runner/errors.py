"""Every exception the runner raises on purpose.

The tree (catch the narrowest one that fits)::

    RunnerError                 base: a message a person can act on, no traceback
    ├── UsageError              bad command-line input (exit 2)
    ├── ConfigError             runner.yaml or a segment file cannot be used
    │   └── ProblemsFound       one or more Problem values were collected
    │       └── ProjectFileError  runner.yaml has problems: nothing that needs it runs
    ├── TemplateError           a Jinja template failed to render
    ├── FetchError              the API could not give us every page
    │   ├── AuthError           401/403/400: retrying will not help
    │   └── PagingError         the API ignored the page number, or a bad envelope
    ├── GuardError              expect.min_rows / max_rows not met
    └── DestinationError        the file or object could not be written
        ├── PathEscapeError     an output path tried to leave its root
        └── ManifestError       the data was published, its manifest was not

    Terminated (BaseException)  SIGTERM during an export, like KeyboardInterrupt

Library errors (requests, botocore, jinja2, yaml) are converted at the
boundary with ``raise ... from exc`` so the cause stays in ``__cause__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.problems import Problem

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class RunnerError(Exception):
    """Base class: ``str(exc)`` is the one line shown to the user."""

    exit_code = EXIT_FAILED


class UsageError(RunnerError):
    exit_code = EXIT_USAGE


class ConfigError(RunnerError):
    pass


class ProblemsFound(ConfigError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProjectFileError(ProblemsFound):
    """``runner.yaml`` has problems, so no command that depends on it runs (exit 1).

    ``str(exc)`` is a summary line, then one ``file:line:col: message`` line each.
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        lines = "".join(f"\n{p}" for p in problems)
        self.args = (f"{problems[0].file} has {len(problems)} problem(s); nothing was run{lines}",)


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

"""Command line: parse arguments into typed options and call the library.

:func:`main` is the one place that turns outcomes and errors into exit codes
(:class:`runner.errors.ExitCode`): 0 ok, 1 problems found, a segment that did not
finish (``failed`` or ``guard``: :class:`runner.history.RunStatus`) or an OS
failure, 2 usage error, 130 Ctrl-C, 143 SIGTERM (the segment it stopped is
``interrupted``). It is also where process-wide
things are set: the SIGTERM handler and, for exports, the GC threshold.
The grammar (options, values and their bounds) is :mod:`runner.cli.args`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from runner.cli import commands
from runner.cli.args import build_parser
from runner.cli.commands import Outcome
from runner.cli.process import STDOUT, fewer_gc_passes, named_stdout, release_stdout, sigterm_raises
from runner.errors import ExitCode, RunnerError, Terminated, UsageError

__all__ = ["build_parser", "main"]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

EXIT_CODES = {
    Outcome.OK: ExitCode.OK,
    Outcome.PROBLEMS: ExitCode.FAILED,
    Outcome.FAILED: ExitCode.FAILED,
}
# Raised by user input that is too deep, too big or badly encoded (a template, a value, a
# file name); shown as one line with the exception type. SEGMENTS_TRACEBACK=1 shows where.
INPUT_ERRORS = (RecursionError, MemoryError, UnicodeError, OverflowError)


def _selection(args: argparse.Namespace) -> commands.Selection:
    selectors = [*getattr(args, "segments", []), *getattr(args, "select", [])]
    return commands.Selection(
        project=args.project,
        selectors=selectors,
        exclude=getattr(args, "exclude", []),
        as_of=getattr(args, "as_of", None),
        variables=dict(getattr(args, "var", []) or []),
        state_ref=getattr(args, "state", None),
        paths=[Path(p) for p in getattr(args, "paths", [])],
    )


def _options(kind: type[T], args: argparse.Namespace) -> T:
    """A typed options dataclass from the arguments of the same names."""
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in vars(args).items() if k in names})


def _validate(args: argparse.Namespace) -> Outcome:
    options = commands.ValidateOptions(_selection(args), args.format)
    return commands.validate(options, sys.stdout, sys.stderr)


def _render(args: argparse.Namespace) -> Outcome:
    options = commands.ShowOptions(_selection(args), args.format, args.out)
    return commands.render(options, sys.stdout, sys.stderr)


def _list(args: argparse.Namespace) -> Outcome:
    options = commands.ShowOptions(_selection(args), args.format, args.out)
    return commands.list_segments(options, sys.stdout, sys.stderr)


def _export(args: argparse.Namespace) -> Outcome:
    from runner.run import ExportOptions

    live = {"auto": None, "live": True, "log": False}[args.progress]
    job = commands.ExportJob(_selection(args), _options(ExportOptions, args), args.results, live)
    with fewer_gc_passes():
        return commands.export(job, sys.stdout, sys.stderr)


def _history(args: argparse.Namespace) -> Outcome:
    options = commands.HistoryOptions(_selection(args), args.last, args.format, args.out)
    return commands.history(options, sys.stdout, sys.stderr)


def _overlap(args: argparse.Namespace) -> Outcome:
    from runner.cli.overlap import OverlapOptions, overlap

    options = OverlapOptions(_selection(args), args.format, args.out)
    return overlap(options, sys.stdout, sys.stderr)


def _freshness(args: argparse.Namespace) -> Outcome:
    options = commands.FreshnessOptions(_selection(args), args.format, args.out, args.notify)
    return commands.freshness(options, sys.stdout, sys.stderr)


def _catalog(args: argparse.Namespace) -> Outcome:
    options = commands.CatalogOptions(_selection(args), args.folder, args.exports)
    return commands.catalog(options, sys.stdout, sys.stderr)


def _diff(args: argparse.Namespace) -> Outcome:
    options = commands.DiffOptions(_selection(args), args.ref, args.format, args.count)
    return commands.diff(options, sys.stdout, sys.stderr)


def _init(args: argparse.Namespace) -> Outcome:
    options = commands.InitOptions(
        args.dir, args.force, args.ci, args.runner_source, args.orchestrator
    )
    return commands.init(options, sys.stdout, sys.stderr)


def _sandbox(args: argparse.Namespace) -> Outcome:
    from runner.cli.serve import sandbox
    from runner.sandbox.options import SandboxOptions

    return sandbox(_options(SandboxOptions, args), sys.stdout)


RUNS: dict[str, Callable[[argparse.Namespace], Outcome]] = {
    "validate": _validate,
    "render": _render,
    "list": _list,
    "export": _export,
    "history": _history,
    "overlap": _overlap,
    "freshness": _freshness,
    "catalog": _catalog,
    "diff": _diff,
    "init": _init,
    "sandbox": _sandbox,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the only place one is chosen)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help and --version exit 0; argparse's usage errors exit 2
        return ExitCode.OK if exc.code in (0, None) else ExitCode.USAGE
    with named_stdout():
        code = _exit_code(args)
        failed = release_stdout()
    return code if failed is None or code != ExitCode.OK else _os_failure(failed)


def _exit_code(args: argparse.Namespace) -> ExitCode:
    try:
        with sigterm_raises():  # every `finally` runs: temporaries removed, uploads aborted
            return EXIT_CODES[RUNS[args.command](args)]
    except UsageError as exc:
        return _fail(ExitCode.USAGE, str(exc))
    except RunnerError as exc:
        return _fail(ExitCode.FAILED, str(exc))
    except KeyboardInterrupt:
        return _fail(ExitCode.INTERRUPTED, _unfinished("interrupted", args), prefix="segments")
    except Terminated:
        return _fail(ExitCode.TERMINATED, _unfinished("terminated", args), prefix="segments")
    except OSError as exc:
        return _os_failure(exc)
    except INPUT_ERRORS as exc:
        if os.environ.get("SEGMENTS_TRACEBACK"):
            raise
        return _fail(ExitCode.FAILED, f"{type(exc).__name__}: {exc}".rstrip(": "))


def _fail(code: ExitCode, message: str, prefix: str = "segments: error") -> ExitCode:
    print(f"{prefix}: {message}", file=sys.stderr)
    return code


def _unfinished(what: str, args: argparse.Namespace) -> str:
    if args.command == "export":
        return f"{what}; nothing was published for the unfinished segment"
    return what


def _os_failure(exc: OSError) -> ExitCode:
    """One line: ``path: reason`` (``a -> b: reason`` for a rename), whatever the names hold."""
    if isinstance(exc, BrokenPipeError) and exc.filename == STDOUT:
        return ExitCode.FAILED  # `segments list | head -1`: the reader has gone, nothing to say
    reason = exc.strerror or str(exc)
    names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
    shown = [n if n.isprintable() else repr(n) for n in names]
    return _fail(ExitCode.FAILED, f"{' -> '.join(shown)}: {reason}" if shown else reason)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
